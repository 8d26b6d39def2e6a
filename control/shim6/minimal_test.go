package shim6

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shim6d/control/wire"
	"shim6d/dataplane"
)

// linShim6Parse judges a Shim6 message as LinShim6 0.9.1 does before it
// acts on it, and says why it drops one. Its facts come from the source
// (repository sebstbarre/LinShim6):
//
//   - userspace/src/opt.c, parse_options (commit 11183bed): the option
//     field (type<<1 | C, include/shim6/shim6d.h: "we multiply by two
//     every value defined in the standard") must be one of
//     SHIM6_TYPEOPT_VALIDATOR (2), LOC_LIST (4), CGA_PDS (8), CGA_SIGN (10)
//     or the Keepalive Timeout (RFC 5534 type 10, field 20), which is
//     ignored unless its length is 4. Any other field with a non-zero type
//     part (`ntohs(tl->type)&0xFFFFE`) returns -1, and the caller drops
//     the message: Locator Preferences (6), ULID Pair (12) and Forked
//     Instance Identifier (14) among them. An option running past the
//     end of the message (TOTAL_LENGTH in include/linux/shim6.h of
//     sebstbarre/LinShim6-kernel: 11+len-(len+3)%8) drops it too.
//   - userspace/src/shim6d.c: rcv_i2, rcv_i2bis, rcv_r2 and rcv_ur call
//     parse_options and return on failure; rcv_i1 reads no option;
//     rcv_r1 and rcv_r1bis accept only a lone Responder Validator that
//     ends the message.
//
// The validator length check of parse_options (VAL_LENGTH, 20 octets) is
// left out here: it applies to the validator LinShim6 made itself, which
// an I2 only echoes, while the fake peer of these tests is our machine
// with its 16-octet validators.
func linShim6Parse(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("%d octets", len(b))
	}
	end := (int(b[1]) + 1) * 8
	if end > len(b) {
		return fmt.Errorf("Hdr Ext Len past the packet")
	}
	var off int
	switch wire.Type(b[2] & 0x7f) {
	case wire.TypeI2:
		off = 24
	case wire.TypeI2bis:
		off = 32
	case wire.TypeR2, wire.TypeUpdateRequest:
		off = 16
	case wire.TypeR1, wire.TypeR1bis:
		if end-16 < 4 || binary.BigEndian.Uint16(b[16:]) != 2 {
			return fmt.Errorf("R1/R1bis without a lone validator")
		}
		l := int(binary.BigEndian.Uint16(b[18:]))
		if 16+11+l-(l+3)%8 != end {
			return fmt.Errorf("R1/R1bis: bad option length")
		}
		return nil
	default:
		return nil // not parsed
	}
	for off+4 <= end {
		field := binary.BigEndian.Uint16(b[off:])
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		total := 11 + l - (l+3)%8
		if off+total > end {
			return fmt.Errorf("option %d runs past the message", field>>1)
		}
		switch field {
		case 2, 4, 8, 10, 20:
		default:
			if field&0xfffe != 0 {
				return fmt.Errorf("unknown option type %d (C=%d)", field>>1, field&1)
			}
		}
		off += total
	}
	return nil
}

// linShim6Peer makes n drop, as LinShim6 would, every message to the
// addresses of peer that its parser refuses, and counts them.
func linShim6Peer(n *network, peer *node, dropped *int) {
	n.drop = func(s sent) bool {
		if n.owner[s.dst] != peer {
			return false
		}
		if err := linShim6Parse(s.b); err != nil {
			*dropped++
			return true
		}
		return false
	}
}

// withPrefs is a multihomed set with Locator Preferences (RFC 5533
// §5.15.3): the option LinShim6 does not know.
func withPrefs(ulid netip.Addr, others ...netip.Addr) LocatorSet {
	s := multihomed(ulid, others...)
	for i := range s.Locators {
		s.Preferences = append(s.Preferences, wire.Preference{Priority: uint8(10 * (i + 1)), Weight: 1})
	}
	return s
}

