package dataplane

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"shim6d/dataplane/header"
	"shim6d/ports"
)

// Negative advice from the upper layer (the seed draft's §8.2): TCP tells
// the world that it thinks a path failed by retransmitting, and every TCP
// segment of a context crosses the proxy. A worker watches the segments of
// contexts from inside (rewritten, or still on their ULID pair, where most
// contexts are when their first path fails) for one that carries data (or
// a SYN or a FIN) but does not reach beyond the highest sequence number it
// saw for its flow, and tells the control core "retransmitting" for the
// context (EventRetransmit), which REAP weighs against what came back (see
// control/reap's Hint). UDP, QUIC and ESP carry no such signal and are not
// looked at: their contexts rely on REAP's Send Timeout alone.
//
// The state is per worker and fixed in size. A context's first TCP flow
// is kept beside its "last sent" tick (SentWord), in the line the fast
// path writes for each of the context's packets anyway; its other flows
// sit in a table allocated with the worker, each in one of the four ways
// of a set chosen by its key, a hash of its context's ULID pair and its
// ports. A flow new to its set takes the first way and moves the flows
// there one way on, the last one out, without a report. Collisions thus
// cost a missed hint at worst; a report needs the flow's own earlier
// segment, and a report only ever starts probing. The place beside the
// tick is given up when its flow jumps ahead (the flow moves into the
// table with its gap), sends a FIN or an RST, or when the slot's context
// is another than the flow's (SentWord's owner).
//
// The watch runs on every outbound TCP segment of a context, so its common
// case, the next segment of a flow the watch holds, is a handful of
// instructions written out in fastOut's loop (inOrder is the same for
// route): an entry is one word, the flow's key plus the end of its highest
// segment, so one load and one compare against key plus sequence number
// find the flow and its order at once, and one store moves it on.
// SYNs, FINs and RSTs do not reach it: fastOut leaves them to route while the
// watch is on, which spares the common case a test of the flags (and
// shares the length check with the MSS clamp's). Everything else (a new
// flow, a jump, a gap filled, a retransmission) is retxCheck's, which
// classifyBurst calls once a burst, after fastOut, for the segments its
// loop marked (retxLate): a call inside the loop would cost the loop its
// registers on every packet.

// retxBits is the log2 of the number of sets in a worker's flow table,
// retxWays entries of 8 bytes each, and as many more, in a table of their
// own, for the gaps (256 KiB in all): four ways, so that up to four flows
// whose keys meet in a set all keep their entries. With two ways (and
// twice the sets, the same memory), three flows that met in a set took
// each other's entries in turn, and every segment of theirs took
// retxCheck's path: at 1024 flows, 1.3% of all segments, about 2
// instructions a segment on average (callgrind). retxLimitSlots is the
// size of its report limiter (4 bytes an entry).
const (
	retxBits       = 12
	retxSets       = 1 << retxBits
	retxWays       = 4
	retxLimitSlots = 1024
)

// retxGap is a flow's one gap [lo, hi), in serial-number arithmetic (RFC
// 1982; sequence numbers wrap): the sequence numbers a segment that jumped
// ahead of the highest left behind, empty when lo == hi. A segment that
// lands in the gap was reordered or lost before the proxy, not
// retransmitted, as far as the proxy can tell. Only retxCheck reads it.
type retxGap struct{ lo, hi uint32 }

// fastOut's loop checks the four ways written out: a compile-time check
// that there are four.
const (
	_ uint = retxWays - 4
	_ uint = 4 - retxWays
)

// retxTable is a worker's flow table: sets of retxWays ways.
type retxTable [retxSets][retxWays]uint64

// TCP fields the detector reads beyond those of the MSS clamp (RFC 9293
// §3.1).
const (
	tcpSeqOff  = 4
	tcpFlagFIN = 0x01
	tcpFlagRST = 0x04
)

// SetULPAdvice switches the retransmission watch on or off (the [shim]
// ulp_advice setting); the worker takes the change at its next round. The
// control core sets it before the workers run.
func (w *Worker) SetULPAdvice(on bool) { w.advice.Store(on) }

// SetEstablishAfter changes the deferred-establishment threshold
// (ShimConfig.EstablishAfter) of a running worker, from any goroutine: a
// reload of [shim] establish_after. The worker takes it at its next round.
func (w *Worker) SetEstablishAfter(n uint32) { w.establishAfter.Store(n) }

// setAdvice is the round's copy of the switch: advice for route, watch
// for the fast path, which compares it with each packet's next header in
// place of a second test. No next header value is -1.
func (s *shimState) setAdvice(on bool) {
	s.advice, s.watch = on, -1
	if on {
		s.watch = header.ProtoTCP
	}
}

