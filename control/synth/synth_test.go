package synth

import "testing"

func TestPlanIsDeterministicAndUnique(t *testing.T) {
	seen := map[[2]string]bool{}
	for i := uint64(0); i < 200000; i++ {
		c := DefaultPlan.At(i)
		if c != DefaultPlan.At(i) {
			t.Fatalf("context %d differs between calls", i)
		}
		k := [2]string{c.LocalULID.String(), c.PeerULID.String()}
		if seen[k] {
			t.Fatalf("context %d repeats a ULID pair", i)
		}
		seen[k] = true
		if !DefaultPlan.LocalULIDs.Contains(c.LocalULID) || !DefaultPlan.PeerLocators.Contains(c.PeerLocator) ||
			c.PeerTag == 0 || c.PeerTag >= 1<<47 {
			t.Fatalf("context %d out of plan: %+v", i, c)
		}
	}
}
