package shim6

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shim6d/control/wire"
)

func TestEstablish(t *testing.T) {
	n, a, b := pairNet(t)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	if got := ctxOf(t, a, ulidA, ulidB).State; got != I1Sent {
		t.Fatalf("after Establish: %v, want I1-SENT", got)
	}
	if b.m.Len() != 0 {
		t.Fatal("responder has state before any message")
	}
	n.run()
	ca, cb := established(t, a, b, ulidA, ulidB)
	want := []wire.Type{wire.TypeI1, wire.TypeR1, wire.TypeI2, wire.TypeR2}
	if got := n.types(); !slices.Equal(got, want) {
		t.Fatalf("exchange %v, want %v", got, want)
	}
	if !slices.Equal(ca.PeerLocators, []netip.Addr{ulidB, locB2}) || !slices.Equal(cb.PeerLocators, []netip.Addr{ulidA, locA2}) {
		t.Fatalf("peer locators: A sees %v, B sees %v", ca.PeerLocators, cb.PeerLocators)
	}
	if a.m.Stats.HandshakesStarted.Load() != 1 || a.m.Stats.HandshakesCompleted.Load() != 1 || b.m.Stats.ResponderContexts.Load() != 1 {
		t.Fatal("handshake counters wrong")
	}
	if a.m.Stats.Out(wire.TypeI1) != 1 || b.m.Stats.In(wire.TypeI1) != 1 || b.m.Stats.Out(wire.TypeR2) != 1 {
		t.Fatal("message counters wrong")
	}
	// The I2 carries the initiator's locator list with its CGA parameters.
	i2, _ := n.last(a, wire.TypeI2)
	o := wire.OptionsOf(i2.msg())
	if o.LocatorList == nil || len(o.LocatorList.Locators) != 2 || string(o.CGAParameterDataStructure) != string(fakePDS(ulidA)) {
		t.Fatalf("I2 options %+v", o)
	}
	// Establish again is a no-op.
	if err := a.m.Establish(ulidA, ulidB); err != nil || len(n.queue) != 0 {
		t.Fatalf("second Establish: %v, %d messages", err, len(n.queue))
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// A host whose set is just its ULID sends no Locator List and no PDS; the
// peer takes Ls = {ULID}.
func TestEstablishULIDOnly(t *testing.T) {
	n := newNetwork(t)
	a := n.addNode("A", 8, map[netip.Addr]LocatorSet{ulidA: {}}, nil)
	b := n.addNode("B", 8, map[netip.Addr]LocatorSet{ulidB: {}}, func(c *Config) { c.Verifier = nil })
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	_, cb := established(t, a, b, ulidA, ulidB)
	if !slices.Equal(cb.PeerLocators, []netip.Addr{ulidA}) {
		t.Fatalf("B sees %v", cb.PeerLocators)
	}
	i2, _ := n.last(a, wire.TypeI2)
	if o := wire.OptionsOf(i2.msg()); o.LocatorList != nil || o.CGAParameterDataStructure != nil {
		t.Fatal("ULID-only I2 carries locator options")
	}
}

// Loss of each of the four handshake messages: the initiator's
// retransmission recovers (RFC 5533 §7.8, §7.12; R1 and R2 are never
// retransmitted, §7.14, the initiator's timer covers them).
func TestLossOfEachHandshakeMessage(t *testing.T) {
	for _, typ := range []wire.Type{wire.TypeI1, wire.TypeR1, wire.TypeI2, wire.TypeR2} {
		for _, k := range []int{1, 2} {
			t.Run(fmt.Sprintf("%v×%d", typ, k), func(t *testing.T) {
				n, a, b := pairNet(t)
				n.drop = dropFirst(typ, k)
				if err := a.m.Establish(ulidA, ulidB); err != nil {
					t.Fatal(err)
				}
				n.run()
				if st := ctxOf(t, a, ulidA, ulidB).State; st == Established {
					t.Fatal("established although a message was lost")
				}
				n.advance(40 * time.Second)
				established(t, a, b, ulidA, ulidB)
				if a.m.Stats.Retransmissions.Load() < uint64(k) {
					t.Fatalf("%d retransmissions", a.m.Stats.Retransmissions.Load())
				}
				if b.table.Len() != 1 || a.table.Len() != 1 {
					t.Fatalf("tables hold %d and %d contexts", a.table.Len(), b.table.Len())
				}
				checkInvariants(t, a)
				checkInvariants(t, b)
			})
		}
	}
}

// Every message delivered twice and in random order, for many pairs at
// once: one context per pair on each side, all established.
func TestDuplicatesAndReordering(t *testing.T) {
	n := newNetwork(t)
	hostsA, hostsB := map[netip.Addr]LocatorSet{}, map[netip.Addr]LocatorSet{}
	var as, bs []netip.Addr
	for i := range 20 {
		ua := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xa1, 15: byte(i + 1)})
		ua2 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xa2, 15: byte(i + 1)})
		ub := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xb1, 15: byte(i + 1)})
		hostsA[ua], hostsB[ub] = multihomed(ua, ua2), multihomed(ub)
		as, bs = append(as, ua), append(bs, ub)
	}
	a := n.addNode("A", 1024, hostsA, nil)
	b := n.addNode("B", 1024, hostsB, nil)
	n.dup, n.reorder = true, true
	for i := range as {
		for j := range 5 {
			// Some pairs from each side, some from both.
			if (i+j)%2 == 0 {
				_ = a.m.Establish(as[i], bs[j])
			}
			if (i+j)%3 == 0 {
				_ = b.m.Establish(bs[j], as[i])
			}
		}
	}
	n.run()
	n.advance(60 * time.Second)
	for i := range as {
		for j := range 5 {
			if (i+j)%2 == 0 || (i+j)%3 == 0 {
				established(t, a, b, as[i], bs[j])
			}
		}
	}
	if a.table.Len() != b.table.Len() {
		t.Fatalf("A holds %d contexts, B %d", a.table.Len(), b.table.Len())
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// Both ends initiate for the same ULID pair at the same time: the I1s
// cross, each answers with R2, and each side ends with exactly one
// established context (RFC 5533 §7.4 Figure 4; seed draft §8.3).
func TestSimultaneousInitiation(t *testing.T) {
	n, a, b := pairNet(t)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	if err := b.m.Establish(ulidB, ulidA); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
	if a.table.Len() != 1 || b.table.Len() != 1 {
		t.Fatal("more than one context per side")
	}
	if n.count(nil, wire.TypeR1) != 0 || n.count(nil, wire.TypeI2) != 0 || n.count(nil, wire.TypeUpdateRequest) != 0 {
		t.Fatalf("crossing I1s should need no R1/I2: %v", n.types())
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// One end's I2 crosses the other's I1 (RFC 5533 §7.4 Figure 5): B answered
// A's I1 statelessly, then starts its own exchange.
func TestSimultaneousI2CrossesI1(t *testing.T) {
	n, a, b := pairNet(t)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	// I1 to B, R1 to A; A's I2 waits in the queue.
	n.deliver(n.queue[0])
	n.queue = n.queue[1:]
	n.deliver(n.queue[0])
	n.queue = n.queue[1:]
	if len(n.queue) != 1 || n.queue[0].t != wire.TypeI2 {
		t.Fatalf("queue %v", n.queue)
	}
	if err := b.m.Establish(ulidB, ulidA); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
	if a.table.Len() != 1 || b.table.Len() != 1 {
		t.Fatal("more than one context per side")
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// An initiator that lost its context starts over with I1 while the peer
// still holds the old one: the peer answers R1 (the tag differs) and
// re-creates the context on the I2 with the new CT(peer) (RFC 5533 §7.5
// Figure 7).
func TestContextLossAtSender(t *testing.T) {
	n, a, b := pairNet(t)
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	_, before := established(t, a, b, ulidA, ulidB)
	n.restart(a, 64, nil)
	n.log = nil
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	ca, cb := established(t, a, b, ulidA, ulidB)
	if cb.LocalTag != before.LocalTag || cb.PeerTag != ca.LocalTag {
		t.Fatalf("B should keep its tag %#x and learn A's new one: %+v", before.LocalTag, cb)
	}
	if got := n.types(); !slices.Equal(got, []wire.Type{wire.TypeI1, wire.TypeR1, wire.TypeI2, wire.TypeR2}) {
		t.Fatalf("exchange %v", got)
	}
	checkInvariants(t, b)
}

// No answer at all: I1 is retransmitted I1_RETRIES_MAX times with binary
// exponential backoff randomised over [0.5, 1.5] (RFC 5533 §7.8, §14), the
// context goes to E-FAILED, refuses Establish for NO_R1_HOLDDOWN_TIME and
// is then removed.
func TestI1RetransmissionAndFailure(t *testing.T) {
	n, a, _ := pairNet(t)
	n.drop = func(sent) bool { return true }
	start := n.clock.t
	var times []time.Duration
	n.record = false
	base := a.m.Stats.Out(wire.TypeI1)
	_ = a.m.Establish(ulidA, ulidB)
	for i := 0; i < 2000 && ctxOf(t, a, ulidA, ulidB).State == I1Sent; i++ {
		if got := a.m.Stats.Out(wire.TypeI1); got != base {
			times = append(times, n.clock.t.Sub(start))
			base = got
		}
		n.advance(100 * time.Millisecond)
	}
	if len(times) != 5 {
		t.Fatalf("%d I1s sent, want 1 + I1_RETRIES_MAX = 5: %v", len(times), times)
	}
	for i := 1; i < len(times); i++ {
		nominal := 4 * time.Second << (i - 1)
		gap := times[i] - times[i-1]
		if gap < nominal/2 || gap > nominal*3/2+200*time.Millisecond {
			t.Errorf("retransmission %d after %v, want within [%v, %v]", i, gap, nominal/2, nominal*3/2)
		}
	}
	ci := ctxOf(t, a, ulidA, ulidB)
	if ci.State != EFailed || a.m.Stats.FailedNoResponse.Load() != 1 {
		t.Fatalf("state %v, failures %d", ci.State, a.m.Stats.FailedNoResponse.Load())
	}
	if err := a.m.Establish(ulidA, ulidB); err != ErrHoldDown {
		t.Fatalf("Establish in E-FAILED: %v", err)
	}
	checkInvariants(t, a)
	n.advance(61 * time.Second)
	if _, ok := a.m.Context(ulidA, ulidB); ok || a.table.Len() != 0 {
		t.Fatal("E-FAILED context not removed after the hold-down")
	}
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatalf("Establish after the hold-down: %v", err)
	}
}

// ICMPv6 Unrecognized Next Header for our I1: NO-SUPPORT for
// ICMP_HOLDDOWN_TIME (RFC 5533 §7.8).
func TestNoSupport(t *testing.T) {
	n, a, _ := pairNet(t)
	n.drop = func(sent) bool { return true }
	_ = a.m.Establish(ulidA, ulidB)
	a.m.PeerNoSupport(ulidA, ulidB)
	if st := ctxOf(t, a, ulidA, ulidB).State; st != NoSupport {
		t.Fatalf("state %v", st)
	}
	n.advance(9 * time.Minute)
	if err := a.m.Establish(ulidA, ulidB); err != ErrHoldDown {
		t.Fatalf("Establish in NO-SUPPORT: %v", err)
	}
	n.advance(61 * time.Second)
	if a.table.Len() != 0 || a.m.Len() != 0 {
		t.Fatal("NO-SUPPORT context not removed")
	}
}

// The I2 goes unanswered I2_RETRIES_MAX times: back to I1 (RFC 5533
// §7.12), and the exchange completes when the path heals.
func TestI2FallsBackToI1(t *testing.T) {
	n, a, b := pairNet(t)
	n.drop = func(s sent) bool { return s.t == wire.TypeI2 }
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	for i := 0; i < 1000 && n.count(a, wire.TypeI1) < 2; i++ {
		n.advance(100 * time.Millisecond)
	}
	i2s := 0
	for _, s := range n.log {
		if s.t == wire.TypeI1 && i2s > 0 {
			break
		}
		if s.t == wire.TypeI2 {
			i2s++
		}
	}
	if i2s != 3 {
		t.Fatalf("%d I2s before falling back, want 1 + I2_RETRIES_MAX", i2s)
	}
	// With I2 still lost, MaxFallbacks rounds end in E-FAILED.
	for i := 0; i < 5000 && ctxOf(t, a, ulidA, ulidB).State.pending(); i++ {
		n.advance(100 * time.Millisecond)
	}
	if st := ctxOf(t, a, ulidA, ulidB).State; st != EFailed {
		t.Fatalf("state %v after endless I2 loss", st)
	}
	if n.count(a, wire.TypeI1) != 3 {
		t.Fatalf("%d I1s, want 1 + MaxFallbacks", n.count(a, wire.TypeI1))
	}
	n.advance(time.Minute)
	n.drop = nil
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
}

// TestLocalLocatorsUnder: the locators an uplink's failure takes down are
// those under its prefix of the hosts that have contexts, each once.
func TestLocalLocatorsUnder(t *testing.T) {
	n, a, b := pairNet(t)
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	established(t, a, b, ulidA, ulidB)
	for _, tc := range []struct {
		prefix string
		want   []netip.Addr
	}{
		{"2001:db8:a1::/48", []netip.Addr{ulidA}}, // ulidA3 has no context
		{"2001:db8:a2::/48", []netip.Addr{locA2}},
		{"2001:db8:b1::/48", nil},
	} {
		if got := a.m.LocalLocatorsUnder(netip.MustParsePrefix(tc.prefix)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.prefix, got, tc.want)
		}
	}
}

// TestContextsFromCoversAll: ContextsFrom in parts of any size lists the
// same contexts as Contexts, each once, across the machine's pages (4,096
// slots each).
func TestContextsFromCoversAll(t *testing.T) {
	n := newNetwork(t)
	hosts := map[netip.Addr]LocatorSet{}
	for i := range 4100 {
		hosts[ap(fmt.Sprintf("2001:db8:a1::%x", i+1))] = LocatorSet{}
	}
	a := n.addNode("A", 8192, hosts, nil)
	n.addNode("B", 8192, map[netip.Addr]LocatorSet{ulidB: {}}, nil)
	for h := range hosts {
		if err := a.m.Establish(h, ulidB); err != nil {
			t.Fatal(err)
		}
	}
	n.run()
	all := a.m.Contexts()
	if len(all) != 4100 || all[len(all)-1].Slot < 4096 {
		t.Fatalf("%d contexts, the last in slot %d: the test needs a second page", len(all), all[len(all)-1].Slot)
	}
	for _, size := range []int{1, 7, 4096, 5000} {
		var got []uint32
		for next, done := uint32(0), false; !done; {
			var part []ContextInfo
			part, next, done = a.m.ContextsFrom(next, size)
			if len(part) > size {
				t.Fatalf("part of %d, asked for %d", len(part), size)
			}
			for _, ci := range part {
				got = append(got, ci.Slot)
			}
		}
		var want []uint32
		for _, ci := range all {
			want = append(want, ci.Slot)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("parts of %d: %v, want %v", size, got, want)
		}
	}
}
