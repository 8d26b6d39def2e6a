package control

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"shim6d/configs"
	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// The two-site harness: site A and site B, each a Core with its own
// shim6 and REAP machines, two uplinks each (A on 2001:db8:a1::/48 and
// a2::/48, B on b1 and b2), their control traffic carried between them
// through in-memory ports, and a fake clock. Host h of a site has its
// ULID under the first prefix and a locator under the second. Tests of
// the site policy (moves, failback, drain) run on it at scale.

// acceptAll is a Verifier that takes every locator list.
type acceptAll struct{}

func (acceptAll) VerifyLocators(ulid netip.Addr, params []byte, list *wire.LocatorList, sig []byte) error {
	return nil
}

type tsite struct {
	name   string
	ports  []*mem.Port
	fwd    atomic.Pointer[dataplane.Forwarding]
	table  *dataplane.ContextTable
	core   *Core
	sig    *shim6.Machine
	reap   *reap.Machine
	p1, p2 byte // second byte group of the /48s
}

func taddr(p byte, h int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, p, 14: byte(h >> 8), 15: byte(h)})
}

func tpref(p byte) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, p}), 48)
}

// newTSite makes one site: inside and two uplinks (2001:db8:p1::/48 and
// p2::/48, weights w1 and w2); host h has ULID p1::h and locator p2::h.
func newTSite(t testing.TB, clock *fakeClock, name string, p1, p2 byte, capacity int, failback configs.Failback, hold time.Duration, spread bool, w1, w2 uint8, opts ...func(*Config)) *tsite {
	pool := mem.NewPool(1<<17, mem.DefaultBufSize)
	s := &tsite{name: name, p1: p1, p2: p2}
	for i, n := range []string{"inside", "u1", "u2"} {
		s.ports = append(s.ports, mem.NewPort(mem.Config{Name: n, Index: uint16(i), MAC: [6]byte{2, 0, 0, p1, 0, byte(i)}, Pool: pool, TxQueues: 2}))
	}
	var err error
	s.table, err = dataplane.NewContextTable(capacity)
	if err != nil {
		t.Fatal(err)
	}
	peerMAC := [6]byte{2, 0, 0, 0xee, 0, 1}
	setup := []PortSetup{
		{Name: "inside", Role: dataplane.RoleInside, Prefixes: []netip.Prefix{tpref(p1), tpref(p2)}, MTU: 1500},
		{Name: "u1", Role: dataplane.RoleUplink, Addresses: []netip.Addr{taddr(p1, 0xfffe)}, Prefix: tpref(p1), NextHop: taddr(p1, 0xffff), NextHopMAC: &peerMAC, MTU: 1500, Priority: 1, Weight: w1},
		{Name: "u2", Role: dataplane.RoleUplink, Addresses: []netip.Addr{taddr(p2, 0xfffe)}, Prefix: tpref(p2), NextHop: taddr(p2, 0xffff), NextHopMAC: &peerMAC, MTU: 1500, Priority: 1, Weight: w2},
	}
	pp := make([]ports.Port, len(s.ports))
	for i := range s.ports {
		pp[i] = s.ports[i]
	}
	cfg := Config{
		Ports: pp, Setup: setup, TxQueue: 1, Ring: mem.NewRing(64), Fwd: &s.fwd, Now: clock.now,
		Log: slog.New(slog.DiscardHandler), Contexts: s.table, Events: dataplane.NewEventRing(64),
		Failback: failback, FailbackHold: hold, Spread: spread,
		HostLocators: func(u netip.Addr) (shim6.LocatorSet, error) {
			a := u.As16()
			if a[5] != p1 {
				return shim6.LocatorSet{}, fmt.Errorf("not ours")
			}
			a[5] = p2
			return shim6.LocatorSet{Locators: []wire.Locator{{Addr: u, Method: wire.VerifyHBA}, {Addr: netip.AddrFrom16(a), Method: wire.VerifyHBA}},
				Parameters: []byte("pds:" + u.String())}, nil
		},
		// The sites establish thousands of contexts from one /64 in half
		// a second of fake time, ten times what any establish_rate lets a
		// real site start: the R1 limits are not what these tests test.
		Shim: &ShimSetup{REAP: true, Verifier: acceptAll{}, IdleTimeout: time.Hour, R1Rate: 1 << 30, R1RatePerPrefix: 1 << 30},
	}
	for _, o := range opts {
		o(&cfg)
	}
	s.core = mustNew(t, cfg)
	s.sig, s.reap = s.core.Signalling(), s.core.REAP()
	return s
}