// retxKey is a flow's key: its context's ULID pair hash plus its ports in
// the upper half, so that the key plus a sequence number is the pair hash
// plus the header's first 8 bytes (ports and sequence number) in one
// big-endian load, as fastOut takes it.
func retxKey(pair uint64, tcp *[tcpMinSize]byte) uint64 {
	return pair + uint64(binary.BigEndian.Uint32(tcp[:4]))<<32
}

// retxIndex is the set of a flow: bits of its pair hash mixed with its
// ports, read little-endian so that the bits retxSetMask keeps, which
// give the set's byte offset in the table at once, as fastOut takes it,
// hold eleven of the source port's sixteen (all but bits 8 to 12). The
// key's upper half, which tells flows apart in retxCheck, is then all
// fingerprint: pair hash and ports.
func retxIndex(pair uint64, tcp *[tcpMinSize]byte) uint32 {
	return (keyWord(&pair) ^ binary.LittleEndian.Uint32(tcp[:4])) & retxSetMask / retxSetSize
}

// keyWord returns the 32 bits of a pair hash that retxIndex mixes: the
// word at its address, a load of its own, so that fastOut's compiled loop
// folds it into the XOR rather than sharing the 64-bit load of the same
// hash (which would cost a register and an instruction). Half the hash
// whichever the byte order.
func keyWord(k *uint64) uint32 { return *(*uint32)(unsafe.Pointer(k)) }

// retxSetSize is the size of a set in bytes, retxSetMask the bits of
// retxIndex's mix that give a set's byte offset in the table.
const (
	retxSetSize = retxWays * 8
	retxSetMask = (retxSets - 1) * retxSetSize
)

// inOrder is the watch's common case, which fastOut has written out in
// its loop: tcp is an outbound segment's header (at least tcpMinSize
// bytes), plen the IPv6 payload length with TCP right after the fixed
// header, pair its context's pair hash, sw its context's feedback word
// (nil when there is none). A segment that starts where the entry beside
// the tick, or one of its set's, says its flow's last segment ended, with
// no SYN, FIN or RST, moves the entry on to its own end, and a segment with nothing
// to check (no data, SYN or FIN: a pure ACK, say) is done with: it
// reports true for both. The rest is retxCheck's. A data offset out of
// bounds is not checked here, to keep the common case short: it only
// garbles the flow's own entry, which a host can do by sending what it
// likes anyway (and a report only starts probing).
func (t *retxTable) inOrder(tcp *[tcpMinSize]byte, plen int, pair uint64, sw *SentWord) bool {
	k := retxKey(pair, tcp)
	want := k + uint64(binary.BigEndian.Uint32(tcp[tcpSeqOff:]))
	if tcp[tcpFlagsOff]&(tcpFlagSYN|tcpFlagFIN|tcpFlagRST) != 0 {
		return false
	}
	doff := int(tcp[tcpDataOffOff]&0xf0) >> 2
	if sw != nil && sw.watch == want {
		sw.watch = want + uint64(plen-doff)
		return true
	}
	ways := &t[retxIndex(pair, tcp)]
	for j := range ways {
		if ways[j] == want {
			ways[j] = want + uint64(plen-doff)
			return true
		}
	}
	return plen <= doff
}

// watchTCP is the watch on route's path: the common case, then at once
// the rest.
func (w *Worker) watchTCP(tcp *[tcpMinSize]byte, plen int, pair uint64, slot uint32, port uint16) {
	if !w.sh.retx.inOrder(tcp, plen, pair, w.sentWord(slot)) {
		w.retxCheck(tcp, plen, pair, slot, port)
	}
}

// sentWord is the feedback word of the context in slot, which holds the
// watch's entry beside the "last sent" tick; nil when there is none.
func (w *Worker) sentWord(slot uint32) *SentWord {
	if fb := w.shim.Feedback; fb != nil && int(slot) < len(fb.Sent) {
		return &fb.Sent[slot]
	}
	return nil
}

// retxLate runs retxCheck for the packets of the burst that fastOut's loop
// marked in w.sh.late, in the burst's order: each has left the loop
// forwarded (its TCP header right after the fixed header) or rewritten
// (after the payload header too). Its context's slot is w.sh.lateSlot's.
func (w *Worker) retxLate(pkts []ports.Packet) {
	for m := w.sh.late; m != 0; m &= m - 1 {
		i := bits.TrailingZeros32(m)
		if i >= len(pkts) {
			break
		}
		p := &pkts[i]
		f := p.Frame()
		off := fixedHeaders
		if w.res[i] == fastRewrote {
			off += header.Shim6PayloadSize
		}
		if len(f) < off+tcpMinSize {
			continue // cannot happen: the loop checked the length
		}
		w.retxCheck((*[tcpMinSize]byte)(f[off:]), len(f)-off, w.sh.keys[i], w.sh.lateSlot[i], p.Port)
	}
	w.sh.late = 0
}

