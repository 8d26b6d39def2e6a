package control

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"shim6d/control/ratelimit"
	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/dataplane"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// site is one shim6d control core with an inside port and one uplink,
// and its Shim6 state machine.
type site struct {
	inside, uplink *mem.Port
	ring           *mem.Ring
	events         *dataplane.EventRing
	fwd            atomic.Pointer[dataplane.Forwarding]
	table          *dataplane.ContextTable
	core           *Core
	sig            *shim6.Machine
}

// newSite builds a site whose uplink (prefix, own address) links straight
// to a peer at nextHop with MAC peerMAC.
func newSite(t *testing.T, clock *fakeClock, ownMAC [6]byte, prefix string, own, nextHop netip.Addr, peerMAC [6]byte) *site {
	return newSiteWith(t, clock, ownMAC, prefix, own, nextHop, peerMAC, &ShimSetup{})
}

// newSiteWith is newSite with the signalling set up as shim says.
func newSiteWith(t *testing.T, clock *fakeClock, ownMAC [6]byte, prefix string, own, nextHop netip.Addr, peerMAC [6]byte, shim *ShimSetup) *site {
	t.Helper()
	pool := mem.NewPool(256, mem.DefaultBufSize)
	s := &site{
		inside: mem.NewPort(mem.Config{Name: "inside", Index: 0, MAC: [6]byte{0x02, 0, 0, 0, 1, ownMAC[5]}, Pool: pool, TxQueues: 2}),
		uplink: mem.NewPort(mem.Config{Name: "isp", Index: 1, MAC: ownMAC, Pool: pool, TxQueues: 2}),
		ring:   mem.NewRing(64),
		events: dataplane.NewEventRing(64),
	}
	s.table, _ = dataplane.NewContextTable(1024)
	p := netip.MustParsePrefix(prefix)
	s.core = mustNew(t, Config{
		Ports: []ports.Port{s.inside, s.uplink},
		Setup: []PortSetup{
			{Name: "inside", Role: dataplane.RoleInside, Prefixes: []netip.Prefix{p}, MTU: 1500},
			{Name: "isp", Role: dataplane.RoleUplink, Addresses: []netip.Addr{own}, Prefix: p, NextHop: nextHop, NextHopMAC: &peerMAC, MTU: 1500},
		},
		TxQueue: 1, Ring: s.ring, Fwd: &s.fwd, Now: clock.now, Log: slog.New(slog.DiscardHandler),
		Contexts: s.table, Events: s.events, Shim: shim,
	})
	s.sig = s.core.Signalling()
	return s
}

// pump runs both cores and carries what each uplink sends to the other's
// control ring (the link between the two sites), for rounds rounds.
func pump(t *testing.T, clock *fakeClock, a, b *site, rounds int) {
	t.Helper()
	for i := 0; i < rounds; i++ {
		a.core.Poll()
		b.core.Poll()
		for _, pair := range [][2]*site{{a, b}, {b, a}} {
			for _, f := range pair[0].uplink.Sent(1) {
				pair[1].uplink.Inject(0, f)
				var p [1]ports.Packet
				pair[1].uplink.RxBurst(0, p[:])
				if pair[1].ring.MpEnqueueBurst(p[:]) != 1 {
					t.Fatal("ring full")
				}
			}
		}
		clock.advance(10 * time.Millisecond)
	}
}

// TestTwoSitesEstablishAndRecover: site A's core establishes a context
// with site B's over their uplinks (I1, R1, I2, R2 as real packets through
// both cores); both fast-path tables get the context, with each side's tag
// the other's peer tag. Then B restarts with no state, A's traffic hits
// B's worker with an unknown tag, and R1bis/I2bis recover the context.
func TestTwoSitesEstablishAndRecover(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	macA, macB := [6]byte{0x02, 0, 0, 0, 0, 0xa1}, [6]byte{0x02, 0, 0, 0, 0, 0xb1}
	upA, upB := netip.MustParseAddr("2001:db8:1:ffff::1"), netip.MustParseAddr("2001:db8:3:ffff::1")
	hostA, hostB := netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:3::20")
	a := newSite(t, clock, macA, "2001:db8:1::/48", upA, upB, macB)
	b := newSite(t, clock, macB, "2001:db8:3::/48", upB, upA, macA)

	// The test drives both cores' rounds itself, so it may call the
	// machine directly (the daemon goes through Core.Query).
	if err := a.sig.Establish(hostA, hostB); err != nil {
		t.Fatal(err)
	}
	pump(t, clock, a, b, 20)
	var ca, cb dataplane.Context
	la, pa := hostA.As16(), hostB.As16()
	if !a.table.LookupULIDs(&la, &pa, &ca) || !b.table.LookupULIDs(&pa, &la, &cb) {
		t.Fatalf("context not in both tables: A %d, B %d (A stats sent %d recv %d)", a.table.Len(), b.table.Len(),
			a.core.Stats.SignalSent.Load(), a.core.Stats.SignalReceived.Load())
	}
	if ca.PeerTag != cb.LocalTag || cb.PeerTag != ca.LocalTag {
		t.Fatalf("tags do not cross: A %#x/%#x, B %#x/%#x", ca.LocalTag, ca.PeerTag, cb.LocalTag, cb.PeerTag)
	}
	if a.core.Stats.SignalSent.Load() < 2 || b.core.Stats.SignalSent.Load() < 2 {
		t.Fatalf("handshake messages sent: A %d, B %d", a.core.Stats.SignalSent.Load(), b.core.Stats.SignalSent.Load())
	}

	// B restarts with no state.
	b2 := newSite(t, clock, macB, "2001:db8:3::/48", upB, upA, macA)
	b2.events.Push(&dataplane.Event{Kind: dataplane.EventUnknownTag, Port: 1, Tag: ca.PeerTag, Src: la, Dst: pa})
	pump(t, clock, a, b2, 20)
	var cb2 dataplane.Context
	if !b2.table.LookupULIDs(&pa, &la, &cb2) {
		t.Fatal("restarted site did not recover the context")
	}
	a.table.LookupULIDs(&la, &pa, &ca)
	if ca.PeerTag != cb2.LocalTag || cb2.PeerTag != ca.LocalTag {
		t.Fatalf("tags after recovery do not cross: A %#x/%#x, B %#x/%#x", ca.LocalTag, ca.PeerTag, cb2.LocalTag, cb2.PeerTag)
	}
}

