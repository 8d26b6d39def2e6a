package dataplane

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
)

// tcpSeg is a TCP segment from port sport to dport with sequence number
// seq, the flags given (ACK always) and n bytes of data, checksummed over
// src and dst.
func tcpSeg(src, dst netip.Addr, sport, dport uint16, seq uint32, flags byte, n int) []byte {
	seg := make([]byte, tcpMinSize+n)
	binary.BigEndian.PutUint16(seg[0:], sport)
	binary.BigEndian.PutUint16(seg[2:], dport)
	binary.BigEndian.PutUint32(seg[tcpSeqOff:], seq)
	binary.BigEndian.PutUint32(seg[8:], 1) // ACK number
	seg[tcpDataOffOff] = tcpMinSize / 4 << 4
	seg[tcpFlagsOff] = flags | 0x10
	binary.BigEndian.PutUint16(seg[14:], 0xffff)
	for i := range n {
		seg[tcpMinSize+i] = byte(i)
	}
	binary.BigEndian.PutUint16(seg[tcpCheckOff:], pkttest.ULPChecksum(src, dst, header.ProtoTCP, seg))
	return seg
}

// outTCP is a frame from the host to the peer (a context that rewrites on
// the shimbed) carrying a segment of the flow from port 40000 to 443.
func outTCP(seq uint32, flags byte, n int) []byte {
	return pkttest.Frame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoTCP,
		tcpSeg(hostAddr, peerULID, 40000, 443, seq, flags, n))
}

// retxEvents pops every event of the shimbed and counts the
// EventRetransmit ones, checking that each names the context.
func (b *shimbed) retxEvents(t *testing.T) int {
	t.Helper()
	n := 0
	var e Event
	for b.events.Pop(&e) {
		if e.Kind != EventRetransmit {
			continue
		}
		if e.Slot != b.slot || e.Port != 0 {
			t.Fatalf("retransmit event for slot %d from port %d, want slot %d from 0", e.Slot, e.Port, b.slot)
		}
		n++
	}
	return n
}

// adviceBed is a shimbed with the retransmission watch on and room for
// the events of a long test.
func adviceBed(t *testing.T) *shimbed {
	b := newShimbed(t, true)
	b.events = NewEventRing(1024)
	b.w.shim.Events = b.events
	b.w.SetULPAdvice(true)
	return b
}

// TestAdviceRetransmissionStream: a flow's segments go out once each,
// then TCP retransmits the oldest unacknowledged one again and again, as
// it does on a retransmission timeout. Fresh segments raise nothing; each
// retransmission in a new tick raises one event for the context, on the
// fast path and on route (which takes SYNs while the MSS clamp is on).
func TestAdviceRetransmissionStream(t *testing.T) {
	b := adviceBed(t)
	const mss = 1000
	for i := range 20 {
		outs, _ := b.run(t, 0, outTCP(1000+uint32(i)*mss, 0, mss))
		if len(outs[2]) != 1 {
			t.Fatalf("segment %d not rewritten out by isp2", i)
		}
	}
	if n := b.retxEvents(t); n != 0 {
		t.Fatalf("%d retransmit events for new data", n)
	}
	for k := range 4 {
		b.tick.Add(1)
		b.run(t, 0, outTCP(1000+10*mss, 0, mss))
		if n := b.retxEvents(t); n != 1 {
			t.Fatalf("retransmission %d: %d events, want 1", k, n)
		}
	}
	if b.w.Counters.local[CounterSlowPath] != 0 {
		t.Fatal("the data segments left the fast path: the test covers route only")
	}
	// A SYN again, as a connect() that got no answer: route's watch.
	b.run(t, 0, outTCP(5000, tcpFlagSYN, 0))
	b.tick.Add(1)
	b.run(t, 0, outTCP(5000, tcpFlagSYN, 0))
	if n := b.retxEvents(t); n != 1 || b.w.Counters.local[CounterSlowPath] != 2 {
		t.Fatalf("SYN retransmitted: %d events (want 1), %d by route (want 2)", n, b.w.Counters.local[CounterSlowPath])
	}
}

