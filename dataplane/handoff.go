package dataplane

import (
	"sync/atomic"

	"shim6d/ports"
)

// Handoff is a single-producer, single-consumer ring of packets from the
// control core to worker 0. It exists for devices with too few tx queues
// to give the control core its own (net_pcap, net_af_packet with one queue
// pair): there, the control core hands its packets to worker 0, which sends
// them on its own tx queue, so no queue is ever shared and no lock is
// needed. Devices with a spare tx queue never use it.
//
// Pure Go, not rte_ring: worker 0 checks it every round, and a cgo call per
// round to find it empty would cost more than the check itself.
type Handoff struct {
	head atomic.Uint64 // next slot to read; written by the consumer
	_    [56]byte
	tail atomic.Uint64 // next slot to write; written by the producer
	_    [56]byte
	buf  [handoffSize]ports.Packet
}

const handoffSize = 256 // a power of two

// Enqueue adds as many of pkts as fit and returns how many. Producer only.
func (h *Handoff) Enqueue(pkts []ports.Packet) int {
	tail, head := h.tail.Load(), h.head.Load()
	n := min(len(pkts), handoffSize-int(tail-head))
	for i := 0; i < n; i++ {
		h.buf[(tail+uint64(i))&(handoffSize-1)] = pkts[i]
	}
	h.tail.Store(tail + uint64(n))
	return n
}

// Dequeue moves up to len(pkts) packets out and returns how many.
// Consumer only.
func (h *Handoff) Dequeue(pkts []ports.Packet) int {
	head, tail := h.head.Load(), h.tail.Load()
	n := min(len(pkts), int(tail-head))
	for i := 0; i < n; i++ {
		j := (head + uint64(i)) & (handoffSize - 1)
		pkts[i] = h.buf[j]
		h.buf[j] = ports.Packet{}
	}
	h.head.Store(head + uint64(n))
	return n
}