// probes is how many probes the site's REAP has sent.
func (s *tsite) probes() int {
	n := 0
	s.reap.Stats().Each(func(name, _ string, v uint64) {
		if name == "reap_probes_sent_total" {
			n = int(v)
		}
	})
	return n
}

// tnet carries the sites' uplink frames to each other, one round of
// Polls per step of the clock; drop(src, dst) loses what it says.
type tnet struct {
	t     testing.TB
	clock *fakeClock
	sites []*tsite
	drop  func(src, dst netip.Addr) bool
	step  time.Duration
}

// portFor finds the site and uplink that own dst.
func (n *tnet) portFor(dst netip.Addr) (*tsite, int) {
	for _, s := range n.sites {
		for i := 1; i < 3; i++ {
			if s.core.cfg.Setup[i].Prefix.Contains(dst) {
				return s, i
			}
		}
	}
	return nil, -1
}

// round polls every site, delivers what they sent, and moves the clock.
func (n *tnet) round() {
	for _, s := range n.sites {
		s.core.Poll()
	}
	for _, s := range n.sites {
		for i := 1; i < 3; i++ {
			for _, f := range s.ports[i].Sent(1) {
				ip := f[14:]
				var sa, da [16]byte
				copy(sa[:], ip[8:24])
				copy(da[:], ip[24:40])
				src, dst := netip.AddrFrom16(sa), netip.AddrFrom16(da)
				if n.drop != nil && n.drop(src, dst) {
					continue
				}
				to, port := n.portFor(dst)
				if to == nil || !to.ports[port].Link().Up {
					continue
				}
				to.ports[port].Inject(0, f)
				var p [1]ports.Packet
				to.ports[port].RxBurst(0, p[:])
				if !to.core.handle(&p[0], n.clock.now()) {
					to.core.free(&p[0])
				}
			}
		}
	}
	n.clock.advance(n.step)
}

// run runs rounds for d of fake time.
func (n *tnet) run(d time.Duration) {
	for end := n.clock.now().Add(d); n.clock.now().Before(end); {
		n.round()
	}
}

// onU2 counts the contexts whose local locator is under the site's
// second prefix.
func (s *tsite) onU2() (n int) {
	s.table.Each(func(c *dataplane.Context) bool {
		if c.LocLocal[5] == s.p2 {
			n++
		}
		return true
	})
	return
}

// twoSites makes A and B and establishes a context from each of A's
// hostsA hosts to each of B's hostsB.
func twoSites(t testing.TB, hostsA, hostsB int, failback configs.Failback, hold time.Duration, spread bool) (*tnet, *tsite, *tsite) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	capacity := hostsA*hostsB + 64
	a := newTSite(t, clock, "A", 0xa1, 0xa2, capacity, failback, hold, spread, 1, 1)
	b := newTSite(t, clock, "B", 0xb1, 0xb2, capacity, failback, hold, spread, 1, 1)
	n := &tnet{t: t, clock: clock, sites: []*tsite{a, b}, step: 10 * time.Millisecond}
	n.establish(a, hostsA, hostsB)
	return n, a, b
}

// establish has site a's hosts 1..hostsA each set up a context with site
// B's hosts 1..hostsB, and fails the test unless all are established
// within 3 s of the network's time.
func (n *tnet) establish(a *tsite, hostsA, hostsB int) {
	n.t.Helper()
	for h := 1; h <= hostsA; h++ {
		for g := 1; g <= hostsB; g++ {
			if err := a.sig.Establish(taddr(0xa1, h), taddr(0xb1, g)); err != nil {
				n.t.Fatal(err)
			}
		}
		n.round()
	}
	n.run(3 * time.Second)
	if got := a.sig.Stats.Contexts(shim6.Established); int(got) != hostsA*hostsB {
		n.t.Fatalf("established %d of %d", got, hostsA*hostsB)
	}
}

