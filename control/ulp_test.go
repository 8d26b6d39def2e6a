package control

import (
	"net/netip"
	"testing"
	"time"

	"shim6d/configs"
	"shim6d/dataplane"
)

// TestRetransmitEventExplores: a worker's EventRetransmit reaches REAP.
// With A's first uplink silently cut and the RFC's 15 s Send Timeout, the
// hint makes A explore at once, and the probes, not the hint, move the
// context to the pair over the second uplinks, within a second.
func TestRetransmitEventExplores(t *testing.T) {
	n, a, _ := twoSites(t, 1, 1, configs.FailbackStay, time.Hour, false)
	var slot uint32
	a.table.Each(func(c *dataplane.Context) bool { slot = c.Slot; return false })
	n.drop = func(src, dst netip.Addr) bool {
		return src.As16()[5] == a.p1 || dst.As16()[5] == a.p1
	}
	n.run(time.Second)
	if a.onU2() != 0 {
		t.Fatal("the context moved before any hint")
	}
	a.core.cfg.Events.Push(&dataplane.Event{Kind: dataplane.EventRetransmit, Slot: slot})
	a.core.cfg.Events.Push(&dataplane.Event{Kind: dataplane.EventRetransmit, Slot: slot + 1}) // no such context
	n.run(time.Second)
	ulp := uint64(0)
	a.reap.Stats().Each(func(name, _ string, v uint64) {
		if name == "reap_explorations_ulp_total" {
			ulp = v
		}
	})
	if ulp != 1 || a.onU2() != 1 {
		t.Fatalf("after a hint: %d hint explorations, %d contexts on u2; want 1 and 1", ulp, a.onU2())
	}
}
