package dpdk

/*
#cgo noescape shim6_round
#cgo nocallback shim6_round
#cgo noescape shim6_free
#cgo nocallback shim6_free
#cgo noescape shim6_alloc
#cgo nocallback shim6_alloc
#cgo noescape shim6_rx_burst
#cgo nocallback shim6_rx_burst
#cgo noescape shim6_tx_burst
#cgo nocallback shim6_tx_burst
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"shim6d/ports"
)

// The C burst functions read and write ports.Packet arrays in place as
// arrays of struct shim6_pkt, so the two must have one layout. Each pair of
// array types below has lengths a-b and b-a of two uintptr constants: one
// of them overflows, and the build fails, unless a == b.
type (
	_ [unsafe.Sizeof(ports.Packet{}) - C.sizeof_struct_shim6_pkt]byte
	_ [C.sizeof_struct_shim6_pkt - unsafe.Sizeof(ports.Packet{})]byte
	_ [unsafe.Offsetof(ports.Packet{}.Handle) - unsafe.Offsetof(C.struct_shim6_pkt{}.mbuf)]byte
	_ [unsafe.Offsetof(C.struct_shim6_pkt{}.mbuf) - unsafe.Offsetof(ports.Packet{}.Handle)]byte
	_ [unsafe.Offsetof(ports.Packet{}.Addr) - unsafe.Offsetof(C.struct_shim6_pkt{}.buf_addr)]byte
	_ [unsafe.Offsetof(C.struct_shim6_pkt{}.buf_addr) - unsafe.Offsetof(ports.Packet{}.Addr)]byte
	_ [unsafe.Offsetof(ports.Packet{}.Off) - unsafe.Offsetof(C.struct_shim6_pkt{}.data_off)]byte
	_ [unsafe.Offsetof(C.struct_shim6_pkt{}.data_off) - unsafe.Offsetof(ports.Packet{}.Off)]byte
	_ [unsafe.Offsetof(ports.Packet{}.Len) - unsafe.Offsetof(C.struct_shim6_pkt{}.data_len)]byte
	_ [unsafe.Offsetof(C.struct_shim6_pkt{}.data_len) - unsafe.Offsetof(ports.Packet{}.Len)]byte
	_ [unsafe.Offsetof(ports.Packet{}.BufLen) - unsafe.Offsetof(C.struct_shim6_pkt{}.buf_len)]byte
	_ [unsafe.Offsetof(C.struct_shim6_pkt{}.buf_len) - unsafe.Offsetof(ports.Packet{}.BufLen)]byte
	_ [unsafe.Offsetof(ports.Packet{}.Port) - unsafe.Offsetof(C.struct_shim6_pkt{}.port)]byte
	_ [unsafe.Offsetof(C.struct_shim6_pkt{}.port) - unsafe.Offsetof(ports.Packet{}.Port)]byte
)

// cpkts returns pkts as the C array the burst functions take. Packet holds
// no Go pointer, so cgo checks nothing when it is passed, and "#cgo
// noescape" keeps a caller's stack array on its stack.
func cpkts(pkts []ports.Packet) *C.struct_shim6_pkt {
	return (*C.struct_shim6_pkt)(unsafe.Pointer(unsafe.SliceData(pkts)))
}

// RxBurst receives up to min(len(pkts), ports.MaxBurst) packets from rx
// queue queue in one C call, which writes them into pkts, and returns how
// many. Chained mbufs are dropped and counted (RxMultiSegDrops). Only one
// goroutine may poll a queue at a time.
func (p *Port) RxBurst(queue uint16, pkts []ports.Packet) int {
	n := min(len(pkts), ports.MaxBurst)
	if n == 0 {
		return 0
	}
	return int(C.shim6_rx_burst(p.rxq[queue], cpkts(pkts), C.uint16_t(n)))
}

// TxBurst queues pkts on tx queue queue, writing each packet's Off and Len
// into its mbuf, one C call per ports.MaxBurst packets. It returns how many
// the device took; the caller still owns pkts[n:]. Only one goroutine may
// use a queue at a time.
func (p *Port) TxBurst(queue uint16, pkts []ports.Packet) int {
	q := p.txq[queue]
	sent := 0
	for len(pkts) > 0 {
		n := min(len(pkts), ports.MaxBurst)
		k := int(C.shim6_tx_burst(q, cpkts(pkts), C.uint16_t(n)))
		sent += k
		if k < n {
			break
		}
		pkts = pkts[n:]
	}
	return sent
}

// Alloc fills pkts with empty buffers from the port's pool (Off =
// ports.Headroom, Len = 0, Port = the port's index) and returns how many it
// got. Safe for concurrent use; one C call per ports.MaxBurst packets.
func (p *Port) Alloc(pkts []ports.Packet) int {
	return allocFrom(p.pool, pkts, p.cfg.Index)
}

// Alloc fills pkts with empty buffers from the pool (Off = ports.Headroom,
// Len = 0, Port = port) and returns how many it got. Safe for concurrent
// use.
func (m *Mempool) Alloc(pkts []ports.Packet, port uint16) int {
	return allocFrom(m.mp, pkts, port)
}

func allocFrom(mp *C.struct_rte_mempool, pkts []ports.Packet, port uint16) int {
	got := 0
	for got < len(pkts) {
		n := min(len(pkts)-got, ports.MaxBurst)
		k := int(C.shim6_alloc(C.uintptr_t(uintptr(unsafe.Pointer(mp))), cpkts(pkts[got:]), C.uint16_t(n), C.uint16_t(port)))
		got += k
		if k < n {
			break
		}
	}
	return got
}

// Free returns the packets' buffers to their pools
// (rte_pktmbuf_free_bulk), one C call per ports.MaxBurst packets. Safe for
// concurrent use; packets may come from any port or pool.
func (p *Port) Free(pkts []ports.Packet) { Free(pkts) }

// Free returns the packets' buffers to their pools; see Port.Free.
//
// C reads the handles straight from pkts: measured as Alloc + Free of 32 on
// a registered lcore (2-core lab machine), one C call per packet
// (rte_pktmbuf_free) cost twice as much as this.
func Free(pkts []ports.Packet) {
	for len(pkts) > 0 {
		n := min(len(pkts), ports.MaxBurst)
		C.shim6_free(cpkts(pkts), C.uint16_t(n))
		pkts = pkts[n:]
	}
}

// ports.Round is struct shim6_round, checked as Packet is above.
type (
	_ [unsafe.Sizeof(ports.Round{}) - C.sizeof_struct_shim6_round]byte
	_ [C.sizeof_struct_shim6_round - unsafe.Sizeof(ports.Round{})]byte
	_ [ports.MaxPorts - C.SHIM6_MAX_PORTS]byte
	_ [C.SHIM6_MAX_PORTS - ports.MaxPorts]byte
	_ [unsafe.Offsetof(ports.Round{}.TxBuf) - unsafe.Offsetof(C.struct_shim6_round{}.tx_buf)]byte
	_ [unsafe.Offsetof(C.struct_shim6_round{}.tx_buf) - unsafe.Offsetof(ports.Round{}.TxBuf)]byte
	_ [unsafe.Offsetof(ports.Round{}.RxBuf) - unsafe.Offsetof(C.struct_shim6_round{}.rx_buf)]byte
	_ [unsafe.Offsetof(C.struct_shim6_round{}.rx_buf) - unsafe.Offsetof(ports.Round{}.RxBuf)]byte
	_ [unsafe.Offsetof(ports.Round{}.NTx) - unsafe.Offsetof(C.struct_shim6_round{}.ntx)]byte
	_ [unsafe.Offsetof(C.struct_shim6_round{}.ntx) - unsafe.Offsetof(ports.Round{}.NTx)]byte
	_ [unsafe.Offsetof(ports.Round{}.NRx) - unsafe.Offsetof(C.struct_shim6_round{}.nrx)]byte
	_ [unsafe.Offsetof(C.struct_shim6_round{}.nrx) - unsafe.Offsetof(ports.Round{}.NRx)]byte
	_ [unsafe.Offsetof(ports.Round{}.Sent) - unsafe.Offsetof(C.struct_shim6_round{}.sent)]byte
	_ [unsafe.Offsetof(C.struct_shim6_round{}.sent) - unsafe.Offsetof(ports.Round{}.Sent)]byte
	_ [unsafe.Offsetof(ports.Round{}.RxBytes) - unsafe.Offsetof(C.struct_shim6_round{}.rx_bytes)]byte
	_ [unsafe.Offsetof(C.struct_shim6_round{}.rx_bytes) - unsafe.Offsetof(ports.Round{}.RxBytes)]byte
	_ [unsafe.Offsetof(ports.Round{}.TxBytes) - unsafe.Offsetof(C.struct_shim6_round{}.tx_bytes)]byte
	_ [unsafe.Offsetof(C.struct_shim6_round{}.tx_bytes) - unsafe.Offsetof(ports.Round{}.TxBytes)]byte
)

// rounder runs a worker's rounds over ports of this backend in one C call
// each: the crossing into C (about 30 ns with the runtime's bookkeeping)
// is paid once a round rather than once a queue, and an empty rx poll of
// an idle port costs no crossing of its own.
type rounder struct {
	// q is handed to C as is: it holds integers only, so cgo has nothing
	// to check.
	q C.struct_shim6_round_queues
}

// OpenRound implements ports.RoundOpener for ports that are all of this
// backend and started.
func (p *Port) OpenRound(ps []ports.Port, rxq, txq uint16) (ports.Rounder, bool) {
	if len(ps) > ports.MaxPorts {
		return nil, false
	}
	r := &rounder{}
	for i, pp := range ps {
		// Started ports only: the rounder keeps their queues' C memory,
		// which Close frees, so it must not outlive a port's Stop.
		d, ok := pp.(*Port)
		if !ok || d.state != 1 || int(rxq) >= len(d.rxq) || int(txq) >= len(d.txq) {
			return nil, false
		}
		r.q.rx[i] = C.uintptr_t(uintptr(unsafe.Pointer(d.rxq[rxq])))
		r.q.tx[i] = C.uintptr_t(uintptr(unsafe.Pointer(d.txq[txq])))
	}
	r.q.n = C.uint16_t(len(ps))
	return r, true
}

// Round implements ports.Rounder in one C call.
func (r *rounder) Round(rd *ports.Round, rx bool) int {
	on := C.int(0)
	if rx {
		on = 1
	}
	return int(C.shim6_round(&r.q, (*C.struct_shim6_round)(unsafe.Pointer(rd)), on))
}
