package shim6

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shim6d/control/wire"
)

// The replies to unauthenticated packets (R1, R1bis, Error) take the
// source /64's bucket and then the global one (Config.R1Rate and the
// rest): one /64's flood is held at its own rate while other sources are
// still answered, a flood from everywhere at the global cap, and a real
// initiator whose I1 was dropped gets in on its retransmission.

var limitSecret = [16]byte{'r', '1', 'l', 'i', 'm', 'i', 't'}

// limitNet is pairNet with a fixed secret for B's per-/64 tables, so the
// tests know which sources share a bucket.
func limitNet(t *testing.T) (*network, *node, *node) {
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: multihomed(ulidA, locA2)}, nil)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, func(c *Config) {
		c.RateLimitSecret = &limitSecret
	})
	return n, a, b
}

// in64 is address i of the /64 p.
func in64(p netip.Prefix, i uint64) netip.Addr {
	a := p.Addr().As16()
	binary.BigEndian.PutUint64(a[8:], i)
	return netip.AddrFrom16(a)
}

// randomI1 hands b an I1 for ulidB from src with random tag and nonce.
func randomI1(t testing.TB, rng *rand.Rand, b *node, src netip.Addr) {
	raw, err := wire.Marshal(&wire.I1{InitiatorContextTag: rng.Uint64()&wire.MaxContextTag | 1, InitiatorNonce: rng.Uint32()})
	if err != nil {
		t.Fatal(err)
	}
	b.m.HandleMessage(src, ulidB, raw)
}

// An I1 flood from many addresses of one /64 gets that /64's burst, then
// its rate of 10 a second, while an I1 from another /64 is answered at
// once, even at the same instant, and a real handshake from A's /64 in the
// middle of the flood completes without a retransmission.
func TestI1FloodOnePrefix(t *testing.T) {
	n, a, b := limitNet(t)
	n.record = false
	rng := rand.New(rand.NewPCG(3, 4))
	flood := netip.MustParsePrefix("2001:db8:e:1::/64")
	other := ap("2001:db8:e:2::1")
	if b.m.r1.Prefix.Slot(other) == b.m.r1.Prefix.Slot(in64(flood, 1)) || b.m.r1.Prefix.Slot(ulidA) == b.m.r1.Prefix.Slot(in64(flood, 1)) {
		t.Fatal("the test's sources share a bucket under limitSecret; pick others")
	}
	s := &b.m.Stats
	for range 1000 {
		randomI1(t, rng, b, in64(flood, rng.Uint64()))
	}
	if s.Out(wire.TypeR1) != 10 || s.R1RateLimited.Load() != 990 || s.R1RateLimitedPrefix.Load() != 990 {
		t.Fatalf("1000 I1s from one /64 at once: %d R1s, %d limited (%d by the /64); want the /64's burst of 10, 990, 990",
			s.Out(wire.TypeR1), s.R1RateLimited.Load(), s.R1RateLimitedPrefix.Load())
	}
	randomI1(t, rng, b, other)
	if s.Out(wire.TypeR1) != 11 {
		t.Fatal("an I1 from another /64 was not answered during the flood")
	}
	// Two more seconds of flood, 5000 I1s a second; A starts its
	// handshake half-way.
	before := s.Out(wire.TypeR1)
	for ms := 10; ms <= 2000; ms += 10 {
		n.clock.t = n.clock.t.Add(10 * time.Millisecond)
		for range 50 {
			randomI1(t, rng, b, in64(flood, rng.Uint64()))
		}
		if ms == 1000 {
			if err := a.m.Establish(ulidA, ulidB); err != nil {
				t.Fatal(err)
			}
		}
		n.run()
	}
	established(t, a, b, ulidA, ulidB)
	if got := s.Out(wire.TypeR1) - before - 1; got < 19 || got > 20 {
		t.Fatalf("2 s of flood from one /64 got %d R1s, want its rate of 10 a second", got)
	}
	if a.m.Stats.Retransmissions.Load() != 0 || s.R1RateLimited.Load() != s.R1RateLimitedPrefix.Load() {
		t.Fatalf("A retransmitted %d times; %d I1s limited, %d of them by their /64: the global cap was reached",
			a.m.Stats.Retransmissions.Load(), s.R1RateLimited.Load(), s.R1RateLimitedPrefix.Load())
	}
	if got := s.R1RateLimited.Load(); got != 990+10_000-(s.Out(wire.TypeR1)-before-1) {
		t.Fatalf("%d I1s counted as limited", got)
	}
	checkInvariants(t, b)
}

