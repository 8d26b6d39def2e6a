package header

import (
	"bytes"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// headroom is what tests give a frame in front, like ports.Headroom.
const headroom = 128

func TestInsertShim6PayloadGolden(t *testing.T) {
	for _, g := range goldenPackets() {
		t.Run(g.name, func(t *testing.T) {
			buf := withHeadroom(g.plain, headroom)
			before := append([]byte(nil), buf...)
			off, n, r := InsertShim6Payload(buf, headroom, len(g.plain), g.l3off, goldenTag)
			if r != ShimOK {
				t.Fatalf("InsertShim6Payload: %v", r)
			}
			if off != headroom-Shim6PayloadSize || n != len(g.plain)+Shim6PayloadSize {
				t.Fatalf("frame at %d+%d, want %d+%d", off, n, headroom-8, len(g.plain)+8)
			}
			if d := cmp.Diff(g.shimmed, buf[off:off+n]); d != "" {
				t.Errorf("shimmed frame (-want +got):\n%s", d)
			}
			// Nothing outside the new frame changed: in front of it the
			// headroom filler, behind it the slack.
			if !bytes.Equal(buf[:off], before[:off]) || !bytes.Equal(buf[off+n:], before[off+n:]) {
				t.Errorf("bytes outside the frame changed")
			}
			// Only the leading headers moved: the bytes from the insertion
			// point on still sit where they were in the buffer.
			at := g.l3off + g.chain.InsertOffset
			if !bytes.Equal(buf[headroom+at:headroom+len(g.plain)], g.plain[at:]) {
				t.Errorf("bytes behind the insertion point moved")
			}
			checkTransportChecksum(t, IPv6(buf[off+g.l3off:off+n]))
		})
	}
}

func TestStripShim6PayloadGolden(t *testing.T) {
	for _, g := range goldenPackets() {
		t.Run(g.name, func(t *testing.T) {
			buf := withHeadroom(g.shimmed, headroom)
			before := append([]byte(nil), buf...)
			// The fast path reads the tag before it strips.
			c, e := WalkExtensions(IPv6(buf[headroom+g.l3off : headroom+len(g.shimmed)]))
			at, ok := c.Shim6()
			if e != ChainOK || !ok {
				t.Fatalf("walk: %v, Shim6 %v", e, ok)
			}
			if tag := Shim6Payload(buf[headroom+g.l3off+at:]).ContextTag(); tag != goldenTag {
				t.Errorf("tag %#x, want %#x", tag, uint64(goldenTag))
			}
			off, n, r := StripShim6Payload(buf, headroom, len(g.shimmed), g.l3off)
			if r != ShimOK {
				t.Fatalf("StripShim6Payload: %v", r)
			}
			if off != headroom+Shim6PayloadSize || n != len(g.plain) {
				t.Fatalf("frame at %d+%d, want %d+%d", off, n, headroom+8, len(g.plain))
			}
			if d := cmp.Diff(g.plain, buf[off:off+n]); d != "" {
				t.Errorf("stripped frame (-want +got):\n%s", d)
			}
			if !bytes.Equal(buf[:headroom], before[:headroom]) || !bytes.Equal(buf[off+n:], before[off+n:]) {
				t.Errorf("bytes outside the old frame changed")
			}
			checkTransportChecksum(t, IPv6(buf[off+g.l3off:off+n]))
		})
	}
}

func TestInsertStripIdentity(t *testing.T) {
	// Insert then strip gives back the frame, wherever the frame sits and
	// whatever the tag; with padding behind the IPv6 packet too.
	tags := []uint64{0, 1, goldenTag, ContextTagMask}
	for _, g := range goldenPackets() {
		for _, pad := range []int{0, 6} {
			for _, tag := range tags {
				frame := append(append([]byte(nil), g.plain...), make([]byte, pad)...)
				for _, room := range []int{8, 9, headroom} {
					buf := withHeadroom(frame, room)
					off, n, r := InsertShim6Payload(buf, room, len(frame), g.l3off, tag)
					if r != ShimOK {
						t.Fatalf("%s: insert: %v", g.name, r)
					}
					off, n, r = StripShim6Payload(buf, off, n, g.l3off)
					if r != ShimOK {
						t.Fatalf("%s: strip: %v", g.name, r)
					}
					if off != room || !bytes.Equal(buf[off:off+n], frame) {
						t.Fatalf("%s (pad %d, tag %#x, room %d): round trip changed the frame:\n got % x\nwant % x",
							g.name, pad, tag, room, buf[off:off+n], frame)
					}
				}
			}
		}
	}
}

func TestInsertShim6PayloadBad(t *testing.T) {
	tcpExt := goldenPackets()[0].plain
	udp := goldenPackets()[2] // behind Ethernet
	bigPayload := func(plen int) []byte {
		return cat(ipv6Fixed(uint16(plen), ProtoUDP), make([]byte, plen))
	}
	tests := []struct {
		name     string
		frame    []byte
		room     int
		l3off    int
		off, len int // when set (len != 0), override the frame position
		want     ShimResult
	}{
		{name: "no headroom", frame: udp.plain, room: 0, l3off: 14, want: ShimNoHeadroom},
		{name: "7 bytes headroom", frame: udp.plain, room: 7, l3off: 14, want: ShimNoHeadroom},
		{name: "payload length 65535", frame: bigPayload(65535), room: headroom, want: ShimTooBig},
		{name: "payload length 65528", frame: bigPayload(65528), room: headroom, want: ShimTooBig},
		{name: "not IPv6: version 4", frame: append([]byte{0x45}, udp.plain[15:]...), room: headroom, want: ShimNotIPv6},
		{name: "not IPv6: frame shorter than l3off+40", frame: udp.plain[:14+39], room: headroom, l3off: 14, want: ShimNotIPv6},
		{name: "not IPv6: l3off past the frame", frame: udp.plain, room: headroom, l3off: 1000, want: ShimNotIPv6},
		{name: "not IPv6: payload length past the frame", frame: udp.plain[:len(udp.plain)-1], room: headroom, l3off: 14, want: ShimNotIPv6},
		{name: "bad frame: negative l3off", frame: udp.plain, room: headroom, l3off: -1, want: ShimBadFrame},
		{name: "bad frame: negative offset", frame: udp.plain, room: headroom, off: -1, len: 10, want: ShimBadFrame},
		{name: "bad frame: negative length", frame: udp.plain, room: headroom, off: headroom, len: -1, want: ShimBadFrame},
		{name: "bad frame: past the buffer", frame: udp.plain, room: headroom, off: headroom, len: 1 << 20, want: ShimBadFrame},
		{name: "bad frame: offset past the buffer", frame: udp.plain, room: headroom, off: 1 << 20, len: 1, want: ShimBadFrame},
		{name: "truncated routing header", frame: cat(ipv6Fixed(20, ProtoRouting), routingType2(ProtoTCP)[:20]), room: headroom, want: ShimChainTruncated},
		{name: "hop-by-hop not first", frame: cat(ipv6Fixed(16, ProtoDestOpts), optionsHeader(ProtoHopByHop), optionsHeader(ProtoNoNext)), room: headroom, want: ShimHopByHopNotFirst},
		{name: "too many extension headers", frame: destOptsChain(MaxExtensionHeaders + 1), room: headroom, want: ShimChainTooLong},
		{name: "already shimmed", frame: goldenPackets()[0].shimmed, room: headroom, want: ShimAlreadyShimmed},
		{name: "control message", frame: cat(ipv6Fixed(16, ProtoShim6), shim6I1), room: headroom, want: ShimAlreadyShimmed},
	}
	for n := range 48 {
		tests = append(tests, struct {
			name     string
			frame    []byte
			room     int
			l3off    int
			off, len int
			want     ShimResult
		}{name: "tcp ext cut", frame: truncatedTo(tcpExt, n), room: headroom, want: ShimChainTruncated})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := withHeadroom(tt.frame, tt.room)
			before := append([]byte(nil), buf...)
			off, n := tt.room, len(tt.frame)
			if tt.len != 0 {
				off, n = tt.off, tt.len
			}
			gotOff, gotLen, r := InsertShim6Payload(buf, off, n, tt.l3off, goldenTag)
			if r != tt.want {
				t.Errorf("InsertShim6Payload = %v, want %v", r, tt.want)
			}
			if gotOff != off || gotLen != n || !bytes.Equal(buf, before) {
				t.Errorf("a failed insert changed the frame (%d+%d -> %d+%d)", off, n, gotOff, gotLen)
			}
		})
	}
}

