package dataplane

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"shim6d/dataplane/header"
	"shim6d/ports"
)

// ShimConfig connects a worker to the shim's shared state. A worker with a
// nil Contexts only forwards.
type ShimConfig struct {
	Contexts *ContextTable
	// Feedback is this worker's own REAP feedback (RFC 5534 §2.2): it
	// alone writes it, the control core reads it.
	Feedback *Feedback
	// Tick is the coarse clock the control core advances (see Feedback).
	Tick *atomic.Uint32
	// Events carries establish and unknown-tag events to the control core.
	Events *EventRing
	// MSSClamp, when non-zero, is the largest TCP MSS a SYN may announce
	// as it crosses: the uplink MTU less the IPv6, TCP and Shim6 headers,
	// so the peer's segments still fit once a context adds 8 bytes.
	MSSClamp uint16
	// EstablishAfter is the deferred-establishment threshold: a ULID pair
	// without a context that sends this many packets within
	// establishWindow ticks raises EventEstablish. 0 never does.
	EstablishAfter uint32
}

// Feedback is one worker's per-context "last sent" and "last received"
// ticks, indexed by context slot. The worker stores a tick only when it
// changes, so a busy context costs one load per packet and one store per
// tick; the control core compares the arrays with its timers (RFC 5534
// §2.2 Send and Keepalive timers).
type Feedback struct {
	Sent []SentWord
	Recv []atomic.Uint32
}

// SentWord is a context's "last sent" tick (Load, Store) and, in the same
// 16 bytes, the worker's retransmission watch entry for one TCP flow of
// the context (see advice.go), which only the worker touches. The fast
// path notes the tick for every outbound packet of a context, so the
// line is in the cache already when the watch reads its entry there:
// kept in a table of its own, the entry cost a line a segment of its
// own, and at a million contexts that line was most of the watch's cost.
// owner is the low half of the pair hash of the context whose flow the
// entry is, so that a slot the table gave to another context since is
// taken back by the new context's first flow.
type SentWord struct {
	tick  atomic.Uint32
	owner uint32
	watch uint64
}

// Load returns the tick.
func (s *SentWord) Load() uint32 { return s.tick.Load() }

// Store sets the tick.
func (s *SentWord) Store(tick uint32) { s.tick.Store(tick) }

// sentWordSize is SentWord's size, which prefetch steps Sent by.
const sentWordSize = unsafe.Sizeof(SentWord{})

// A SentWord is 16 bytes, a compile-time check: four to a line, so that
// none straddles two, and the tick and the entry always share one.
const (
	_ uintptr = sentWordSize - 16
	_ uintptr = 16 - sentWordSize
)

// NewFeedback sizes feedback arrays for a context table.
func NewFeedback(capacity int) *Feedback {
	f := &Feedback{Sent: make([]SentWord, capacity), Recv: make([]atomic.Uint32, capacity)}
	adviseHuge(unsafe.Pointer(&f.Sent[0]), uintptr(capacity)*sentWordSize)
	adviseHuge(unsafe.Pointer(&f.Recv[0]), uintptr(capacity)*4)
	return f
}

func note(a []atomic.Uint32, slot uint32, tick uint32) {
	if a[slot].Load() != tick {
		a[slot].Store(tick)
	}
}

func noteSent(a []SentWord, slot uint32, tick uint32) { noteSentWord(&a[slot], tick) }

func noteSentWord(s *SentWord, tick uint32) {
	if s.tick.Load() != tick {
		s.tick.Store(tick)
	}
}

// Feedback returns the worker's REAP feedback arrays (nil without a shim).
func (w *Worker) Feedback() *Feedback { return w.shim.Feedback }

// establishWindow is how many ticks a pair's packet count lives, and
// establishSlots the size of the per-worker count table: bounded memory,
// two candidate slots a pair, where a collision of three only restarts the
// oldest count.
const (
	establishWindow = 100
	establishSlots  = 4096
	tagLimitSlots   = 1024
	// tagEventsPerTick caps a worker's unknown-tag events a tick, whatever
	// the sources: the control core answers them with R1bis at 100 a
	// second by default (RFC 5533 §7.17 asks for a limit), so a flood
	// from random sources needs no more of them, and each event pushed
	// costs the worker and the core. Ten ticks a second make it 320/s.
	tagEventsPerTick = 32
)

