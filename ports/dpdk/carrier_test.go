package dpdk

import (
	"os"
	"testing"
)

func TestKernelCarrier(t *testing.T) {
	if kernelCarrier("net_tap0", "iface=lo") != nil {
		t.Fatal("a tap port asks the kernel for its carrier")
	}
	if kernelCarrier("net_af_packet0", "iface=../x") != nil {
		t.Fatal("a path in iface= is followed")
	}
	if _, err := os.Stat("/sys/class/net/lo/carrier"); err != nil {
		t.Skip("needs sysfs (/sys/class/net)")
	}
	up := kernelCarrier("net_af_packet1", "qpairs=1,iface=lo")
	if up == nil || !up() {
		t.Fatal("lo has no carrier?")
	}
	gone := kernelCarrier("net_af_packet1", "iface=s6nosuchif")
	if gone == nil || !gone() {
		t.Fatal("an interface sysfs does not show must count as up (the device's own status decides)")
	}
}