// The fake peer's filter is LinShim6's parser: it lets through what RFC
// 5533 allows only when the options are in its known set.
func TestLinShim6ParserModel(t *testing.T) {
	mk := func(o wire.Options) []byte {
		b, err := wire.Marshal(&wire.I2{InitiatorContextTag: 1, InitiatorNonce: 2, ResponderNonce: 3, Options: o})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	val := make([]byte, 20)
	kt := wire.KeepaliveTimeout(10)
	list := &wire.LocatorList{Generation: 1, Locators: []wire.Locator{{Addr: ulidA, Method: wire.VerifyHBA}}}
	for _, c := range []struct {
		name string
		o    wire.Options
		ok   bool
	}{
		{"validator", wire.Options{ResponderValidator: val}, true},
		{"known set", wire.Options{ResponderValidator: val, LocatorList: list, CGAParameterDataStructure: []byte("pds"),
			CGASignature: []byte("sig"), KeepaliveTimeout: &kt}, true},
		{"preferences", wire.Options{ResponderValidator: val, LocatorList: list, CGAParameterDataStructure: []byte("pds"),
			LocatorPreferences: &wire.LocatorPreferences{Generation: 1, ElementLen: 1, Elements: []wire.Preference{{}}}}, false},
		{"ULID pair", wire.Options{ResponderValidator: val, ULIDPair: &wire.ULIDPair{Sender: ulidA, Receiver: ulidB}}, false},
	} {
		if err := linShim6Parse(mk(c.o)); (err == nil) != c.ok {
			t.Errorf("%s: LinShim6 model says %v, want accepted %v", c.name, err, c.ok)
		}
	}
}

// Our I2 carries Locator Preferences; the LinShim6-like peer drops it and
// its two retransmissions. The I2 of the I1 fallback goes without them
// and the context is established, with our locators and without our
// preferences at the peer.
func TestMinimalPeerI2(t *testing.T) {
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: withPrefs(ulidA, locA2)}, nil)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, nil)
	dropped := 0
	linShim6Peer(n, b, &dropped)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.advance(2 * time.Minute)
	_, cb := established(t, a, b, ulidA, ulidB)
	if dropped != 3 {
		t.Errorf("the peer dropped %d messages, want the I2 and its 2 retransmissions", dropped)
	}
	st := &a.m.Stats
	if st.MinimalPeersFound.Load() != 1 || st.MinimalMessages.Load() != 1 || !a.m.MinimalPeer(ulidB) {
		t.Errorf("found %d, minimal messages %d, remembered %v; want 1, 1, true",
			st.MinimalPeersFound.Load(), st.MinimalMessages.Load(), a.m.MinimalPeer(ulidB))
	}
	if !slices.Equal(cb.PeerLocators, []netip.Addr{ulidA, locA2}) || cb.PeerPreferences != nil {
		t.Errorf("B holds locators %v preferences %v, want A's two locators and no preferences", cb.PeerLocators, cb.PeerPreferences)
	}
	last, _ := n.last(a, wire.TypeI2)
	if err := linShim6Parse(last.b); err != nil {
		t.Errorf("the I2 that got through is one LinShim6 refuses: %v", err)
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// A peer that takes every option gets them, and nothing is counted.
func TestFullPeerKeepsOptions(t *testing.T) {
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: withPrefs(ulidA, locA2)}, nil)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, nil)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.advance(time.Minute)
	_, cb := established(t, a, b, ulidA, ulidB)
	if len(cb.PeerPreferences) != 2 || a.m.Stats.MinimalPeersFound.Load() != 0 || a.m.Stats.MinimalMessages.Load() != 0 || a.m.MinimalPeer(ulidB) {
		t.Errorf("B holds preferences %v; A found %d minimal peers", cb.PeerPreferences, a.m.Stats.MinimalPeersFound.Load())
	}
}