// retxCheck is the watch for the segments inOrder leaves: new flows,
// jumps, gaps filled, SYNs and FINs, retransmissions. An RST only frees
// its flow's place beside the tick; pure ACKs and malformed headers are
// not looked at. It reports a retransmission (see retransmitting) for the
// context in slot, seen on port.
//
// An entry holds k + end, the flow's key plus the end of its highest
// segment: the entry minus the key gives the end back in its lower half,
// and in its upper half 0 for the flow's own entry, or 1 when the sum
// carried (inOrder adds across the wrap and leaves the carry here),
// and anything else for another flow's or an empty one.
func (w *Worker) retxCheck(tcp *[tcpMinSize]byte, plen int, pair uint64, slot uint32, port uint16) {
	flags := tcp[tcpFlagsOff]
	k := retxKey(pair, tcp)
	sw := w.sentWord(slot)
	mine := sw != nil && sw.watch != 0 && (sw.watch-k)>>32 <= 1 // the flow beside the tick
	if flags&tcpFlagRST != 0 {
		// The flow is over: its place beside the tick is free for the
		// context's next one.
		if mine {
			sw.watch = 0
		}
		return
	}
	doff := int(tcp[tcpDataOffOff]>>4) * 4
	n := plen - doff + int(flags&tcpFlagSYN>>1) + int(flags&tcpFlagFIN)
	if n <= 0 || doff < tcpMinSize || doff > plen {
		return
	}
	seq := binary.BigEndian.Uint32(tcp[tcpSeqOff:])
	end := seq + uint32(n)
	if mine {
		// The flow beside the tick, which has no gap.
		nxt := uint32(sw.watch - k)
		switch {
		case flags&tcpFlagSYN != 0 && end != nxt:
			sw.watch = k + uint64(end) // a new connection on the same ports
		case int32(end-nxt) > 0 && int32(seq-nxt) > 0:
			// A jump: the flow moves into the table, where its gap is
			// kept, and leaves its place to the context's next flow.
			w.sh.retxInsert(retxIndex(pair, tcp), k+uint64(end), retxGap{nxt, seq})
			sw.watch = 0
			return
		case int32(end-nxt) > 0:
			sw.watch = k + uint64(end)
		default:
			w.retransmitting(slot, port)
		}
		if flags&tcpFlagFIN != 0 {
			// The flow is ending: its place goes to the context's next
			// one (a retransmission of this FIN then starts the flow
			// anew in the table, and a second one is reported).
			sw.watch = 0
		}
		return
	}
	set := retxIndex(pair, tcp)
	s, gs := &w.sh.retx[set], &w.sh.retxGap[set]
	j := 0 // the flow's way, if any is
	for j < retxWays && (s[j] == 0 || (s[j]-k)>>32 > 1) {
		j++
	}
	if j == retxWays {
		// A flow new to the watch: beside the context's tick when that
		// place is free or holds a flow of the context the slot held
		// before, else in the table. (A flow of this context that ended
		// without a FIN or an RST through the box keeps the place.)
		if sw != nil && (sw.watch == 0 || sw.owner != uint32(pair)) && flags&tcpFlagFIN == 0 {
			sw.watch, sw.owner = k+uint64(end), uint32(pair)
			return
		}
		w.sh.retxInsert(set, k+uint64(end), retxGap{end, end})
		return
	}
	e, g := &s[j], &gs[j]
	nxt := uint32(*e - k)
	switch {
	case flags&tcpFlagSYN != 0 && end != nxt:
		// A new connection on the same ports (a SYN other than the last
		// one): start over.
		*e, *g = k+uint64(end), retxGap{end, end}
	case int32(end-nxt) > 0:
		// Beyond the highest: new data. A jump leaves a gap that later
		// segments may fill; a newer gap replaces an older one.
		if int32(seq-nxt) > 0 {
			*g = retxGap{nxt, seq}
		}
		*e = k + uint64(end)
	case g.lo != g.hi && int32(seq-g.lo) >= 0 && int32(end-g.hi) <= 0:
		// Inside the gap: a segment that arrives late, not again. What
		// it fills at either edge leaves the gap, so that it coming
		// again counts.
		if seq == g.lo {
			g.lo = end
		} else if end == g.hi {
			g.hi = seq
		}
	default:
		w.retransmitting(slot, port)
	}
}

// retxInsert puts a flow's entry e and gap g into the first way of set,
// moving the flows there one way on, the last one out (without a report:
// a collision costs a missed hint, never a false one).
func (s *shimState) retxInsert(set uint32, e uint64, g retxGap) {
	ways, gaps := &s.retx[set], &s.retxGap[set]
	for j := retxWays - 1; j > 0; j-- {
		ways[j], gaps[j] = ways[j-1], gaps[j-1]
	}
	ways[0], gaps[0] = e, g
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
