package control

import (
	"reflect"
	"sync/atomic"
	"testing"
)

// TestEachListsEveryCounter: Each reports every counter field of Stats
// exactly once, under its own name with a help text. The fields are found
// by reflection, so a counter added to Stats but not to counterInfo fails
// here.
func TestEachListsEveryCounter(t *testing.T) {
	var s Stats
	want := map[uint64]string{}
	v := reflect.ValueOf(&s).Elem()
	n := uint64(0)
	for i := range v.NumField() {
		c, ok := v.Field(i).Addr().Interface().(*atomic.Uint64)
		if !ok {
			continue // the gauges, exported on their own
		}
		n++
		c.Store(n)
		want[n] = v.Type().Field(i).Name
	}
	if n != uint64(len(counterInfo)) {
		t.Errorf("%d counter fields, %d in counterInfo", n, len(counterInfo))
	}
	names := map[string]bool{}
	seen := map[uint64]int{}
	s.Each(func(name, help string, v uint64) {
		if name == "" || help == "" {
			t.Errorf("counter %q: empty name or help %q", name, help)
		}
		if names[name] {
			t.Errorf("counter %q listed twice", name)
		}
		names[name] = true
		seen[v]++
	})
	for v, field := range want {
		if seen[v] != 1 {
			t.Errorf("%s listed %d times, want once", field, seen[v])
		}
	}
}