type establishSlot struct {
	key   uint64
	count uint32
	tick  uint32
}

// shimState is a worker's private shim state.
type shimState struct {
	ctx Context
	// line is the fast paths' read of the packet's context.
	line      ctxLine
	tick      uint32
	establish [establishSlots]establishSlot
	// tagLimit remembers, per source hash, the tick of the last
	// unknown-tag event, so one source gets at most one event a tick.
	tagLimit [tagLimitSlots]struct{ key, tick uint32 }
	// tagEvents counts this tick's unknown-tag events (of tagEventsTick's).
	tagEvents, tagEventsTick uint32
	ev                       Event
	// active is false while the context table is empty (set per burst).
	active bool
	// advice is the retransmission watch's switch, taken from
	// Worker.advice once a round, and watch the same for the fast path:
	// header.ProtoTCP when on, -1 when off (setAdvice). retx and retxGap
	// are its flow table, retxSent its report limiter, the tick + 1 of a
	// limiter slot's last event (see advice.go). late marks the packets of
	// the burst whose watch fastOut left to retxLate, and lateSlot holds
	// their contexts' slots.
	advice   bool
	watch    int
	retx     retxTable
	retxGap  [retxSets][retxWays]retxGap
	retxSent [retxLimitSlots]uint32
	late     uint32
	lateSlot [ports.MaxBurst]uint32
	// keys, kinds, entries and sink belong to prefetch. A key is a
	// pair's hash or a payload packet's tag. An entry is the index entry
	// of a pair's that holds its fingerprint (or, when the cache line did
	// not tell, its first), or a tag's slot + 1 when the slot's tag check
	// matches; 0 names no record, and says the pair or tag has none.
	keys    [ports.MaxBurst]uint64
	kinds   [ports.MaxBurst]keyKind
	entries [ports.MaxBurst]uint64
	sink    uint64
	// hash is the pair hash prefetch computed for the packet being
	// classified, when hashed is true, so its lookup need not hash again.
	hash   uint64
	hashed bool
}

// keyKind says what prefetch keyed a packet's lookup by.
type keyKind uint8

const (
	keyNone keyKind = iota // not parsed: classify will drop it
	keyPair                // a ULID pair's hash
	keyTag                 // a receiver context tag's slot
)