// A flood from a fresh /64 for every I1 passes every per-/64 bucket and is
// held at the global cap: 1000 R1s a second (and the burst of 100), the
// rest dropped and counted, and no state kept.
func TestI1FloodManyPrefixes(t *testing.T) {
	n, _, b := limitNet(t)
	n.record = false
	rng := rand.New(rand.NewPCG(5, 6))
	s := &b.m.Stats
	const perMs, ms = 20, 2000 // 20,000 I1s a second, 40,000 in all
	for range ms {
		n.clock.t = n.clock.t.Add(time.Millisecond)
		for range perMs {
			var src [16]byte
			binary.BigEndian.PutUint64(src[:], 0x2001_0000_0000_0000|rng.Uint64()>>16)
			binary.BigEndian.PutUint64(src[8:], rng.Uint64())
			randomI1(t, rng, b, netip.AddrFrom16(src))
		}
		n.run()
	}
	r1 := s.Out(wire.TypeR1)
	if r1 < 2090 || r1 > 2100 {
		t.Fatalf("%d R1s for 2 s of flood from everywhere, want the burst of 100 and 1000 a second", r1)
	}
	if s.R1RateLimited.Load() != perMs*ms-r1 || s.R1RateLimitedPrefix.Load() != 0 {
		t.Fatalf("%d limited, %d of them by their /64; want %d, 0", s.R1RateLimited.Load(), s.R1RateLimitedPrefix.Load(), perMs*ms-r1)
	}
	if b.m.Len() != 0 || b.table.Len() != 0 || len(b.m.hs) != 0 {
		t.Fatal("the flood left state")
	}
}

// A real initiator whose I1 arrives while the global cap is spent is
// dropped without an answer, and gets in on its retransmission (RFC 5533
// §7.8), once the bucket has refilled.
func TestI1DroppedThenRetransmitted(t *testing.T) {
	n, a, b := limitNet(t)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 200 { // one I1 from each of 200 /64s: the burst of 100 spent
		src := ap("2001:db8:f::1").As16()
		binary.BigEndian.PutUint16(src[6:], uint16(i))
		randomI1(t, rng, b, netip.AddrFrom16(src))
	}
	n.queue = n.queue[:0]
	limited := b.m.Stats.R1RateLimited.Load()
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	if b.m.Stats.R1RateLimited.Load() != limited+1 || b.m.Stats.R1RateLimitedPrefix.Load() != 0 {
		t.Fatalf("A's first I1 was not dropped by the global cap (limited %d → %d)", limited, b.m.Stats.R1RateLimited.Load())
	}
	if st := ctxOf(t, a, ulidA, ulidB).State; st != I1Sent {
		t.Fatalf("A in %v after its I1 was dropped", st)
	}
	n.advance(10 * time.Second)
	established(t, a, b, ulidA, ulidB)
	if a.m.Stats.Retransmissions.Load() == 0 || a.m.Stats.HandshakesCompleted.Load() != 1 {
		t.Fatalf("%d retransmissions, %d completed", a.m.Stats.Retransmissions.Load(), a.m.Stats.HandshakesCompleted.Load())
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// R1bis and Error messages take a /64's bucket as well: after a flood from
// one /64 spent it, that /64 gets one answer per 100 ms while another gets
// its answers as soon as the global bucket has tokens again.
func TestRepliesPerPrefix(t *testing.T) {
	flood := netip.MustParsePrefix("2001:db8:e:1::/64")
	other := ap("2001:db8:e:2::1")
	unknownType := func(t *testing.T) []byte {
		b := slices.Clone(mustMarshal(t, &wire.Keepalive{ReceiverContextTag: 1}))
		b[2] = 100 // a type RFC 5533 §5.3 does not define: Error code 0
		binary.BigEndian.PutUint16(b[4:], 0)
		binary.BigEndian.PutUint16(b[4:], wire.ComputeChecksum(b))
		return b
	}
	for _, tc := range []struct {
		name           string
		typ            wire.Type
		send           func(t *testing.T, b *node, src netip.Addr)
		limited, share func(*Stats) uint64
	}{
		{"R1bis", wire.TypeR1bis,
			func(t *testing.T, b *node, src netip.Addr) { b.m.HandleEvent(unknownTag(0x77, src, ulidB)) },
			func(s *Stats) uint64 { return s.R1bisRateLimited.Load() },
			func(s *Stats) uint64 { return s.R1bisRateLimitedPrefix.Load() }},
		{"Error", wire.TypeError,
			func(t *testing.T, b *node, src netip.Addr) { b.m.HandleMessage(src, ulidB, unknownType(t)) },
			func(s *Stats) uint64 { return s.ErrorsRateLimited.Load() },
			func(s *Stats) uint64 { return s.ErrorsRateLimitedPrefix.Load() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _, b := limitNet(t)
			s := &b.m.Stats
			for i := range uint64(1000) {
				tc.send(t, b, in64(flood, i))
			}
			// Both bursts are 10: the /64 spends its own and the global one.
			if got := n.count(b, tc.typ); got != 10 || tc.limited(s) != 990 || tc.share(s) != 990 {
				t.Fatalf("%d sent, %d limited, %d by the /64; want 10, 990, 990", got, tc.limited(s), tc.share(s))
			}
			n.clock.t = n.clock.t.Add(100 * time.Millisecond) // global +10, the /64 +1
			for i := range uint64(1000) {
				tc.send(t, b, in64(flood, i))
			}
			if got := n.count(b, tc.typ); got != 11 || tc.share(s) != 990+999 {
				t.Fatalf("100 ms later the /64 got %d in all, %d refused by its bucket; want 11, %d", got, tc.share(s), 990+999)
			}
			for range 5 {
				tc.send(t, b, other)
			}
			if got := n.count(b, tc.typ); got != 16 {
				t.Fatalf("another /64 got %d answers of 5 with 9 global tokens left", got-11)
			}
		})
	}
}

// BenchmarkSendR1 is what an I1 costs the responder past decoding:
// "answered" pays the limiter, the validator's HMAC and the message;
// "limited" (a flood from one /64) pays the limiter alone.
func BenchmarkSendR1(b *testing.B) {
	i1 := &wire.I1{InitiatorContextTag: 1, InitiatorNonce: 2}
	for _, tc := range []struct {
		name string
		rate int // 0: the defaults
	}{{"answered", 1 << 40}, {"limited", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			n := newNetwork(b)
			nd := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB)}, func(c *Config) {
				c.R1Rate, c.R1RatePerPrefix = tc.rate, tc.rate
				c.Send = func(netip.Addr, netip.Addr, wire.Message) {}
			})
			srcs := make([]netip.Addr, 1024)
			for i := range srcs {
				srcs[i] = in64(netip.MustParsePrefix("2001:db8:e::/64"), uint64(i))
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				src := srcs[i&1023]
				nd.m.sendR1(i1, 0, ulidB, src, src, ulidB)
			}
			b.ReportMetric(float64(nd.m.Stats.Out(wire.TypeR1)), "R1s")
		})
	}
}

