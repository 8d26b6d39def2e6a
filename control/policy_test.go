package control

import (
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
)

// policyCore is a core with only the site policy set up: an inside port
// and uplinks isp1 (2001:db8:1::/48), isp2 (2001:db8:2::/48) and isp3
// (2001:db8:5::/48) with the given priorities and weights.
func policyCore(spread bool, ups ...PortSetup) *Core {
	setup := []PortSetup{{Name: "inside", Role: dataplane.RoleInside}}
	for i, u := range ups {
		u.Role = dataplane.RoleUplink
		u.Name = fmt.Sprintf("isp%d", i+1)
		u.Prefix = netip.MustParsePrefix([]string{"2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:5::/48"}[i])
		setup = append(setup, u)
	}
	c := &Core{cfg: Config{Setup: setup, Spread: spread, Log: slog.New(slog.DiscardHandler), Now: time.Now}}
	c.initPolicy()
	return c
}

// info is a context between host n of site A (locators under 1:: and 2::)
// and host n of site B (3:: and 4::), on its ULIDs, with B's preferences.
func info(n int, peerPrefs []wire.Preference) shim6.ContextInfo {
	a1 := netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%x", n+1))
	a2 := netip.MustParseAddr(fmt.Sprintf("2001:db8:2::%x", n+1))
	b3 := netip.MustParseAddr(fmt.Sprintf("2001:db8:3::%x", n+1))
	b4 := netip.MustParseAddr(fmt.Sprintf("2001:db8:4::%x", n+1))
	return shim6.ContextInfo{
		State: shim6.Established, LocalULID: a1, PeerULID: b3, LocalLocator: a1, PeerLocator: b3,
		LocalLocators: []netip.Addr{a1, a2}, PeerLocators: []netip.Addr{b3, b4}, PeerPreferences: peerPrefs,
	}
}

func TestPreferredPairKeepsULIDsWithoutSpreading(t *testing.T) {
	c := policyCore(false, PortSetup{Priority: 1, Weight: 1}, PortSetup{Priority: 1, Weight: 9})
	for n := range 100 {
		ci := info(n, []wire.Preference{{Priority: 1, Weight: 1}, {Priority: 1, Weight: 9}})
		if l, p, ok := c.PreferredPair(&ci); !ok || l != ci.LocalULID || p != ci.PeerULID {
			t.Fatalf("context %d: preferred %v %v %v, want its ULIDs", n, l, p, ok)
		}
	}
}

// A better-ranked uplink wins over the ULID's, spreading or not; a backup
// uplink is used only when nothing else works.
func TestPreferredPairPriorityAndBackup(t *testing.T) {
	c := policyCore(false, PortSetup{Priority: 5, Weight: 1}, PortSetup{Priority: 1, Weight: 1})
	ci := info(0, nil)
	if l, _, _ := c.PreferredPair(&ci); l != ci.LocalLocators[1] {
		t.Fatalf("preferred local %v, want the priority-1 uplink's %v", l, ci.LocalLocators[1])
	}
	c = policyCore(false, PortSetup{Priority: 1, Weight: 1, Backup: true}, PortSetup{Priority: 1, Weight: 1})
	if l, _, _ := c.PreferredPair(&ci); l != ci.LocalLocators[1] {
		t.Fatalf("preferred local %v on a backup uplink", l)
	}
	c.uplinks[2].down = true
	if l, _, ok := c.PreferredPair(&ci); !ok || l != ci.LocalULID {
		t.Fatalf("primary down: preferred local %v %v, want the backup's %v", l, ok, ci.LocalULID)
	}
	c.uplinks[1].down = true
	if _, _, ok := c.PreferredPair(&ci); ok {
		t.Fatal("a preferred pair with every uplink down")
	}
}

// A peer locator flagged BROKEN is never preferred; a peer's better
// priority is followed.
func TestPreferredPairFollowsPeerPreferences(t *testing.T) {
	c := policyCore(false, PortSetup{Priority: 1, Weight: 1}, PortSetup{Priority: 1, Weight: 1})
	ci := info(0, []wire.Preference{{Flags: wire.PreferenceBroken, Priority: 1, Weight: 1}, {Priority: 1, Weight: 1}})
	if _, p, _ := c.PreferredPair(&ci); p != ci.PeerLocators[1] {
		t.Fatalf("preferred peer %v, its ULID is BROKEN", p)
	}
	ci = info(0, []wire.Preference{{Priority: 2, Weight: 1}, {Priority: 1, Weight: 1}})
	if _, p, _ := c.PreferredPair(&ci); p != ci.PeerLocators[1] {
		t.Fatalf("preferred peer %v, want its priority-1 locator", p)
	}
}

