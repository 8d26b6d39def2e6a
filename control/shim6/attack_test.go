package shim6

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"shim6d/control/wire"
)

// An I2 whose locator list the Verifier refuses (a locator not bound to
// the initiator's ULID) creates nothing (RFC 5533 §7.13).
func TestI2RefusedLocator(t *testing.T) {
	n, a, b := pairNet(t)
	b.verify.refuse[locA2] = true
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	if b.m.Len() != 0 || b.table.Len() != 0 || b.m.Stats.VerificationFailures.Load() != 1 {
		t.Fatalf("B holds %d contexts, %d verification failures", b.m.Len(), b.m.Stats.VerificationFailures.Load())
	}
	if n.count(b, wire.TypeR2) != 0 {
		t.Fatal("B answered a refused I2")
	}
	if st := ctxOf(t, a, ulidA, ulidB).State; st != I2Sent {
		t.Fatalf("A in %v", st)
	}
}

// An I2 whose CGA parameters are not the peer ULID's is refused too.
func TestI2ForeignParameters(t *testing.T) {
	n, a, b := pairNet(t)
	set := multihomed(ulidA, locA2)
	set.Parameters = fakePDS(ulidB) // someone else's
	a.hosts[ulidA] = set
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	if b.m.Len() != 0 || b.m.Stats.VerificationFailures.Load() != 1 {
		t.Fatal("I2 with foreign parameters accepted")
	}
}

// captureI2 runs a handshake up to A's I2 and returns it undelivered.
func captureI2(t *testing.T) (*network, *node, *node, sent) {
	n, a, b := pairNet(t)
	n.drop = func(s sent) bool { return s.t == wire.TypeI2 }
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	n.drop = nil
	i2, ok := n.last(a, wire.TypeI2)
	if !ok {
		t.Fatal("no I2")
	}
	return n, a, b, i2
}

// The Responder Validator: accepted under the current or the previous
// secret, refused after two rotations, and refused when anything it
// covers changes (RFC 5533 §7.10.1, §7.13).
func TestValidator(t *testing.T) {
	tamper := func(f func(*wire.I2)) func(sent) sent {
		return func(s sent) sent {
			m := s.msg().(*wire.I2)
			f(m)
			s.b, _ = wire.Marshal(m)
			return s
		}
	}
	cases := []struct {
		name      string
		rotations int
		change    func(sent) sent
		ok        bool
	}{
		{"as sent", 0, nil, true},
		{"one rotation", 1, nil, true},
		{"two rotations", 2, nil, false},
		{"other initiator tag", 0, tamper(func(m *wire.I2) { m.InitiatorContextTag ^= 1 }), false},
		{"other initiator nonce", 0, tamper(func(m *wire.I2) { m.InitiatorNonce++ }), false},
		{"other responder nonce", 0, tamper(func(m *wire.I2) { m.ResponderNonce ^= 1 }), false},
		{"forged validator", 0, tamper(func(m *wire.I2) { m.Options.ResponderValidator[3] ^= 0x40 }), false},
		{"other ULID pair", 0, tamper(func(m *wire.I2) {
			m.Options.ULIDPair = &wire.ULIDPair{Sender: ulidA3, Receiver: ulidB}
		}), false},
		{"other source locator", 0, func(s sent) sent { s.src = locA2; return s }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, _, b, i2 := captureI2(t)
			for range tc.rotations {
				b.m.RotateSecret()
			}
			if tc.change != nil {
				i2 = tc.change(i2)
			}
			n.deliver(i2)
			if got := b.m.Len() == 1; got != tc.ok {
				t.Fatalf("context made: %v, want %v", got, tc.ok)
			}
			if !tc.ok && (b.m.Stats.ValidatorFailures.Load() != 1 || n.count(b, wire.TypeR2) != 0) {
				t.Fatalf("%d validator failures, %d R2", b.m.Stats.ValidatorFailures.Load(), n.count(b, wire.TypeR2))
			}
		})
	}
}

