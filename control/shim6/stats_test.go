package shim6

import (
	"reflect"
	"sync/atomic"
	"testing"
)

// TestEachListsEveryCounter: Each reports every counter field of Stats and
// every message kind in and out exactly once, each under its own name with
// a help text, and no two series share a name (they are Prometheus series
// and admin JSON keys). The fields are found by reflection, so a counter
// added to Stats but not to counterInfo fails here.
func TestEachListsEveryCounter(t *testing.T) {
	var s Stats
	want := map[uint64]string{} // value stored → what holds it
	v := reflect.ValueOf(&s).Elem()
	n := uint64(0)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		c, ok := v.Field(i).Addr().Interface().(*atomic.Uint64)
		if !ok {
			t.Fatalf("field %s is %v, not a counter", f.Name, f.Type)
		}
		n++
		c.Store(n)
		want[n] = f.Name
	}
	if n != uint64(len(counterInfo)) {
		t.Errorf("%d counter fields, %d in counterInfo", n, len(counterInfo))
	}
	for k := range numKinds {
		n++
		s.in[k].Store(n)
		want[n] = "in " + kindNames[k]
		n++
		s.out[k].Store(n)
		want[n] = "out " + kindNames[k]
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
	})
	for v, what := range want {
		if seen[v] != 1 {
			t.Errorf("%s listed %d times, want once", what, seen[v])
		}
	}
	if len(names) != len(want) {
		t.Errorf("%d series, want %d", len(names), len(want))
	}
}