// prefetch touches, for a whole burst, the context-table memory each
// packet's lookup will need, in two passes of independent loads (index
// entries, then records), so their cache misses overlap instead of stalling
// one packet at a time. The lookups that follow then hit the cache. Packets
// it cannot parse are left to classify, which counts them.
func (w *Worker) prefetch(pkts []ports.Packet, outbound bool) {
	t := w.shim.Contexts
	// At most MaxBurst, said so: no bounds checks on the per-packet arrays.
	pkts = pkts[:min(len(pkts), ports.MaxBurst)]
	// Pass 1: hash every packet's key (or take its tag's slot). No memory
	// but the packet headers, which the rx helper prefetched.
	for i := range pkts {
		w.sh.kinds[i] = keyNone
		h := headers(&pkts[i])
		if h == nil {
			continue
		}
		// The addresses are loaded in the cases that hash them: a
		// payload packet, or a control message, needs none.
		switch {
		case outbound:
			w.sh.keys[i], w.sh.kinds[i] = t.hashWords(h.srcDst()), keyPair
		case binary.LittleEndian.Uint32(h[frameEtherType:])&ipv6WordMask != ipv6Word ||
			fixedHeaders+int(binary.BigEndian.Uint16(h[framePayloadLength:])) != int(pkts[i].Len):
			// From the Internet, a frame no path will look a context up
			// for (not IPv6, or its length a lie): fetching memory for it
			// would let a flood of them cost a cache miss each.
		case h[frameNextHeader] == header.ProtoShim6:
			if pkts[i].Len < fixedHeaders+header.Shim6PayloadSize {
				continue
			}
			sh := binary.BigEndian.Uint64((*shimmedHeaders)(unsafe.Pointer(h))[fixedHeaders:])
			if sh&(0xff<<48|shim6PBit) != shim6PBit {
				continue // a control message (P = 0): no context to fetch
			}
			w.sh.keys[i], w.sh.kinds[i] = sh&tagMask, keyTag
		default:
			src0, src1, dst0, dst1 := h.srcDst()
			w.sh.keys[i], w.sh.kinds[i] = t.hashWords(dst0, dst1, src0, src1), keyPair
		}
	}
	// Pass 2: the index entries, in a loop of a few instructions a packet,
	// so the CPU keeps many of these independent misses in flight. A pair's
	// entry is kept as it is: the fast paths start their lookup from it.
	ix := t.index.Load()
	for i := range pkts {
		switch k := w.sh.keys[i]; w.sh.kinds[i] {
		case keyPair:
			w.sh.entries[i] = ix.e[k&ix.mask].Load()
		case keyTag:
			// The tag's check byte: a tag no context has ends here,
			// with no record, pair or feedback line fetched for it.
			w.sh.entries[i] = t.tagEntry(k)
		default:
			w.sh.entries[i] = 0
		}
	}
	// Pass 2b: where the first entry is another pair's, walk on along the
	// cache line pass 2 brought in, to the pair's own entry or the empty
	// one that says it has none. With the index at most half full, about
	// one pair in seven sits past its first entry (linear probing at a
	// quarter full, as the bench runs); without this pass its record was
	// the one line prefetch had not asked for, a full miss in the lookup.
	for i := range pkts {
		e, k := w.sh.entries[i], w.sh.keys[i]
		if w.sh.kinds[i] != keyPair || e == 0 || e != tombstone && e>>32 == k>>32 {
			continue
		}
		w.sh.entries[i] = ix.walkLine(k)
	}
	// Pass 3: the records and this worker's feedback words they name.
	// The direction's feedback tick is a word of Recv, or the head of a
	// SentWord: one loop takes either, by the element's size. (A multiply:
	// a shift by a variable count would hold CX, which the loop needs.)
	var sink uint64
	fb := w.shim.Feedback
	ticks, size, nfb := unsafe.Pointer(unsafe.SliceData(fb.Recv)), uintptr(4), len(fb.Recv)
	if outbound {
		ticks, size, nfb = unsafe.Pointer(unsafe.SliceData(fb.Sent)), sentWordSize, len(fb.Sent)
	}
	n := uint64(min(len(t.recs), nfb))
	for i := range pkts {
		if slot := uint64(uint32(w.sh.entries[i]) - 1); slot < n {
			// A record is one cache line, its ULID pair half of another.
			sink += t.recs[slot].w[lineSeq].Load() + t.pairs[slot].w[pairULIDL].Load()
			sink += uint64((*atomic.Uint32)(unsafe.Add(ticks, uintptr(slot)*size)).Load())
		}
	}
	w.sh.sink += sink
}

// firstProbe looks up packet i's pair, whose hash is k, starting from the
// index entry prefetch loaded for it: an empty entry settles it, a
// matching fingerprint usually does, and only a collision walks the probe
// sequence (findPair).
func (w *Worker) firstProbe(t *ContextTable, i int, k, l0, l1, p0, p1 uint64) bool {
	e := w.sh.entries[i]
	if e == 0 {
		return false
	}
	if slot := uint32(e) - 1; e != tombstone && e>>32 == k>>32 && int(slot) < len(t.recs) {
		t.readLine(slot, &w.sh.line)
		if w.sh.line.holds(l0, l1, p0, p1) {
			return true
		}
	}
	return t.findPair(k, l0, l1, p0, p1, &w.sh.line)
}

// pairHash returns the table's hash of the pair (local, peer) of the
// packet being classified: prefetch's if it made one, which is of this
// very pair (outbound and inbound both look their packet's pair up in the
// order prefetch hashed it).
func (w *Worker) pairHash(t *ContextTable, local, peer *[16]byte) uint64 {
	if w.sh.hashed {
		return w.sh.hash
	}
	return t.pairHash(local, peer)
}

