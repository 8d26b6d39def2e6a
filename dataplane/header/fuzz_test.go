package header

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// More seeds live in testdata/fuzz/<target>/ (bad chains: misplaced
// hop-by-hop, too many headers, lengths past the end, Shim6 behind a
// non-first fragment); plain `go test` runs them and the f.Add seeds below.

func FuzzWalkExtensions(f *testing.F) {
	for _, g := range goldenPackets() {
		// Every golden chain (hop-by-hop, routing, both kinds of
		// destination options, fragments, AH, ESP, No Next Header), with
		// and without the Shim6 payload header.
		f.Add(g.plain[g.l3off:])
		f.Add(g.shimmed[g.l3off:])
	}
	// A Shim6 control message: the walk stops at it and checks Hdr Ext Len.
	f.Add(cat(ipv6Fixed(24, ProtoHopByHop), optionsHeader(ProtoShim6), shim6I1))
	// Exactly MaxExtensionHeaders headers, the most the walk accepts.
	f.Add(destOptsChain(MaxExtensionHeaders))
	// A packet shorter than its payload length says.
	f.Add(ipv6Fixed(8, ProtoDestOpts))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, e := WalkExtensions(IPv6(data))
		want, we := referenceWalk(data)
		if e != we {
			t.Fatalf("WalkExtensions = %v, reference %v", e, we)
		}
		if e != ChainOK {
			return
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("chain (-reference +got):\n%s", d)
		}
		end := IPv6MinimumSize + int(IPv6(data).PayloadLength())
		if !(IPv6MinimumSize <= got.InsertOffset && got.InsertOffset <= got.Offset && got.Offset <= end) ||
			got.InsertNextHeaderField >= got.InsertOffset || got.NextHeaderField >= got.Offset ||
			data[got.NextHeaderField] != got.NextHeader {
			t.Fatalf("inconsistent chain %+v for a %d-byte packet", got, end)
		}
		if off, ok := got.Shim6(); ok && off+Shim6(data[off:]).Length() > end {
			t.Fatalf("Shim6 header at %d runs past %d", off, end)
		}
	})
}

// referenceWalk is a second, deliberately plain reading of RFC 8200 §4 and
// RFC 5533 §4.6: list the headers first, then place the shim after the
// longest prefix of routing-related headers (hop-by-hop, routing, and
// destination options immediately followed by routing).
func referenceWalk(p []byte) (Chain, ChainError) {
	type hdr struct {
		proto    uint8
		off, len int
	}
	var c Chain
	if len(p) < 40 {
		return c, ChainTruncated
	}
	end := 40 + int(binary.BigEndian.Uint16(p[4:6]))
	if end > len(p) {
		return c, ChainTruncated
	}
	var hs []hdr
	proto, off, field := p[6], 40, 6
	isExt := map[uint8]bool{0: true, 43: true, 44: true, 51: true, 60: true}
	for isExt[proto] {
		if proto == 0 && off != 40 {
			return c, ChainHopByHopNotFirst
		}
		if off+2 > end {
			return c, ChainTruncated
		}
		n := 8
		switch proto {
		case 0, 43, 60:
			n = 8 * (1 + int(p[off+1]))
		case 51:
			n = 4 * (2 + int(p[off+1]))
		}
		if off+n > end {
			return c, ChainTruncated
		}
		if len(hs) == 16 {
			return c, ChainTooLong
		}
		hs = append(hs, hdr{proto, off, n})
		proto, field, off = p[off], off, off+n
		if hs[len(hs)-1].proto == 44 {
			c.Fragmented = true
			if binary.BigEndian.Uint16(p[field+2:])&0xfff8 != 0 {
				c.NonFirstFragment = true
				break
			}
		}
	}
	if proto == 140 && !c.NonFirstFragment && (off+8 > end || off+8*(1+int(p[off+1])) > end) {
		return c, ChainTruncated
	}
	c.NextHeader, c.Offset, c.NextHeaderField, c.Extensions = proto, off, field, uint8(len(hs))
	c.InsertOffset, c.InsertNextHeaderField = 40, 6
	for i, h := range hs {
		routingRelated := h.proto == 0 || h.proto == 43 ||
			h.proto == 60 && i+1 < len(hs) && hs[i+1].proto == 43
		if !routingRelated {
			break
		}
		if h.proto != 60 { // a destination options header is never last in the prefix
			c.InsertOffset, c.InsertNextHeaderField = h.off+h.len, h.off
		}
	}
	return c, ChainOK
}

