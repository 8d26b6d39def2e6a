package main

import "testing"

// TestShutdownClosesTheDevicesToHandlers: once shutdown has begun to free
// the DPDK ports and ring, admin and metrics handlers still running must
// not read them (a review found a scrape during shutdown could call the
// freed ring and crash the process); before it, they do.
func TestShutdownClosesTheDevicesToHandlers(t *testing.T) {
	d := &daemon{}
	if !d.devices(func() {}) {
		t.Fatal("the devices are closed before shutdown")
	}
	d.shutdown()
	if d.devices(func() { t.Error("a handler read the devices after shutdown") }) {
		t.Fatal("devices reported running after shutdown")
	}
}
