package control

import "testing"

// TestReleaseDevicesClosesThemToHandlers: once shutdown has begun to free
// the DPDK ports and ring, admin and metrics handlers still running must
// not read them (a review found a scrape during shutdown could call the
// freed ring and crash the process); before it, they do.
func TestReleaseDevicesClosesThemToHandlers(t *testing.T) {
	c := &Core{}
	if !c.devices(func() {}) {
		t.Fatal("the devices are closed before release")
	}
	c.ReleaseDevices()
	if c.devices(func() { t.Error("a handler read the devices after release") }) {
		t.Fatal("devices reported open after release")
	}
}