// TestPolicyMoveRetriedWhileExploring: the site policy asks a context to
// move (here, the uplink it is on gets weight 0) while the peer happens
// to be exploring it, so REAP cannot start the move just then. The move
// must be tried again, and happen, in either failback mode (a review
// found it dropped: with "stay" the context never moved).
func TestPolicyMoveRetriedWhileExploring(t *testing.T) {
	for _, fb := range []configs.Failback{configs.FailbackStay, configs.FailbackReturn} {
		n, a, b := twoSites(t, 1, 1, fb, 30*time.Second, true)
		n.run(5 * time.Second)
		ha, hb := taddr(0xa1, 1), taddr(0xb1, 1)
		ca, _ := a.sig.Context(ha, hb)
		cb, _ := b.sig.Context(hb, ha)
		// B explores the context at that moment (its own failback, say).
		if !b.reap.TryPair(reap.ID(cb.Slot), taddr(0xb2, 1), ca.LocalLocator) &&
			!b.reap.TryPair(reap.ID(cb.Slot), taddr(0xb1, 1), ca.LocalLocator) {
			t.Fatal("B's exploration did not start")
		}
		n.round()
		on := "u1"
		if ca.LocalLocator.As16()[5] == 0xa2 {
			on = "u2"
		}
		if err := a.core.SetUplinkPolicy(on, UplinkPolicy{Weight: ptr(uint8(0))}); err != nil {
			t.Fatal(err)
		}
		n.run(30 * time.Second)
		ca, _ = a.sig.Context(ha, hb)
		if l, _, _ := a.core.PreferredPair(&ca); ca.LocalLocator != l || a.core.Stats.PolicyMoves.Load() == 0 {
			t.Fatalf("failback %s: on %v, preferred %v, policy moves %d", fb, ca.LocalLocator, l, a.core.Stats.PolicyMoves.Load())
		}
	}
}