// The secret rotates by itself every VALIDATOR_MIN_LIFETIME: an I2 held
// for over two lifetimes is refused.
func TestValidatorExpires(t *testing.T) {
	n, a, b, i2 := captureI2(t)
	a.m.cfg.Send = func(netip.Addr, netip.Addr, wire.Message) {} // keep A quiet
	n.advance(61 * 1e9)
	n.deliver(i2)
	if b.m.Len() != 0 || b.m.Stats.ValidatorFailures.Load() != 1 {
		t.Fatal("stale I2 accepted")
	}
}

// A replayed I2 (same validator, within its lifetime) gets the same R2
// and makes no second context.
func TestI2Replay(t *testing.T) {
	n, a, b, i2 := captureI2(t)
	n.deliver(i2)
	n.deliver(i2)
	n.deliver(i2)
	n.run()
	if b.table.Len() != 1 || n.count(b, wire.TypeR2) != 3 {
		t.Fatalf("%d contexts, %d R2", b.table.Len(), n.count(b, wire.TypeR2))
	}
	r2s := []uint64{}
	for _, s := range n.log {
		if s.t == wire.TypeR2 {
			r2s = append(r2s, s.msg().(*wire.R2).ResponderContextTag)
		}
	}
	if r2s[0] != r2s[1] || r2s[1] != r2s[2] {
		t.Fatalf("R2 tags %x", r2s)
	}
	established(t, a, b, ulidA, ulidB)
}

// 100,000 I1s from spoofed sources: every one gets an R1 and none leaves
// state behind (RFC 5533 §4.4, §7.10), and a legitimate handshake in the
// middle of the flood completes. B's R1 limits are raised out of the way,
// so that every I1 costs what an answered one does; ratelimit_test.go
// floods with the limits on.
func TestSpoofedI1Flood(t *testing.T) {
	flood := 100_000
	if testing.Short() {
		flood = 20_000
	}
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: multihomed(ulidA, locA2), ulidA3: multihomed(ulidA3)}, nil)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, func(c *Config) {
		c.R1Rate, c.R1RatePerPrefix = 10_000_000, 10_000_000 // bursts of 1,000,000
	})
	n.record = false
	// A first context, so the pages and maps the legitimate handshake
	// needs exist before the heap is measured.
	_ = a.m.Establish(ulidA3, ulidB)
	n.run()
	rng := rand.New(rand.NewPCG(7, 7))
	spoof := func() {
		var s [16]byte
		s[0], s[1] = 0x20, 0x01
		for i := 2; i < 16; i++ {
			s[i] = byte(rng.Uint32())
		}
		b1, _ := wire.Marshal(&wire.I1{InitiatorContextTag: rng.Uint64() & wire.MaxContextTag, InitiatorNonce: rng.Uint32()})
		b.m.HandleMessage(netip.AddrFrom16(s), ulidB, b1)
	}
	for range 1000 {
		spoof()
	}
	n.run()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r1Before := b.m.Stats.Out(wire.TypeR1)
	for i := range flood {
		if i == flood/2 {
			if err := a.m.Establish(ulidA, ulidB); err != nil {
				t.Fatal(err)
			}
		}
		spoof()
		if i%1000 == 0 {
			n.run() // the legitimate exchange interleaves with the flood
		}
	}
	n.run()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := b.m.Stats.Out(wire.TypeR1) - r1Before; got != uint64(flood)+1 {
		t.Fatalf("%d R1s for %d I1s and one real", got, flood)
	}
	if b.m.Stats.R1RateLimited.Load() != 0 {
		t.Fatalf("%d I1s rate-limited with the limits out of the way", b.m.Stats.R1RateLimited.Load())
	}
	established(t, a, b, ulidA, ulidB)
	m := b.m
	if m.Len() != 2 || b.table.Len() != 2 || len(m.hs) != 0 || len(m.byNonce) != 0 || len(m.peers) != 1 ||
		len(m.peerTags) != 2 || len(m.hostIdx) != 1 || len(m.pdsByValue) != 1 {
		t.Fatalf("B keeps state: %d contexts, %d handshakes, %d nonces, %d peer sets, %d peer tags, %d hosts, %d PDS",
			m.Len(), len(m.hs), len(m.byNonce), len(m.peers), len(m.peerTags), len(m.hostIdx), len(m.pdsByValue))
	}
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap %d → %d bytes over %d spoofed I1s (%+d)", before.HeapAlloc, after.HeapAlloc, flood, grew)
	if grew > 256<<10 {
		t.Fatalf("heap grew by %d bytes during the flood", grew)
	}
	checkInvariants(t, b)
}

