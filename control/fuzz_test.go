package control

import (
	"testing"
	"time"

	"shim6d/dataplane/header"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// FuzzCoreLosesNoBuffer hands the control core any frames, as workers
// would over the control ring, from the inside port or the uplink: ND,
// echo, expiring and oversized packets, ICMPv6 errors, garbage. The core
// answers, queues for resolution, forwards or drops them; then its clock
// runs on until every resolution has ended. It must not panic, and every
// buffer it received or allocated must be back in the pool once the
// ports' output is drained. The input is a run of frames, each a port
// byte, a two-byte length and the frame; ICMPv6 checksums are made
// correct (see fixICMPv6).
func FuzzCoreLosesNoBuffer(f *testing.F) {
	enc := func(port byte, frame []byte) []byte {
		return append([]byte{port, byte(len(frame) >> 8), byte(len(frame))}, frame...)
	}
	echo := []byte{header.ICMPv6EchoRequest, 0, 0, 0, 0x12, 0x34, 0, 1, 'h', 'i'}
	big := make([]byte, 1500)
	seeds := [][]byte{
		enc(0, icmpFrame(macInside, macHost, hostAddr, solicitedNode(insideAddr), 255, ns(insideAddr, macHost))),
		enc(1, icmpFrame(macUplink, macRouter, routerAddr, uplinkAddr, 255, na(routerAddr, macRouter, naFlagSolicited|naFlagRouter))),
		enc(0, icmpFrame(macInside, macHost, hostAddr, insideAddr, 64, echo)),
		enc(1, icmpFrame(macUplink, macRouter, remoteAddr, uplinkAddr, 255, []byte{header.ICMPv6NeighborSolicitation, 0, 0, 0, 0, 0, 0, 0})),
		enc(1, ipv6Frame(macUplink, macRouter, remoteAddr, hostAddr, header.ProtoUDP, 64, make([]byte, 8))),
		enc(0, ipv6Frame(macInside, macHost, hostAddr, remoteAddr, header.ProtoUDP, 1, make([]byte, 8))),
		enc(0, ipv6Frame(macInside, macHost, hostAddr, remoteAddr, header.ProtoUDP, 64, big)),
		enc(1, icmpFrame(macUplink, macRouter, remoteAddr, hostAddr, 64,
			append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, ipv6Frame(macInside, macHost, hostAddr, remoteAddr, header.ProtoUDP, 64, make([]byte, 8))[14:]...))),
	}
	var all []byte
	for _, s := range seeds {
		f.Add(s)
		all = append(all, s...)
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, in []byte) {
		b := newBed(t)
		pool := b.inside.Pool()
		avail := pool.Avail()
		drain := func() {
			for _, p := range []interface{ SentAll() [][]byte }{b.inside, b.uplink} {
				p.SentAll()
			}
		}
		for k := 0; len(in) >= 3 && k < 32; k++ {
			n := min(int(in[1])<<8|int(in[2]), len(in)-3, maxFrame)
			frame := in[3 : 3+n]
			if in[0]&0x80 == 0 {
				frame = fixICMPv6(frame)
			}
			b.toCore(t, int(in[0])%2, frame)
			in = in[3+n:]
		}
		// Resolution gives up after MAX_MULTICAST_SOLICIT tries a second
		// apart (RFC 4861 §7.2.2), so ten seconds end all of it.
		for range 50 {
			b.core.Poll()
			drain()
			b.clock.advance(200 * time.Millisecond)
		}
		if got := pool.Avail(); got != avail {
			t.Fatalf("%d buffers not back in the pool (%d, %d before)", avail-got, got, avail)
		}
	})
}

// fixICMPv6 returns a copy of frame whose ICMPv6 checksum, if it carries
// ICMPv6 right after the fixed header, is correct: a gate mutations rarely
// pass, behind which lie ND and the errors. A port byte with its top bit
// set keeps the frame as it is.
func fixICMPv6(frame []byte) []byte {
	const l3 = 14
	if len(frame) < l3+header.IPv6MinimumSize+header.ICMPv6MinimumSize {
		return frame
	}
	f := append([]byte(nil), frame...)
	ip := header.IPv6(f[l3:])
	end := min(header.IPv6MinimumSize+int(ip.PayloadLength()), len(ip))
	if ip.NextHeader() != header.ProtoICMPv6 || end < header.IPv6MinimumSize+header.ICMPv6MinimumSize {
		return frame
	}
	m := header.ICMPv6(ip[header.IPv6MinimumSize:end])
	m.SetChecksum(m.CalculateChecksum(ip.Src(), ip.Dst()))
	return f
}

// maxFrame is the longest frame a test buffer holds.
const maxFrame = mem.DefaultBufSize - ports.Headroom
