package shim6

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shim6d/control/wire"
)

func mustMarshal(t testing.TB, m wire.Message) []byte {
	t.Helper()
	b, err := wire.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Message-to-context matching (RFC 5533 §12.4): each message reaches its
// context only from the right tag, nonce and locators; Update, Keepalive
// and Probe from a locator outside Ls(peer), or to one outside Ls(local),
// get an R1bis.
func TestMatching(t *testing.T) {
	n, a, _ := establishedPair(t)
	ca := ctxOf(t, a, ulidA, ulidB)
	ka := func(tag uint64) []byte { return mustMarshal(t, &wire.Keepalive{ReceiverContextTag: tag}) }
	probe := mustMarshal(t, &wire.Probe{ReceiverContextTag: ca.LocalTag,
		Sent: []wire.ProbeReport{{Source: locB2, Destination: locA2, Nonce: 1}}})
	cases := []struct {
		name     string
		src, dst netip.Addr
		b        []byte
		sends    []wire.Type
		reap     bool
		counter  *func() uint64
		state    State
	}{
		{name: "keepalive", src: ulidB, dst: ulidA, b: ka(ca.LocalTag), reap: true},
		{name: "probe on other locators", src: locB2, dst: locA2, b: probe, reap: true},
		{name: "keepalive from outside Ls(peer)", src: ap("2001:db8:e::1"), dst: ulidA, b: ka(ca.LocalTag), sends: []wire.Type{wire.TypeR1bis}},
		{name: "keepalive to outside Ls(local)", src: ulidB, dst: ulidA3, b: ka(ca.LocalTag), sends: []wire.Type{wire.TypeR1bis}},
		{name: "keepalive with unknown tag", src: ulidB, dst: ulidA, b: ka(ca.LocalTag ^ 1<<40), sends: []wire.Type{wire.TypeR1bis}},
		{name: "update ack with wrong nonce", src: ulidB, dst: ulidA,
			b: mustMarshal(t, &wire.UpdateAck{ReceiverContextTag: ca.LocalTag, RequestNonce: 77})},
		{name: "R1 for no nonce", src: ulidB, dst: ulidA,
			b: mustMarshal(t, &wire.R1{InitiatorNonce: 1, ResponderNonce: 2, Options: wire.Options{ResponderValidator: []byte{1}}})},
		{name: "R2 for no nonce", src: ulidB, dst: ulidA, b: mustMarshal(t, &wire.R2{ResponderContextTag: 5, InitiatorNonce: 1})},
		{name: "I1 retransmitted, our R2 lost", src: ulidB, dst: ulidA,
			b: mustMarshal(t, &wire.I1{InitiatorContextTag: ca.PeerTag, InitiatorNonce: 3}), sends: []wire.Type{wire.TypeR2}},
		{name: "I1 with a new tag: peer lost its context", src: ulidB, dst: ulidA,
			b: mustMarshal(t, &wire.I1{InitiatorContextTag: ca.PeerTag ^ 1, InitiatorNonce: 3}), sends: []wire.Type{wire.TypeR1}},
		{name: "I1 with ULID pair from outside Ls(peer)", src: ap("2001:db8:e::1"), dst: ulidA,
			b: mustMarshal(t, &wire.I1{InitiatorContextTag: ca.PeerTag, InitiatorNonce: 3,
				Options: wire.Options{ULIDPair: &wire.ULIDPair{Sender: ulidB, Receiver: ulidA}}}), sends: []wire.Type{wire.TypeR1}},
		{name: "I1 for a ULID we do not serve", src: ulidB, dst: ap("2001:db8:a1::99"),
			b: mustMarshal(t, &wire.I1{InitiatorContextTag: 9, InitiatorNonce: 3})},
		{name: "I1 for a forked context", src: ulidB, dst: ulidA3,
			b: mustMarshal(t, &wire.I1{InitiatorContextTag: 9, InitiatorNonce: 3,
				Options: wire.Options{ForkedInstanceIdentifier: new(wire.ForkedInstanceIdentifier(1))}})},
		{name: "multicast source", src: ap("ff02::1"), dst: ulidA, b: ka(ca.LocalTag)},
		{name: "bad checksum", src: ulidB, dst: ulidA, b: func() []byte { b := ka(ca.LocalTag); b[5]++; return b }()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n.log, a.reap = nil, nil
			a.m.HandleMessage(tc.src, tc.dst, tc.b)
			if got := n.types(); !slices.Equal(got, tc.sends) {
				t.Fatalf("sent %v, want %v", got, tc.sends)
			}
			if (len(a.reap) == 1) != tc.reap {
				t.Fatalf("REAP got %d messages, want %v", len(a.reap), tc.reap)
			}
			if ci := ctxOf(t, a, ulidA, ulidB); ci.State != Established || ci.PeerTag != ca.PeerTag {
				t.Fatalf("context changed: %+v", ci)
			}
			n.queue = nil
		})
	}
	s := &a.m.Stats
	if s.StaleLocators.Load() != 2 || s.NotServed.Load() != 1 || s.ForkedRefused.Load() != 1 || s.Malformed.Load() != 2 {
		t.Fatalf("stale %d, not served %d, forked %d, malformed %d", s.StaleLocators.Load(), s.NotServed.Load(),
			s.ForkedRefused.Load(), s.Malformed.Load())
	}
	checkInvariants(t, a)
}

