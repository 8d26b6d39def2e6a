package dpdk

/*
#include <stdlib.h>
#include "shim.h"
#cgo noescape shim6_ring_mp_enqueue
#cgo nocallback shim6_ring_mp_enqueue
#cgo noescape shim6_ring_sc_dequeue
#cgo nocallback shim6_ring_sc_dequeue
*/
import "C"

import (
	"fmt"
	"unsafe"

	"shim6d/ports"
)

// Ring is a DPDK rte_ring of mbufs with lock-free multi-producer enqueue and
// single-consumer dequeue (RING_F_SC_DEQ). It implements ports.Ring. A
// packet's Off, Len and Port travel in its mbuf (data_off, data_len,
// port), so a dequeued Packet is the view the producer enqueued.
type Ring struct {
	r    *C.struct_shim6_ring
	name string
}

var _ ports.Ring = (*Ring)(nil)

// NewRing creates a ring that holds exactly count packets (RING_F_EXACT_SZ,
// so count need not be a power of two). The name must be unique in the
// process.
func NewRing(name string, count uint32) (*Ring, error) {
	obj := fmt.Sprintf("ring %q", name)
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var errno C.int
	r := C.shim6_ring_create(cname, C.uint(count), &errno)
	if r == nil {
		return nil, &Error{Object: obj, Op: "rte_ring_create", Errno: int(errno)}
	}
	return &Ring{r: r, name: name}, nil
}

// Name returns the ring's name.
func (r *Ring) Name() string { return r.name }

// MpEnqueueBurst enqueues up to min(len(pkts), ports.MaxBurst) packets and
// returns how many the ring took; the caller still owns pkts[n:]. Safe for
// concurrent producers: C reads pkts in place and builds its pointer array
// on its own stack.
func (r *Ring) MpEnqueueBurst(pkts []ports.Packet) int {
	n := min(len(pkts), ports.MaxBurst)
	if n == 0 {
		return 0
	}
	return int(C.shim6_ring_mp_enqueue(r.r, cpkts(pkts), C.uint(n)))
}

// ScDequeueBurst dequeues up to min(len(pkts), ports.MaxBurst) packets into
// pkts. Single consumer only: it uses the ring's one C-memory array.
func (r *Ring) ScDequeueBurst(pkts []ports.Packet) int {
	n := min(len(pkts), ports.MaxBurst)
	if n == 0 {
		return 0
	}
	return int(C.shim6_ring_sc_dequeue(r.r, cpkts(pkts), C.uint(n)))
}

// Count returns the number of packets in the ring; approximate while
// producers run.
func (r *Ring) Count() int { return int(C.shim6_ring_count(r.r)) }

// Cap returns how many packets the ring holds.
func (r *Ring) Cap() int { return int(C.shim6_ring_capacity(r.r)) }

// Free frees the packets still in the ring and then the ring. No producer
// or consumer may use it any more.
func (r *Ring) Free() {
	if r.r == nil {
		return
	}
	var pkts [ports.MaxBurst]ports.Packet
	for {
		n := r.ScDequeueBurst(pkts[:])
		if n == 0 {
			break
		}
		Free(pkts[:n])
	}
	C.shim6_ring_free(r.r)
	r.r = nil
}