// TestAdviceReorderingIsNot: a later segment that reaches the proxy before
// an earlier new one (reordered on the host's link, or lost there and
// sent again before the proxy saw the first copy) fills a gap, and is not
// a retransmission; the same segment a second time is.
func TestAdviceReorderingIsNot(t *testing.T) {
	b := adviceBed(t)
	b.run(t, 0, outTCP(1000, 0, 100))
	b.run(t, 0, outTCP(1300, 0, 100)) // jumps over [1100, 1300)
	b.run(t, 0, outTCP(1100, 0, 100))
	b.run(t, 0, outTCP(1200, 0, 100))
	b.run(t, 0, outTCP(1400, 0, 100))
	if n := b.retxEvents(t); n != 0 {
		t.Fatalf("reordering raised %d events", n)
	}
	b.run(t, 0, outTCP(1200, 0, 100))
	if n := b.retxEvents(t); n != 1 {
		t.Fatalf("a filled gap's segment again raised %d events, want 1", n)
	}
}

// TestAdvicePureACKsAreNot: a flow that only acknowledges (the receiving
// end of a transfer, duplicate ACKs included) and RSTs raise nothing.
func TestAdvicePureACKsAreNot(t *testing.T) {
	b := adviceBed(t)
	for i := range 50 {
		b.tick.Add(1)
		b.run(t, 0, outTCP(7000, 0, 0))
		if i%10 == 0 {
			b.run(t, 0, outTCP(7000, tcpFlagRST, 0))
		}
	}
	if n := b.retxEvents(t); n != 0 {
		t.Fatalf("pure ACKs raised %d events", n)
	}
}

// TestAdviceSequenceWraps: serial-number arithmetic across 2^32.
func TestAdviceSequenceWraps(t *testing.T) {
	b := adviceBed(t)
	seq := uint32(1<<32 - 1500)
	for range 4 {
		b.run(t, 0, outTCP(seq, 0, 1000))
		seq += 1000
	}
	if n := b.retxEvents(t); n != 0 {
		t.Fatalf("new data across the wrap raised %d events", n)
	}
	b.run(t, 0, outTCP(seq-2000, 0, 1000))
	if n := b.retxEvents(t); n != 1 {
		t.Fatalf("a retransmission across the wrap raised %d events, want 1", n)
	}
}

// TestAdviceFloodIsLimited: an inside host that sends the same segment
// over and over, from many ports, raises at most one event a tick for
// its context, whatever it sends.
func TestAdviceFloodIsLimited(t *testing.T) {
	b := adviceBed(t)
	const ticks = 5
	for range ticks {
		b.tick.Add(1)
		for port := range 50 {
			f := pkttest.Frame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoTCP,
				tcpSeg(hostAddr, peerULID, 30000+uint16(port), 443, 1, 0, 10))
			for range 20 {
				b.run(t, 0, f)
			}
		}
	}
	if n := b.retxEvents(t); n < 1 || n > ticks {
		t.Fatalf("a flood over %d ticks raised %d events, want 1 to %d", ticks, n, ticks)
	}
}

// TestAdviceOff: with the switch off nothing is watched.
func TestAdviceOff(t *testing.T) {
	b := adviceBed(t)
	b.w.SetULPAdvice(false)
	for range 10 {
		b.tick.Add(1)
		b.run(t, 0, outTCP(1000, 0, 100))
	}
	if n := b.retxEvents(t); n != 0 {
		t.Fatalf("advice off raised %d events", n)
	}
}

// TestAdviceAllocatesNothing: the watch, its reports and the event ring
// full cost no allocation.
func TestAdviceAllocatesNothing(t *testing.T) {
	b := newShimbed(t, true) // an event ring of 16: it fills
	b.w.SetULPAdvice(true)
	var frames [][]byte
	for i := range 8 {
		frames = append(frames, outTCP(1000+uint32(i%4)*100, 0, 100))
	}
	b.ports[0].SetSource(0, frames)
	for _, p := range b.ports {
		p.SetSink(0, true)
	}
	if a := testing.AllocsPerRun(200, func() { b.tick.Add(1); b.w.Poll() }); a != 0 {
		t.Fatalf("the watch allocates %v per round", a)
	}
	if b.w.Counters.local[CounterEvents] == 0 || b.events.Dropped.Load() == 0 {
		t.Fatalf("the rounds raised %d events, %d refused: the report path was not run", b.w.Counters.local[CounterEvents], b.events.Dropped.Load())
	}
}

// TestAdviceContextOnItsULIDs: a context still on its ULID pair (not
// rewritten, forwarded as it is) is watched too: that is where a
// context's first path fails.
func TestAdviceContextOnItsULIDs(t *testing.T) {
	b := newShimbed(t, false)
	b.events = NewEventRing(64)
	b.w.shim.Events = b.events
	b.w.SetULPAdvice(true)
	b.run(t, 0, outTCP(1000, 0, 100))
	b.tick.Add(1)
	outs, _ := b.run(t, 0, outTCP(1000, 0, 100))
	if len(outs[1]) != 1 {
		t.Fatal("the segment did not leave by isp1 unchanged")
	}
	if n := b.retxEvents(t); n != 1 {
		t.Fatalf("a retransmission on a context on its ULIDs raised %d events, want 1", n)
	}
}

