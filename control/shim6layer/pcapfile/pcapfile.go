// Package pcapfile reads and writes capture files in the classic pcap format
// and in pcapng, for shim6ctl and for tests that hand captures to tshark.
//
// It exists because gopacket's pcapgo cannot be built in this module: on
// Linux that package also holds a live-capture file importing
// golang.org/x/net/bpf and golang.org/x/sys/unix, which are not in the
// module graph, and go.mod is fixed. Only what the project needs is here:
// both pcap byte orders and timestamp resolutions, pcapng sections in either
// byte order with several interfaces (Enhanced, Simple and obsolete Packet
// Blocks; other blocks skipped), and simple writers for both formats.
package pcapfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// LinkType is a capture link-layer header type (tcpdump.org LINKTYPE_*).
type LinkType uint16

// Link types the project's tools understand.
const (
	// LinkTypeNull is BSD loopback: a 4-octet host-order address family.
	LinkTypeNull LinkType = 0
	// LinkTypeEthernet is Ethernet II.
	LinkTypeEthernet LinkType = 1
	// LinkTypeRaw is a raw IPv4 or IPv6 packet.
	LinkTypeRaw LinkType = 101
	// LinkTypeLoop is OpenBSD loopback: a 4-octet network-order family.
	LinkTypeLoop LinkType = 108
	// LinkTypeLinuxSLL is Linux cooked capture v1 (16-octet header).
	LinkTypeLinuxSLL LinkType = 113
	// LinkTypeIPv6 is a raw IPv6 packet.
	LinkTypeIPv6 LinkType = 229
	// LinkTypeLinuxSLL2 is Linux cooked capture v2 (20-octet header).
	LinkTypeLinuxSLL2 LinkType = 276
)

// Format is the container format of a capture file.
type Format int

// Capture file formats.
const (
	// FormatPcap is the classic libpcap format.
	FormatPcap Format = iota
	// FormatPcapNG is pcapng.
	FormatPcapNG
)

// String names the format.
func (f Format) String() string {
	if f == FormatPcapNG {
		return "pcapng"
	}
	return "pcap"
}

// Packet is one captured packet.
type Packet struct {
	// Timestamp is when the packet was captured.
	Timestamp time.Time
	// LinkType is the link-layer type of Data.
	LinkType LinkType
	// Data holds the captured octets; it is valid until the next call to
	// Next.
	Data []byte
	// OrigLen is the packet's length on the wire (at least len(Data)).
	OrigLen int
}

// ErrFormat reports a file that is not pcap or pcapng or is damaged.
var ErrFormat = errors.New("pcapfile: bad capture file")

// maxBlock bounds any record or block, so a damaged length cannot make the
// reader allocate without limit.
const maxBlock = 16 << 20

const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	ngSHB          = 0x0a0d0d0a
	ngBOM          = 0x1a2b3c4d
	ngIDB          = 1
	ngOPB          = 2
	ngSPB          = 3
	ngEPB          = 6
)

// Reader reads packets from a pcap or pcapng file.
type Reader struct {
	r      *bufio.Reader
	format Format
	buf    []byte

	// pcap
	order    binary.ByteOrder
	nano     bool
	linkType LinkType

	// pcapng: interfaces of the current section
	ifaces []ngIface
}

type ngIface struct {
	linkType LinkType
	snapLen  uint32
	// timestamp units per second
	tsUnits uint64
}

// NewReader reads the file header and tells the format by its magic number.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	rd := &Reader{r: br}
	switch {
	case binary.BigEndian.Uint32(magic) == ngSHB:
		rd.format = FormatPcapNG
		if err := rd.readSHB(); err != nil {
			return nil, err
		}
		return rd, nil
	case binary.LittleEndian.Uint32(magic) == pcapMagicMicro || binary.LittleEndian.Uint32(magic) == pcapMagicNano:
		rd.order = binary.LittleEndian
	case binary.BigEndian.Uint32(magic) == pcapMagicMicro || binary.BigEndian.Uint32(magic) == pcapMagicNano:
		rd.order = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: unknown magic %x", ErrFormat, magic)
	}
	var h [24]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, fmt.Errorf("%w: pcap header: %v", ErrFormat, err)
	}
	rd.nano = rd.order.Uint32(h[0:]) == pcapMagicNano
	rd.linkType = LinkType(rd.order.Uint32(h[20:]) & 0xffff) // upper bits carry FCS flags
	return rd, nil
}

// Format returns the file's format.
func (r *Reader) Format() Format { return r.format }

