package pcapfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	pkts := [][]byte{{1, 2, 3}, bytes.Repeat([]byte{0xaa}, 1514), {}, {9}}
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	for _, f := range []struct {
		name   string
		new    func(io.Writer, LinkType) (*Writer, error)
		format Format
	}{{"pcap", NewWriter, FormatPcap}, {"pcapng", NewNgWriter, FormatPcapNG}} {
		t.Run(f.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := f.new(&buf, LinkTypeRaw)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range pkts {
				if err := w.WritePacket(ts.Add(time.Duration(i)*time.Second), p); err != nil {
					t.Fatal(err)
				}
			}
			r, err := NewReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if r.Format() != f.format {
				t.Errorf("format %v, want %v", r.Format(), f.format)
			}
			for i, want := range pkts {
				p, err := r.Next()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if !bytes.Equal(p.Data, want) || p.LinkType != LinkTypeRaw || p.OrigLen != len(want) ||
					!p.Timestamp.Equal(ts.Add(time.Duration(i)*time.Second)) {
					t.Errorf("packet %d: %+v", i, p)
				}
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("after last packet: %v, want io.EOF", err)
			}
		})
	}
}

// TestBigEndianNanoPcap reads a classic pcap written on a big-endian host
// with nanosecond timestamps, octet by octet.
func TestBigEndianNanoPcap(t *testing.T) {
	f := []byte{
		0xa1, 0xb2, 0x3c, 0x4d, 0x00, 0x02, 0x00, 0x04, // magic (ns), version 2.4
		0, 0, 0, 0, 0, 0, 0, 0, // thiszone, sigfigs
		0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0xe5, // snaplen, LINKTYPE_IPV6
		0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x07, // 10 s, 7 ns
		0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, // 2 captured of 5
		0xde, 0xad,
	}
	r, err := NewReader(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if p.LinkType != LinkTypeIPv6 || !bytes.Equal(p.Data, []byte{0xde, 0xad}) || p.OrigLen != 5 ||
		!p.Timestamp.Equal(time.Unix(10, 7)) {
		t.Errorf("%+v", p)
	}
}

// TestPcapNGBlocks reads a big-endian pcapng section with an interface at
// nanosecond resolution, a Simple Packet Block, an unknown block to skip,
// and an Enhanced Packet Block, then a second little-endian section.
func TestPcapNGBlocks(t *testing.T) {
	var b bytes.Buffer
	be := binary.BigEndian
	block := func(order binary.ByteOrder, typ uint32, body []byte) {
		total := uint32(12 + len(body))
		var h [8]byte
		order.PutUint32(h[:], typ)
		order.PutUint32(h[4:], total)
		b.Write(h[:])
		b.Write(body)
		order.PutUint32(h[:], total)
		b.Write(h[:4])
	}
	shb := func(order binary.ByteOrder) {
		body := make([]byte, 16)
		order.PutUint32(body, 0x1a2b3c4d)
		order.PutUint16(body[4:], 1)
		binary.BigEndian.PutUint64(body[8:], ^uint64(0))
		block(order, 0x0a0d0d0a, body)
	}
	shb(be)
	idb := make([]byte, 8+8+4)
	be.PutUint16(idb, uint16(LinkTypeEthernet))
	be.PutUint32(idb[4:], 0)
	be.PutUint16(idb[8:], 9) // if_tsresol
	be.PutUint16(idb[10:], 1)
	idb[12] = 9 // 10^-9
	// opt_endofopt in the last 4 octets
	block(be, 1, idb)
	block(be, 3, append([]byte{0, 0, 0, 3}, 'a', 'b', 'c', 0))
	block(be, 0x0bad, []byte{1, 2, 3, 4})
	epb := make([]byte, 20, 24)
	be.PutUint32(epb[4:], 0)
	be.PutUint32(epb[8:], 1_500_000_000) // 1.5 s in ns
	be.PutUint32(epb[12:], 2)
	be.PutUint32(epb[16:], 2)
	block(be, 6, append(epb, 'x', 'y', 0, 0))
	le := binary.LittleEndian
	shb(le)
	idb2 := make([]byte, 8)
	le.PutUint16(idb2, uint16(LinkTypeRaw))
	block(le, 1, idb2)
	epb2 := make([]byte, 20)
	le.PutUint32(epb2[8:], 2_000_000) // 2 s in µs
	le.PutUint32(epb2[12:], 4)
	le.PutUint32(epb2[16:], 60)
	block(le, 6, append(epb2, 0x60, 0, 0, 0))

	r, err := NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Packet{
		{LinkType: LinkTypeEthernet, Data: []byte("abc"), OrigLen: 3},
		{LinkType: LinkTypeEthernet, Data: []byte("xy"), OrigLen: 2, Timestamp: time.Unix(1, 500_000_000).UTC()},
		{LinkType: LinkTypeRaw, Data: []byte{0x60, 0, 0, 0}, OrigLen: 60, Timestamp: time.Unix(2, 0).UTC()},
	}
	for i, w := range want {
		p, err := r.Next()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if p.LinkType != w.LinkType || !bytes.Equal(p.Data, w.Data) || p.OrigLen != w.OrigLen ||
			(!w.Timestamp.IsZero() && !p.Timestamp.Equal(w.Timestamp)) {
			t.Errorf("packet %d = %+v, want %+v", i, p, w)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

func TestBadFiles(t *testing.T) {
	var good bytes.Buffer
	w, _ := NewWriter(&good, LinkTypeEthernet)
	_ = w.WritePacket(time.Unix(0, 0), make([]byte, 64))
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not a capture", []byte("hello, world, this is text")},
		{"header cut", good.Bytes()[:20]},
	} {
		if _, err := NewReader(bytes.NewReader(tt.in)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: NewReader = %v, want ErrFormat", tt.name, err)
		}
	}
	r, err := NewReader(bytes.NewReader(good.Bytes()[:24+16+10]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrFormat) {
		t.Errorf("record cut: %v, want ErrFormat", err)
	}
	huge := append([]byte(nil), good.Bytes()[:24+16]...)
	binary.LittleEndian.PutUint32(huge[24+8:], 1<<30)
	r, _ = NewReader(bytes.NewReader(huge))
	if _, err := r.Next(); !errors.Is(err, ErrFormat) {
		t.Errorf("1 GiB record: %v, want ErrFormat", err)
	}
}