func FuzzInsertStrip(f *testing.F) {
	for _, g := range goldenPackets() {
		// Each golden plain frame: insert must succeed and strip restore it.
		f.Add(g.plain, uint8(g.l3off), uint8(headroom), uint64(goldenTag))
		// Each golden shimmed frame: insert refuses, strip then insert
		// restores it.
		f.Add(g.shimmed, uint8(g.l3off), uint8(8), uint64(0))
	}
	// Exactly the 8 bytes of headroom needed, and one short of it.
	f.Add(goldenPackets()[2].plain, uint8(14), uint8(8), uint64(ContextTagMask))
	f.Add(goldenPackets()[2].plain, uint8(14), uint8(7), uint64(1))
	// A tag with bits above the 47th, which must not leak into P or beyond.
	f.Add(goldenPackets()[0].plain, uint8(0), uint8(16), ^uint64(0))
	// A control message, which strip leaves to the control core.
	f.Add(cat(ipv6Fixed(16, ProtoShim6), shim6I1), uint8(0), uint8(64), uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, l3off, room uint8, tag uint64) {
		l3 := int(l3off % 32)
		checkInsertStrip(t, data, l3, int(room), tag)
		checkStripInsert(t, data, l3, int(room))
		checkWithChain(t, data, l3, int(room), tag)
	})
}

// checkInsertStrip: a failed insert changes nothing; a successful one adds
// a valid payload header at the insertion point, and strip undoes it.
func checkInsertStrip(t *testing.T, data []byte, l3, room int, tag uint64) {
	buf := withHeadroom(data, room)
	before := append([]byte(nil), buf...)
	off, n, r := InsertShim6Payload(buf, room, len(data), l3, tag)
	if r != ShimOK {
		if off != room || n != len(data) || !bytes.Equal(buf, before) {
			t.Fatalf("failed insert (%v) changed the buffer", r)
		}
		return
	}
	if off != room-8 || n != len(data)+8 {
		t.Fatalf("insert: frame %d+%d from %d+%d", off, n, room, len(data))
	}
	plain, _ := WalkExtensions(IPv6(data[l3:]))
	ip := IPv6(buf[off+l3 : off+n])
	c, e := WalkExtensions(ip)
	at, ok := c.Shim6()
	if e != ChainOK || !ok || at != plain.InsertOffset {
		t.Fatalf("after insert: walk %v, Shim6 at %d %v, want at %d", e, at, ok, plain.InsertOffset)
	}
	p := Shim6Payload(ip[at:])
	if !p.IsValid() || p.ContextTag() != tag&ContextTagMask || p.NextHeader() != data[l3+plain.InsertNextHeaderField] {
		t.Fatalf("inserted header % x, tag %#x", []byte(p[:8]), tag)
	}
	off, n, r = StripShim6Payload(buf, off, n, l3)
	if r != ShimOK || off != room || n != len(data) {
		t.Fatalf("strip after insert: %v, frame %d+%d", r, off, n)
	}
	if !bytes.Equal(buf[off:], before[room:]) {
		t.Fatalf("insert then strip changed the frame:\n got % x\nwant % x", buf[off:off+n], data)
	}
}

