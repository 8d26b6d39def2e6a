package dataplane

import (
	"fmt"
	"sync/atomic"
	"time"

	"shim6d/dataplane/header"
	"shim6d/ports"
)

// Live capture. While an operator captures, each worker copies the packets
// that match into its own CaptureRing, which the control side drains into
// a pcapng file. With no capture running a worker pays one load and one
// never-taken branch a burst (classifyBurst): the ring pointer is nil. With
// one running it pays a copy of at most Snaplen bytes a matching packet,
// and nothing more when the ring is full: the packet is counted as
// overflow and forwarding goes on. Capture never holds a packet back.

// CaptureWhat selects the packets a capture copies.
type CaptureWhat uint8

// What a capture may ask for.
const (
	// CaptureAll copies every packet: forwarded, to the control core,
	// dropped, and what the control core sends.
	CaptureAll CaptureWhat = iota
	// CaptureShim6 copies Shim6 packets: control messages and payload
	// packets (RFC 5533 §5), those whose fixed IPv6 header's next header
	// is 140, as they arrive for the control core or leave.
	CaptureShim6
	// CaptureControl copies what the workers hand to the control core and
	// what the core sends itself: ND, ICMPv6, the signalling.
	CaptureControl
	// CaptureDrops copies dropped packets; each record has its reason.
	CaptureDrops
	numCaptureWhat
)

var captureWhatNames = [numCaptureWhat]string{"all", "shim6", "control", "drops"}

// String returns the name shim6ctl capture --what takes.
func (w CaptureWhat) String() string {
	if w < numCaptureWhat {
		return captureWhatNames[w]
	}
	return "unknown"
}

// ParseCaptureWhat reads a --what name.
func ParseCaptureWhat(s string) (CaptureWhat, error) {
	for i, n := range captureWhatNames {
		if n == s {
			return CaptureWhat(i), nil
		}
	}
	return 0, fmt.Errorf("unknown capture selection %q: write all, shim6, control or drops", s)
}

// CaptureVerdict is what happened to a captured packet, and so which port
// its record names and which way it went there.
type CaptureVerdict uint8

// Captured packets' fates.
const (
	// CaptureForwarded: a worker forwarded the packet; its record is the
	// frame as it left, on its egress port.
	CaptureForwarded CaptureVerdict = iota + 1
	// CaptureToControl: the packet arrived on the record's port and went
	// to the control core.
	CaptureToControl
	// CaptureDropped: the packet arrived on the record's port and was
	// dropped for the record's reason (or, with DropTxFull, was refused
	// by the record's port on its way out).
	CaptureDropped
	// CaptureSent: the control core sent the packet on the record's port.
	CaptureSent
)

// CaptureMeta describes one captured frame.
type CaptureMeta struct {
	// Time is when it was copied, in nanoseconds since the Unix epoch.
	Time int64
	// Len is the frame's whole length; the copy may be shorter (Snaplen).
	Len     int
	Port    uint16
	Verdict CaptureVerdict
	// Reason is a CaptureDropped packet's drop reason.
	Reason DropReason
}

// CaptureFilter says which packets a ring takes.
type CaptureFilter struct {
	What CaptureWhat
	// Ports has bit i set for port i; zero takes every port. The port is
	// the one the record names (see CaptureVerdict).
	Ports uint64
}

// captureSlot is a copied frame's record; its bytes sit in CaptureRing.data.
type captureSlot struct {
	time    int64
	len     uint32
	caplen  uint16
	port    uint16
	verdict CaptureVerdict
	reason  DropReason
}

// CaptureRing is a bounded single-producer single-consumer ring of copied
// frames: fixed-size slots allocated when the capture starts, so copying
// allocates nothing. Its producer is one worker (or the control core for
// what it sends), its consumer the capture's writer. A full ring refuses
// the packet and counts it: the producer never waits.
type CaptureRing struct {
	filter CaptureFilter
	snap   int
	mask   uint64
	slots  []captureSlot
	data   []byte

	_ [64]byte
	// head is the producer's: slots below it are written.
	head     atomic.Uint64
	captured atomic.Uint64
	overflow atomic.Uint64
	_        [64]byte
	// tail is the consumer's: slots below it are read and free again.
	tail atomic.Uint64
	_    [64]byte
}

// NewCaptureRing makes a ring of slots (rounded up to a power of two)
// copies of at most snaplen bytes each, taking what filter selects.
func NewCaptureRing(slots, snaplen int, filter CaptureFilter) *CaptureRing {
	n := 1
	for n < slots {
		n <<= 1
	}
	snaplen = max(snaplen, 1)
	return &CaptureRing{
		filter: filter,
		snap:   snaplen,
		mask:   uint64(n - 1),
		slots:  make([]captureSlot, n),
		data:   make([]byte, n*snaplen),
	}
}

// Captured is how many frames the ring has taken.
func (r *CaptureRing) Captured() uint64 { return r.captured.Load() }

// Overflow is how many frames the filter selected that found the ring full.
func (r *CaptureRing) Overflow() uint64 { return r.overflow.Load() }