// outbound routes a packet from inside: its context decides whether it
// leaves as it is or with locators and a payload header.
func (w *Worker) outbound(p *ports.Packet, h *fixed, f *Forwarding) (uint16, DropReason) {
	src, dst := h.ip().Src(), h.ip().Dst()
	if f.InSite(dst) {
		return outDrop, DropHairpin
	}
	if t := w.shim.Contexts; w.sh.active && t.lookupPair(w.pairHash(t, src, dst), src, dst, &w.sh.ctx) {
		noteSent(w.shim.Feedback.Sent, w.sh.ctx.Slot, w.sh.tick)
		if w.sh.advice && h.ip().NextHeader() == header.ProtoTCP && p.Len >= fixedHeaders+tcpMinSize {
			w.watchTCP((*[tcpMinSize]byte)(p.Frame()[fixedHeaders:]), int(h.ip().PayloadLength()),
				w.pairHash(t, src, dst), w.sh.ctx.Slot, p.Port)
		}
		if w.sh.ctx.Flags&CtxRewrite != 0 {
			return w.rewriteOut(p, h, f)
		}
	} else if w.shim.EstablishAfter > 0 && t != nil {
		w.countForEstablish(p.Port, src, dst)
	}
	up := f.UplinkFor(src)
	if up == nil {
		return outDrop, DropSourceNotInSite
	}
	if !up.Resolved {
		// The control core forwards it once ND has resolved the next
		// hop, and has no clamp of its own.
		w.clampMSS(packetIP(p))
		return outControl, DropNone
	}
	return w.forward(p, h, f, up.Port, &up.NextHopMAC)
}

// rewriteOut gives an outbound packet its context's locators and the
// payload extension header with the peer's tag (RFC 5533 §4.6), and sends
// it by the uplink that owns the local locator.
func (w *Worker) rewriteOut(p *ports.Packet, h *fixed, f *Forwarding) (uint16, DropReason) {
	ctx := &w.sh.ctx
	up := f.UplinkOnPort(ctx.EgressPort)
	ip := h.ip()
	if up == nil || !up.Resolved || ip.HopLimit() <= 1 ||
		header.IPv6MinimumSize+int(ip.PayloadLength())+header.Shim6PayloadSize > f.Ports[up.Port].MTU {
		// Resolution, Time Exceeded, or Packet Too Big with MTU-8: the
		// control core looks the context up again and knows which.
		return outControl, DropNone
	}
	if w.shim.MSSClamp != 0 {
		w.clampMSS(packetIP(p))
	}
	if nh := ip.NextHeader(); header.EndsFixedHeader(nh) && p.Off >= header.Shim6PayloadSize &&
		ip.PayloadLength() <= 0xffff-header.Shim6PayloadSize {
		w.pushShim6(p, h, nh, up, f)
	} else {
		off, n, r := header.InsertShim6Payload(p.Buffer(), int(p.Off), int(p.Len), header.EthernetMinimumSize, ctx.PeerTag)
		if r != header.ShimOK {
			return outDrop, shimDrop(r)
		}
		p.Off, p.Len = uint16(off), uint16(n)
		h = (*fixed)(p.Frame())
		ip = h.ip()
		ip.SetSrc(&ctx.LocLocal)
		ip.SetDst(&ctx.LocPeer)
		ip.SetHopLimit(ip.HopLimit() - 1)
		src := f.Ports[up.Port].SourceMAC()
		h.eth().SetAddresses(&up.NextHopMAC, &src)
	}
	w.Counters.local[CounterRewritten]++
	return up.Port, DropNone
}

// shimmedHeaders is a rewritten frame's start: the fixed headers and the
// payload extension header.
type shimmedHeaders [fixedHeaders + header.Shim6PayloadSize]byte

// pushShim6 is rewriteOut's common case, a packet with no extension
// header (nh, from its fixed header h, is the transport): the payload
// header goes right after the fixed header, so the headers start 8 bytes
// earlier (the caller checked the headroom). Of the old 54 bytes only the
// EtherType and IPv6's first word survive a rewrite, so rather than moving
// the headers and then rewriting them (InsertShim6Payload's general way),
// it reads those 6 bytes and the fields it updates, and writes the new
// headers in place, where the old ones were.
func (w *Worker) pushShim6(p *ports.Packet, h *fixed, nh uint8, up *Uplink, f *Forwarding) {
	ctx := &w.sh.ctx
	ip := h.ip()
	// The old headers, read before the new ones overwrite them.
	kept := *(*[keptSize]byte)(h[frameEtherType:])
	plen, hop := ip.PayloadLength(), ip.HopLimit()

	p.Off -= header.Shim6PayloadSize
	p.Len += header.Shim6PayloadSize
	n := (*shimmedHeaders)(p.Frame())
	nf := (*fixed)(n[:fixedHeaders])
	src := f.Ports[up.Port].SourceMAC()
	nf.eth().SetAddresses(&up.NextHopMAC, &src)
	*(*[keptSize]byte)(n[frameEtherType:]) = kept
	nip := nf.ip()
	nip.SetPayloadLength(plen + header.Shim6PayloadSize)
	nip.SetNextHeader(header.ProtoShim6)
	nip.SetHopLimit(hop - 1)
	nip.SetSrc(&ctx.LocLocal)
	nip.SetDst(&ctx.LocPeer)
	header.Shim6Payload(n[fixedHeaders:]).Encode(nh, ctx.PeerTag)
}

