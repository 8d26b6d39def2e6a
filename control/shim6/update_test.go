package shim6

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shim6d/control/wire"
)

func establishedPair(t *testing.T) (*network, *node, *node) {
	t.Helper()
	n, a, b := pairNet(t)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
	n.log = nil
	return n, a, b
}

// An uplink's prefix is withdrawn: A's host loses its second locator. A
// sends an Update Request with the new list, retransmitted with backoff
// until acknowledged (RFC 5533 §10.1, §10.2); B verifies it and changes
// its view of Ls(peer) (§10.4).
func TestUpdateAfterWithdraw(t *testing.T) {
	n, a, b := establishedPair(t)
	genBefore := b.m.peers[ctxOf(t, b, ulidB, ulidA).Slot].gen
	n.drop = dropFirst(wire.TypeUpdateRequest, 2)
	a.hosts[ulidA] = multihomed(ulidA)
	if err := a.m.RefreshLocalLocators(); err != nil {
		t.Fatal(err)
	}
	n.run()
	if !ctxOf(t, a, ulidA, ulidB).UpdatePending {
		t.Fatal("no update pending")
	}
	n.advance(30 * time.Second)
	ca, cb := established(t, a, b, ulidA, ulidB)
	if ca.UpdatePending || a.m.Stats.UpdatesCompleted.Load() != 1 || a.m.Stats.UpdateRetransmissions.Load() != 2 {
		t.Fatalf("pending %v, completed %d, retransmitted %d", ca.UpdatePending,
			a.m.Stats.UpdatesCompleted.Load(), a.m.Stats.UpdateRetransmissions.Load())
	}
	if !slices.Equal(cb.PeerLocators, []netip.Addr{ulidA}) || cb.PeerGeneration == genBefore {
		t.Fatalf("B sees %v generation %d (was %d)", cb.PeerLocators, cb.PeerGeneration, genBefore)
	}
	// Every retransmission kept the Request Nonce (§10.1).
	var nonces []uint32
	for _, s := range n.log {
		if s.t == wire.TypeUpdateRequest {
			nonces = append(nonces, s.msg().(*wire.UpdateRequest).RequestNonce)
		}
	}
	if len(nonces) != 3 || nonces[0] != nonces[1] || nonces[1] != nonces[2] {
		t.Fatalf("update nonces %v", nonces)
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// The Update Request backoff doubles up to MAX_UPDATE_TIMEOUT and goes on
// until acknowledged (§10.2).
func TestUpdateBackoffCapped(t *testing.T) {
	n, a, b := establishedPair(t)
	n.drop = func(s sent) bool { return s.t == wire.TypeUpdateRequest }
	a.hosts[ulidA] = multihomed(ulidA)
	_ = a.m.RefreshLocalLocators()
	var times []time.Time
	seen := 0
	slot := ctxOf(t, a, ulidA, ulidB).Slot
	for i := range 20 * 60 * 10 { // 20 minutes, the first 14 with data flowing
		if i < 14*60*10 {
			a.data[slot] = n.clock.t
		}
		n.advance(100 * time.Millisecond)
		if k := n.count(a, wire.TypeUpdateRequest); k != seen {
			seen = k
			times = append(times, n.clock.t)
		}
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap > 180*time.Second+time.Second {
			t.Fatalf("gap %v over 1.5 × MAX_UPDATE_TIMEOUT", gap)
		}
	}
	if len(times) < 10 {
		t.Fatalf("only %d Update Requests in 20 minutes", len(times))
	}
	// Idle collection is what ends it (§10.2), once data stops.
	if _, ok := a.m.Context(ulidA, ulidB); ok {
		t.Fatal("context not collected after the idle timeout")
	}
	_ = b
}

// A newer change abandons the outstanding update: new nonce, new
// generation, and the acknowledgement of the old one is ignored (§10.3).
func TestUpdateSupersededAndPreferences(t *testing.T) {
	n, a, b := establishedPair(t)
	n.drop = func(s sent) bool { return s.t == wire.TypeUpdateRequest || s.t == wire.TypeUpdateAck }
	a.hosts[ulidA] = multihomed(ulidA)
	_ = a.m.RefreshLocalLocators()
	n.run()
	first, _ := n.last(a, wire.TypeUpdateRequest)
	set := multihomed(ulidA, locA2)
	set.Preferences = []wire.Preference{{Flags: wire.PreferenceBroken}, {Priority: 1, Weight: 10}}
	a.hosts[ulidA] = set
	_ = a.m.SetLocalLocators(ulidA, set)
	n.run()
	second, _ := n.last(a, wire.TypeUpdateRequest)
	u1, u2 := first.msg().(*wire.UpdateRequest), second.msg().(*wire.UpdateRequest)
	if u1.RequestNonce == u2.RequestNonce || u1.Options.LocatorList.Generation == u2.Options.LocatorList.Generation {
		t.Fatal("superseding update kept the nonce or the generation")
	}
	if p := u2.Options.LocatorPreferences; p == nil || p.Generation != u2.Options.LocatorList.Generation || len(p.Elements) != 2 {
		t.Fatalf("preferences %+v", p)
	}
	// The late acknowledgement of the first update is ignored.
	ci := ctxOf(t, a, ulidA, ulidB)
	ack, _ := wire.Marshal(&wire.UpdateAck{ReceiverContextTag: ci.LocalTag, RequestNonce: u1.RequestNonce})
	a.m.HandleMessage(ulidB, ulidA, ack)
	if !ctxOf(t, a, ulidA, ulidB).UpdatePending {
		t.Fatal("stale acknowledgement completed the update")
	}
	n.drop = nil
	n.advance(20 * time.Second)
	_, cb := established(t, a, b, ulidA, ulidB)
	if !slices.Equal(cb.PeerLocators, []netip.Addr{ulidA, locA2}) || len(cb.PeerPreferences) != 2 ||
		cb.PeerPreferences[0].Flags != wire.PreferenceBroken || cb.PeerPreferences[1].Weight != 10 {
		t.Fatalf("B sees %v with %+v", cb.PeerLocators, cb.PeerPreferences)
	}
}

// A set changed during the handshake reaches the peer: the I2 carries it
// if it is not out yet, otherwise an Update follows establishment.
func TestLocatorsChangeDuringHandshake(t *testing.T) {
	n, a, b := pairNet(t)
	_ = a.m.Establish(ulidA, ulidB)
	for len(n.queue) > 0 && n.queue[0].t != wire.TypeR2 {
		s := n.queue[0]
		n.queue = n.queue[1:]
		n.deliver(s)
	}
	// The I2 is out with {A, A2}; the R2 is in flight.
	a.hosts[ulidA] = multihomed(ulidA)
	_ = a.m.SetLocalLocators(ulidA, a.hosts[ulidA])
	n.run()
	_, cb := established(t, a, b, ulidA, ulidB)
	if !slices.Equal(cb.PeerLocators, []netip.Addr{ulidA}) || a.m.Stats.UpdatesCompleted.Load() != 1 {
		t.Fatalf("B sees %v after the handshake", cb.PeerLocators)
	}
}

// Update Requests B cannot accept: a locator its verifier refuses (Error
// Code 2 pointing at its verification method), preferences for another
// generation (Error Code 3) or the wrong count (Error Code 4). B's view
// does not change and nothing is acknowledged (§10.4).
func TestUpdateRefused(t *testing.T) {
	n, a, b := establishedPair(t)
	ca := ctxOf(t, a, ulidA, ulidB)
	cb := ctxOf(t, b, ulidB, ulidA)
	evil := ap("2001:db8:e::66")
	b.verify.refuse[evil] = true
	list := &wire.LocatorList{Generation: 7, Locators: []wire.Locator{{Addr: ulidA, Method: wire.VerifyHBA}, {Addr: evil, Method: wire.VerifyHBA}}}
	cases := []struct {
		name    string
		opts    wire.Options
		code    wire.ErrorCode
		pointer func(msg []byte) int
	}{
		{"refused locator", wire.Options{LocatorList: list}, wire.ErrorCodeVerificationFailed, func(msg []byte) int {
			off, _ := wire.OptionOffset(msg, wire.OptLocatorList)
			return off + wire.LocatorListMethodOffset + 1
		}},
		{"wrong generation", wire.Options{LocatorPreferences: &wire.LocatorPreferences{Generation: 99, ElementLen: 1,
			Elements: []wire.Preference{{}, {}}}}, wire.ErrorCodeGenerationOutOfSync, func(msg []byte) int {
			off, _ := wire.OptionOffset(msg, wire.OptLocatorPreferences)
			return off + wire.LocatorListGenerationOffset
		}},
		{"wrong count", wire.Options{LocatorPreferences: &wire.LocatorPreferences{Generation: b.m.peers[cb.Slot].gen, ElementLen: 1,
			Elements: []wire.Preference{{}}}}, wire.ErrorCodeLocatorCount, func(msg []byte) int {
			off, _ := wire.OptionOffset(msg, wire.OptLocatorPreferences)
			return off + 2
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n.log = nil
			msg, err := wire.Marshal(&wire.UpdateRequest{ReceiverContextTag: ca.PeerTag, RequestNonce: 5, Options: tc.opts})
			if err != nil {
				t.Fatal(err)
			}
			b.m.HandleMessage(ulidA, ulidB, msg)
			e, ok := n.last(b, wire.TypeError)
			if !ok || n.count(b, wire.TypeUpdateAck) != 0 {
				t.Fatalf("sent %v", n.types())
			}
			em := e.msg().(*wire.ErrorMessage)
			if em.Code != tc.code || int(em.Pointer) != wire.IPv6HeaderLen+tc.pointer(msg) {
				t.Fatalf("error code %d pointer %d, want %d pointer %d", em.Code, em.Pointer, tc.code, wire.IPv6HeaderLen+tc.pointer(msg))
			}
			// The packet in error starts with the invoking IPv6 header.
			p := em.PacketInError
			if p[0]>>4 != 6 || p[6] != wire.ProtocolNumber || netip.AddrFrom16([16]byte(p[8:24])) != ulidA ||
				int(binary.BigEndian.Uint16(p[4:])) != len(msg) {
				t.Fatalf("packet in error header % x", p[:40])
			}
			if got := ctxOf(t, b, ulidB, ulidA).PeerLocators; !slices.Equal(got, []netip.Addr{ulidA, locA2}) {
				t.Fatalf("B's view changed to %v", got)
			}
		})
	}
	n.queue = nil
}

// TestUpdateInI2SentIsAcknowledgedLater: B's Update Request reaches A
// while A is still in I2-SENT, before it knows CT(peer). A takes the new
// locators but sends no Acknowledgement (it would carry tag 0 and draw an
// R1bis, as a review found); B's retransmission, once A's exchange has
// completed, is acknowledged with B's tag (RFC 5533 §10.4).
func TestUpdateInI2SentIsAcknowledgedLater(t *testing.T) {
	n, a, b := pairNet(t)
	n.drop = func(s sent) bool { return s.t == wire.TypeR2 }
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	if ca := ctxOf(t, a, ulidA, ulidB); ca.State != I2Sent {
		t.Fatalf("A in %v, want I2-SENT", ca.State)
	}
	n.drop = func(s sent) bool { return s.t == wire.TypeR2 || s.t == wire.TypeI2 }
	b.hosts[ulidB] = multihomed(ulidB)
	if err := b.m.RefreshLocalLocators(); err != nil {
		t.Fatal(err)
	}
	n.run()
	if k := n.count(a, wire.TypeUpdateAck); k != 0 {
		t.Fatalf("A acknowledged %d times in I2-SENT", k)
	}
	n.drop = nil
	n.advance(30 * time.Second)
	_, cb := established(t, a, b, ulidA, ulidB)
	ack, ok := n.last(a, wire.TypeUpdateAck)
	if !ok || ack.msg().(*wire.UpdateAck).ReceiverContextTag != cb.LocalTag || b.m.Stats.UpdatesCompleted.Load() != 1 {
		t.Fatalf("ack %v, B's updates completed %d", ok, b.m.Stats.UpdatesCompleted.Load())
	}
	if n.count(b, wire.TypeR1bis) != 0 {
		t.Fatal("B sent R1bis")
	}
}

// TestUpdateWithForeignParametersIsSilentlyDropped: an Update Request
// whose CGA parameters are not the peer ULID's is dropped without an
// Error message (RFC 5533 §10.4: "silently discarded"); Error Code 2 is
// for locators the parameters do not cover.
func TestUpdateWithForeignParametersIsSilentlyDropped(t *testing.T) {
	n, a, b := establishedPair(t)
	ca, _ := established(t, a, b, ulidA, ulidB)
	u := &wire.UpdateRequest{ReceiverContextTag: ca.LocalTag, RequestNonce: 5}
	u.Options.LocatorList = &wire.LocatorList{Generation: 9, Locators: []wire.Locator{{Addr: ulidB}, {Addr: locB2}}}
	u.Options.CGAParameterDataStructure = fakePDS(ulidA) // A's, not B's
	raw, err := wire.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	a.m.HandleMessage(ulidB, ulidA, raw)
	n.run()
	if n.count(a, wire.TypeError) != 0 || n.count(a, wire.TypeUpdateAck) != 0 || a.m.Stats.VerificationFailures.Load() != 1 {
		t.Fatalf("errors %d, acks %d, verification failures %d", n.count(a, wire.TypeError), n.count(a, wire.TypeUpdateAck), a.m.Stats.VerificationFailures.Load())
	}
}
