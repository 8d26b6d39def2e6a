package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// fakeNode is a Node over a fixed set of contexts. TryPair records each
// try and refuses the first refuse[slot] of a slot's (its context
// exploring, say); a started move does not change the context (REAP would
// switch it only once the probe is answered).
type fakeNode struct {
	ctxs   map[uint32]Context
	refuse map[uint32]int
	tries  []uint32
}

func (n *fakeNode) Context(slot uint32) (Context, bool) {
	c, ok := n.ctxs[slot]
	return c, ok
}

func (n *fakeNode) TryPair(slot uint32, local, peer netip.Addr) bool {
	n.tries = append(n.tries, slot)
	if n.refuse[slot] > 0 {
		n.refuse[slot]--
		return false
	}
	return true
}

func (n *fakeNode) triesOf(slot uint32) int {
	k := 0
	for _, s := range n.tries {
		if s == slot {
			k++
		}
	}
	return k
}

// offSite is a site with uplinks 1::/48, 2::/48 and 5::/48 of equal rank,
// no spreading, and a node holding count contexts that REAP moved off
// their preferred pair (their ULIDs) to the local locator under 2::.
// Context n's local ULID is 1::n when this end leads its failback (lower
// than the peer's 3::n), 5::n when it does not.
func offSite(count int, lead bool, ret bool, hold time.Duration) (*Machine, *fakeNode) {
	node := &fakeNode{ctxs: map[uint32]Context{}, refuse: map[uint32]int{}}
	ups := []Uplink{{}}
	for _, p := range []string{"2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:5::/48"} {
		ups = append(ups, Uplink{Prefix: netip.MustParsePrefix(p), Priority: 1, Weight: 1})
	}
	m := New(Config{Uplinks: ups, Return: ret, Hold: hold, Node: node, Rand: rand.NewPCG(3, 4).Uint64})
	for n := range count {
		c := info(n, nil)
		if !lead {
			c.LocalULID = netip.MustParseAddr(fmt.Sprintf("2001:db8:5::%x", n+1))
			c.LocalLocators[0] = c.LocalULID
		}
		c.LocalLocator = c.LocalLocators[1]
		c.PeerLocators = c.PeerLocators[:1]
		node.ctxs[c.Slot] = c
	}
	return m, node
}

func (n *fakeNode) trackAll(m *Machine, urgent bool, now time.Time) {
	for slot := range uint32(len(n.ctxs)) {
		c := n.ctxs[slot]
		m.Track(&c, urgent, now)
	}
}

// TestMovesArePaced: urgent moves are queued once per context and started
// at most MoveBudget every moveEvery, each context tried once.
func TestMovesArePaced(t *testing.T) {
	const count = 2500
	m, node := offSite(count, true, false, 30*time.Second)
	t0 := time.Unix(1000, 0)
	node.trackAll(m, true, t0)
	node.trackAll(m, true, t0)
	if q := m.QueuedMoves(); q != count {
		t.Fatalf("%d moves queued for %d contexts", q, count)
	}
	for _, step := range []struct {
		at   time.Duration
		want int
	}{
		{0, MoveBudget}, {0, 0}, {moveEvery - time.Millisecond, 0},
		{moveEvery, MoveBudget}, {2 * moveEvery, count - 2*MoveBudget}, {3 * moveEvery, 0},
	} {
		if got := m.Moves(t0.Add(step.at)); got != step.want {
			t.Fatalf("at +%v: %d moves started, want %d", step.at, got, step.want)
		}
	}
	if len(node.tries) != count || m.QueuedMoves() != 0 || m.movesPending() {
		t.Fatalf("%d tries for %d contexts, %d still queued", len(node.tries), count, m.QueuedMoves())
	}
	for slot := range uint32(count) {
		if node.triesOf(slot) != 1 {
			t.Fatalf("context %d tried %d times", slot, node.triesOf(slot))
		}
	}
}

// TestMovesRetried: a move REAP cannot start yet is tried again a second
// later, until it starts; one whose context closed, or that is on its
// preferred pair by its turn, is dropped without a try.
func TestMovesRetried(t *testing.T) {
	m, node := offSite(3, true, false, 30*time.Second)
	t0 := time.Unix(1000, 0)
	node.refuse[0] = 2
	node.trackAll(m, true, t0)
	m.Closed(1)
	delete(node.ctxs, 1)
	c := node.ctxs[2]
	c.LocalLocator = c.LocalULID // REAP moved it back meanwhile
	node.ctxs[2] = c
	var at []time.Duration
	started := 0
	for d := time.Duration(0); d <= 5*time.Second; d += 10 * time.Millisecond {
		k := len(node.tries)
		started += m.Moves(t0.Add(d))
		if len(node.tries) > k {
			at = append(at, d)
		}
	}
	if started != 1 || len(node.tries) != 3 || node.triesOf(0) != 3 {
		t.Fatalf("%d started, tries %v; want context 0 alone tried three times, started once", started, node.tries)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i] - at[i-1]; gap < moveRetryAfter || gap > moveRetryAfter+2*moveEvery {
			t.Fatalf("tries at %v: retried after %v, want about %v", at, gap, moveRetryAfter)
		}
	}
	if m.movesPending() {
		t.Fatal("a move still pending")
	}
	// Closing forgets a move waiting to retry.
	node.refuse[0] = 1
	node.trackAll(m, true, t0.Add(time.Minute))
	m.Moves(t0.Add(time.Minute))
	m.Closed(0)
	if m.movesPending() {
		t.Fatal("a closed context's retry still pending")
	}
}