// inbound routes a packet from an uplink: payload packets are restored to
// their ULIDs, control messages and ICMPv6 errors go to the control core.
func (w *Worker) inbound(p *ports.Packet, h *fixed, f *Forwarding) (uint16, DropReason) {
	ip := packetIP(p)
	src, dst := ip.Src(), ip.Dst()
	if !f.InSite(dst) {
		return outDrop, DropNotForSite
	}
	nh := ip.NextHeader()
	switch {
	case nh == header.ProtoShim6 && len(ip) >= header.IPv6MinimumSize+header.Shim6PayloadSize &&
		header.Shim6(ip[header.IPv6MinimumSize:]).HdrExtLen() == 0:
		// The common case, a payload header (or an 8-byte control
		// message) right after the fixed header: nothing to walk.
		return w.restoreIn(p, ip, f, nil, header.IPv6MinimumSize)
	case nh == header.ProtoShim6 || isExtension(nh):
		chain, cerr := header.WalkExtensions(ip)
		if cerr != header.ChainOK {
			return outDrop, DropBadExtensions
		}
		if off, ok := chain.Shim6(); ok {
			return w.restoreIn(p, ip, f, &chain, off)
		}
		if chain.NextHeader == header.ProtoICMPv6 && isICMPv6Error(ip, chain.Offset) {
			return outControl, DropNone
		}
	case nh == header.ProtoICMPv6 && isICMPv6Error(ip, header.IPv6MinimumSize):
		// It may quote a packet we rewrote: the control core translates
		// the quote back to ULIDs before the host sees it.
		return outControl, DropNone
	}
	if t := w.shim.Contexts; w.sh.active && t.lookupPair(w.pairHash(t, dst, src), dst, src, &w.sh.ctx) {
		note(w.shim.Feedback.Recv, w.sh.ctx.Slot, w.sh.tick)
	}
	return w.deliver(p, h, f)
}

// restoreIn handles a packet with a Shim6 header at off, found by walking
// chain, or right after the fixed header (off IPv6MinimumSize, 8 bytes
// long) when chain is nil.
func (w *Worker) restoreIn(p *ports.Packet, ip header.IPv6, f *Forwarding, chain *header.Chain, off int) (uint16, DropReason) {
	if len(ip) < off+header.Shim6PayloadSize || !header.Shim6(ip[off:]).IsPayload() {
		return outControl, DropNone // a control message (P = 0)
	}
	tag := header.Shim6Payload(ip[off:]).ContextTag()
	t := w.shim.Contexts
	if !w.sh.active || !t.LookupTag(tag, &w.sh.ctx) {
		w.unknownTag(p.Port, ip.Src(), ip.Dst(), tag)
		return outDrop, DropUnknownTag
	}
	if chain == nil {
		// What StripShim6PayloadWithChain does, without its checks of a
		// chain: the next header moves back into the fixed header, and
		// the fixed headers move 8 bytes up over the payload header.
		ip.SetNextHeader(header.Shim6Payload(ip[off:]).NextHeader())
		ip.SetPayloadLength(ip.PayloadLength() - header.Shim6PayloadSize)
		buf, o := p.Buffer(), int(p.Off)
		copy(buf[o+header.Shim6PayloadSize:o+header.Shim6PayloadSize+fixedHeaders], buf[o:o+fixedHeaders])
		p.Off += header.Shim6PayloadSize
		p.Len -= header.Shim6PayloadSize
	} else {
		o, n, r := header.StripShim6PayloadWithChain(p.Buffer(), int(p.Off), int(p.Len), header.EthernetMinimumSize, chain)
		if r != header.ShimOK {
			return outDrop, shimDrop(r)
		}
		p.Off, p.Len = uint16(o), uint16(n)
	}
	// The frame lost 8 bytes but still holds the fixed headers in full.
	h := (*fixed)(p.Frame())
	h.ip().SetSrc(&w.sh.ctx.ULIDPeer)
	h.ip().SetDst(&w.sh.ctx.ULIDLocal)
	note(w.shim.Feedback.Recv, w.sh.ctx.Slot, w.sh.tick)
	w.Counters.local[CounterStripped]++
	return w.deliver(p, h, f)
}

