package control

import (
	"bufio"
	"encoding/binary"
	"io"
)

// A pcapng writer (draft-ietf-opsawg-pcapng): a section header, one
// interface description per port, enhanced packet blocks with a comment
// and the direction flags. gopacket's NgWriter (v1.1.19) writes no packet
// options, and the drop reason as a packet comment is the point of a
// capture of drops, so the three block types are written here.

// Block types and option codes used (draft-ietf-opsawg-pcapng §4, §3.5).
const (
	ngBlockSection   = 0x0A0D0D0A
	ngBlockInterface = 0x00000001
	ngBlockPacket    = 0x00000006
	ngByteOrderMagic = 0x1A2B3C4D

	ngOptEnd      = 0
	ngOptComment  = 1
	ngOptShbAppl  = 4 // shb_userappl
	ngOptIfName   = 2 // if_name
	ngOptIfDescr  = 3 // if_description
	ngOptTsResol  = 9 // if_tsresol
	ngOptEpbFlags = 2 // epb_flags

	ngLinkEthernet = 1 // LINKTYPE_ETHERNET
	// ngTsNanos is if_tsresol for nanoseconds: 10^-9.
	ngTsNanos = 9
)

// epb_flags' direction bits (§4.3.1): where the packet was going.
const (
	ngInbound  = 1
	ngOutbound = 2
)

// ngWriter writes one pcapng section.
type ngWriter struct {
	w     *bufio.Writer
	block []byte
	ifs   int
}

// newNgWriter starts a section whose header names the application and
// carries comment.
func newNgWriter(out io.Writer, appl, comment string) (*ngWriter, error) {
	n := &ngWriter{w: bufio.NewWriterSize(out, 64<<10)}
	b := n.begin(ngBlockSection)
	b = binary.LittleEndian.AppendUint32(b, ngByteOrderMagic)
	b = binary.LittleEndian.AppendUint16(b, 1) // major version
	b = binary.LittleEndian.AppendUint16(b, 0) // minor version
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0))
	b = ngOption(b, ngOptShbAppl, []byte(appl))
	if comment != "" {
		b = ngOption(b, ngOptComment, []byte(comment))
	}
	b = ngOption(b, ngOptEnd, nil)
	return n, n.end(b)
}

// addInterface describes the next interface: Ethernet, snaplen, stamps in
// nanoseconds. Interfaces are numbered from 0 in the order added.
func (n *ngWriter) addInterface(name, descr string, snaplen int) (int, error) {
	b := n.begin(ngBlockInterface)
	b = binary.LittleEndian.AppendUint16(b, ngLinkEthernet)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(snaplen))
	b = ngOption(b, ngOptIfName, []byte(name))
	if descr != "" {
		b = ngOption(b, ngOptIfDescr, []byte(descr))
	}
	b = ngOption(b, ngOptTsResol, []byte{ngTsNanos})
	b = ngOption(b, ngOptEnd, nil)
	n.ifs++
	return n.ifs - 1, n.end(b)
}

// writePacket writes an enhanced packet block: data is the captured part
// of a frame of origLen bytes, seen on interface ifc at nanos, going the
// way dir says (ngInbound, ngOutbound or 0 for unknown).
func (n *ngWriter) writePacket(ifc int, nanos int64, data []byte, origLen int, dir uint32, comment string) error {
	b := n.begin(ngBlockPacket)
	b = binary.LittleEndian.AppendUint32(b, uint32(ifc))
	b = binary.LittleEndian.AppendUint32(b, uint32(uint64(nanos)>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(nanos))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(origLen))
	b = ngPadded(b, data)
	if comment != "" {
		b = ngOption(b, ngOptComment, []byte(comment))
	}
	if dir != 0 {
		b = ngOption(b, ngOptEpbFlags, binary.LittleEndian.AppendUint32(nil, dir))
	}
	b = ngOption(b, ngOptEnd, nil)
	return n.end(b)
}

// flush writes out what the buffer holds.
func (n *ngWriter) flush() error { return n.w.Flush() }

// begin starts a block in n.block: its type and a length filled in by end.
func (n *ngWriter) begin(typ uint32) []byte {
	b := binary.LittleEndian.AppendUint32(n.block[:0], typ)
	return binary.LittleEndian.AppendUint32(b, 0)
}

// end puts the block's total length at both its ends and writes it.
func (n *ngWriter) end(b []byte) error {
	total := uint32(len(b) + 4)
	binary.LittleEndian.PutUint32(b[4:], total)
	b = binary.LittleEndian.AppendUint32(b, total)
	n.block = b
	_, err := n.w.Write(b)
	return err
}

// ngOption appends an option: code, length, value padded to 32 bits.
func ngOption(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return ngPadded(b, v)
}

// ngPadded appends v and zeros up to a multiple of 4 bytes.
func ngPadded(b, v []byte) []byte {
	b = append(b, v...)
	for range (4 - len(v)%4) % 4 {
		b = append(b, 0)
	}
	return b
}
