package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"shim6d/control/wire"
)

// site is a policy with index 0 no uplink (the inside port) and uplinks 1,
// 2 and 3 on 2001:db8:1::/48, 2::/48 and 5::/48, as given.
func site(spread bool, ups ...Uplink) *Machine {
	all := []Uplink{{}}
	for i, u := range ups {
		u.Prefix = netip.MustParsePrefix([]string{"2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:5::/48"}[i])
		all = append(all, u)
	}
	return New(Config{Uplinks: all, Spread: spread, Rand: rand.NewPCG(1, 2).Uint64})
}

// info is a context between host n of site A (locators under 1:: and 2::)
// and host n of site B (3:: and 4::), on its ULIDs, with B's preferences.
func info(n int, peerPrefs []wire.Preference) Context {
	a1 := netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%x", n+1))
	a2 := netip.MustParseAddr(fmt.Sprintf("2001:db8:2::%x", n+1))
	b3 := netip.MustParseAddr(fmt.Sprintf("2001:db8:3::%x", n+1))
	b4 := netip.MustParseAddr(fmt.Sprintf("2001:db8:4::%x", n+1))
	return Context{
		Slot: uint32(n), LocalULID: a1, PeerULID: b3, LocalLocator: a1, PeerLocator: b3,
		LocalLocators: []netip.Addr{a1, a2}, PeerLocators: []netip.Addr{b3, b4}, PeerPreferences: peerPrefs,
	}
}

// TestPreferredPair: without spreading, the ULIDs are kept while they rank
// best; a better-ranked uplink wins over the ULID's; a backup uplink is
// used only when nothing else works; a peer locator flagged BROKEN is
// never preferred, and a peer's better priority is followed.
func TestPreferredPair(t *testing.T) {
	broken := wire.Preference{Flags: wire.PreferenceBroken, Priority: 1, Weight: 1}
	for _, tc := range []struct {
		name      string
		ups       []Uplink
		down      []int
		peerPrefs []wire.Preference
		// want is the preferred pair, as indices into the context's
		// local and peer locators; ok false wants none.
		wantLocal, wantPeer int
		ok                  bool
	}{
		{name: "ULIDs kept without spreading", ups: []Uplink{{Priority: 1, Weight: 1}, {Priority: 1, Weight: 9}},
			peerPrefs: []wire.Preference{{Priority: 1, Weight: 1}, {Priority: 1, Weight: 9}}, ok: true},
		{name: "better-ranked uplink", ups: []Uplink{{Priority: 5, Weight: 1}, {Priority: 1, Weight: 1}},
			wantLocal: 1, ok: true},
		{name: "backup not used", ups: []Uplink{{Priority: 1, Weight: 1, Backup: true}, {Priority: 1, Weight: 1}},
			wantLocal: 1, ok: true},
		{name: "backup with the primary down", ups: []Uplink{{Priority: 1, Weight: 1, Backup: true}, {Priority: 1, Weight: 1}},
			down: []int{2}, ok: true},
		{name: "every uplink down", ups: []Uplink{{Priority: 1, Weight: 1, Backup: true}, {Priority: 1, Weight: 1}},
			down: []int{1, 2}},
		{name: "peer ULID BROKEN", ups: []Uplink{{Priority: 1, Weight: 1}, {Priority: 1, Weight: 1}},
			peerPrefs: []wire.Preference{broken, {Priority: 1, Weight: 1}}, wantPeer: 1, ok: true},
		{name: "peer's better priority", ups: []Uplink{{Priority: 1, Weight: 1}, {Priority: 1, Weight: 1}},
			peerPrefs: []wire.Preference{{Priority: 2, Weight: 1}, {Priority: 1, Weight: 1}}, wantPeer: 1, ok: true},
		{name: "every peer locator BROKEN", ups: []Uplink{{Priority: 1, Weight: 1}, {Priority: 1, Weight: 1}},
			peerPrefs: []wire.Preference{broken, broken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := site(false, tc.ups...)
			for _, i := range tc.down {
				m.LinkDown(i)
			}
			for n := range 100 {
				ctx := info(n, tc.peerPrefs)
				l, p, ok := m.PreferredPair(&ctx)
				if ok != tc.ok {
					t.Fatalf("context %d: preferred %v %v %v, want ok %v", n, l, p, ok, tc.ok)
				}
				if ok && (l != ctx.LocalLocators[tc.wantLocal] || p != ctx.PeerLocators[tc.wantPeer]) {
					t.Fatalf("context %d: preferred %v→%v, want %v→%v", n, l, p, ctx.LocalLocators[tc.wantLocal], ctx.PeerLocators[tc.wantPeer])
				}
			}
		})
	}
}