// Next returns the next packet, or io.EOF after the last.
func (r *Reader) Next() (Packet, error) {
	if r.format == FormatPcapNG {
		return r.nextNG()
	}
	var h [16]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		if err == io.EOF {
			return Packet{}, io.EOF
		}
		return Packet{}, fmt.Errorf("%w: record header: %v", ErrFormat, err)
	}
	sec, frac := r.order.Uint32(h[0:]), r.order.Uint32(h[4:])
	incl, orig := r.order.Uint32(h[8:]), r.order.Uint32(h[12:])
	if incl > maxBlock {
		return Packet{}, fmt.Errorf("%w: record of %d octets", ErrFormat, incl)
	}
	data, err := r.read(int(incl))
	if err != nil {
		return Packet{}, fmt.Errorf("%w: record data: %v", ErrFormat, err)
	}
	ns := int64(frac) * 1000
	if r.nano {
		ns = int64(frac)
	}
	return Packet{Timestamp: time.Unix(int64(sec), ns).UTC(), LinkType: r.linkType, Data: data, OrigLen: int(max(orig, incl))}, nil
}

// read returns the next n octets in the reader's reused buffer.
func (r *Reader) read(n int) ([]byte, error) {
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	_, err := io.ReadFull(r.r, b)
	return b, err
}

func (r *Reader) readSHB() error {
	var h [12]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		return fmt.Errorf("%w: section header: %v", ErrFormat, err)
	}
	switch {
	case binary.LittleEndian.Uint32(h[8:]) == ngBOM:
		r.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[8:]) == ngBOM:
		r.order = binary.BigEndian
	default:
		return fmt.Errorf("%w: section header byte-order magic %x", ErrFormat, h[8:])
	}
	total := r.order.Uint32(h[4:])
	if total < 28 || total%4 != 0 || total > maxBlock {
		return fmt.Errorf("%w: section header length %d", ErrFormat, total)
	}
	if _, err := r.read(int(total) - 12); err != nil {
		return fmt.Errorf("%w: section header: %v", ErrFormat, err)
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

func (r *Reader) nextNG() (Packet, error) {
	for {
		h, err := r.r.Peek(8)
		if err != nil {
			if err == io.EOF && len(h) == 0 {
				return Packet{}, io.EOF
			}
			return Packet{}, fmt.Errorf("%w: block header: %v", ErrFormat, err)
		}
		if binary.BigEndian.Uint32(h) == ngSHB {
			if err := r.readSHB(); err != nil {
				return Packet{}, err
			}
			continue
		}
		typ, total := r.order.Uint32(h), r.order.Uint32(h[4:])
		if total < 12 || total%4 != 0 || total > maxBlock {
			return Packet{}, fmt.Errorf("%w: block length %d", ErrFormat, total)
		}
		blk, err := r.read(int(total))
		if err != nil {
			return Packet{}, fmt.Errorf("%w: block: %v", ErrFormat, err)
		}
		body := blk[8 : total-4]
		switch typ {
		case ngIDB:
			if len(body) < 8 {
				return Packet{}, fmt.Errorf("%w: short interface block", ErrFormat)
			}
			r.ifaces = append(r.ifaces, ngIface{
				linkType: LinkType(r.order.Uint16(body)),
				snapLen:  r.order.Uint32(body[4:]),
				tsUnits:  r.tsResolution(body[8:]),
			})
		case ngEPB, ngOPB:
			var ifid, hi, lo, capLen, origLen uint32
			var rest []byte
			if typ == ngEPB {
				if len(body) < 20 {
					return Packet{}, fmt.Errorf("%w: short enhanced packet block", ErrFormat)
				}
				ifid, hi, lo = r.order.Uint32(body), r.order.Uint32(body[4:]), r.order.Uint32(body[8:])
				capLen, origLen, rest = r.order.Uint32(body[12:]), r.order.Uint32(body[16:]), body[20:]
			} else {
				if len(body) < 20 {
					return Packet{}, fmt.Errorf("%w: short packet block", ErrFormat)
				}
				ifid, hi, lo = uint32(r.order.Uint16(body)), r.order.Uint32(body[4:]), r.order.Uint32(body[8:])
				capLen, origLen, rest = r.order.Uint32(body[12:]), r.order.Uint32(body[16:]), body[20:]
			}
			if int(ifid) >= len(r.ifaces) {
				return Packet{}, fmt.Errorf("%w: packet names interface %d of %d", ErrFormat, ifid, len(r.ifaces))
			}
			if uint64(capLen) > uint64(len(rest)) {
				return Packet{}, fmt.Errorf("%w: captured length %d overruns its block", ErrFormat, capLen)
			}
			ifc := r.ifaces[ifid]
			return Packet{Timestamp: ngTime(uint64(hi)<<32|uint64(lo), ifc.tsUnits), LinkType: ifc.linkType,
				Data: rest[:capLen], OrigLen: int(max(origLen, capLen))}, nil
		case ngSPB:
			if len(r.ifaces) == 0 || len(body) < 4 {
				return Packet{}, fmt.Errorf("%w: simple packet block without interface", ErrFormat)
			}
			orig := r.order.Uint32(body)
			n := min(uint64(orig), uint64(len(body)-4))
			if s := r.ifaces[0].snapLen; s != 0 {
				n = min(n, uint64(s))
			}
			return Packet{LinkType: r.ifaces[0].linkType, Data: body[4 : 4+n], OrigLen: int(max(uint64(orig), n))}, nil
		}
	}
}

// tsResolution reads if_tsresol (option 9) from an interface block's options;
// the default is microseconds.
func (r *Reader) tsResolution(opts []byte) uint64 {
	units := uint64(1e6)
	for len(opts) >= 4 {
		code, l := r.order.Uint16(opts), int(r.order.Uint16(opts[2:]))
		if code == 0 || 4+l > len(opts) {
			break
		}
		if code == 9 && l >= 1 {
			v := opts[4]
			u := uint64(1)
			for i := 0; i < int(v&0x7f) && u < 1e18; i++ {
				if v&0x80 != 0 {
					u *= 2
				} else {
					u *= 10
				}
			}
			units = u
		}
		opts = opts[4+(l+3)&^3:]
	}
	return units
}

func ngTime(ts, units uint64) time.Time {
	if units == 0 {
		units = 1e6
	}
	sec := ts / units
	frac := ts % units
	return time.Unix(int64(sec), int64(frac*1e9/units)).UTC()
}

// Writer writes a capture file of one link type.
type Writer struct {
	w      io.Writer
	format Format
	hdr    [28]byte
}

// NewWriter writes a classic pcap file header (microsecond timestamps,
// little-endian) for link type lt and returns a writer for its packets.
func NewWriter(w io.Writer, lt LinkType) (*Writer, error) {
	var h [24]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], pcapMagicMicro)
	le.PutUint16(h[4:], 2)
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[16:], 65535)
	le.PutUint32(h[20:], uint32(lt))
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &Writer{w: w, format: FormatPcap}, nil
}

