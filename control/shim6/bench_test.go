package shim6

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"shim6d/control/wire"
)

// benchSites is two proxies that serve every address under their /48s:
// a host's set is its ULID under ISP1 plus the same interface ID under
// ISP2, with (fake) CGA parameters. The R1 limits are out of the way: the
// benchmarks run handshakes from one /64 as fast as they go, with a clock
// that does not move.
func benchSites(tb testing.TB, capacity int) (*network, *node, *node) {
	n := newNetwork(tb)
	n.record = false
	served := func(p1, p2 byte) func(*Config) {
		return func(c *Config) {
			c.LocalLocators = func(u netip.Addr) (LocatorSet, error) {
				a := u.As16()
				if a[4] != p1 {
					return LocatorSet{}, fmt.Errorf("%v not served", u)
				}
				a[4] = p2
				return multihomed(u, netip.AddrFrom16(a)), nil
			}
			c.R1Rate, c.R1RatePerPrefix = 1<<30, 1<<30
		}
	}
	a := n.addNode("A", capacity, nil, served(0xa1, 0xa2))
	b := n.addNode("B", capacity, nil, served(0xb1, 0xb2))
	return n, a, b
}

// randomHost returns an address under 2001:db8:<p>::/48 with a random interface
// ID (privacy addresses; see the report on sequential ones).
func randomHost(rng *rand.Rand, p byte) netip.Addr {
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8, p}
	for i := 8; i < 16; i++ {
		a[i] = byte(rng.Uint32())
	}
	return netip.AddrFrom16(a)
}

// route makes the network deliver to the proxies by prefix, since their
// hosts are not listed.
func (n *network) routeByPrefix(a, b *node) {
	n.owner = nil
	n.route = func(d netip.Addr) *node {
		switch d.As16()[4] {
		case 0xa1, 0xa2:
			return a
		case 0xb1, 0xb2:
			return b
		}
		return nil
	}
}

// BenchmarkHandshake: complete I1/R1/I2/R2 exchanges per second between
// two machines, messages encoded and decoded on the way, fake verifier.
func BenchmarkHandshake(b *testing.B) {
	n, pa, pb := benchSites(b, b.N+64)
	n.routeByPrefix(pa, pb)
	rng := rand.New(rand.NewPCG(1, 1))
	locals, peers := make([]netip.Addr, b.N), make([]netip.Addr, b.N)
	for i := range b.N {
		locals[i], peers[i] = randomHost(rng, 0xa1), randomHost(rng, 0xb1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := pa.m.Establish(locals[i], peers[i]); err != nil {
			b.Fatal(err)
		}
		n.run()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
	if got := pa.m.Stats.HandshakesCompleted.Load(); got != uint64(b.N) {
		b.Fatalf("%d of %d handshakes completed", got, b.N)
	}
}

// BenchmarkContextMemory: heap bytes of control-plane state per
// established context, over 100,000 contexts on each of two machines
// (1,000 hosts behind A, 100 behind B, every pair between them; both
// multihomed). The fast-path table is allocated before the first
// measurement and reported apart (table_B/context).
func BenchmarkContextMemory(b *testing.B) {
	const nA, nB = 1000, 100
	for range b.N {
		n, pa, pb := benchSites(b, nA*nB+64)
		n.routeByPrefix(pa, pb)
		rng := rand.New(rand.NewPCG(2, 2))
		as, bs := make([]netip.Addr, nA), make([]netip.Addr, nB)
		for i := range as {
			as[i] = randomHost(rng, 0xa1)
		}
		for i := range bs {
			bs[i] = randomHost(rng, 0xb1)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, x := range as {
			for _, y := range bs {
				if err := pa.m.Establish(x, y); err != nil {
					b.Fatal(err)
				}
				n.run()
			}
		}
		n.queue = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		if pa.m.Stats.Contexts(Established) != nA*nB || pb.m.Stats.Contexts(Established) != nA*nB {
			b.Fatalf("%d and %d established", pa.m.Stats.Contexts(Established), pb.m.Stats.Contexts(Established))
		}
		per := float64(after.HeapAlloc-before.HeapAlloc) / (2 * nA * nB)
		b.ReportMetric(per, "B/context")
		b.ReportMetric(pa.table.BytesPerContext(), "table_B/context")
		runtime.KeepAlive(pa)
		runtime.KeepAlive(pb)
	}
}

// The R1 path allocates nothing of its own: what a spoofed I1 costs
// beyond decoding is an HMAC, or, over the rate limits, a look at two
// buckets.
func TestR1DoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate int // 0: the defaults
		r1s  uint64
	}{{"answered", 1 << 30, 1001}, {"limited", 0, 10}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t)
			b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB)}, func(c *Config) {
				c.R1Rate, c.R1RatePerPrefix = tc.rate, tc.rate
				c.Send = func(netip.Addr, netip.Addr, wire.Message) {}
			})
			i1 := &wire.I1{InitiatorContextTag: 1, InitiatorNonce: 2}
			src := ap("2001:db8:e::1")
			allocs := testing.AllocsPerRun(1000, func() {
				b.m.sendR1(i1, 0, ulidB, src, src, ulidB)
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per R1", allocs)
			}
			if got := b.m.Stats.Out(wire.TypeR1); got != tc.r1s {
				t.Fatalf("%d R1s sent, want %d", got, tc.r1s)
			}
		})
	}
}
