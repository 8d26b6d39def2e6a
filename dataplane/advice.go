package dataplane

import "encoding/binary"

// Negative advice from the upper layer (the seed draft's §8.2): TCP tells
// the world that it thinks a path failed by retransmitting, and every TCP
// segment of a context crosses the proxy. A worker watches the segments of
// contexts from inside (rewritten, or still on their ULID pair, where most
// contexts are when their first path fails) for one that carries data (or
// a SYN or a FIN) but does not reach beyond the highest sequence number it
// saw for its flow, and tells the control core "retransmitting" for the
// context
// (EventRetransmit), which REAP weighs against what came back (see
// control/reap's Hint). UDP, QUIC and ESP carry no such signal and are not
// looked at: their contexts rely on REAP's Send Timeout alone.
//
// The state is per worker, fixed in size and allocated with the worker: a
// flow's entry sits at a slot chosen by a hash of its context's ULID pair
// and its ports, and a flow that finds another's entry there takes it over
// without a report. Collisions thus cost a missed hint at worst; a report
// needs the flow's own earlier segment, and a report only ever starts
// probing.

// retxSlots is the size of a worker's flow table (16 bytes an entry: 64
// KiB), retxLimitSlots that of its report limiter (4 bytes an entry).
const (
	retxSlots      = 1 << (64 - retxShift)
	retxLimitSlots = 1024
)

// retxEntry is one flow's sequence state, in serial-number arithmetic
// (RFC 1982; sequence numbers wrap): nxt is the end of the highest
// segment seen, [hole, holeEnd) the one gap a segment that jumped ahead
// left behind, empty when hole == holeEnd. A segment that lands in the
// gap was reordered or lost before the proxy, not retransmitted, as far
// as the proxy can tell.
type retxEntry struct {
	key           uint32 // the flow's fingerprint, never 0 once used
	nxt           uint32
	hole, holeEnd uint32
}

// TCP fields the detector reads beyond those of the MSS clamp (RFC 9293
// §3.1).
const (
	tcpSeqOff     = 4
	tcpFlagFIN    = 0x01
	tcpFlagRST    = 0x04
	retxKeyFactor = 0x9e3779b97f4a7c15 // 2^64 / golden ratio: spreads the ports
)

// SetULPAdvice switches the retransmission watch on or off (the [shim]
// ulp_advice setting); the worker takes the change at its next round. The
// control core sets it before the workers run.
func (w *Worker) SetULPAdvice(on bool) { w.advice.Store(on) }

// retxShift takes a flow key's upper bits as its slot in the flow table.
const retxShift = 64 - 12 // log2(retxSlots)

// watchTCP looks at an outbound TCP segment of a context: tcp is
// its header (at least tcpMinSize bytes), plen the IPv6 payload length
// with TCP right after the fixed header, pair the context's ULID pair hash
// and slot its context. It reports a retransmission (see retransmitting).
// fastOut has it written out: retxInOrder inline, retxCheck called.
func (w *Worker) watchTCP(tcp *[tcpMinSize]byte, plen int, pair uint64, slot uint32, port uint16) {
	k := retxKey(pair, tcp)
	if !w.retxInOrder(tcp, plen, k) {
		w.retxCheck(tcp, plen, k, slot, port)
	}
}

// retxKey is a flow's key: its context's ULID pair hash and its ports.
func retxKey(pair uint64, tcp *[tcpMinSize]byte) uint64 {
	return pair ^ uint64(binary.LittleEndian.Uint32(tcp[:4]))*retxKeyFactor
}

// retxInOrder is the watch's common case, small enough to inline into the
// fast path's loop: the next segment of a flow the table holds, starting
// where the last one ended, with neither SYN, FIN nor RST. Its end becomes
// the flow's (a pure ACK leaves it as it is). It reports whether it
// handled the segment; retxCheck takes the rest. A data offset out of
// bounds is not checked here, to keep the common case short: it only
// garbles the flow's own entry, which a host can do by sending what it
// likes anyway (and a report only starts probing).
func (w *Worker) retxInOrder(tcp *[tcpMinSize]byte, plen int, k uint64) bool {
	e := &w.sh.retx[k>>retxShift]
	seq := binary.BigEndian.Uint32(tcp[tcpSeqOff:])
	if e.key != uint32(k)|1 || e.nxt != seq || tcp[tcpFlagsOff]&(tcpFlagSYN|tcpFlagFIN|tcpFlagRST) != 0 {
		return false
	}
	e.nxt = seq + uint32(plen-int(tcp[tcpDataOffOff]>>4)*4)
	return true
}

// retxCheck is the watch for the segments retxInOrder leaves: new flows,
// jumps, gaps filled, SYNs and FINs, retransmissions. Pure ACKs, RSTs and
// malformed headers are not looked at.
func (w *Worker) retxCheck(tcp *[tcpMinSize]byte, plen int, k uint64, slot uint32, port uint16) {
	flags := tcp[tcpFlagsOff]
	doff := int(tcp[tcpDataOffOff]>>4) * 4
	n := plen - doff + int(flags&tcpFlagSYN>>1) + int(flags&tcpFlagFIN)
	if n <= 0 || doff < tcpMinSize || doff > plen || flags&tcpFlagRST != 0 {
		return
	}
	seq := binary.BigEndian.Uint32(tcp[tcpSeqOff:])
	end := seq + uint32(n)
	e := &w.sh.retx[k>>retxShift]
	key := uint32(k) | 1
	switch {
	case e.key != key || flags&tcpFlagSYN != 0 && end != e.nxt:
		// A flow new to this entry, or a new connection on the same
		// ports (a SYN other than the last one): start over.
		*e = retxEntry{key: key, nxt: end, hole: end, holeEnd: end}
	case int32(end-e.nxt) > 0:
		// Beyond the highest: new data. A jump leaves a gap that later
		// segments may fill; a newer gap replaces an older one.
		if int32(seq-e.nxt) > 0 {
			e.hole, e.holeEnd = e.nxt, seq
		}
		e.nxt = end
	case e.hole != e.holeEnd && int32(seq-e.hole) >= 0 && int32(end-e.holeEnd) <= 0:
		// Inside the gap: a segment that arrives late, not again. What
		// it fills at either edge leaves the gap, so that it coming
		// again counts.
		if seq == e.hole {
			e.hole = end
		} else if end == e.holeEnd {
			e.holeEnd = seq
		}
	default:
		w.retransmitting(slot, port)
	}
}

// retransmitting raises EventRetransmit for the context in slot, at most
// once a tick for each of the limiter's slots: a context's flood of
// retransmissions (or an inside host's fakes) costs the control core one
// event a tick, and the event ring stays open for the others.
func (w *Worker) retransmitting(slot uint32, port uint16) {
	l := &w.sh.retxSent[slot%retxLimitSlots]
	if w.shim.Events == nil || *l == w.sh.tick+1 {
		return
	}
	*l = w.sh.tick + 1
	w.sh.ev = Event{Kind: EventRetransmit, Port: port, Slot: slot}
	if w.shim.Events.Push(&w.sh.ev) {
		w.Counters.local[CounterEvents]++
	}
}
