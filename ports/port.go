// Package ports hides packet I/O behind a small burst interface, so the
// workers and the control core run unchanged over DPDK ethdevs (package
// ports/dpdk) and over in-memory queues (package ports/mem) in tests and
// benchmarks.
//
// A Packet is a value, not a pointer: bursts are arrays of Packets owned by
// the worker, so receiving and transmitting allocate nothing.
package ports

import (
	"errors"
	"unsafe"
)

// MaxBurst is the largest burst any backend hands out or accepts in one call.
// 32 is DPDK's customary burst: large enough to amortise the per-call cost,
// small enough that a burst's headers stay in L1.
const MaxBurst = 32

// Headroom is the number of bytes every backend guarantees in front of a
// received packet's data, so that the shim can prepend its 8-byte payload
// extension header (and more) without copying the packet.
// It equals DPDK's default RTE_PKTMBUF_HEADROOM.
const Headroom = 128

// Packet is a view of one packet buffer owned by a backend.
//
// The buffer is BufLen bytes at Addr, headroom included; the frame is the
// Len bytes at Off. Handle identifies the buffer to its backend (an
// rte_mbuf pointer for DPDK, a pool index for ports/mem) and must be passed
// back through TxBurst or Free exactly once.
//
// A Packet holds no Go pointer, only integers, for speed: the DPDK backend's
// C code fills and reads bursts of them in place, in Go memory, which cgo
// allows without checking pointer-free memory, and no burst array is ever
// scanned by the garbage collector or pays write barriers. The price is
// that Addr is invisible to the garbage collector: a backend must keep its
// buffers alive and in place itself (DPDK's are C memory; ports/mem's one
// pool array is held by its Pool) for as long as they are handed out.
// 24 bytes, so a burst of MaxBurst fills 12 cache lines.
type Packet struct {
	Handle uintptr
	// Addr is the address of the buffer's first byte.
	Addr   uintptr
	Off    uint16
	Len    uint16
	BufLen uint16
	// Port is the index of the port the packet was received on.
	Port uint16
}

// mem turns Addr back into a pointer. Reading the word as a pointer, rather
// than converting it, states that the address is of memory the garbage
// collector does not move or free under us (see Packet); vet's unsafeptr
// rule, which is about uintptrs computed from Go pointers that the
// collector might since have freed, cannot tell the difference.
func (p *Packet) mem() unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&p.Addr))
}

// Frame returns the packet's bytes (starting at the Ethernet header). Its
// capacity is its length, so an append copies rather than writing into the
// buffer behind the frame (use SetLen for that); it also makes Frame, called
// several times per packet on the fast path, half as many instructions as
// a view to the end of the buffer, with its second bounds check.
func (p *Packet) Frame() []byte {
	return unsafe.Slice((*byte)(unsafe.Add(p.mem(), p.Off)), p.Len)
}

// Buffer returns the whole buffer, headroom included: the frame is
// Buffer()[Off:Off+Len].
func (p *Packet) Buffer() []byte {
	return unsafe.Slice((*byte)(p.mem()), p.BufLen)
}

// Prepend grows the frame by n bytes at the front and returns the new frame.
// It reports false, leaving the packet unchanged, when the headroom is
// smaller than n.
func (p *Packet) Prepend(n int) ([]byte, bool) {
	if n < 0 || int(p.Off) < n {
		return nil, false
	}
	p.Off -= uint16(n)
	p.Len += uint16(n)
	return p.Frame(), true
}

// Adj removes n bytes from the front of the frame. It reports false, leaving
// the packet unchanged, when the frame is shorter than n.
func (p *Packet) Adj(n int) bool {
	if n < 0 || int(p.Len) < n {
		return false
	}
	p.Off += uint16(n)
	p.Len -= uint16(n)
	return true
}

// SetLen sets the frame length. It reports false when the buffer cannot hold
// Off+n bytes.
func (p *Packet) SetLen(n int) bool {
	if n < 0 || int(p.Off)+n > int(p.BufLen) {
		return false
	}
	p.Len = uint16(n)
	return true
}

// Port is one network port as a worker or the control core sees it.
//
// RxBurst and TxBurst on one queue must be called by one goroutine at a
// time; different queues may be used concurrently. Rx and tx queue numbers
// are independent.
type Port interface {
	// Name is the operator's name of the port (from config).
	Name() string
	// RxBurst fills pkts with up to len(pkts) received packets and returns
	// how many it filled.
	RxBurst(queue uint16, pkts []Packet) int
	// TxBurst queues pkts for transmission and returns how many the port
	// took; the caller still owns (and must Free) pkts[n:].
	TxBurst(queue uint16, pkts []Packet) int
	// Alloc fills pkts with empty buffers (Off = Headroom, Len = 0) and
	// returns how many it could allocate. Used by the control core to build
	// its own packets.
	Alloc(pkts []Packet) int
	// Free returns buffers to their pool.
	Free(pkts []Packet)
	// Link reports the link state.
	Link() LinkStatus
	// MAC is the port's Ethernet address.
	MAC() [6]byte
	// MTU is the port's IP MTU (the largest IPv6 packet, without the
	// Ethernet header, that it sends).
	MTU() int
	// Stats returns the device counters.
	Stats() Stats
}

// LinkStatus is a port's link state.
type LinkStatus struct {
	Up bool
	// SpeedMbps is 0 when unknown.
	SpeedMbps uint32
}

// Stats are a port's device counters, as the device (or backend) keeps them.
type Stats struct {
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	// RxMissed counts packets the device dropped because no rx descriptor
	// was free (the workers were too slow).
	RxMissed uint64
	RxErrors uint64
	TxErrors uint64
	// RxNoMbuf counts rx allocation failures.
	RxNoMbuf uint64
}

// Ring is a multi-producer, single-consumer queue of packets, used to hand
// packets from the workers to the control core. Enqueue never blocks: what
// does not fit is left to the caller to count and free.
type Ring interface {
	// MpEnqueueBurst enqueues up to len(pkts) packets and returns how many
	// were taken. Safe for concurrent producers.
	MpEnqueueBurst(pkts []Packet) int
	// ScDequeueBurst dequeues up to len(pkts) packets. Single consumer only.
	ScDequeueBurst(pkts []Packet) int
	// Count is the number of packets in the ring (approximate while
	// producers run).
	Count() int
	// Cap is the ring's usable capacity.
	Cap() int
}

// ErrNoBuffers is returned when a pool cannot supply buffers.
var ErrNoBuffers = errors.New("ports: no free packet buffers")