// TestAdviceCollidingFlows: two flows of a context whose keys meet in one
// set of the flow table each keep an entry, sent interleaved with the
// context's flow beside its tick: each one's retransmission is still seen
// as one.
func TestAdviceCollidingFlows(t *testing.T) {
	b := adviceBed(t)
	l, p := hostAddr.As16(), peerULID.As16()
	pair := b.tbl.pairHash(&l, &p)
	set := func(sport uint16) uint32 {
		return retxIndex(pair, (*[tcpMinSize]byte)(tcpSeg(hostAddr, peerULID, sport, 443, 0, 0, 0)))
	}
	// The context's first flow is kept beside its feedback tick, not in
	// the table: two more flows meet in a set.
	sports := []uint16{39999, 40000}
	for s := uint16(40001); len(sports) < 3 && s != 0; s++ {
		if set(s) == set(sports[1]) {
			sports = append(sports, s)
		}
	}
	if len(sports) < 3 {
		t.Fatal("no two source ports whose flows meet in a set")
	}
	seg := func(sport uint16, seq uint32) []byte {
		return pkttest.Frame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoTCP,
			tcpSeg(hostAddr, peerULID, sport, 443, seq, 0, 100))
	}
	for i := range 10 {
		for _, s := range sports {
			b.run(t, 0, seg(s, 1000+uint32(i)*100))
		}
	}
	if n := b.retxEvents(t); n != 0 {
		t.Fatalf("new data of two flows in one set raised %d events", n)
	}
	for _, s := range sports {
		b.tick.Add(1)
		b.run(t, 0, seg(s, 1500))
		if n := b.retxEvents(t); n != 1 {
			t.Fatalf("flow from port %d retransmitting, its set shared: %d events, want 1", s, n)
		}
	}
}

// TestAdviceInOneBurst: a flow's segments in one burst are checked in
// their order, whichever of them fastOut's loop leaves to retxLate: new
// data, a jump and the gap filled raise nothing, and a retransmission in
// the same burst one event.
func TestAdviceInOneBurst(t *testing.T) {
	for _, retx := range []bool{false, true} {
		b := adviceBed(t)
		for _, seq := range []uint32{1000, 1100, 1300, 1200, 1400} {
			if err := b.ports[0].Inject(0, outTCP(seq, 0, 100)); err != nil {
				t.Fatal(err)
			}
		}
		if retx {
			if err := b.ports[0].Inject(0, outTCP(1100, 0, 100)); err != nil {
				t.Fatal(err)
			}
		}
		b.w.Poll()
		if got := len(b.ports[2].SentAll()); got != 5+map[bool]int{false: 0, true: 1}[retx] {
			t.Fatalf("%d segments rewritten out by isp2", got)
		}
		want := map[bool]int{false: 0, true: 1}[retx]
		if n := b.retxEvents(t); n != want {
			t.Fatalf("one burst, retransmission %v: %d events, want %d", retx, n, want)
		}
	}
}