func TestEstablishPolicy(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	macA, macB := [6]byte{0x02, 0, 0, 0, 0, 0xa1}, [6]byte{0x02, 0, 0, 0, 0, 0xb1}
	a := newSite(t, clock, macA, "2001:db8:1::/48", netip.MustParseAddr("2001:db8:1:ffff::1"), netip.MustParseAddr("2001:db8:3:ffff::1"), macB)
	a.core.cfg.EstablishPeers = []netip.Prefix{netip.MustParsePrefix("2001:db8:3::/48")}
	a.core.estab = ratelimit.New(20, clock.now()) // a burst of 2
	host := netip.MustParseAddr("2001:db8:1::10").As16()
	for i, peer := range []string{"2001:db8:3::1", "2001:db8:9::1", "2001:db8:3::2", "2001:db8:3::3"} {
		a.events.Push(&dataplane.Event{Kind: dataplane.EventEstablish, Src: host, Dst: netip.MustParseAddr(peer).As16()})
		_ = i
	}
	a.core.Poll()
	// 2001:db8:9::1 is not listed; of the three listed, the rate allows two.
	if got := a.sig.Stats.HandshakesStarted.Load(); got != 2 {
		t.Fatalf("handshakes started = %d, want 2", got)
	}
	if got := a.core.Stats.EstablishSkip.Load(); got != 2 {
		t.Fatalf("skipped = %d, want 2", got)
	}
}

// TestUplinkDownStartsExploration: when an uplink's link goes down, every
// context with a local locator under its prefix explores at once (RFC 5534
// §3.2), without waiting for the Send Timeout.
func TestUplinkDownStartsExploration(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	macA, macB := [6]byte{0x02, 0, 0, 0, 0, 0xa1}, [6]byte{0x02, 0, 0, 0, 0, 0xb1}
	upA, upB := netip.MustParseAddr("2001:db8:1:ffff::1"), netip.MustParseAddr("2001:db8:3:ffff::1")
	hostA, hostB := netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:3::20")
	withREAP := &ShimSetup{REAP: true}
	a := newSiteWith(t, clock, macA, "2001:db8:1::/48", upA, upB, macB, withREAP)
	b := newSiteWith(t, clock, macB, "2001:db8:3::/48", upB, upA, macA, withREAP)
	r := a.core.REAP()
	if err := a.sig.Establish(hostA, hostB); err != nil {
		t.Fatal(err)
	}
	pump(t, clock, a, b, 20)
	ci, ok := a.sig.Context(hostA, hostB)
	if !ok || ci.State != shim6.Established || r.State(reap.ID(ci.Slot)) != reap.Operational {
		t.Fatalf("context %+v, REAP state %v", ci, r.State(reap.ID(ci.Slot)))
	}
	a.uplink.SetLink(false)
	clock.advance(200 * time.Millisecond)
	a.core.Poll()
	if s := r.State(reap.ID(ci.Slot)); s != reap.Exploring {
		t.Fatalf("REAP state %v after the uplink went down, want Exploring", s)
	}
	if a.core.Stats.UplinkDowns.Load() != 1 {
		t.Fatal("link down not counted")
	}
	a.uplink.SetLink(true)
	clock.advance(200 * time.Millisecond)
	a.core.Poll()
	if a.core.linkDown[1] != nil {
		t.Fatal("link up not noticed")
	}

	// The next hop stops answering ND (its entry is given up on): the
	// same, without any link signal.
	pump(t, clock, a, b, 300) // REAP settles back to Operational
	if s := r.State(reap.ID(ci.Slot)); s != reap.Operational {
		t.Fatalf("REAP state %v before the next hop fails", s)
	}
	a.core.nd.ports[1][upB].state = ndIncomplete
	clock.advance(200 * time.Millisecond)
	a.core.Poll()
	if s := r.State(reap.ID(ci.Slot)); s != reap.Exploring || a.core.Stats.UplinkDowns.Load() != 2 {
		t.Fatalf("REAP state %v, uplink downs %d after the next hop failed", s, a.core.Stats.UplinkDowns.Load())
	}
}