// TestULIDPairFromAStranger: an off-path host X names someone else's ULID
// pair in the ULID Pair option of an I1 and an I2 of its own, sent from its
// own address, and completes the exchange with the R1 that comes to it. It
// must get no context: else B would use X as the peer's locator (the
// exchange's pair becomes the first pair), and own a context for the pair
// under X's tag before the real peer's. The real peer's own exchange still
// works afterwards.
func TestULIDPairFromAStranger(t *testing.T) {
	stranger := ap("2001:db8:ee::66")
	var est []ContextInfo
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: multihomed(ulidA, locA2)}, nil)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, func(c *Config) {
		c.OnEstablished = func(ci ContextInfo) { est = append(est, ci) }
	})
	send := func(m wire.Message) {
		t.Helper()
		raw, err := wire.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		b.m.HandleMessage(stranger, ulidB, raw)
	}
	pair := &wire.ULIDPair{Sender: ulidA, Receiver: ulidB}
	i1 := &wire.I1{InitiatorContextTag: 0x1234567, InitiatorNonce: 42}
	i1.Options.ULIDPair = pair
	send(i1)
	r1s, ok := n.last(b, wire.TypeR1)
	if !ok || r1s.dst != stranger {
		t.Fatal("no R1 to the stranger: the test does not reach the I2")
	}
	r1 := r1s.msg().(*wire.R1)
	i2 := &wire.I2{InitiatorContextTag: 0x1234567, InitiatorNonce: 42, ResponderNonce: r1.ResponderNonce}
	i2.Options.ResponderValidator = r1.Options.ResponderValidator
	i2.Options.ULIDPair = pair
	send(i2)
	if _, ok := b.m.Context(ulidB, ulidA); ok || len(est) != 0 || n.count(b, wire.TypeR2) != 0 {
		t.Fatalf("the stranger's exchange made a context (%d established, %d R2)", len(est), n.count(b, wire.TypeR2))
	}
	n.queue = n.queue[:0]
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
	checkInvariants(t, b)
}

// TestCrossingI1FromAStrangerGetsNoTag: while A's own exchange with B is
// pending, an I1 from a stranger's address naming the pair gets an R1,
// not the R2 a crossing I1 gets (which carries A's context tag).
func TestCrossingI1FromAStrangerGetsNoTag(t *testing.T) {
	n, a, _ := pairNet(t)
	n.drop = func(sent) bool { return true }
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	stranger := ap("2001:db8:ee::66")
	i1 := &wire.I1{InitiatorContextTag: 0x4242, InitiatorNonce: 7}
	i1.Options.ULIDPair = &wire.ULIDPair{Sender: ulidB, Receiver: ulidA}
	raw, err := wire.Marshal(i1)
	if err != nil {
		t.Fatal(err)
	}
	a.m.HandleMessage(stranger, ulidA, raw)
	if r2, ok := n.last(a, wire.TypeR2); ok {
		t.Fatalf("R2 to %v", r2.dst)
	}
	if r1, ok := n.last(a, wire.TypeR1); !ok || r1.dst != stranger {
		t.Fatal("no R1 to the stranger")
	}
}