// deliver sends a packet to its inside destination.
func (w *Worker) deliver(p *ports.Packet, h *fixed, f *Forwarding) (uint16, DropReason) {
	mac, ok := w.nb.lookup(h.ip().Dst())
	if !ok {
		// Waits in the control core for ND: clamped now, as forward
		// would have (the first SYN to a host is the usual case).
		w.clampMSS(packetIP(p))
		return outControl, DropNone
	}
	return w.forward(p, h, f, f.Inside, &mac)
}

// forward finishes an ordinary hop: hop limit, MTU, MSS clamp, MACs.
func (w *Worker) forward(p *ports.Packet, h *fixed, f *Forwarding, out uint16, dmac *[6]byte) (uint16, DropReason) {
	port := &f.Ports[out]
	ip := h.ip()
	// Hop limit expiry and packets too big for the egress link become
	// ICMPv6 errors, which the control core builds and rate-limits.
	if ip.HopLimit() <= 1 || header.IPv6MinimumSize+int(ip.PayloadLength()) > port.MTU {
		return outControl, DropNone
	}
	if w.shim.MSSClamp != 0 {
		w.clampMSS(packetIP(p))
	}
	ip.SetHopLimit(ip.HopLimit() - 1)
	src := port.SourceMAC()
	h.eth().SetAddresses(dmac, &src)
	return out, DropNone
}

// TCP layout for MSS clamping (RFC 9293 §3.1, §3.2).
const (
	tcpDataOffOff = 12 // data offset, in the upper 4 bits
	tcpFlagsOff   = 13
	tcpFlagSYN    = 0x02
	tcpCheckOff   = 16
	tcpMinSize    = 20
	tcpOptMSS     = 2
	tcpOptMSSLen  = 4
	tcpOptEnd     = 0
	tcpOptNOP     = 1
)

// clampMSS lowers the MSS option of a TCP SYN to w.shim.MSSClamp and fixes
// the checksum incrementally (RFC 1624); callers skip the call when
// MSSClamp is 0, as on the fast path it mostly is. Packet Too Big is often filtered,
// and without the clamp the 8 bytes a context adds break full-sized
// segments for good. Only TCP right after the fixed header is looked at:
// SYNs with extension headers are rare enough to leave to PMTUD.
func (w *Worker) clampMSS(ip header.IPv6) {
	if w.shim.MSSClamp == 0 || ip.NextHeader() != header.ProtoTCP {
		return
	}
	tcp := ip[header.IPv6MinimumSize:]
	if len(tcp) < tcpMinSize || tcp[tcpFlagsOff]&tcpFlagSYN == 0 {
		return
	}
	hlen := int(tcp[tcpDataOffOff]>>4) * 4
	if hlen < tcpMinSize || hlen > len(tcp) {
		return
	}
	opts := tcp[tcpMinSize:hlen]
	for i := 0; i < len(opts); {
		switch opts[i] {
		case tcpOptEnd:
			return
		case tcpOptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return
		}
		if opts[i] == tcpOptMSS && opts[i+1] == tcpOptMSSLen {
			mss := binary.BigEndian.Uint16(opts[i+2:])
			if mss > w.shim.MSSClamp {
				binary.BigEndian.PutUint16(opts[i+2:], w.shim.MSSClamp)
				// The checksum sums aligned 16-bit words (the options
				// start at an even offset): at an odd one the value
				// counts with its bytes swapped.
				was, now := mss, w.shim.MSSClamp
				if i%2 == 1 {
					was, now = bits.ReverseBytes16(was), bits.ReverseBytes16(now)
				}
				check := binary.BigEndian.Uint16(tcp[tcpCheckOff:])
				binary.BigEndian.PutUint16(tcp[tcpCheckOff:], header.ChecksumUpdate16(check, was, now))
				w.Counters.local[CounterMSSClamped]++
			}
			return
		}
		i += int(opts[i+1])
	}
}