// failbackTries runs Failback every 100 ms from t0 until end and returns
// when each slot was first tried, after t0.
func failbackTries(m *Machine, node *fakeNode, t0 time.Time, end time.Duration) map[uint32]time.Duration {
	first := map[uint32]time.Duration{}
	for d := time.Duration(0); d <= end; d += 100 * time.Millisecond {
		k := len(node.tries)
		m.Failback(t0.Add(d))
		for _, s := range node.tries[k:] {
			if _, seen := first[s]; !seen {
				first[s] = d
			}
		}
	}
	return first
}

// TestFailbackTiming: a context off its preferred pair tries it after the
// hold time (twice that where this end does not lead); none does with
// failback off; a preferred uplink that came back less than the hold time
// ago holds the try back.
func TestFailbackTiming(t *testing.T) {
	const hold = 30 * time.Second
	for _, tc := range []struct {
		name     string
		lead     bool
		ret      bool
		upAt     time.Duration // the preferred uplink came up then (0: up from the start)
		from, to time.Duration // the first try's window
	}{
		{"leads", true, true, 0, hold, hold + failbackEvery},
		{"follows", false, true, 0, 2 * hold, 2*hold + failbackEvery},
		{"stay", true, false, 0, -1, -1},
		{"uplink back lately", true, true, 20 * time.Second, 20*time.Second + hold, hold + hold*11/10 + failbackEvery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, node := offSite(1, tc.lead, tc.ret, hold)
			t0 := time.Unix(1000, 0)
			if tc.upAt > 0 {
				pref := m.UplinkOf(node.ctxs[0].LocalULID)
				m.LinkDown(pref)
				m.LinkUp(pref, t0.Add(tc.upAt))
			}
			node.trackAll(m, false, t0)
			if m.OffPreferred() != 1 {
				t.Fatalf("%d contexts off their preferred pair, want 1", m.OffPreferred())
			}
			first, tried := failbackTries(m, node, t0, 5*hold)[0]
			if tc.from < 0 {
				if tried {
					t.Fatalf("tried at +%v with failback off", first)
				}
				return
			}
			if !tried || first < tc.from || first > tc.to {
				t.Fatalf("first try at +%v (%v), want within [%v, %v]", first, tried, tc.from, tc.to)
			}
		})
	}
}

// TestFailbackJitterAndBudget: contexts still off their pair after a try
// try again a hold time later, give or take a tenth, not all at once; at
// most MoveBudget are tried per round.
func TestFailbackJitterAndBudget(t *testing.T) {
	const count, hold = 2500, 30 * time.Second
	m, node := offSite(count, true, true, hold)
	t0 := time.Unix(1000, 0)
	node.trackAll(m, false, t0)
	var rounds []int
	for d := hold; d < hold+3*failbackEvery; d += failbackEvery {
		k := len(node.tries)
		m.Failback(t0.Add(d))
		rounds = append(rounds, len(node.tries)-k)
	}
	if rounds[0] != MoveBudget || rounds[1] != MoveBudget || rounds[2] != count-2*MoveBudget {
		t.Fatalf("tries per round %v, want %d, %d, %d", rounds, MoveBudget, MoveBudget, count-2*MoveBudget)
	}
	// Second tries: each one hold after the first, within a tenth, and
	// spread over that window rather than bunched.
	k := len(node.tries)
	retried := map[time.Duration]int{}
	for d := hold + 3*failbackEvery; d <= 2*hold+hold/5; d += failbackEvery {
		n := len(node.tries)
		m.Failback(t0.Add(d))
		if len(node.tries) > n {
			retried[d] = len(node.tries) - n
		}
	}
	if len(node.tries)-k != count {
		t.Fatalf("%d second tries, want %d", len(node.tries)-k, count)
	}
	for d := range retried {
		if d < hold+hold*9/10 || d > 2*hold+hold/10+2*failbackEvery {
			t.Fatalf("second tries at %v: outside a hold ± a tenth after the first", retried)
		}
	}
	if len(retried) < 5 {
		t.Fatalf("second tries bunched in %d rounds: %v", len(retried), retried)
	}
}

// TestStable: failback waits until the preferred pair's uplink has stayed
// up for the hold time: a flapping uplink does not pull contexts back and
// forth.
func TestStable(t *testing.T) {
	a1 := netip.MustParseAddr("2001:db8:1::10")
	t0 := time.Unix(5000, 0)
	for _, tc := range []struct {
		name    string
		upSince time.Time
		at      time.Time
		want    bool
	}{
		{"up since the start", time.Time{}, t0, true},
		{"up for less than the hold time", t0, t0.Add(29 * time.Second), false},
		{"up for the hold time", t0, t0.Add(30 * time.Second), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Config{Hold: 30 * time.Second, Uplinks: []Uplink{{},
				{Prefix: netip.MustParsePrefix("2001:db8:1::/48"), Priority: 1, Weight: 1},
				{Prefix: netip.MustParsePrefix("2001:db8:2::/48"), Priority: 1, Weight: 1}}})
			if !tc.upSince.IsZero() {
				m.LinkDown(1)
				m.LinkUp(1, tc.upSince)
			}
			if got := m.stable(a1, tc.at); got != tc.want {
				t.Fatalf("stable %v, want %v", got, tc.want)
			}
		})
	}
}