func TestInsertShim6PayloadLargest(t *testing.T) {
	// 65527 + 8 is the largest payload length that still fits.
	const plen = 65527
	frame := cat(ipv6Fixed(plen, ProtoUDP), make([]byte, plen))
	buf := withHeadroom(frame, headroom)
	off, n, r := InsertShim6Payload(buf, headroom, len(frame), 0, goldenTag)
	if r != ShimOK {
		t.Fatalf("InsertShim6Payload: %v", r)
	}
	if got := IPv6(buf[off : off+n]).PayloadLength(); got != 65535 {
		t.Fatalf("payload length %d, want 65535", got)
	}
}

func TestStripShim6PayloadBad(t *testing.T) {
	udp := goldenPackets()[2]
	tests := []struct {
		name  string
		frame []byte
		room  int
		l3off int
		want  ShimResult
	}{
		{"plain packet", udp.plain, headroom, 14, ShimNoPayloadHeader},
		{"control message", cat(ethernetIPv6, ipv6Fixed(16, ProtoShim6), shim6I1), headroom, 14, ShimControlMessage},
		{"payload header with Hdr Ext Len 1", cat(ipv6Fixed(16, ProtoShim6),
			[]byte{ProtoNoNext, 1, 0x80, 0, 0, 0, 0, 1}, make([]byte, 8)), headroom, 0, ShimBadPayloadHeader},
		{"payload header cut short", cat(ipv6Fixed(7, ProtoShim6), shim6PayloadGolden(ProtoUDP)[:7]), headroom, 0, ShimChainTruncated},
		{"shim6 behind a non-first fragment", cat(ipv6Fixed(16, ProtoFragment),
			fragmentHeader(ProtoShim6, 8<<3), shim6PayloadGolden(ProtoUDP)), headroom, 0, ShimNoPayloadHeader},
		{"not IPv6", udp.shimmed[:20], headroom, 14, ShimNotIPv6},
		{"hop-by-hop not first", cat(ipv6Fixed(32, ProtoDestOpts), optionsHeader(ProtoHopByHop),
			optionsHeader(ProtoShim6), shim6PayloadGolden(ProtoNoNext), make([]byte, 8)), headroom, 0, ShimHopByHopNotFirst},
		{"too many extension headers", func() []byte {
			p := destOptsChain(MaxExtensionHeaders + 1)
			p[len(p)-8] = ProtoShim6
			IPv6(p).SetPayloadLength(IPv6(p).PayloadLength() + 8)
			return append(p, shim6PayloadGolden(ProtoNoNext)...)
		}(), headroom, 0, ShimChainTooLong},
		{"no headroom needed", udp.shimmed, 0, 14, ShimOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := withHeadroom(tt.frame, tt.room)
			before := append([]byte(nil), buf...)
			off, n, r := StripShim6Payload(buf, tt.room, len(tt.frame), tt.l3off)
			if r != tt.want {
				t.Fatalf("StripShim6Payload = %v, want %v", r, tt.want)
			}
			if r != ShimOK && (off != tt.room || n != len(tt.frame) || !bytes.Equal(buf, before)) {
				t.Errorf("a failed strip changed the frame")
			}
		})
	}
}

