package shim6

import (
	"net/netip"
	"testing"
	"time"

	"shim6d/control/wire"
)

// captureEstablished records what OnEstablished and OnLocators report.
type captureEstablished struct {
	est, locs []ContextInfo
}

func (c *captureEstablished) tweak(cfg *Config) {
	cfg.OnEstablished = func(ci ContextInfo) { c.est = append(c.est, ci) }
	cfg.OnLocators = func(ci ContextInfo) { c.locs = append(c.locs, ci) }
}

// initialNet is pairNet with the hooks captured and, for A, a LocalUsable.
func initialNet(t *testing.T, usable func(netip.Addr) bool) (*network, *node, *node, *captureEstablished, *captureEstablished) {
	n := newNetwork(t)
	ca, cb := &captureEstablished{}, &captureEstablished{}
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: multihomed(ulidA, locA2)}, func(c *Config) {
		ca.tweak(c)
		c.LocalUsable = usable
	})
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, cb.tweak)
	return n, a, b, ca, cb
}

// The ULID pair is broken from the start (seed draft §8.4) and nothing
// local says so: the I1 from A's ULID is lost, the retransmission leaves
// from A's other locator (still to B's ULID, with the ULID Pair option),
// and the context is established over that pair. Both ends learn the pair
// the exchange proved.
func TestInitialFailureRetransmitsFromAnotherLocator(t *testing.T) {
	n, a, b, ca, cb := initialNet(t, nil)
	n.drop = func(s sent) bool { return s.src == ulidA || s.dst == ulidA }
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	if len(ca.est) != 0 {
		t.Fatal("established over a dropped pair")
	}
	n.advance(7 * time.Second) // I1_TIMEOUT is 4 s, randomised by up to 1.5
	established(t, a, b, ulidA, ulidB)
	var i1s []sent
	for _, s := range n.log {
		if s.t == wire.TypeI1 {
			i1s = append(i1s, s)
		}
	}
	if len(i1s) != 2 || i1s[0].src != ulidA || i1s[1].src != locA2 || i1s[1].dst != ulidB {
		t.Fatalf("I1s: %+v", i1s)
	}
	u := i1s[1].msg().(*wire.I1).Options.ULIDPair
	if u == nil || u.Sender != ulidA || u.Receiver != ulidB {
		t.Fatalf("I1 from another locator without the ULID pair option: %+v", u)
	}
	if len(ca.est) != 1 || ca.est[0].ViaLocal != locA2 || ca.est[0].ViaPeer != ulidB {
		t.Fatalf("A established %+v, want via %v–%v", ca.est, locA2, ulidB)
	}
	if len(cb.est) != 1 || cb.est[0].ViaLocal != ulidB || cb.est[0].ViaPeer != locA2 {
		t.Fatalf("B established %+v, want via %v–%v", cb.est, ulidB, locA2)
	}
}

// When the control core knows the ULID's uplink is down, the first I1
// already leaves from a locator that works.
func TestInitialFailureKnownLocally(t *testing.T) {
	n, a, b, ca, _ := initialNet(t, func(x netip.Addr) bool { return x != ulidA })
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
	if s, _ := n.last(a, wire.TypeI1); n.count(a, wire.TypeI1) != 1 || s.src != locA2 {
		t.Fatalf("%d I1s, last from %v", n.count(a, wire.TypeI1), s.src)
	}
	if ca.est[0].ViaLocal != locA2 {
		t.Fatalf("via %v", ca.est[0].ViaLocal)
	}
}

// An exchange over the ULIDs reports no via pair, so the core leaves the
// context on the ULIDs.
func TestEstablishedOverULIDsHasNoVia(t *testing.T) {
	n, a, b, ca, cb := initialNet(t, nil)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
	if ca.est[0].ViaLocal.IsValid() || cb.est[0].ViaLocal.IsValid() {
		t.Fatalf("via pairs %v %v", ca.est[0], cb.est[0])
	}
}

// Every I1 retry moves on through the host's locators, and an R1 that
// answers an earlier I1 still gets its I2 over that I1's pair: the
// validator is bound to it (RFC 5533 §7.10.1).
func TestLateR1AnsweredOnItsOwnPair(t *testing.T) {
	n, a, b, _, _ := initialNet(t, nil)
	var held []sent
	n.drop = func(s sent) bool {
		if s.t == wire.TypeR1 && len(held) == 0 {
			held = append(held, s) // the R1 to the first I1 comes late
			return true
		}
		return false
	}
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	n.drop = func(s sent) bool { return s.t == wire.TypeR1 } // the second I1's answer is lost
	n.advance(6 * time.Second)
	if s, _ := n.last(a, wire.TypeI1); s.src != locA2 {
		t.Fatalf("retransmitted I1 from %v", s.src)
	}
	n.drop = nil
	n.deliver(held[0])
	n.run()
	established(t, a, b, ulidA, ulidB)
	if s, _ := n.last(a, wire.TypeI2); s.src != ulidA {
		t.Fatalf("I2 from %v, want the first I1's %v", s.src, ulidA)
	}
}

// A peer's Update Request and a change of our own set both reach
// OnLocators with the new sets and preferences.
func TestOnLocators(t *testing.T) {
	n, a, b, ca, cb := initialNet(t, nil)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
	set := multihomed(ulidA, locA2)
	set.Preferences = []wire.Preference{{Flags: wire.PreferenceBroken, Priority: 1, Weight: 1}, {Priority: 1, Weight: 3}}
	a.hosts[ulidA] = set
	if err := a.m.RefreshLocalLocators(); err != nil {
		t.Fatal(err)
	}
	n.run()
	if len(ca.locs) != 1 || len(ca.locs[0].LocalLocators) != 2 {
		t.Fatalf("A's OnLocators: %+v", ca.locs)
	}
	if len(cb.locs) != 1 || len(cb.locs[0].PeerPreferences) != 2 || cb.locs[0].PeerPreferences[0].Flags != wire.PreferenceBroken ||
		cb.locs[0].PeerPreferences[1].Weight != 3 {
		t.Fatalf("B's OnLocators: %+v", cb.locs)
	}
}

// The Keepalive Timeout option (RFC 5534 §5.3) goes out in I2 and R2 when
// configured, and the peer's reaches OnEstablished, so that REAP keeps its
// keepalives within the peer's Send Timeout.
func TestKeepaliveTimeoutAnnounced(t *testing.T) {
	n := newNetwork(t)
	ca, cb := &captureEstablished{}, &captureEstablished{}
	one := wire.KeepaliveTimeout(1)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: multihomed(ulidA, locA2)}, func(c *Config) {
		ca.tweak(c)
		c.KeepaliveTimeout = &one
	})
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, cb.tweak)
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	n.run()
	established(t, a, b, ulidA, ulidB)
	if s, _ := n.last(a, wire.TypeI2); s.msg().(*wire.I2).Options.KeepaliveTimeout == nil {
		t.Fatal("I2 without the Keepalive Timeout option")
	}
	if s, _ := n.last(b, wire.TypeR2); s.msg().(*wire.R2).Options.KeepaliveTimeout != nil {
		t.Fatal("R2 with a Keepalive Timeout option B was not given")
	}
	if cb.est[0].PeerKeepaliveTimeout != 1 || ca.est[0].PeerKeepaliveTimeout != 0 {
		t.Fatalf("peer keepalive timeouts: A sees %d, B sees %d", ca.est[0].PeerKeepaliveTimeout, cb.est[0].PeerKeepaliveTimeout)
	}
}