// TestSpreadByWeight: over many contexts each uplink gets its weight's
// share, and the two ends of a context compute the same pair.
func TestSpreadByWeight(t *testing.T) {
	a := site(true, Uplink{Priority: 1, Weight: 1}, Uplink{Priority: 1, Weight: 3})
	// B's site: its two uplinks weighted 2:1.
	b := New(Config{Spread: true, Uplinks: []Uplink{{},
		{Prefix: netip.MustParsePrefix("2001:db8:3::/48"), Priority: 1, Weight: 2},
		{Prefix: netip.MustParsePrefix("2001:db8:4::/48"), Priority: 1, Weight: 1},
	}})
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
		cb := Context{LocalULID: ca.PeerULID, PeerULID: ca.LocalULID,
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
	z := site(true, Uplink{Priority: 1, Weight: 0}, Uplink{Priority: 1, Weight: 1})
	for k := range 200 {
		ci := info(k, nil)
		if l, _, _ := z.PreferredPair(&ci); l != ci.LocalLocators[1] {
			t.Fatalf("context %d on a zero-weight uplink", k)
		}
	}
}

// TestPairKeySymmetric: the rendezvous key does not depend on which end
// computes it.
func TestPairKeySymmetric(t *testing.T) {
	for n := range 100 {
		ctx := info(n, nil)
		if pairKey(ctx.LocalULID, ctx.PeerULID) != pairKey(ctx.PeerULID, ctx.LocalULID) {
			t.Fatalf("context %d: the two ends' keys differ", n)
		}
	}
}

// TestBroken: a pair is broken by what is known locally when our locator's
// uplink is down or drained, or either locator left its set or is BROKEN.
func TestBroken(t *testing.T) {
	ok := []wire.Preference{{Priority: 1, Weight: 1}, {Priority: 1, Weight: 1}}
	for _, tc := range []struct {
		name   string
		change func(m *Machine, ctx *Context)
		want   bool
	}{
		{"working", func(*Machine, *Context) {}, false},
		{"our uplink down", func(m *Machine, _ *Context) { m.LinkDown(1) }, true},
		{"our uplink drained", func(m *Machine, _ *Context) { m.Set(1, Change{Drained: ptr(true)}, time.Unix(1, 0)) }, true},
		{"the other uplink down", func(m *Machine, _ *Context) { m.LinkDown(2) }, false},
		{"our locator withdrawn", func(_ *Machine, ctx *Context) { ctx.LocalLocators = ctx.LocalLocators[1:] }, true},
		{"the peer's withdrawn", func(_ *Machine, ctx *Context) { ctx.PeerLocators = ctx.PeerLocators[1:] }, true},
		{"the peer's BROKEN", func(_ *Machine, ctx *Context) {
			ctx.PeerPreferences = []wire.Preference{{Flags: wire.PreferenceBroken}, ok[1]}
		}, true},
		{"the peer's other BROKEN", func(_ *Machine, ctx *Context) {
			ctx.PeerPreferences = []wire.Preference{ok[0], {Flags: wire.PreferenceBroken}}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := site(false, Uplink{Priority: 1, Weight: 1}, Uplink{Priority: 1, Weight: 1})
			ctx := info(0, ok)
			tc.change(m, &ctx)
			if got := m.Broken(&ctx); got != tc.want {
				t.Fatalf("Broken %v, want %v", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestAnnounce: a host's set carries its uplinks' preferences, BROKEN
// while one is down or draining; a withdrawn uplink's locator leaves it;
// with all withdrawn, the ULID alone stays, BROKEN.
func TestAnnounce(t *testing.T) {
	ulid, alt := netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:2::10")
	stray := netip.MustParseAddr("2001:db8:9::10")
	locs := []wire.Locator{{Addr: ulid, Method: wire.VerifyHBA}, {Addr: alt, Method: wire.VerifyHBA}, {Addr: stray, Method: wire.VerifyHBA}}
	for _, tc := range []struct {
		name      string
		change    func(m *Machine)
		wantAddrs []netip.Addr
		wantPrefs []wire.Preference
	}{
		{"as configured", func(*Machine) {}, []netip.Addr{ulid, alt},
			[]wire.Preference{{Priority: 1, Weight: 4}, {Priority: BackupPriority, Weight: 1}}},
		{"down", func(m *Machine) { m.LinkDown(1) }, []netip.Addr{ulid, alt},
			[]wire.Preference{{Flags: wire.PreferenceBroken, Priority: 1, Weight: 4}, {Priority: BackupPriority, Weight: 1}}},
		{"draining", func(m *Machine) { m.Set(1, Change{Drained: ptr(true)}, time.Unix(1, 0)) }, []netip.Addr{ulid, alt},
			[]wire.Preference{{Flags: wire.PreferenceBroken, Priority: 1, Weight: 4}, {Priority: BackupPriority, Weight: 1}}},
		{"withdrawn", func(m *Machine) {
			m.Set(1, Change{Drained: ptr(true)}, time.Unix(1, 0))
			m.Withdraw(time.Unix(1, 0).Add(DrainGrace))
		}, []netip.Addr{alt}, []wire.Preference{{Priority: BackupPriority, Weight: 1}}},
		{"all withdrawn", func(m *Machine) {
			m.up[1].Withdrawn, m.up[2].Withdrawn = true, true
		}, []netip.Addr{ulid}, []wire.Preference{{Flags: wire.PreferenceBroken, Priority: BackupPriority}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Uplink 3 carries none of the host's locators, but keeps
			// draining 1 from leaving no primary uplink.
			m := site(false, Uplink{Priority: 1, Weight: 4}, Uplink{Priority: 1, Weight: 1, Backup: true}, Uplink{Priority: 1, Weight: 1})
			tc.change(m)
			got, prefs := m.Announce(ulid, locs)
			var addrs []netip.Addr
			for _, l := range got {
				addrs = append(addrs, l.Addr)
			}
			if fmt.Sprint(addrs) != fmt.Sprint(tc.wantAddrs) || fmt.Sprint(prefs) != fmt.Sprint(tc.wantPrefs) {
				t.Fatalf("announced %v %+v, want %v %+v", addrs, prefs, tc.wantAddrs, tc.wantPrefs)
			}
		})
	}
}

// TestSet: an operator's changes, and the ones refused (nothing changes
// then).
func TestSet(t *testing.T) {
	at := time.Unix(1000, 0)
	for _, tc := range []struct {
		name    string
		i       int
		ch      Change
		wantErr bool
		changed bool
		want    State // uplink i after
	}{
		{"weight", 1, Change{Weight: ptr(uint8(7))}, false, true, State{Priority: 1, Weight: 7}},
		{"same weight", 1, Change{Weight: ptr(uint8(4))}, false, false, State{Priority: 1, Weight: 4}},
		{"priority", 1, Change{Priority: ptr(uint8(3))}, false, true, State{Priority: 3, Weight: 4}},
		{"priority 255", 1, Change{Priority: ptr(uint8(BackupPriority))}, true, false, State{Priority: 1, Weight: 4}},
		{"priority of a backup", 2, Change{Priority: ptr(uint8(2))}, true, false,
			State{Priority: BackupPriority, Weight: 1, Backup: true}},
		{"un-backup", 2, Change{Backup: ptr(false), Weight: ptr(uint8(7))}, false, true, State{Priority: 2, Weight: 7}},
		{"un-backup with a priority", 2, Change{Backup: ptr(false), Priority: ptr(uint8(9))}, false, true, State{Priority: 9, Weight: 1}},
		{"backup", 3, Change{Backup: ptr(true)}, false, true, State{Priority: BackupPriority, Weight: 1, Backup: true}},
		{"drain", 3, Change{Drained: ptr(true)}, false, true, State{Priority: 1, Weight: 1, Drained: true, DrainedAt: at}},
		{"the last primary backup", 1, Change{Backup: ptr(true)}, false, true, State{Priority: BackupPriority, Weight: 4, Backup: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := site(false, Uplink{Priority: 1, Weight: 4}, Uplink{Priority: 2, Weight: 1, Backup: true}, Uplink{Priority: 1, Weight: 1})
			changed, err := m.Set(tc.i, tc.ch, at)
			if err != nil != tc.wantErr || changed != tc.changed {
				t.Fatalf("Set: changed %v, %v", changed, err)
			}
			if got := m.Uplink(tc.i); got != tc.want {
				t.Fatalf("uplink %d %+v, want %+v", tc.i, got, tc.want)
			}
		})
	}
	// With 3 drained, 1 is the last uplink neither drained nor backup.
	m := site(false, Uplink{Priority: 1, Weight: 4}, Uplink{Priority: 2, Weight: 1, Backup: true}, Uplink{Priority: 1, Weight: 1})
	if _, err := m.Set(3, Change{Drained: ptr(true)}, at); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []Change{{Drained: ptr(true)}, {Backup: ptr(true)}} {
		if changed, err := m.Set(1, ch, at); err == nil || changed || m.Uplink(1) != (State{Priority: 1, Weight: 4}) {
			t.Fatalf("%+v on the last primary: changed %v, %v, %+v", ch, changed, err, m.Uplink(1))
		}
	}
	// Undraining clears Withdrawn, and draining again restarts the clock.
	m.Withdraw(at.Add(DrainGrace))
	if !m.Uplink(3).Withdrawn {
		t.Fatal("not withdrawn after the grace time")
	}
	m.Set(3, Change{Drained: ptr(false)}, at.Add(time.Minute))
	if u := m.Uplink(3); u.Drained || u.Withdrawn || u.DrainedAt != at.Add(time.Minute) {
		t.Fatalf("undrained: %+v", u)
	}
}

// TestWithdraw: a drained uplink's locators leave after DrainGrace once
// no move is pending, after DrainLimit whatever is pending.
func TestWithdraw(t *testing.T) {
	at := time.Unix(1000, 0)
	for _, tc := range []struct {
		name    string
		after   time.Duration
		pending bool
		want    bool
	}{
		{"before the grace time", DrainGrace - time.Millisecond, false, false},
		{"at the grace time", DrainGrace, false, true},
		{"moves pending", DrainGrace, true, false},
		{"moves pending, before the limit", DrainLimit - time.Millisecond, true, false},
		{"moves pending, at the limit", DrainLimit, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := site(false, Uplink{Priority: 1, Weight: 1}, Uplink{Priority: 1, Weight: 1})
			if _, err := m.Set(2, Change{Drained: ptr(true)}, at); err != nil {
				t.Fatal(err)
			}
			if tc.pending {
				m.enqueue(7)
			}
			got := m.Withdraw(at.Add(tc.after))
			if (len(got) == 1 && got[0] == 2) != tc.want || m.Uplink(2).Withdrawn != tc.want {
				t.Fatalf("withdrew %v (state %+v), want uplink 2: %v", got, m.Uplink(2), tc.want)
			}
			if again := m.Withdraw(at.Add(DrainLimit)); tc.want && len(again) != 0 {
				t.Fatalf("withdrew %v again", again)
			}
		})
	}
}

// TestRanks: REAP's candidates are ordered the site's way, broken last.
func TestRanks(t *testing.T) {
	m := site(false, Uplink{Priority: 3, Weight: 1}, Uplink{Priority: 1, Weight: 1, Backup: true})
	a1, a2 := netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:2::1")
	if r1, r2, rx := m.LocalRank(a1), m.LocalRank(a2), m.LocalRank(netip.MustParseAddr("2001:db8:9::1")); r1 != 3 || r2 != 255 || rx != 0 {
		t.Fatalf("ranks %d %d %d, want 3 255 0", r1, r2, rx)
	}
	m.LinkDown(1)
	if r := m.LocalRank(a1); r != 255 {
		t.Fatalf("rank %d of a down uplink's locator", r)
	}
	if r := PeerRank(wire.Preference{Priority: 4}); r != 4 {
		t.Fatalf("peer rank %d, want 4", r)
	}
	if r := PeerRank(wire.Preference{Priority: 4, Flags: wire.PreferenceBroken}); r != 255 {
		t.Fatalf("BROKEN peer rank %d, want 255", r)
	}
}