func TestShimResultString(t *testing.T) {
	seen := map[string]bool{}
	for r := range NumShimResults {
		s := r.String()
		if s == "" || seen[s] {
			t.Errorf("ShimResult(%d) name %q empty or repeated", r, s)
		}
		seen[s] = true
	}
	if NumShimResults.String() == "" {
		t.Errorf("out-of-range ShimResult has no name")
	}
}

func TestNoAllocs(t *testing.T) {
	g := goldenPackets()[0]
	buf := withHeadroom(g.plain, headroom)
	ip := IPv6(buf[headroom : headroom+len(g.plain)])
	if n := testing.AllocsPerRun(100, func() { _, _ = WalkExtensions(ip) }); n != 0 {
		t.Errorf("WalkExtensions allocates %v times per packet", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		off, l, _ := InsertShim6Payload(buf, headroom, len(g.plain), g.l3off, goldenTag)
		_, _, _ = StripShim6Payload(buf, off, l, g.l3off)
	}); n != 0 {
		t.Errorf("insert+strip allocates %v times per packet", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		c := g.chain
		off, l, _ := InsertShim6PayloadWithChain(buf, headroom, len(g.plain), g.l3off, &c, goldenTag)
		c, _ = WalkExtensions(IPv6(buf[off+g.l3off : off+l]))
		_, _, _ = StripShim6PayloadWithChain(buf, off, l, g.l3off, &c)
	}); n != 0 {
		t.Errorf("insert+strip with chain allocates %v times per packet", n)
	}
	if !bytes.Equal(buf[headroom:headroom+len(g.plain)], g.plain) {
		t.Errorf("repeated insert+strip changed the packet")
	}
}

