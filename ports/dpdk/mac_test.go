package dpdk

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

// TestPortMACs: a configured MAC is the device's once it is open, and a
// virtual MAC is added beside it where the device can (out of promiscuous
// mode; a promiscuous port needs none). A device that refuses either
// fails the open with the DPDK call, its reason and what to do.
func TestPortMACs(t *testing.T) {
	mac := [6]byte{0x02, 0, 0, 0, 0x5, 0x01}
	virt := [6]byte{0, 0, 0x5e, 0, 2, 9}
	for _, tt := range []struct {
		name    string
		dev     string
		mac     [6]byte
		promisc bool
		want    []string // nil: opens
	}{
		// net_null sets its MAC but has no secondary addresses.
		{"MAC set, promiscuous", "net_null3", mac, true, nil},
		{"virtual MAC refused", "net_null4", mac, false, []string{
			`port "mac" (net_null4): rte_eth_dev_mac_addr_add(00:00:5e:00:02:09): Operation not supported`, "set promiscuous = true"}},
		// net_ring has secondary addresses but a fixed MAC.
		{"MAC refused", "net_ring1", mac, false, []string{
			`port "mac" (net_ring1): rte_eth_dev_default_mac_addr_set(02:00:00:00:05:01): Operation not supported`, "delete the port's mac key"}},
		{"virtual MAC added", "net_ring2", [6]byte{}, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := OpenPort(PortConfig{Index: 9, Name: "mac", Device: tt.dev, Pool: testPool, MAC: tt.mac, VirtualMAC: virt, Promiscuous: tt.promisc})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				if tt.mac != ([6]byte{}) && p.MAC() != tt.mac {
					t.Fatalf("MAC() = %x, want %x", p.MAC(), tt.mac)
				}
				// Out of promiscuous mode the port still takes ND's
				// groups: every group.
				if !tt.promisc && !p.allMulticast() {
					t.Fatal("a port out of promiscuous mode does not take multicast")
				}
				return
			}
			if err == nil {
				p.Close()
				t.Fatal("opened")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !errors.Is(err, syscall.ENOTSUP) {
				t.Errorf("errors.Is(%v, ENOTSUP) = false", err)
			}
		})
	}
}