// Unknown message types and unknown critical options are answered with a
// Shim6 Error message pointing at the type octet or the option (RFC 5533
// §5.15, §12.3); unknown non-critical options are ignored.
func TestErrorMessages(t *testing.T) {
	n, a, _ := pairNet(t)
	crit := mustMarshal(t, &wire.I1{InitiatorContextTag: 9, InitiatorNonce: 3,
		Options: wire.Options{Unknown: []wire.RawOption{{Type: 99, Critical: true, Contents: []byte{1, 2}}}}})
	a.m.HandleMessage(ulidB, ulidA, crit)
	e, ok := n.last(a, wire.TypeError)
	if !ok {
		t.Fatalf("sent %v", n.types())
	}
	em := e.msg().(*wire.ErrorMessage)
	if em.Code != wire.ErrorCodeCriticalOption || em.Pointer != wire.IPv6HeaderLen+16 || e.dst != ulidB || e.src != ulidA {
		t.Fatalf("error %+v to %v", em, e.dst)
	}

	unknown := slices.Clone(mustMarshal(t, &wire.Keepalive{ReceiverContextTag: 1}))
	unknown[2] = 100 // type 100
	binary.BigEndian.PutUint16(unknown[4:], 0)
	binary.BigEndian.PutUint16(unknown[4:], wire.ComputeChecksum(unknown))
	n.log = nil
	a.m.HandleMessage(ulidB, ulidA, unknown)
	e, ok = n.last(a, wire.TypeError)
	if !ok {
		t.Fatalf("sent %v", n.types())
	}
	if em := e.msg().(*wire.ErrorMessage); em.Code != wire.ErrorCodeUnknownType || em.Pointer != wire.IPv6HeaderLen+2 {
		t.Fatalf("error %+v", em)
	}

	n.log = nil
	soft := mustMarshal(t, &wire.I1{InitiatorContextTag: 9, InitiatorNonce: 3,
		Options: wire.Options{Unknown: []wire.RawOption{{Type: 99, Contents: []byte{1, 2}}}}})
	a.m.HandleMessage(ulidB, ulidA, soft)
	if got := n.types(); !slices.Equal(got, []wire.Type{wire.TypeR1}) {
		t.Fatalf("sent %v for a non-critical unknown option", got)
	}
}

// Context confusion (RFC 5533 §7.6, §7.15, Appendix C.2): the peer lost
// its context <A, B> and allocated the same tag X for a new context <A3,
// B>. When A receives the I2 with X and a locator list that overlaps, it
// removes the old context rather than keep two with the same CT(peer).
// A context with another peer host (no common locator) is left alone
// (the three-party case, C.3).
func TestContextConfusion(t *testing.T) {
	n, a, b := establishedPair(t)
	old := ctxOf(t, a, ulidA, ulidB)
	x := old.PeerTag
	ulidC := ap("2001:db8:c1::30")
	// A third peer C already has a context with A with tag X too.
	i1 := mustMarshal(t, &wire.I1{InitiatorContextTag: x, InitiatorNonce: 11})
	handshake := func(peer, local netip.Addr, list *wire.LocatorList, pds []byte) {
		n.log = nil
		a.m.HandleMessage(peer, local, i1)
		r1, ok := n.last(a, wire.TypeR1)
		if !ok {
			t.Fatalf("no R1: %v", n.types())
		}
		rm := r1.msg().(*wire.R1)
		i2 := &wire.I2{InitiatorContextTag: x, InitiatorNonce: 11, ResponderNonce: rm.ResponderNonce,
			Options: wire.Options{ResponderValidator: rm.Options.ResponderValidator, LocatorList: list, CGAParameterDataStructure: pds}}
		a.m.HandleMessage(peer, local, mustMarshal(t, i2))
		if ci := ctxOf(t, a, local, peer); ci.State != Established || ci.PeerTag != x {
			t.Fatalf("new context %+v", ci)
		}
	}
	n.owner[ulidC] = b
	handshake(ulidC, ulidA3, nil, nil)
	if _, ok := a.m.Context(ulidA, ulidB); !ok || a.m.Stats.ContextConfusions.Load() != 0 {
		t.Fatal("a context with another peer host was taken for confusion")
	}
	// Now B, having lost <A, B>, reuses X for <A3, B>.
	handshake(ulidB, ulidA3, &wire.LocatorList{Generation: 1, Locators: []wire.Locator{
		{Addr: ulidB, Method: wire.VerifyHBA}, {Addr: locB2, Method: wire.VerifyHBA}}}, fakePDS(ulidB))
	if _, ok := a.m.Context(ulidA, ulidB); ok {
		t.Fatal("old context with the reused tag survived")
	}
	if a.m.Stats.ContextConfusions.Load() != 1 {
		t.Fatalf("%d confusions", a.m.Stats.ContextConfusions.Load())
	}
	if _, ok := a.m.Context(ulidA3, ulidC); !ok {
		t.Fatal("the three-party context went too")
	}
	n.queue = nil
	checkInvariants(t, a)
}

// Idle collection (RFC 5533 §9): with no control traffic and no data for
// IdleTimeout a context is removed from the machine and the table; data
// reported by the fast path keeps it.
func TestIdleCollection(t *testing.T) {
	n, a, b := establishedPair(t)
	slot := ctxOf(t, a, ulidA, ulidB).Slot
	for range 8 * 60 {
		a.data[slot] = n.clock.t // data flows, as A's fast path sees it
		n.advance(time.Second)
	}
	if _, ok := a.m.Context(ulidA, ulidB); !ok {
		t.Fatal("A removed a context with data flowing")
	}
	if _, ok := b.m.Context(ulidB, ulidA); ok || b.table.Len() != 0 || b.m.Stats.IdleRemoved.Load() != 1 {
		t.Fatal("B kept a context with no feedback past the idle timeout")
	}
	n.advance(5*time.Minute + time.Second)
	if a.m.Len() != 0 || a.table.Len() != 0 || a.m.Stats.IdleRemoved.Load() != 1 || len(a.m.hostIdx) != 0 {
		t.Fatal("A kept an idle context")
	}
	checkInvariants(t, a)
}