func TestWithChainGolden(t *testing.T) {
	// The worker walks once to classify and read the tag, then rewrites
	// with the chain it has; results match the golden frames.
	for _, g := range goldenPackets() {
		t.Run(g.name, func(t *testing.T) {
			buf := withHeadroom(g.plain, headroom)
			c := g.chain
			off, n, r := InsertShim6PayloadWithChain(buf, headroom, len(g.plain), g.l3off, &c, goldenTag)
			if r != ShimOK || !bytes.Equal(buf[off:off+n], g.shimmed) {
				t.Fatalf("insert: %v\n got % x\nwant % x", r, buf[off:off+n], g.shimmed)
			}
			sc, e := WalkExtensions(IPv6(buf[off+g.l3off : off+n]))
			if e != ChainOK {
				t.Fatalf("walk: %v", e)
			}
			off, n, r = StripShim6PayloadWithChain(buf, off, n, g.l3off, &sc)
			if r != ShimOK || off != headroom || !bytes.Equal(buf[off:off+n], g.plain) {
				t.Fatalf("strip: %v\n got % x\nwant % x", r, buf[off:off+n], g.plain)
			}
		})
	}
}

func TestWithChainMismatch(t *testing.T) {
	g := goldenPackets()[0] // tcp with the §4.6 chain, IPv6 at 0
	shimmedChain, _ := WalkExtensions(IPv6(g.shimmed))
	tests := []struct {
		name   string
		frame  []byte
		chain  Chain
		insert bool
		want   ShimResult
	}{
		{"insert point before the payload", g.plain, Chain{InsertOffset: 39, InsertNextHeaderField: 6}, true, ShimChainMismatch},
		{"insert point past the packet", g.plain, Chain{InsertOffset: 109, InsertNextHeaderField: 6}, true, ShimChainMismatch},
		{"insert field behind the point", g.plain, Chain{InsertOffset: 40, InsertNextHeaderField: 40}, true, ShimChainMismatch},
		{"insert field negative", g.plain, Chain{InsertOffset: 40, InsertNextHeaderField: -1}, true, ShimChainMismatch},
		{"insert with a shimmed chain", g.plain, shimmedChain, true, ShimAlreadyShimmed},
		{"strip with the plain chain", g.shimmed, g.chain, false, ShimNoPayloadHeader},
		{"strip field does not say 140", g.shimmed, Chain{NextHeader: ProtoShim6, Offset: 80, NextHeaderField: 48}, false, ShimChainMismatch},
		{"strip header past the packet", g.shimmed, Chain{NextHeader: ProtoShim6, Offset: 112, NextHeaderField: 56}, false, ShimChainMismatch},
		{"strip field negative", g.shimmed, Chain{NextHeader: ProtoShim6, Offset: 80, NextHeaderField: -3}, false, ShimChainMismatch},
		{"strip header offset near MaxInt", g.shimmed, Chain{NextHeader: ProtoShim6, Offset: math.MaxInt - 3, NextHeaderField: 1000}, false, ShimChainMismatch},
		{"insert offset near MaxInt", g.plain, Chain{InsertOffset: math.MaxInt - 3, InsertNextHeaderField: 1000}, true, ShimChainMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := withHeadroom(tt.frame, headroom)
			before := append([]byte(nil), buf...)
			var r ShimResult
			if tt.insert {
				_, _, r = InsertShim6PayloadWithChain(buf, headroom, len(tt.frame), 0, &tt.chain, goldenTag)
			} else {
				_, _, r = StripShim6PayloadWithChain(buf, headroom, len(tt.frame), 0, &tt.chain)
			}
			if r != tt.want {
				t.Errorf("got %v, want %v", r, tt.want)
			}
			if !bytes.Equal(buf, before) {
				t.Errorf("a refused rewrite changed the buffer")
			}
		})
	}
}
