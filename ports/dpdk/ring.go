package dpdk

/*
#include <stdlib.h>
#include "shim.h"
#cgo noescape shim6_ring_mp_enqueue
#cgo nocallback shim6_ring_mp_enqueue
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
// port), so a dequeued Packet is the view the producer enqueued, except
// Queue, which is 0.
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
// concurrent producers: the per-call arrays are on each caller's stack (Go's
// for the handles, C's for the pointer array), never shared.
func (r *Ring) MpEnqueueBurst(pkts []ports.Packet) int {
	var in [ports.MaxBurst]C.struct_shim6_pkt
	n := min(len(pkts), ports.MaxBurst)
	for i := range pkts[:n] {
		in[i] = C.struct_shim6_pkt{
			mbuf:     C.uintptr_t(pkts[i].Handle),
			data_off: C.uint16_t(pkts[i].Off),
			data_len: C.uint16_t(pkts[i].Len),
			port:     C.uint16_t(pkts[i].Port),
		}
	}
	return int(C.shim6_ring_mp_enqueue(r.r, &in[0], C.uint(n)))
}

// ScDequeueBurst dequeues up to min(len(pkts), ports.MaxBurst) packets.
// Single consumer only: it uses the ring's one set of C-memory arrays.
func (r *Ring) ScDequeueBurst(pkts []ports.Packet) int {
	n := min(len(pkts), ports.MaxBurst)
	got := int(C.shim6_ring_sc_dequeue(r.r, C.uint(n)))
	for i := range pkts[:got] {
		pk := &r.r.pkts[i]
		view(&pkts[i], pk, uint16(pk.port), 0)
	}
	return got
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