// Spreading: over many contexts each uplink gets its weight's share, and
// the two ends of a context compute the same pair.
func TestSpreadByWeight(t *testing.T) {
	a := policyCore(true, PortSetup{Priority: 1, Weight: 1}, PortSetup{Priority: 1, Weight: 3})
	// B's site: its two uplinks weighted 2:1 (3:: and 4:: play isp1/isp2
	// of the same prefix shape from B's side).
	b := &Core{cfg: Config{Spread: true, Log: slog.New(slog.DiscardHandler), Setup: []PortSetup{
		{Role: dataplane.RoleInside},
		{Name: "isp3", Role: dataplane.RoleUplink, Prefix: netip.MustParsePrefix("2001:db8:3::/48"), Priority: 1, Weight: 2},
		{Name: "isp4", Role: dataplane.RoleUplink, Prefix: netip.MustParsePrefix("2001:db8:4::/48"), Priority: 1, Weight: 1},
	}}}
	b.initPolicy()
	prefsA := []wire.Preference{{Priority: 1, Weight: 1}, {Priority: 1, Weight: 3}}
	prefsB := []wire.Preference{{Priority: 1, Weight: 2}, {Priority: 1, Weight: 1}}
	const n = 8000
	var onA2, onB3 int
	for k := range n {
		ca := info(k, prefsB)
		la, pa, ok := a.PreferredPair(&ca)
		if !ok {
			t.Fatal("no pair")
		}
		cb := shim6.ContextInfo{State: shim6.Established, LocalULID: ca.PeerULID, PeerULID: ca.LocalULID,
			LocalLocator: ca.PeerULID, PeerLocator: ca.LocalULID,
			LocalLocators: ca.PeerLocators, PeerLocators: ca.LocalLocators, PeerPreferences: prefsA}
		lb, pb, _ := b.PreferredPair(&cb)
		if lb != pa || pb != la {
			t.Fatalf("context %d: A wants %v→%v, B wants %v→%v", k, la, pa, lb, pb)
		}
		if la == ca.LocalLocators[1] {
			onA2++
		}
		if pa == ca.PeerLocators[0] {
			onB3++
		}
	}
	// 3/4 and 2/3 of 8000; the bounds are over 5 standard deviations.
	if onA2 < 5790 || onA2 > 6210 || onB3 < 5115 || onB3 > 5551 {
		t.Fatalf("A's isp2 carries %d, B's isp3 %d of %d contexts; want about 6000 and 5333", onA2, onB3, n)
	}
	// Weight 0 takes nothing while its priority has weight elsewhere.
	z := policyCore(true, PortSetup{Priority: 1, Weight: 0}, PortSetup{Priority: 1, Weight: 1})
	for k := range 200 {
		ci := info(k, nil)
		if l, _, _ := z.PreferredPair(&ci); l != ci.LocalLocators[1] {
			t.Fatalf("context %d on a zero-weight uplink", k)
		}
	}
}