// A peer that established a context before is not crowded out by a flood
// from random sources that spends the global cap: its /64 takes a limit
// of its own (knownPeers), so its next handshake completes without a
// retransmission while strangers' I1s are dropped at the cap.
func TestKnownPeerPassesRandomFlood(t *testing.T) {
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: multihomed(ulidA, locA2), ulidA3: multihomed(ulidA3)}, nil)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, func(c *Config) {
		c.RateLimitSecret = &limitSecret
	})
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
	n.record = false
	rng := rand.New(rand.NewPCG(9, 10))
	s := &b.m.Stats
	for ms := 1; ms <= 1000; ms++ {
		n.clock.t = n.clock.t.Add(time.Millisecond)
		for range 20 { // 20,000 I1s a second from everywhere
			var src [16]byte
			binary.BigEndian.PutUint64(src[:], 0x2001_0000_0000_0000|rng.Uint64()>>16)
			binary.BigEndian.PutUint64(src[8:], rng.Uint64())
			randomI1(t, rng, b, netip.AddrFrom16(src))
		}
		if ms == 500 {
			if err := a.m.Establish(ulidA3, ulidB); err != nil {
				t.Fatal(err)
			}
		}
		n.run()
	}
	established(t, a, b, ulidA3, ulidB)
	if r := a.m.Stats.Retransmissions.Load(); r != 0 || s.R1KnownPeer.Load() == 0 {
		t.Fatalf("A retransmitted %d times; %d I1s took the known peers' limit", r, s.R1KnownPeer.Load())
	}
	if s.R1RateLimited.Load() < 15_000 {
		t.Fatalf("only %d of the flood's 20,000 I1s were limited: the cap did not hold", s.R1RateLimited.Load())
	}
}