// NewNgWriter writes a pcapng Section Header Block and one Interface
// Description Block for link type lt (microsecond timestamps) and returns a
// writer for its packets.
func NewNgWriter(w io.Writer, lt LinkType) (*Writer, error) {
	le := binary.LittleEndian
	var b [28 + 20]byte
	le.PutUint32(b[0:], ngSHB)
	le.PutUint32(b[4:], 28)
	le.PutUint32(b[8:], ngBOM)
	le.PutUint16(b[12:], 1)
	le.PutUint16(b[14:], 0)
	le.PutUint64(b[16:], ^uint64(0)) // section length unknown
	le.PutUint32(b[24:], 28)
	idb := b[28:]
	le.PutUint32(idb[0:], ngIDB)
	le.PutUint32(idb[4:], 20)
	le.PutUint16(idb[8:], uint16(lt))
	le.PutUint32(idb[12:], 0) // no snapshot limit
	le.PutUint32(idb[16:], 20)
	if _, err := w.Write(b[:]); err != nil {
		return nil, err
	}
	return &Writer{w: w, format: FormatPcapNG}, nil
}

// WritePacket writes one packet captured whole at ts.
func (w *Writer) WritePacket(ts time.Time, data []byte) error {
	le := binary.LittleEndian
	us := ts.UnixMicro()
	if w.format == FormatPcap {
		h := w.hdr[:16]
		le.PutUint32(h[0:], uint32(us/1e6))
		le.PutUint32(h[4:], uint32(us%1e6))
		le.PutUint32(h[8:], uint32(len(data)))
		le.PutUint32(h[12:], uint32(len(data)))
		if _, err := w.w.Write(h); err != nil {
			return err
		}
		_, err := w.w.Write(data)
		return err
	}
	pad := (4 - len(data)%4) % 4
	total := 28 + len(data) + pad + 4
	h := w.hdr[:28]
	le.PutUint32(h[0:], ngEPB)
	le.PutUint32(h[4:], uint32(total))
	le.PutUint32(h[8:], 0)
	le.PutUint32(h[12:], uint32(uint64(us)>>32))
	le.PutUint32(h[16:], uint32(us))
	le.PutUint32(h[20:], uint32(len(data)))
	le.PutUint32(h[24:], uint32(len(data)))
	if _, err := w.w.Write(h); err != nil {
		return err
	}
	if _, err := w.w.Write(data); err != nil {
		return err
	}
	var tail [8]byte
	le.PutUint32(tail[pad:], uint32(total))
	_, err := w.w.Write(tail[:pad+4])
	return err
}
