package header

import "testing"

// benchFrames is how many packet buffers a rewrite benchmark cycles
// through before it refills them (with the timer stopped, which is costly:
// it reads the memory statistics). 4096 buffers of benchBufSize bytes are
// 1 MiB, so each rewrite touches a buffer that is not already in L1, as in
// a worker, yet the set stays in L2/L3.
const (
	benchFrames  = 4096
	benchBufSize = 256
)

// benchCases are the frames the benchmarks run on: the common case (no
// extension headers, behind Ethernet) and the long §4.6 chain.
func benchCases() []goldenPacket {
	g := goldenPackets()
	return []goldenPacket{g[2], g[0]}
}

// benchSink keeps the walk's results observable, so the compiler cannot
// drop the call.
var benchSink int

func benchName(g goldenPacket) string {
	if g.chain.Extensions == 0 {
		return "udp"
	}
	return "hbh-dest-routing-dest-tcp"
}

func BenchmarkWalkExtensions(b *testing.B) {
	for _, g := range benchCases() {
		b.Run(benchName(g), func(b *testing.B) {
			ip := IPv6(g.plain[g.l3off:])
			b.ReportAllocs()
			// A b.N loop, not b.Loop: keeping each Chain alive for b.Loop
			// costs more than the walk itself (about 10 ns here).
			var sink int
			for range b.N {
				c, _ := WalkExtensions(ip)
				sink += c.Offset
			}
			benchSink = sink
		})
	}
}

// rewriteBench times fn over benchFrames buffers that each start as frame
// at headroom; refilling them between rounds is left out of the time.
func rewriteBench(b *testing.B, frame []byte, fn func(buf []byte) bool) {
	bufs := make([][]byte, benchFrames)
	for i := range bufs {
		bufs[i] = make([]byte, benchBufSize)
	}
	refill := func() {
		for _, buf := range bufs {
			copy(buf[headroom:], frame)
		}
	}
	refill()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for range b.N {
		if i == benchFrames {
			b.StopTimer()
			refill()
			b.StartTimer()
			i = 0
		}
		if !fn(bufs[i]) {
			b.Fatal("rewrite failed")
		}
		i++
	}
}

func BenchmarkInsertShim6Payload(b *testing.B) {
	for _, g := range benchCases() {
		b.Run(benchName(g), func(b *testing.B) {
			rewriteBench(b, g.plain, func(buf []byte) bool {
				_, _, r := InsertShim6Payload(buf, headroom, len(g.plain), g.l3off, goldenTag)
				return r == ShimOK
			})
		})
	}
}

func BenchmarkStripShim6Payload(b *testing.B) {
	for _, g := range benchCases() {
		b.Run(benchName(g), func(b *testing.B) {
			rewriteBench(b, g.shimmed, func(buf []byte) bool {
				_, _, r := StripShim6Payload(buf, headroom, len(g.shimmed), g.l3off)
				return r == ShimOK
			})
		})
	}
}