// LocalLocators applies the policy to a host's set: preferences from the
// uplinks, BROKEN while one is down or draining, a drained uplink's
// locator left out once withdrawn.
func TestLocalLocatorsCarryPolicy(t *testing.T) {
	c := policyCore(false, PortSetup{Priority: 1, Weight: 4}, PortSetup{Priority: 1, Weight: 1, Backup: true})
	ulid, alt := netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:2::10")
	c.cfg.HostLocators = func(u netip.Addr) (shim6.LocatorSet, error) {
		return shim6.LocatorSet{Locators: []wire.Locator{{Addr: u, Method: wire.VerifyHBA}, {Addr: alt, Method: wire.VerifyHBA}}, Parameters: []byte("pds")}, nil
	}
	set, err := c.LocalLocators(ulid)
	if err != nil || len(set.Preferences) != 2 || set.Preferences[0] != (wire.Preference{Priority: 1, Weight: 4}) ||
		set.Preferences[1] != (wire.Preference{Priority: 255, Weight: 1}) {
		t.Fatalf("set %+v, %v", set, err)
	}
	c.uplinks[1].down = true
	set, _ = c.LocalLocators(ulid)
	if set.Preferences[0].Flags&wire.PreferenceBroken == 0 || set.Preferences[1].Flags != 0 {
		t.Fatalf("isp1 down: preferences %+v", set.Preferences)
	}
	if c.LocalUsable(ulid) || !c.LocalUsable(alt) {
		t.Fatal("LocalUsable ignores the uplink state")
	}
	c.uplinks[1].down = false
	if err := c.SetUplinkPolicy("isp2", UplinkPolicy{Drained: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	// Draining: still announced, flagged BROKEN, while contexts move off.
	set, _ = c.LocalLocators(ulid)
	if len(set.Locators) != 2 || set.Preferences[1].Flags&wire.PreferenceBroken == 0 || set.Preferences[0].Flags != 0 {
		t.Fatalf("isp2 draining: set %+v", set)
	}
	// Withdrawn once nothing is left to move, after the grace time.
	c.withdrawDrained(time.Now().Add(drainGrace / 2))
	if set, _ = c.LocalLocators(ulid); len(set.Locators) != 2 {
		t.Fatalf("isp2 withdrawn before the grace time: set %+v", set)
	}
	c.withdrawDrained(time.Now().Add(drainGrace))
	set, _ = c.LocalLocators(ulid)
	if len(set.Locators) != 1 || set.Locators[0].Addr != ulid || len(set.Preferences) != 1 || !c.Uplinks()[1].Withdrawn {
		t.Fatalf("isp2 drained: set %+v", set)
	}
	// isp1 drained too would leave no uplink that is neither drained nor
	// backup: refused, nothing changed.
	if err := c.SetUplinkPolicy("isp1", UplinkPolicy{Drained: ptr(true)}); err == nil || c.uplinks[1].drained {
		t.Fatalf("draining the last primary: %v", err)
	}
	if err := c.SetUplinkPolicy("isp9", UplinkPolicy{Weight: ptr(uint8(2))}); err == nil {
		t.Fatal("an unknown uplink accepted")
	}
	if err := c.SetUplinkPolicy("isp2", UplinkPolicy{Backup: ptr(false), Weight: ptr(uint8(7))}); err != nil ||
		c.uplinks[2].priority != 1 || c.uplinks[2].weight != 7 {
		t.Fatalf("un-backup: %v, %+v", err, c.uplinks[2])
	}
}

func ptr[T any](v T) *T { return &v }

// Failback waits until the preferred pair's uplink has stayed up for the
// hold time: a flapping uplink does not pull contexts back and forth.
func TestFailbackWaitsForAStableUplink(t *testing.T) {
	c := policyCore(false, PortSetup{Priority: 1, Weight: 1}, PortSetup{Priority: 1, Weight: 1})
	c.cfg.FailbackHold = 30 * time.Second
	a1 := netip.MustParseAddr("2001:db8:1::10")
	t0 := time.Unix(5000, 0)
	if !c.uplinkStable(a1, t0) {
		t.Fatal("an uplink up since the start is not stable")
	}
	c.uplinks[1].upSince = t0
	if c.uplinkStable(a1, t0.Add(29*time.Second)) || !c.uplinkStable(a1, t0.Add(30*time.Second)) {
		t.Fatal("stability does not follow failback_hold")
	}
}

// TestReapLocatorsKeepsTheCurrentWithinLimit: a peer with more locators
// than REAP takes, whose current locator is past the limit, still gives
// REAP a list it accepts with the current one in it (a review found 16:
// Add refused it, and the context went unwatched).
func TestReapLocatorsKeepsTheCurrentWithinLimit(t *testing.T) {
	b := newBed(t)
	var peers []netip.Addr
	for i := range reap.MaxLocators + 1 {
		peers = append(peers, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 9, 15: byte(i + 1)}))
	}
	cur := peers[len(peers)-1]
	got := b.core.reapLocators(peers, cur, nil, false)
	if len(got) != reap.MaxLocators || got[len(got)-1].Addr != cur {
		t.Fatalf("%d candidates, last %v; want %d ending with the current %v", len(got), got[len(got)-1].Addr, reap.MaxLocators, cur)
	}
	m, err := reap.New(reap.Config{Capacity: 4, Clock: nopREAP{}, Output: nopREAP{}, Traffic: nopREAP{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Add(1, reap.Context{Local: []reap.Locator{{Addr: hostAddr}}, Peer: got, CurrentLocal: hostAddr, CurrentPeer: cur}); err != nil {
		t.Fatalf("REAP refuses the list: %v", err)
	}
}

// nopREAP is a REAP clock, traffic source and output that do nothing.
type nopREAP struct{}

func (nopREAP) Now() time.Time                                                 { return time.Unix(1000, 0) }
func (nopREAP) Last(reap.ID) (time.Time, time.Time)                            { return time.Time{}, time.Time{} }
func (nopREAP) SendProbe(reap.ID, netip.Addr, netip.Addr, *wire.Probe)         {}
func (nopREAP) SendKeepalive(reap.ID, netip.Addr, netip.Addr, *wire.Keepalive) {}
func (nopREAP) OnSwitch(reap.ID, netip.Addr, netip.Addr)                       {}