// checkStripInsert: a failed strip changes nothing; after a successful one
// re-inserting the same tag restores the frame whenever the header sat at
// the canonical insertion point.
func checkStripInsert(t *testing.T, data []byte, l3, room int) {
	buf := withHeadroom(data, room)
	before := append([]byte(nil), buf...)
	var at int
	var tag uint64
	if l3 <= len(data) {
		if c, e := WalkExtensions(IPv6(data[l3:])); e == ChainOK {
			if a, ok := c.Shim6(); ok {
				at, tag = a, Shim6Payload(data[l3+a:]).ContextTag()
			}
		}
	}
	off, n, r := StripShim6Payload(buf, room, len(data), l3)
	if r != ShimOK {
		if off != room || n != len(data) || !bytes.Equal(buf, before) {
			t.Fatalf("failed strip (%v) changed the buffer", r)
		}
		return
	}
	if off != room+8 || n != len(data)-8 || at == 0 {
		t.Fatalf("strip: frame %d+%d from %d+%d, header at %d", off, n, room, len(data), at)
	}
	c, e := WalkExtensions(IPv6(buf[off+l3 : off+n]))
	if _, shimmed := c.Shim6(); e != ChainOK || shimmed || c.InsertOffset != at {
		return // not where insert would put it, or not insertable
	}
	off, n, r = InsertShim6Payload(buf, off, n, l3, tag)
	if r != ShimOK || off != room || !bytes.Equal(buf[off:off+n], data) {
		t.Fatalf("strip then insert: %v, got\n% x\nwant\n% x", r, buf[off:off+n], data)
	}
}

// checkWithChain: the WithChain variants given the packet's own chain do
// exactly what the walking ones do, and given a made-up chain they do not
// panic and leave the frame inside the buffer.
func checkWithChain(t *testing.T, data []byte, l3, room int, tag uint64) {
	var c Chain
	var e ChainError = ChainTruncated
	if l3 <= len(data) {
		c, e = WalkExtensions(IPv6(data[l3:]))
	}
	if e == ChainOK {
		b1, b2 := withHeadroom(data, room), withHeadroom(data, room)
		o1, n1, r1 := InsertShim6Payload(b1, room, len(data), l3, tag)
		o2, n2, r2 := InsertShim6PayloadWithChain(b2, room, len(data), l3, &c, tag)
		if o1 != o2 || n1 != n2 || r1 != r2 || !bytes.Equal(b1, b2) {
			t.Fatalf("insert: walking %d+%d %v, with chain %d+%d %v", o1, n1, r1, o2, n2, r2)
		}
		b1, b2 = withHeadroom(data, room), withHeadroom(data, room)
		o1, n1, r1 = StripShim6Payload(b1, room, len(data), l3)
		o2, n2, r2 = StripShim6PayloadWithChain(b2, room, len(data), l3, &c)
		if o1 != o2 || n1 != n2 || r1 != r2 || !bytes.Equal(b1, b2) {
			t.Fatalf("strip: walking %d+%d %v, with chain %d+%d %v", o1, n1, r1, o2, n2, r2)
		}
	}
	// A chain made of the tag's bits, signed so that negative offsets come
	// up too.
	bogus := Chain{
		NextHeader:            uint8(tag >> 8),
		NonFirstFragment:      tag&1 != 0,
		Offset:                int(int16(tag >> 16)),
		NextHeaderField:       int(int8(tag >> 32)),
		InsertOffset:          int(int16(tag >> 40)),
		InsertNextHeaderField: int(int8(tag >> 56)),
	}
	// And one of full-width values, near the ends of int.
	huge := Chain{
		NextHeader:            ProtoShim6,
		Offset:                int(int64(tag)),
		NextHeaderField:       int(int64(tag) >> 7),
		InsertOffset:          int(int64(tag) >> 1),
		InsertNextHeaderField: int(int64(tag) >> 9),
	}
	for _, bc := range []*Chain{&bogus, &huge} {
		for _, insert := range []bool{false, true} {
			buf := withHeadroom(data, room)
			var off, n int
			var r ShimResult
			if insert {
				off, n, r = InsertShim6PayloadWithChain(buf, room, len(data), l3, bc, tag)
			} else {
				off, n, r = StripShim6PayloadWithChain(buf, room, len(data), l3, bc)
			}
			if r == ShimOK && (off < 0 || n < 0 || off+n > len(buf)) {
				t.Fatalf("bogus chain %+v: frame %d+%d outside a %d-byte buffer", *bc, off, n, len(buf))
			}
		}
	}
}