// countForEstablish counts packets of a pair without a context and raises
// EventEstablish once, when the count reaches the threshold.
func (w *Worker) countForEstablish(port uint16, src, dst *[16]byte) {
	h := w.shim.Contexts.PairHash(src, dst)
	// Two candidate slots a pair, from different bits of its hash: with
	// one, two pairs sharing it and sending in turns would reset each
	// other's count for ever, and neither would get a context.
	tick := w.sh.tick
	a := &w.sh.establish[h&(establishSlots-1)]
	b := &w.sh.establish[(h>>32)&(establishSlots-1)]
	var e *establishSlot
	switch {
	case a.key == h && tick-a.tick <= establishWindow:
		e = a
	case b.key == h && tick-b.tick <= establishWindow:
		e = b
	default:
		// A new count, over the older of the two (a stale one is oldest).
		e = a
		if tick-b.tick > tick-a.tick {
			e = b
		}
		*e = establishSlot{key: h, tick: tick}
	}
	e.count++
	if e.count == w.shim.EstablishAfter && w.shim.Events != nil {
		w.sh.ev = Event{Kind: EventEstablish, Port: port, Src: *src, Dst: *dst}
		if w.shim.Events.Push(&w.sh.ev) {
			w.Counters.local[CounterEvents]++
		}
	}
}

// unknownTag raises EventUnknownTag for a payload packet from src to dst,
// at most once a tick per source and tagEventsPerTick times a tick in all.
func (w *Worker) unknownTag(port uint16, src, dst *[16]byte, tag uint64) {
	if w.shim.Events == nil {
		return
	}
	if w.sh.tagEventsTick != w.sh.tick {
		w.sh.tagEvents, w.sh.tagEventsTick = 0, w.sh.tick
	}
	if w.sh.tagEvents == tagEventsPerTick {
		return
	}
	k := uint32(mix(binary.LittleEndian.Uint64(src[:8]) ^ binary.LittleEndian.Uint64(src[8:])))
	l := &w.sh.tagLimit[k&(tagLimitSlots-1)]
	if l.key == k && l.tick == w.sh.tick {
		return
	}
	l.key, l.tick = k, w.sh.tick
	w.sh.tagEvents++
	w.sh.ev = Event{Kind: EventUnknownTag, Port: port, Tag: tag, Src: *src, Dst: *dst}
	if w.shim.Events.Push(&w.sh.ev) {
		w.Counters.local[CounterEvents]++
	}
}

func shimDrop(r header.ShimResult) DropReason {
	switch r {
	case header.ShimNoHeadroom:
		return DropNoHeadroom
	case header.ShimChainTruncated, header.ShimChainTooLong, header.ShimHopByHopNotFirst:
		return DropBadExtensions
	}
	return DropShimRewrite
}

// isExtension reports whether nh names an IPv6 extension header that
// WalkExtensions steps over.
func isExtension(nh uint8) bool {
	switch nh {
	case header.ProtoHopByHop, header.ProtoRouting, header.ProtoFragment, header.ProtoDestOpts, header.ProtoAH:
		return true
	}
	return false
}

// isICMPv6Error reports whether the ICMPv6 message at off is an error
// (types 0–127, RFC 4443 §2.1).
func isICMPv6Error(ip header.IPv6, off int) bool {
	return off < len(ip) && ip[off] < 128
}

// MSSClampFor is the ShimConfig.MSSClamp that keeps full-sized TCP segments
// within an uplink MTU of mtu once a context adds its payload header: mtu
// less the IPv6 and TCP fixed headers and the 8 shim bytes (RFC 5533
// §5.1). Give it the smallest uplink MTU.
func MSSClampFor(mtu int) uint16 {
	return uint16(mtu - header.IPv6MinimumSize - tcpMinSize - header.Shim6PayloadSize)
}
