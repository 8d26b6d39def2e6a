package dpdk

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import "unsafe"

// DeviceQueues reports how many rx and tx queues the device named device
// (as given to EAL) supports, before it is configured. The daemon uses it
// to decide whether the control core gets a tx queue of its own on the
// port or hands its packets to worker 0.
func DeviceQueues(device string) (maxRx, maxTx uint16, err error) {
	var id C.uint16_t
	dev := C.CString(device)
	ret := C.rte_eth_dev_get_port_by_name(dev, &id)
	C.free(unsafe.Pointer(dev))
	if ret != 0 {
		return 0, 0, missingDevice("device "+device, device, ret)
	}
	var rx, tx C.uint16_t
	var rss C.uint64_t
	if ret := C.shim6_dev_info(id, &rx, &tx, &rss); ret != 0 {
		return 0, 0, newError("device "+device, "rte_eth_dev_info_get", ret)
	}
	return uint16(rx), uint16(tx), nil
}
