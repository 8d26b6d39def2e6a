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
