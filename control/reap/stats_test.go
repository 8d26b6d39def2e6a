package reap

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestExplorationDurations: the buckets are cumulative over the bounds, an
// exploration on a bound falls in it (Prometheus's le), one longer than the
// last bound is only in the count (+Inf), and the sum keeps sub-millisecond
// precision.
func TestExplorationDurations(t *testing.T) {
	var s Stats
	for _, d := range []time.Duration{
		1500 * time.Microsecond, 500 * time.Millisecond, 1200 * time.Millisecond, 40 * time.Second, time.Hour,
	} {
		s.observe(int64(d))
	}
	count, sum, buckets := s.ExplorationDurations()
	if count != 5 {
		t.Errorf("count %d, want 5", count)
	}
	if want := 3641.7015; sum < want-1e-9 || sum > want+1e-9 {
		t.Errorf("sum %v s, want %v", sum, want)
	}
	want := map[float64]uint64{0.5: 2, 1: 2, 2: 3, 5: 3, 10: 3, 30: 3, 60: 4, 300: 4}
	if diff := cmp.Diff(want, buckets); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}
}

// TestEachListsEveryCounter: Each reports every counter and state gauge
// exactly once, each under its own name with a help text, and no two
// series share a name (they are Prometheus series and admin JSON keys).
func TestEachListsEveryCounter(t *testing.T) {
	var s Stats
	for c := range numCounters {
		s.counts[c].Store(uint64(c) + 1)
	}
	for st := range numStates {
		s.states[st].Store(uint64(st) + 1000)
	}
	names := map[string]bool{}
	seen := map[uint64]int{}
	s.Each(func(name, help string, v uint64) {
		if name == "" || help == "" {
			t.Errorf("series %q: empty name or help %q", name, help)
		}
		if names[name] {
			t.Errorf("series %q listed twice", name)
		}
		names[name] = true
		seen[v]++
		if v >= 1 && v <= uint64(numCounters) && name != counterInfo[v-1].name {
			t.Errorf("counter %d listed as %q, want %q", v-1, name, counterInfo[v-1].name)
		}
	})
	for c := range numCounters {
		if n := seen[uint64(c)+1]; n != 1 {
			t.Errorf("counter %q listed %d times, want once", counterInfo[c].name, n)
		}
	}
	for st := range numStates {
		if n := seen[uint64(st)+1000]; n != 1 {
			t.Errorf("state %v listed %d times, want once", st, n)
		}
	}
	if want := int(numCounters) + int(numStates); len(names) != want {
		t.Errorf("%d series, want %d", len(names), want)
	}
}
