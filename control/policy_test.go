package control

import (
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"shim6d/control/policy"
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
	c.policy.LinkDown(1)
	set, _ = c.LocalLocators(ulid)
	if set.Preferences[0].Flags&wire.PreferenceBroken == 0 || set.Preferences[1].Flags != 0 {
		t.Fatalf("isp1 down: preferences %+v", set.Preferences)
	}
	if c.LocalUsable(ulid) || !c.LocalUsable(alt) {
		t.Fatal("LocalUsable ignores the uplink state")
	}
	c.policy.LinkUp(1, time.Time{}) // up from the start, as before
	if err := c.SetUplinkPolicy("isp2", UplinkPolicy{Drained: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	// Draining: still announced, flagged BROKEN, while contexts move off.
	set, _ = c.LocalLocators(ulid)
	if len(set.Locators) != 2 || set.Preferences[1].Flags&wire.PreferenceBroken == 0 || set.Preferences[0].Flags != 0 {
		t.Fatalf("isp2 draining: set %+v", set)
	}
	// Withdrawn once nothing is left to move, after the grace time.
	c.withdrawDrained(time.Now().Add(policy.DrainGrace / 2))
	if set, _ = c.LocalLocators(ulid); len(set.Locators) != 2 {
		t.Fatalf("isp2 withdrawn before the grace time: set %+v", set)
	}
	c.withdrawDrained(time.Now().Add(policy.DrainGrace))
	set, _ = c.LocalLocators(ulid)
	if len(set.Locators) != 1 || set.Locators[0].Addr != ulid || len(set.Preferences) != 1 || !c.Uplinks()[1].Withdrawn {
		t.Fatalf("isp2 drained: set %+v", set)
	}
	// isp1 drained too would leave no uplink that is neither drained nor
	// backup: refused, nothing changed.
	if err := c.SetUplinkPolicy("isp1", UplinkPolicy{Drained: ptr(true)}); err == nil || c.policy.Uplink(1).Drained {
		t.Fatalf("draining the last primary: %v", err)
	}
	if err := c.SetUplinkPolicy("isp9", UplinkPolicy{Weight: ptr(uint8(2))}); err == nil {
		t.Fatal("an unknown uplink accepted")
	}
	if err := c.SetUplinkPolicy("isp2", UplinkPolicy{Backup: ptr(false), Weight: ptr(uint8(7))}); err != nil ||
		c.policy.Uplink(2).Priority != 1 || c.policy.Uplink(2).Weight != 7 {
		t.Fatalf("un-backup: %v, %+v", err, c.policy.Uplink(2))
	}
}

func ptr[T any](v T) *T { return &v }

// moveBudget is the policy's, for the tests that count moves.
const moveBudget = policy.MoveBudget

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
