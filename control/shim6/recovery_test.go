package shim6

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"shim6d/control/wire"
	"shim6d/dataplane"
)

func unknownTag(tag uint64, src, dst netip.Addr) *dataplane.Event {
	return &dataplane.Event{Kind: dataplane.EventUnknownTag, Tag: tag, Src: src.As16(), Dst: dst.As16()}
}

// B restarts and loses every context; A's next payload packet carries
// B's old tag, B's fast path reports the unknown tag, and R1bis → I2bis →
// R2 re-creates the context (RFC 5533 §7.5 Figure 6, §7.17–§7.20).
func TestRecoveryAfterRestart(t *testing.T) {
	n, a, b := pairNet(t)
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	ca, old := established(t, a, b, ulidA, ulidB)
	n.restart(b, 64, nil)
	n.log = nil

	b.m.HandleEvent(unknownTag(old.LocalTag, ulidA, ulidB))
	if b.m.Len() != 0 {
		t.Fatal("R1bis made state")
	}
	n.run()
	if got := n.types(); !slices.Equal(got, []wire.Type{wire.TypeR1bis, wire.TypeI2bis, wire.TypeR2}) {
		t.Fatalf("exchange %v", got)
	}
	na, nb := established(t, a, b, ulidA, ulidB)
	if na.LocalTag != ca.LocalTag {
		t.Fatal("A's tag changed")
	}
	if nb.LocalTag == old.LocalTag {
		t.Fatal("B reused the Packet Context Tag (RFC 5533 §7.20 says pick a new one)")
	}
	if !slices.Equal(nb.PeerLocators, []netip.Addr{ulidA, locA2}) {
		t.Fatalf("B learnt %v from the I2bis", nb.PeerLocators)
	}
	if a.m.Stats.RecoveriesStarted.Load() != 1 || a.m.Stats.RecoveriesCompleted.Load() != 1 || b.m.Stats.RecoveredContexts.Load() != 1 {
		t.Fatal("recovery counters")
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// The same with a control message: A's Update Request names B's lost tag
// (§10.4: R1bis), the context recovers, and the update then goes through.
func TestRecoveryByUpdate(t *testing.T) {
	n, a, b := pairNet(t)
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	established(t, a, b, ulidA, ulidB)
	n.restart(b, 64, nil)
	a.hosts[ulidA] = multihomed(ulidA)
	if err := a.m.SetLocalLocators(ulidA, a.hosts[ulidA]); err != nil {
		t.Fatal(err)
	}
	n.run()
	n.advance(10 * time.Second)
	_, cb := established(t, a, b, ulidA, ulidB)
	if !slices.Equal(cb.PeerLocators, []netip.Addr{ulidA}) {
		t.Fatalf("B sees %v, want A's new set", cb.PeerLocators)
	}
	if b.m.Stats.R1bisRateLimited.Load() != 0 || n.count(b, wire.TypeR1bis) == 0 {
		t.Fatal("no R1bis for the unknown tag")
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// Losing the I2bis or the R2 is covered by I2bis retransmission (§7.19).
func TestRecoveryWithLoss(t *testing.T) {
	for _, typ := range []wire.Type{wire.TypeI2bis, wire.TypeR2} {
		t.Run(typ.String(), func(t *testing.T) {
			n, a, b := pairNet(t)
			_ = a.m.Establish(ulidA, ulidB)
			n.run()
			_, old := established(t, a, b, ulidA, ulidB)
			n.restart(b, 64, nil)
			n.drop = dropFirst(typ, 1)
			b.m.HandleEvent(unknownTag(old.LocalTag, ulidA, ulidB))
			n.run()
			if st := ctxOf(t, a, ulidA, ulidB).State; st != I2bisSent {
				t.Fatalf("A in %v", st)
			}
			n.advance(10 * time.Second)
			established(t, a, b, ulidA, ulidB)
			if b.table.Len() != 1 {
				t.Fatal("duplicate I2bis made a second context")
			}
		})
	}
}

// R1bis is rate-limited and stateless: a flood of unknown tags costs a
// bounded number of answers and no memory.
func TestR1bisRateLimit(t *testing.T) {
	n, _, b := pairNet(t)
	for i := range 1000 {
		b.m.HandleEvent(unknownTag(uint64(i+1), ap("2001:db8:ff::1"), ulidB))
	}
	sentR1bis := n.count(b, wire.TypeR1bis)
	if sentR1bis != 10 || b.m.Stats.R1bisRateLimited.Load() != 990 {
		t.Fatalf("%d R1bis sent, %d limited; want the burst of 10", sentR1bis, b.m.Stats.R1bisRateLimited.Load())
	}
	n.clock.t = n.clock.t.Add(time.Second)
	b.m.HandleEvent(unknownTag(1, ap("2001:db8:ff::1"), ulidB))
	if n.count(b, wire.TypeR1bis) != 11 || b.m.Len() != 0 {
		t.Fatal("bucket did not refill, or state was kept")
	}
}

// An R1bis for a context that is not ESTABLISHED, or from a locator pair
// that is not the context's, is discarded (§7.18).
func TestR1bisMismatch(t *testing.T) {
	n, a, b := pairNet(t)
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	ca, _ := established(t, a, b, ulidA, ulidB)
	r1bis := &wire.R1bis{PacketContextTag: ca.PeerTag, ResponderNonce: 1,
		Options: wire.Options{ResponderValidator: make([]byte, 16)}}
	bs, _ := wire.Marshal(r1bis)
	a.m.HandleMessage(locB2, ulidA, bs) // not Lp(peer)
	r1bis.PacketContextTag++
	bs2, _ := wire.Marshal(r1bis)
	a.m.HandleMessage(ulidB, ulidA, bs2) // not CT(peer)
	if st := ctxOf(t, a, ulidA, ulidB).State; st != Established || a.m.Stats.Unmatched.Load() != 2 {
		t.Fatalf("state %v, unmatched %d", st, a.m.Stats.Unmatched.Load())
	}
	// A forged R1bis that matches: A tries I2bis, B refuses the validator,
	// and A falls back to I1, which B (holding the context with the same
	// CT(peer)) answers with R2 (§7.9): established again.
	a.m.HandleMessage(ulidB, ulidA, bs)
	n.run()
	if st := ctxOf(t, a, ulidA, ulidB).State; st != I2bisSent || b.m.Stats.ValidatorFailures.Load() != 1 {
		t.Fatalf("state %v, B validator failures %d", st, b.m.Stats.ValidatorFailures.Load())
	}
	n.advance(60 * time.Second)
	established(t, a, b, ulidA, ulidB)
	if b.table.Len() != 1 {
		t.Fatal("B made a second context")
	}
}

// TestPeerMadeContextAnew: B loses its context and establishes it again
// with I1..R2 (RFC 5533 §7.5 Figure 7). A's context stays ESTABLISHED with
// a new CT(peer); those that hold the old tag (REAP's keepalives and
// probes, the core's error index) must hear of it: A's core sees the
// context closed and established again, with the new tag.
func TestPeerMadeContextAnew(t *testing.T) {
	var events []string
	var tag uint64
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: multihomed(ulidA, locA2)}, func(c *Config) {
		c.OnEstablished = func(ci ContextInfo) { events, tag = append(events, "established"), ci.PeerTag }
		c.OnClosed = func(uint32) { events = append(events, "closed") }
		c.OnLocators = func(ci ContextInfo) { events = append(events, "locators") }
	})
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, nil)
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	_, old := established(t, a, b, ulidA, ulidB)
	n.restart(b, 64, nil)
	events = nil
	_ = b.m.Establish(ulidB, ulidA)
	n.run()
	ca, cb := established(t, a, b, ulidA, ulidB)
	if cb.LocalTag == old.LocalTag || ca.PeerTag != cb.LocalTag {
		t.Fatalf("A's CT(peer) %#x, B's new tag %#x (old %#x)", ca.PeerTag, cb.LocalTag, old.LocalTag)
	}
	if !slices.Equal(events, []string{"closed", "established"}) || tag != cb.LocalTag {
		t.Fatalf("A's core heard %v, last tag %#x; want closed, established with %#x", events, tag, cb.LocalTag)
	}
	// A duplicate of the same I2 changes nothing, and says nothing.
	events = nil
	i2, _ := n.last(b, wire.TypeI2)
	a.m.HandleMessage(i2.src, i2.dst, i2.b)
	n.run()
	if len(events) != 0 {
		t.Fatalf("a duplicate I2 told the core %v", events)
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// TestFailedRecoveryStopsRewriting: A's context is on a locator pair when
// B loses its state; B's R1bis starts A's recovery, and no I2bis or I1
// gets through. When A gives the recovery up (I2BIS-SENT to I1-SENT, then
// E-FAILED), its packets must go plain on the ULIDs again (RFC 5533 §11)
// rather than on under a tag B no longer knows (a review found them
// rewritten for the 200 s the record lives).
func TestFailedRecoveryStopsRewriting(t *testing.T) {
	n, a, b := pairNet(t)
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	ca, _ := established(t, a, b, ulidA, ulidB)
	l, p := locA2.As16(), locB2.As16()
	if err := a.table.SetLocators(ca.Slot, &l, &p, 2); err != nil {
		t.Fatal(err)
	}
	n.restart(b, 64, nil)
	n.drop = func(s sent) bool { return s.t == wire.TypeI2bis || s.t == wire.TypeI1 }
	raw, err := wire.Marshal(&wire.Keepalive{ReceiverContextTag: ca.PeerTag})
	if err != nil {
		t.Fatal(err)
	}
	b.m.HandleMessage(locA2, locB2, raw) // B answers the lost tag with R1bis
	n.run()
	if ci, _ := a.m.Context(ulidA, ulidB); ci.State != I2bisSent {
		t.Fatalf("A in %v after the R1bis, want I2BIS-SENT", ci.State)
	}
	var tc dataplane.Context
	for range 120 {
		n.advance(time.Second)
		ci, ok := a.m.Context(ulidA, ulidB)
		if !ok || ci.State == I2bisSent {
			continue
		}
		if !a.table.Get(ci.Slot, &tc) || tc.Flags&dataplane.CtxRewrite != 0 {
			t.Fatalf("in %v, still rewriting to %v", ci.State, netip.AddrFrom16(tc.LocPeer))
		}
	}
	if a.m.Stats.Unshimmed.Load() != 1 {
		t.Fatalf("unshimmed %d, want 1", a.m.Stats.Unshimmed.Load())
	}
}