// TestPolicyMovesArePaced: draining an uplink with thousands of contexts
// on it starts at most moveBudget moves every 100 ms, however often the
// core polls (a review measured all of them, 2,536, within three Polls of
// one instant), and each context is queued once.
func TestPolicyMovesArePaced(t *testing.T) {
	n, a, _ := twoSites(t, 50, 100, configs.FailbackReturn, 3*time.Second, true)
	n.run(10 * time.Second)
	on := a.onU2()
	if on <= moveBudget {
		t.Fatalf("only %d contexts on u2: the test needs more than %d", on, moveBudget)
	}
	before := a.probes()
	if err := a.core.SetUplinkPolicy("u2", UplinkPolicy{Drained: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if q := a.core.policy.QueuedMoves(); q != on {
		t.Fatalf("%d moves queued for %d contexts", q, on)
	}
	for range 8 {
		a.core.Poll() // the clock does not move
	}
	if got := a.probes() - before; got > moveBudget {
		t.Fatalf("%d probes at one instant, budget %d", got, moveBudget)
	}
	n.run(5 * time.Second)
	if left := a.onU2(); left != 0 {
		t.Fatalf("%d contexts still on the drained uplink", left)
	}
}

// TestFailbackIsPaced: when an uplink comes back, the contexts that left
// it return at most moveBudget a round of failback, not all at once.
func TestFailbackIsPaced(t *testing.T) {
	n, a, _ := twoSites(t, 50, 100, configs.FailbackReturn, 3*time.Second, true)
	n.run(10 * time.Second)
	a.ports[2].SetLink(false)
	n.run(5 * time.Second)
	a.ports[2].SetLink(true)
	n.run(200 * time.Millisecond)
	// Back up, u2 is the preferred uplink of the contexts that left it.
	if off := a.core.policy.OffPreferred(); off <= moveBudget {
		t.Fatalf("only %d contexts off their preferred pair", off)
	}
	burst := 0
	for range 1000 {
		p := a.probes()
		n.round()
		burst = max(burst, a.probes()-p)
	}
	if burst > 2*moveBudget {
		t.Fatalf("%d probes in one round", burst)
	}
	if a.core.Stats.FailbackTries.Load() == 0 {
		t.Fatal("no failback")
	}
}

// BenchmarkLocalLocatorsUnder: what an uplink's failure walks to find the
// locators it takes down, at 5,000 contexts of 50 hosts.
func BenchmarkLocalLocatorsUnder(b *testing.B) {
	_, a, _ := twoSites(b, 50, 100, configs.FailbackReturn, 3*time.Second, true)
	p := tpref(0xa2)
	b.ResetTimer()
	for range b.N {
		if len(a.core.localLocatorsUnder(p)) != 50 {
			b.Fatal("not the 50 hosts' locators")
		}
	}
}

// TestDrainMovesBeforeWithdrawing: draining an uplink that carries about
// half of 2,000 contexts moves them all off it, then takes its locators
// out of the sets, with no message refused on a stale locator and no
// recovery on the way.
func TestDrainMovesBeforeWithdrawing(t *testing.T) {
	n, a, b := twoSites(t, 20, 100, configs.FailbackReturn, 3*time.Second, true)
	n.run(10 * time.Second)
	if a.onU2() == 0 {
		t.Fatal("no context on u2: the test drains nothing")
	}
	staleA, staleB := a.sig.Stats.StaleLocators.Load(), b.sig.Stats.StaleLocators.Load()
	recA, recB := a.sig.Stats.RecoveriesStarted.Load(), b.sig.Stats.RecoveriesStarted.Load()
	if err := a.core.SetUplinkPolicy("u2", UplinkPolicy{Drained: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	n.run(60 * time.Second)
	if left := a.onU2(); left != 0 {
		t.Fatalf("%d contexts still on the drained uplink", left)
	}
	if up := a.core.Uplinks(); !up[1].Withdrawn {
		t.Fatal("the drained uplink's locators were never withdrawn")
	}
	if s, r := a.sig.Stats.StaleLocators.Load()-staleA+b.sig.Stats.StaleLocators.Load()-staleB,
		a.sig.Stats.RecoveriesStarted.Load()-recA+b.sig.Stats.RecoveriesStarted.Load()-recB; s != 0 || r != 0 {
		t.Fatalf("%d messages on stale locators, %d recoveries", s, r)
	}
}

// TestDrainWhilePeerExplores: A's context is on A's u2 and B is exploring
// towards it when A drains u2. B's probes to A's u2 locator must still be
// taken while the context moves (a review found them refused as stale
// locators, and the context in 25 s of I2bis recovery).
func TestDrainWhilePeerExplores(t *testing.T) {
	n, a, b := twoSites(t, 1, 1, configs.FailbackStay, 30*time.Second, false)
	n.run(5 * time.Second)
	ha, hb, a2, b2 := taddr(0xa1, 1), taddr(0xb1, 1), taddr(0xa2, 1), taddr(0xb2, 1)
	ca, _ := a.sig.Context(ha, hb)
	if !a.reap.TryPair(reap.ID(ca.Slot), a2, hb) {
		t.Fatal("A's move to u2 did not start")
	}
	n.run(3 * time.Second)
	if ca, _ = a.sig.Context(ha, hb); ca.LocalLocator != a2 {
		t.Fatalf("A on %v, want %v", ca.LocalLocator, a2)
	}
	cb, _ := b.sig.Context(hb, ha)
	b.reap.TryPair(reap.ID(cb.Slot), b2, a2)
	n.round()
	stale, rec := a.sig.Stats.StaleLocators.Load()+b.sig.Stats.StaleLocators.Load(), a.sig.Stats.RecoveriesStarted.Load()+b.sig.Stats.RecoveriesStarted.Load()
	if err := a.core.SetUplinkPolicy("u2", UplinkPolicy{Drained: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	n.run(60 * time.Second)
	if ca, _ = a.sig.Context(ha, hb); ca.LocalLocator == a2 || ca.State != shim6.Established {
		t.Fatalf("A's context %v on %v", ca.State, ca.LocalLocator)
	}
	if s, r := a.sig.Stats.StaleLocators.Load()+b.sig.Stats.StaleLocators.Load()-stale,
		a.sig.Stats.RecoveriesStarted.Load()+b.sig.Stats.RecoveriesStarted.Load()-rec; s != 0 || r != 0 {
		t.Fatalf("%d messages on stale locators, %d recoveries", s, r)
	}
}

// TestErrorIndexHoldsOnlyRewritingContexts: the index that maps ICMPv6
// errors back to contexts keys only the contexts that rewrite (only their
// packets carry a payload header to quote), however many there are and
// however they moved.
func TestErrorIndexHoldsOnlyRewritingContexts(t *testing.T) {
	n, a, _ := twoSites(t, 20, 100, configs.FailbackReturn, 3*time.Second, true)
	n.run(10 * time.Second)
	rewriting := 0
	a.table.Each(func(c *dataplane.Context) bool {
		if c.Flags&dataplane.CtxRewrite != 0 {
			rewriting++
		}
		return true
	})
	if rewriting == 0 || rewriting == a.table.Len() {
		t.Fatalf("%d of %d contexts rewrite: the test needs both kinds", rewriting, a.table.Len())
	}
	if len(a.core.peers) != rewriting || len(a.core.peerKeys) != rewriting {
		t.Fatalf("index holds %d keys (%d slots) for %d rewriting contexts", len(a.core.peers), len(a.core.peerKeys), rewriting)
	}
}