// The LinShim6-like peer initiates; our R2 carries preferences and is
// dropped, so the same I2 comes again: it gets an R2 without them.
func TestMinimalPeerR2(t *testing.T) {
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: withPrefs(ulidA, locA2)}, nil)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, nil)
	dropped := 0
	linShim6Peer(n, b, &dropped)
	if err := b.m.Establish(ulidB, ulidA); err != nil {
		t.Fatal(err)
	}
	n.advance(time.Minute)
	established(t, b, a, ulidB, ulidA)
	if dropped != 1 || n.count(a, wire.TypeR2) != 2 || n.count(b, wire.TypeI2) != 2 {
		t.Errorf("dropped %d, R2s %d, I2s %d; want 1, 2, 2", dropped, n.count(a, wire.TypeR2), n.count(b, wire.TypeI2))
	}
	if a.m.Stats.MinimalPeersFound.Load() != 1 || a.m.Stats.MinimalMessages.Load() != 1 {
		t.Errorf("found %d, minimal messages %d; want 1, 1", a.m.Stats.MinimalPeersFound.Load(), a.m.Stats.MinimalMessages.Load())
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}

// A lost R2 with nothing optional in it is only a loss: the repeated I2
// gets the same R2 and the peer is not taken for minimal.
func TestLostPlainR2NotMinimal(t *testing.T) {
	n, a, b := pairNet(t)
	n.drop = dropFirst(wire.TypeR2, 1)
	if err := b.m.Establish(ulidB, ulidA); err != nil {
		t.Fatal(err)
	}
	n.advance(time.Minute)
	established(t, b, a, ulidB, ulidA)
	if a.m.Stats.MinimalPeersFound.Load() != 0 || n.count(a, wire.TypeR2) != 2 {
		t.Errorf("found %d minimal peers after %d R2s", a.m.Stats.MinimalPeersFound.Load(), n.count(a, wire.TypeR2))
	}
}

// Preferences arrive after establishment: the Update Request that carries
// them is dropped with two retransmissions, the next goes without them
// and is acknowledged; the Locator List in it is taken.
func TestMinimalPeerUpdate(t *testing.T) {
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: multihomed(ulidA, locA2)}, nil)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, nil)
	dropped := 0
	linShim6Peer(n, b, &dropped)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
	if dropped != 0 {
		t.Fatalf("a handshake without optional options lost %d messages", dropped)
	}
	a.hosts[ulidA] = withPrefs(ulidA)
	if err := a.m.RefreshLocalLocators(); err != nil {
		t.Fatal(err)
	}
	n.advance(2 * time.Minute)
	_, cb := established(t, a, b, ulidA, ulidB)
	st := &a.m.Stats
	if dropped != 3 || st.UpdateRetransmissions.Load() != 3 || st.UpdatesCompleted.Load() != 1 {
		t.Errorf("dropped %d, retransmissions %d, completed %d; want 3, 3, 1", dropped, st.UpdateRetransmissions.Load(), st.UpdatesCompleted.Load())
	}
	if st.MinimalPeersFound.Load() != 1 || st.MinimalMessages.Load() != 1 {
		t.Errorf("found %d, minimal messages %d; want 1, 1", st.MinimalPeersFound.Load(), st.MinimalMessages.Load())
	}
	if !slices.Equal(cb.PeerLocators, []netip.Addr{ulidA}) {
		t.Errorf("B holds %v", cb.PeerLocators)
	}
}

