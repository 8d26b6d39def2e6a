package dataplane

import "sync/atomic"

// EventKind says what a worker tells the control core.
type EventKind uint8

const (
	// EventEstablish: a ULID pair without a context passed the deferred
	// establishment threshold (seed draft §6); the control core may start
	// a handshake for it.
	EventEstablish EventKind = iota + 1
	// EventUnknownTag: a payload packet arrived with a context tag we do
	// not know; the control core may answer with R1bis (RFC 5533 §7.17).
	EventUnknownTag
	// EventRetransmit: TCP of the context in Slot retransmitted towards
	// the peer (negative advice from the upper layer, the seed draft's
	// §8.2); REAP may start exploring. At most one a tick per context from
	// each worker.
	EventRetransmit
)

// Event is a compact notice from a worker to the control core. Events are
// not packets: they are small, fixed-size, and lost without harm when the
// ring is full (the trigger repeats).
type Event struct {
	Kind EventKind
	// Port is where the triggering packet arrived.
	Port uint16
	// Slot is the context's slot in the context table (EventRetransmit).
	Slot uint32
	// Tag is the unknown receiver context tag (EventUnknownTag).
	Tag uint64
	// Src and Dst are the triggering packet's addresses: the ULID pair for
	// EventEstablish (local, peer), the locators for EventUnknownTag.
	Src, Dst [16]byte
}

// EventRing is a bounded multi-producer, single-consumer queue of events
// (Vyukov's bounded queue: each cell carries a sequence number that says
// whose turn it is). Producers never block: a full ring refuses the event.
type EventRing struct {
	enq   atomic.Uint64
	_     [56]byte
	deq   atomic.Uint64
	_     [56]byte
	mask  uint64
	cells []eventCell
	// Dropped counts events refused because the ring was full.
	Dropped atomic.Uint64
}

type eventCell struct {
	seq atomic.Uint64
	ev  Event
}

// NewEventRing makes a ring of size cells; size is rounded up to a power
// of two.
func NewEventRing(size int) *EventRing {
	n := 1
	for n < size {
		n <<= 1
	}
	r := &EventRing{mask: uint64(n - 1), cells: make([]eventCell, n)}
	for i := range r.cells {
		r.cells[i].seq.Store(uint64(i))
	}
	return r
}

// Push offers an event and reports whether the ring took it. Safe for
// concurrent producers.
func (r *EventRing) Push(e *Event) bool {
	for {
		pos := r.enq.Load()
		c := &r.cells[pos&r.mask]
		seq := c.seq.Load()
		switch {
		case seq == pos:
			if r.enq.CompareAndSwap(pos, pos+1) {
				c.ev = *e
				c.seq.Store(pos + 1)
				return true
			}
		case seq < pos:
			r.Dropped.Add(1)
			return false
		}
	}
}

// Pop takes the oldest event, if any. Single consumer only.
func (r *EventRing) Pop(e *Event) bool {
	pos := r.deq.Load()
	c := &r.cells[pos&r.mask]
	if c.seq.Load() != pos+1 {
		return false
	}
	*e = c.ev
	c.seq.Store(pos + r.mask + 1)
	r.deq.Store(pos + 1)
	return true
}
