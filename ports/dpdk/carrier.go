package dpdk

import (
	"os"
	"strings"
)

// kernelCarrier returns the carrier of the kernel interface an af_packet
// device sits on, or nil for other devices. DPDK's af_packet PMD reports
// its link up whatever the interface does, so a pulled cable (or a veth
// whose peer went down) would otherwise go unseen until REAP's timers; the
// other PMDs report their own link status.
func kernelCarrier(device, devargs string) func() bool {
	if !strings.HasPrefix(device, "net_af_packet") {
		return nil
	}
	iface := ""
	for _, kv := range strings.Split(devargs, ",") {
		if v, ok := strings.CutPrefix(kv, "iface="); ok {
			iface = v
		}
	}
	if iface == "" || strings.ContainsAny(iface, "/.") {
		return nil
	}
	path := "/sys/class/net/" + iface + "/carrier"
	var buf [4]byte
	return func() bool {
		f, err := os.Open(path)
		if err != nil {
			return true // no sysfs view: trust the device, as without
		}
		defer f.Close()
		n, err := f.Read(buf[:])
		// "0\n" without carrier; reading fails with EINVAL while the
		// interface is administratively down.
		return err == nil && n > 0 && buf[0] == '1'
	}
}
