package main

import (
	"os"
	"testing"

	"shim6d/configs"
)

func TestKernelCarrier(t *testing.T) {
	if kernelCarrier(&configs.Port{Device: "net_tap0", Devargs: "iface=lo"}) != nil {
		t.Fatal("a tap port asks the kernel for its carrier")
	}
	if kernelCarrier(&configs.Port{Device: "net_af_packet0", Devargs: "iface=../x"}) != nil {
		t.Fatal("a path in iface= is followed")
	}
	if _, err := os.Stat("/sys/class/net/lo/carrier"); err != nil {
		t.Skip("needs sysfs (/sys/class/net)")
	}
	up := kernelCarrier(&configs.Port{Device: "net_af_packet1", Devargs: "qpairs=1,iface=lo"})
	if up == nil || !up() {
		t.Fatal("lo has no carrier?")
	}
	gone := kernelCarrier(&configs.Port{Device: "net_af_packet1", Devargs: "iface=s6nosuchif"})
	if gone == nil || !gone() {
		t.Fatal("an interface sysfs does not show must count as up (the device's own status decides)")
	}
}
