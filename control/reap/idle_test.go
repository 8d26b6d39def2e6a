package reap

import (
	"net/netip"
	"testing"
	"time"
)

// An idle context (last payload long ago; B's last packet was a reply, so
// its newest sent stamp is a tick newer than its newest received one, as
// after a ping) is moved by A's TryPair with the lab's 1 s Send Timeout.
// Both ends must settle Operational on the new pair and stay there: no
// further explorations while nothing is sent.
func TestTryPairIdleSettles(t *testing.T) {
	clock, n, a, b := labPair(t)
	// Pings a while ago: A sent, B received and answered a tick later.
	t0 := clock.t
	a.traffic[1].sent, b.traffic[1].recv = t0, t0
	b.traffic[1].sent, a.traffic[1].recv = t0.Add(100*time.Millisecond), t0.Add(100*time.Millisecond)
	for range 300 {
		clock.Advance(10 * time.Millisecond)
		round(clock, n, a, b, false)
	}
	if a.m.State(1) != Operational || b.m.State(1) != Operational {
		t.Fatalf("before: states A %v, B %v", a.m.State(1), b.m.State(1))
	}
	startA, startB := a.m.Stats().counts[explorationsStarted].Load(), b.m.Stats().counts[explorationsStarted].Load()
	if !a.m.TryPair(1, a2, b2) {
		t.Fatal("TryPair did not start")
	}
	for range 1000 { // 10 s idle
		clock.Advance(10 * time.Millisecond)
		round(clock, n, a, b, false)
	}
	t.Logf("states A %v, B %v; explorations A %d, B %d; switches A %d B %d", a.states, b.states, a.m.Stats().counts[explorationsStarted].Load()-startA, b.m.Stats().counts[explorationsStarted].Load()-startB, countKind(a.log, "switch"), countKind(b.log, "switch"))
	if l, p := a.m.Current(1); l != a2 || p != b2 {
		t.Fatalf("A on %v → %v, want a2 → b2", l, p)
	}
	if a.m.State(1) != Operational || b.m.State(1) != Operational {
		t.Fatalf("states A %v (%v), B %v (%v)", a.m.State(1), a.states, b.m.State(1), b.states)
	}
	if ea, eb := a.m.Stats().counts[explorationsStarted].Load()-startA, b.m.Stats().counts[explorationsStarted].Load()-startB; ea != 1 || eb > 1 {
		t.Fatalf("explorations started after TryPair: A %d, B %d; states A %v, B %v", ea, eb, a.states, b.states)
	}
}

func countKind(es []event, kind string) int {
	n := 0
	for _, e := range es {
		if e.kind == kind {
			n++
		}
	}
	return n
}

// TestSameTickExchangeStaysQuiet: a ping and its reply land in the same
// 100 ms stamp tick at both ends, then nothing. Neither end can tell who
// spoke last; both must settle without exploring (a review found both
// took "sent last", ran their Send timers and explored a path that
// works, then failed back: a flap after every quick exchange).
func TestSameTickExchangeStaysQuiet(t *testing.T) {
	clock, n, a, b := labPair(t)
	for range 50 {
		clock.Advance(10 * time.Millisecond)
		round(clock, n, a, b, false)
	}
	t0 := clock.t.Truncate(100 * time.Millisecond)
	a.traffic[1].sent, b.traffic[1].recv = t0, t0
	b.traffic[1].sent, a.traffic[1].recv = t0, t0
	for range 1000 { // 10 s
		clock.Advance(10 * time.Millisecond)
		round(clock, n, a, b, false)
	}
	ea, eb := a.m.Stats().counts[explorationsStarted].Load(), b.m.Stats().counts[explorationsStarted].Load()
	if ea != 0 || eb != 0 || countKind(a.log, "switch") != 0 || countKind(b.log, "switch") != 0 {
		t.Fatalf("explorations A %d (%v), B %d (%v)", ea, a.states, eb, b.states)
	}
	if l, p := a.m.Current(1); l != a1 || p != b1 {
		t.Fatalf("A on %v → %v", l, p)
	}
}

// labPair is two REAP machines with the lab's timers (1 s Send Timeout,
// checks every 100 ms) on one context, a1/a2 against b1/b2, over a
// network that loses nothing. Each side has the other's Keepalive
// Timeout option, 1 s (RFC 5534 §5.3), as the signalling hands it over.
func labPair(t *testing.T) (*fakeClock, *fakeNet, *node, *node) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	n := &fakeNet{clock: clock, delay: 5 * time.Millisecond}
	n.drop = func(src, dst netip.Addr) bool { return false }
	cfg := Config{SendTimeout: time.Second, CheckInterval: 100 * time.Millisecond}
	a := newNodeWith(t, "A", n, cfg, []netip.Addr{a1, a2}, []netip.Addr{b1, b2})
	b := newNodeWith(t, "B", n, cfg, []netip.Addr{b1, b2}, []netip.Addr{a1, a2})
	a.peer, b.peer = b, a
	a.m.SetKeepaliveTimeout(1, 1)
	b.m.SetKeepaliveTimeout(1, 1)
	return clock, n, a, b
}