// Snaplen is the most bytes a slot holds of a frame.
func (r *CaptureRing) Snaplen() int { return r.snap }

// wants reports whether the filter selects a packet of this fate on port.
func (r *CaptureRing) wants(frame []byte, port uint16, v CaptureVerdict) bool {
	if r.filter.Ports != 0 && (port >= 64 || r.filter.Ports&(1<<port) == 0) {
		return false
	}
	switch r.filter.What {
	case CaptureShim6:
		return len(frame) >= fixedHeaders && frame[frameNextHeader] == header.ProtoShim6
	case CaptureControl:
		return v == CaptureToControl || v == CaptureSent
	case CaptureDrops:
		return v == CaptureDropped
	}
	return true
}

// put copies frame into slot head; the caller has checked there is room.
func (r *CaptureRing) put(head uint64, frame []byte, now int64, port uint16, v CaptureVerdict, why DropReason) {
	i := head & r.mask
	off := int(i) * r.snap
	n := copy(r.data[off:off+r.snap], frame)
	r.slots[i] = captureSlot{time: now, len: uint32(len(frame)), caplen: uint16(n), port: port, verdict: v, reason: why}
}

// Record copies one frame if the filter selects it: for the control
// core's sends and the workers' rare drops after classification. Only the
// ring's one producer may call it.
func (r *CaptureRing) Record(p *ports.Packet, port uint16, v CaptureVerdict, why DropReason) {
	frame := p.Frame()
	if !r.wants(frame, port, v) {
		return
	}
	head := r.head.Load()
	if head-r.tail.Load() > r.mask {
		r.overflow.Add(1)
		return
	}
	r.put(head, frame, time.Now().UnixNano(), port, v, why)
	r.head.Store(head + 1)
	r.captured.Add(1)
}

// burst copies what the filter selects of a classified rx burst from
// port: its verdicts in next, how the fast paths took it in res, the slow
// path's drop reasons in why. It publishes the burst's slots at once.
func (r *CaptureRing) burst(pkts []ports.Packet, port int, next []uint16, res []fastResult, why []DropReason) {
	head := r.head.Load()
	free := r.mask + 1 - (head - r.tail.Load())
	var now int64
	var took, lost uint64
	for i := range pkts {
		frame := pkts[i].Frame()
		at, v, reason := uint16(port), CaptureForwarded, DropNone
		switch out := next[i]; out {
		case outControl:
			v = CaptureToControl
		case outDrop:
			v, reason = CaptureDropped, DropUnknownTag
			if res[i] == fastSlow {
				reason = why[i]
			}
		default:
			at = out
		}
		if !r.wants(frame, at, v) {
			continue
		}
		if took == free {
			lost++
			continue
		}
		if now == 0 {
			now = time.Now().UnixNano()
		}
		r.put(head+took, frame, now, at, v, reason)
		took++
	}
	if took > 0 {
		r.head.Store(head + took)
		r.captured.Add(took)
	}
	if lost > 0 {
		r.overflow.Add(lost)
	}
}

// Drain hands f every frame the ring holds, oldest first, then frees
// their slots; data is valid only during the call. Only the ring's one
// consumer may call it. It returns how many frames it handed.
func (r *CaptureRing) Drain(f func(m CaptureMeta, data []byte)) int {
	tail, head := r.tail.Load(), r.head.Load()
	for t := tail; t != head; t++ {
		i := t & r.mask
		s := &r.slots[i]
		off := int(i) * r.snap
		f(CaptureMeta{Time: s.time, Len: int(s.len), Port: s.port, Verdict: s.verdict, Reason: s.reason},
			r.data[off:off+int(s.caplen)])
	}
	r.tail.Store(head)
	return int(head - tail)
}

// SetCapture has the worker copy into r what r's filter selects, from its
// next burst on; nil stops it. A worker may still write into the ring it
// had for the rest of its round: the caller lets the ring go, not frees
// it.
func (w *Worker) SetCapture(r *CaptureRing) { w.capture.Store(r) }

// captureBurst copies what cr selects of the burst classifyBurst has
// just classified from port. A burst the fast paths forwarded whole has
// nothing for a capture of drops or of the control core's traffic, and
// costs it nothing more.
func (w *Worker) captureBurst(cr *CaptureRing, pkts []ports.Packet, port int, forwarded bool) {
	if forwarded && (cr.filter.What == CaptureDrops || cr.filter.What == CaptureControl) {
		return
	}
	n := len(pkts)
	cr.burst(pkts, port, w.next[:n], w.res[:n], w.why[:n])
}

// captureRefused records packets that classification sent on but that a
// tx queue or the control ring refused: rare, so it loads the ring itself.
func (w *Worker) captureRefused(pkts []ports.Packet, port int, why DropReason) {
	r := w.capture.Load()
	if r == nil {
		return
	}
	for i := range pkts {
		at := uint16(port)
		if port < 0 {
			at = pkts[i].Port
		}
		r.Record(&pkts[i], at, CaptureDropped, why)
	}
}