// TestAdviceFlowBesideTick: a context's first TCP flow is kept beside its
// "last sent" tick (SentWord), not in the table; its other flows go to
// the table; a jump moves the flow into the table with its gap, and an
// RST or a FIN frees the place for the context's next flow. Each flow's
// retransmissions are seen wherever it is kept, on the fast path and on
// route's (SYN, FIN, RST).
func TestAdviceFlowBesideTick(t *testing.T) {
	b := adviceBed(t)
	l, p := hostAddr.As16(), peerULID.As16()
	pair := b.tbl.pairHash(&l, &p)
	seg := func(sport uint16, seq uint32, flags byte, n int) []byte {
		return pkttest.Frame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoTCP,
			tcpSeg(hostAddr, peerULID, sport, 443, seq, flags, n))
	}
	key := func(sport uint16) uint64 {
		return retxKey(pair, (*[tcpMinSize]byte)(tcpSeg(hostAddr, peerULID, sport, 443, 0, 0, 0)))
	}
	beside := func() uint64 { return b.w.shim.Feedback.Sent[b.slot].watch }
	inTable := func(sport uint16) bool {
		k := key(sport)
		for _, e := range b.w.sh.retx[retxIndex(pair, (*[tcpMinSize]byte)(tcpSeg(hostAddr, peerULID, sport, 443, 0, 0, 0)))] {
			if e != 0 && (e-k)>>32 <= 1 {
				return true
			}
		}
		return false
	}
	retx := func(what string, frame []byte, want int) {
		t.Helper()
		b.tick.Add(1)
		b.run(t, 0, frame)
		if n := b.retxEvents(t); n != want {
			t.Fatalf("%s: %d events, want %d", what, n, want)
		}
	}

	// A: the first flow, beside the tick.
	for i := range 5 {
		b.run(t, 0, seg(1000, 100+uint32(i)*100, 0, 100))
	}
	if beside() != key(1000)+600 || inTable(1000) {
		t.Fatalf("flow A: beside the tick %#x (want %#x), in the table %v", beside(), key(1000)+600, inTable(1000))
	}
	// B: the context's second flow, in the table.
	for i := range 3 {
		b.run(t, 0, seg(2000, 5000+uint32(i)*100, 0, 100))
	}
	if !inTable(2000) || beside() != key(1000)+600 {
		t.Fatal("flow B did not go to the table, or took A's place")
	}
	if b.w.Counters.local[CounterSlowPath] != 0 {
		t.Fatal("data segments left the fast path")
	}
	retx("A again", seg(1000, 400, 0, 100), 1)
	retx("B again", seg(2000, 5100, 0, 100), 1)
	// A jumps: it moves to the table with its gap, and its place is free.
	b.run(t, 0, seg(1000, 900, 0, 100))
	if beside() != 0 || !inTable(1000) {
		t.Fatalf("after A's jump: beside the tick %#x, A in the table %v", beside(), inTable(1000))
	}
	retx("A's gap filled late", seg(1000, 600, 0, 100), 0)
	retx("A's gap segment again", seg(1000, 600, 0, 100), 1)
	// C, new, takes the free place; its RST frees it (route's path).
	b.run(t, 0, seg(3000, 100, 0, 100))
	if beside() != key(3000)+200 {
		t.Fatalf("flow C not beside the tick: %#x", beside())
	}
	retx("C again", seg(3000, 100, 0, 100), 1)
	b.run(t, 0, seg(3000, 200, tcpFlagRST, 0))
	if beside() != 0 {
		t.Fatal("C's RST left it beside the tick")
	}
	// D takes it, from its SYN; its FIN frees it; the FIN again is seen
	// the second time (the first starts the flow anew in the table).
	b.run(t, 0, seg(4000, 7000, tcpFlagSYN, 0))
	b.run(t, 0, seg(4000, 7001, 0, 100))
	if beside() != key(4000)+7101 {
		t.Fatalf("flow D not beside the tick: %#x", beside())
	}
	retx("D's FIN", seg(4000, 7101, tcpFlagFIN, 0), 0)
	if beside() != 0 {
		t.Fatal("D's FIN left it beside the tick")
	}
	retx("D's FIN again", seg(4000, 7101, tcpFlagFIN, 0), 0)
	retx("D's FIN a third time", seg(4000, 7101, tcpFlagFIN, 0), 1)
	// A flow of this context that never ended through the box keeps its
	// place: the context's next flow goes to the table, watched there.
	b.run(t, 0, seg(5000, 100, 0, 100))
	b.run(t, 0, seg(6000, 100, 0, 100))
	b.run(t, 0, seg(6000, 200, 0, 100))
	if beside() != key(5000)+200 || !inTable(6000) {
		t.Fatalf("flows E and F: beside the tick %#x (want E's), F in the table %v", beside(), inTable(6000))
	}
	retx("F again", seg(6000, 100, 0, 100), 1)
	// A flow of the context the slot held before (it was deleted, its
	// slot given to this one) gives its place to this context's next
	// flow.
	sw := &b.w.shim.Feedback.Sent[b.slot]
	sw.watch, sw.owner = 0x0123456789abcdef, uint32(pair)+1
	b.run(t, 0, seg(7000, 100, 0, 100))
	b.run(t, 0, seg(7000, 200, 0, 100))
	if beside() != key(7000)+300 || inTable(7000) || sw.owner != uint32(pair) {
		t.Fatalf("flow G after another context's flow: beside the tick %#x (want %#x), owner %#x", beside(), key(7000)+300, sw.owner)
	}
	retx("G again", seg(7000, 100, 0, 100), 1)
}
