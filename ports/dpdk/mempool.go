package dpdk

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"shim6d/ports"
)

// DefaultDataRoom is DPDK's default mbuf data room
// (RTE_MBUF_DEFAULT_BUF_SIZE): 2048 bytes of data after the 128-byte
// headroom.
const DefaultDataRoom = C.RTE_MBUF_DEFAULT_BUF_SIZE

// The Go side relies on DPDK's headroom being ports.Headroom; these fail to
// compile if the two ever differ (shim.h checks the same in C).
var (
	_ [C.RTE_PKTMBUF_HEADROOM - ports.Headroom]struct{}
	_ [ports.Headroom - C.RTE_PKTMBUF_HEADROOM]struct{}
	_ [C.SHIM6_MAX_BURST - ports.MaxBurst]struct{}
	_ [ports.MaxBurst - C.SHIM6_MAX_BURST]struct{}
)

// Mempool is a DPDK pool of packet buffers (mbufs).
type Mempool struct {
	mp   *C.struct_rte_mempool
	name string
}

// NewPktmbufPool creates a pool of n mbufs (rte_pktmbuf_pool_create) with a
// per-lcore cache of cache mbufs, each buffer dataRoom bytes including the
// 128-byte headroom (0 means DefaultDataRoom), on NUMA socket socket
// (SocketAny for any). DPDK advises n = 2^q - 1. The name must be unique in
// the process.
func NewPktmbufPool(name string, n, cache uint32, dataRoom uint16, socket int) (*Mempool, error) {
	if dataRoom == 0 {
		dataRoom = DefaultDataRoom
	}
	obj := fmt.Sprintf("mempool %q", name)
	if dataRoom <= ports.Headroom {
		return nil, fmt.Errorf("dpdk: %s: data room %d leaves no room after the %d-byte headroom", obj, dataRoom, ports.Headroom)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var errno C.int
	mp := C.shim6_pool_create(cname, C.uint(n), C.uint(cache), C.uint16_t(dataRoom), C.int(socket), &errno)
	if mp == nil {
		e := &Error{Object: obj, Op: "rte_pktmbuf_pool_create", Errno: int(errno)}
		if errno == C.ENOMEM {
			e.Hint = "give EAL more memory (-m) or ask for fewer mbufs"
		}
		return nil, e
	}
	return &Mempool{mp: mp, name: name}, nil
}

// Name returns the pool's name.
func (m *Mempool) Name() string { return m.name }

// Free releases the pool (rte_mempool_free). Every port using it must be
// closed first, and every mbuf from it must have been freed.
func (m *Mempool) Free() {
	if m.mp != nil {
		C.rte_mempool_free(m.mp)
		m.mp = nil
	}
}

// Avail returns how many mbufs are free in the pool, counting the per-lcore
// caches (rte_mempool_avail_count). It walks every lcore's cache, so it is
// for metrics and tests, not the fast path.
func (m *Mempool) Avail() int {
	return int(C.rte_mempool_avail_count(m.mp))
}

// InUse returns how many mbufs are allocated (rte_mempool_in_use_count).
func (m *Mempool) InUse() int {
	return int(C.rte_mempool_in_use_count(m.mp))
}

// mbufHeadroom is DPDK's headroom, for the test that checks it against
// ports.Headroom at run time as well.
const mbufHeadroom = C.RTE_PKTMBUF_HEADROOM