// A peer found minimal is sent minimal messages from the first for
// MinimalPeerHold, then gets the options again.
func TestMinimalPeerRemembered(t *testing.T) {
	n := newNetwork(t)
	hold := func(c *Config) { c.MinimalPeerHold = 10 * time.Minute }
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: withPrefs(ulidA, locA2), ulidA3: withPrefs(ulidA3)}, hold)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, nil)
	dropped := 0
	linShim6Peer(n, b, &dropped)
	start := n.clock.t
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.advance(2 * time.Minute)
	established(t, a, b, ulidA, ulidB)
	before, i2s := dropped, n.count(a, wire.TypeI2)
	if err := a.m.Establish(ulidA3, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA3, ulidB)
	if dropped != before || n.count(a, wire.TypeI2) != i2s+1 || a.m.Stats.MinimalPeersFound.Load() != 1 {
		t.Errorf("second context: %d more drops, %d I2s, found %d; want 0, 1, 1",
			dropped-before, n.count(a, wire.TypeI2)-i2s, a.m.Stats.MinimalPeersFound.Load())
	}
	// B was found minimal after the third I2 went unanswered: at least
	// 14 s (the backoff's lower bound, 2+4+8 s) and at most 2 min in.
	n.clock.t = start.Add(10*time.Minute + time.Second)
	if !a.m.MinimalPeer(ulidB) {
		t.Fatal("forgotten before MinimalPeerHold")
	}
	n.clock.t = start.Add(12*time.Minute + time.Second)
	if a.m.MinimalPeer(ulidB) {
		t.Fatal("still minimal after MinimalPeerHold")
	}
}

// The memory is bounded: past its size the peer found longest ago goes,
// and a peer found again only has its time renewed.
func TestMinimalPeersBounded(t *testing.T) {
	var p minimalPeers
	p.init(2)
	k := func(i byte) [16]byte { return [16]byte{0x20, 0x01, 15: i} }
	if p.add(k(1), 100) || p.add(k(2), 100) || p.add(k(1), 200) {
		t.Fatal("evicted below capacity")
	}
	if !p.add(k(3), 100) {
		t.Fatal("no eviction at capacity")
	}
	if p.has(k(1), 0) || !p.has(k(2), 0) || !p.has(k(3), 0) || p.len() != 2 || len(p.until) != 2 {
		t.Fatalf("after eviction: 1 %v 2 %v 3 %v, len %d, map %d", p.has(k(1), 0), p.has(k(2), 0), p.has(k(3), 0), p.len(), len(p.until))
	}
	if p.has(k(2), 100) || !p.has(k(2), 99) {
		t.Fatal("expiry")
	}

	tab, err := dataplane.NewContextTable(8)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Table: tab, Send: func(netip.Addr, netip.Addr, wire.Message) {}, MinimalPeers: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range byte(5) {
		m.markMinimal(k(i))
	}
	if m.Stats.MinimalPeersFound.Load() != 5 || m.Stats.MinimalPeersEvicted.Load() != 2 || m.minimal.len() != 3 {
		t.Fatalf("found %d evicted %d held %d", m.Stats.MinimalPeersFound.Load(), m.Stats.MinimalPeersEvicted.Load(), m.minimal.len())
	}
}

// A full peer restarts as a LinShim6-like one: our I2bis with preferences
// and its retransmissions are dropped, the peer is found minimal, and the
// I1 fallback's I2 without them re-creates the context (RFC 5533 §7.19).
func TestMinimalPeerI2bis(t *testing.T) {
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: withPrefs(ulidA, locA2)}, nil)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, nil)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	_, old := established(t, a, b, ulidA, ulidB)
	n.restart(b, 64, nil)
	dropped := 0
	linShim6Peer(n, b, &dropped)
	n.log = nil
	b.m.HandleEvent(unknownTag(old.LocalTag, ulidA, ulidB))
	n.advance(2 * time.Minute)
	established(t, a, b, ulidA, ulidB)
	if n.count(a, wire.TypeI2bis) != 3 || dropped != 3 || a.m.Stats.MinimalPeersFound.Load() != 1 {
		t.Errorf("I2bis sent %d, dropped %d, found %d; want 3, 3, 1", n.count(a, wire.TypeI2bis), dropped, a.m.Stats.MinimalPeersFound.Load())
	}
	last, _ := n.last(a, wire.TypeI2)
	if err := linShim6Parse(last.b); err != nil {
		t.Errorf("the I2 that got through: %v", err)
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
}
