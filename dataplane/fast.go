package dataplane

import (
	"encoding/binary"
	"unsafe"

	"shim6d/dataplane/header"
	"shim6d/ports"
)

// The fast paths. route handles every packet correctly but pays for its
// generality: a chain of calls (route, outbound, forward, lookup), a
// Context decoded into 16-byte arrays, prefix and uplink scans through the
// snapshot, about 220 instructions a forwarded packet (callgrind). The
// traffic that matters at line rate is narrower: unicast, not for us, no
// extension headers, hop limit above 1, fitting its egress. fastOut and
// fastIn recognise it with a few word loads and compares, against
// constants a worker derives once per snapshot (fastFwd), and move it in
// one loop over the burst. Anything they do not recognise, or that needs an
// ICMPv6 error, a drop, the control core, an MSS clamp or an extension
// header walk, falls back to route untouched: the fast paths never change
// a packet they then hand back. TestFastPathsMatchRoute holds them to
// route's verdicts and bytes.

// fastResult says how a fast path ended.
type fastResult uint8

const (
	fastSlow     fastResult = iota // not handled: route decides
	fastForward                    // forwarded unchanged but for hop limit and MACs
	fastRewrote                    // outbound, with locators and payload header
	fastStripped                   // inbound, payload header stripped, ULIDs restored
	fastDropped                    // inbound, dropped: a payload header with an unknown tag
	fastControl                    // inbound, for the control core: a Shim6 control message
)

// fastSum is what a fast path tells classifyBurst about a burst, so that
// no second pass over it is needed when the fast path took it all.
type fastSum struct {
	// taken counts the packets the fast path took, done those it
	// rewrote (outbound) or stripped (inbound).
	taken, done int
	// out has bit p set when a packet taken leaves by port p.
	out uint32
	// dropped counts the packets taken that leave by no port: dropped,
	// or for the control core.
	dropped int
}

// ipv6Word is a frame's four bytes from frameEtherType (EtherType, IPv6
// version) as a little-endian word under ipv6WordMask, for a frame that
// carries IPv6.
const (
	ipv6WordMask = 0x00f0ffff
	ipv6Word     = 0x0060dd86
)

// localBits is the width of fastFwd's filter of our own addresses.
const localBits = 1024

// fastPrefix is a Prefix in the fast paths' form.
type fastPrefix struct{ hi, lo, maskHi, maskLo uint64 }

func (p *fastPrefix) contains(hi, lo uint64) bool {
	return hi&p.maskHi == p.hi && lo&p.maskLo == p.lo
}

// prefixSet answers "which of these prefixes holds the address" for the
// fast paths. The usual site has a few prefixes of one length, at most
// 64 bits (a /48 from each ISP): then the answer is one AND and up to
// four compares of the address's upper half, with no loop. Other sets
// are scanned in order, as route does.
type prefixSet struct {
	uniform bool
	mask    uint64    // the common mask of the upper half, when uniform
	vals    [4]uint64 // the masked prefixes, padded with the last one
	all     []fastPrefix
}

// maxUniform is how many prefixes the uniform form holds.
const maxUniform = 4

func (s *prefixSet) set(ps []fastPrefix) {
	s.all = append(s.all[:0], ps...)
	s.uniform = len(ps) > 0 && len(ps) <= maxUniform
	for i := range ps {
		s.uniform = s.uniform && ps[i].maskLo == 0 && ps[i].maskHi == ps[0].maskHi
	}
	if !s.uniform {
		return
	}
	s.mask = ps[0].maskHi
	for i := range s.vals {
		s.vals[i] = ps[min(i, len(ps)-1)].hi
	}
}

// index returns the position in the set of the first prefix that holds
// the address (hi, lo), or -1.
func (s *prefixSet) index(hi, lo uint64) int {
	if s.uniform {
		x := hi & s.mask
		switch x {
		case s.vals[0]:
			return 0
		case s.vals[1]:
			return 1
		case s.vals[2]:
			return 2
		case s.vals[3]:
			return 3
		}
		return -1
	}
	for i := range s.all {
		if s.all[i].contains(hi, lo) {
			return i
		}
	}
	return -1
}

// fastEgress is one way out of the site, as the fast paths send by it.
type fastEgress struct {
	// mac is the frame's first 12 bytes on the way out: the next hop's
	// MAC, then the port's.
	mac [macPairSize]byte
	// mtu is 0 while the next hop is unresolved, so the size check alone
	// turns every packet away, to route, which hands them to the control
	// core to resolve.
	mtu  int
	port uint16
}

// fastFwd is what the fast paths read of a Forwarding snapshot,
// precomputed by adopt when the snapshot changes.
type fastFwd struct {
	of        *Forwarding
	inside    uint16
	insideMAC [6]byte
	insideMTU int
	// local has bit lo&1023 set for the low half lo of each of our own
	// addresses: Forwarding.localBloom's filter, 16 times wider, so that
	// with a handful of addresses few packets not for us take the slow
	// path to find that out.
	local [localBits / 64]uint64
	site  prefixSet
	// uplinks holds Forwarding.Uplinks' prefixes in order (UplinkFor's
	// first match); egress[j+1] is the way out by the j-th, and
	// egress[0], for "no uplink", is the zero fastEgress, whose MTU of 0
	// no packet fits.
	uplinks prefixSet
	egress  []fastEgress
	// byPort is UplinkOnPort's answer for each port, for rewrites, which
	// leave by the port that owns the context's local locator.
	byPort [MaxPorts]fastEgress
	// scratch is adopt's, kept so that a new snapshot of the same shape
	// costs no allocation.
	scratch []fastPrefix
	// accept holds, for each port, the unicast MACs it takes as frames'
	// first eight bytes read little-endian under macMask: its own and
	// its virtual MAC while active (its own again when there is none),
	// so that a frame's destination is checked by one load and one or
	// two compares.
	accept [MaxPorts][2]uint64
}

// macMask keeps the destination MAC of a frame's first eight bytes read
// little-endian; the I/G bit, multicast, is then the word's lowest bit.
const macMask = 1<<48 - 1

// macWord is m as the fast paths compare destination MACs.
func macWord(m [6]byte) uint64 {
	var b [8]byte
	copy(b[:], m[:])
	return binary.LittleEndian.Uint64(b[:])
}

// macsOf returns port's two accepted unicast MAC words.
func (v *fastFwd) macsOf(port uint16) (uint64, uint64) {
	a := &v.accept[port%MaxPorts]
	return a[0], a[1]
}

func fastPrefixOf(p *Prefix) fastPrefix {
	return fastPrefix{hi: p.hi, lo: p.lo, maskHi: p.maskHi, maskLo: p.maskLo}
}

func egressOf(f *Forwarding, u *Uplink) fastEgress {
	e := fastEgress{port: u.Port}
	if u.Resolved && int(u.Port) < len(f.Ports) {
		copy(e.mac[header.EthernetDstAddrOffset:], u.NextHopMAC[:])
		src := f.Ports[u.Port].SourceMAC()
		copy(e.mac[header.EthernetSrcAddrOffset:], src[:])
		e.mtu = f.Ports[u.Port].MTU
	}
	return e
}

// adopt derives the fast paths' view of f. It allocates only when the
// snapshot has more prefixes than any before it.
func (v *fastFwd) adopt(f *Forwarding) {
	v.of = f
	v.inside = f.Inside
	v.insideMAC, v.insideMTU = [6]byte{}, 0
	if int(f.Inside) < len(f.Ports) {
		v.insideMAC, v.insideMTU = f.Ports[f.Inside].SourceMAC(), f.Ports[f.Inside].MTU
	}
	for port := range v.accept {
		// A port the snapshot does not have takes nothing: 1 is a
		// multicast word no unicast destination equals.
		v.accept[port] = [2]uint64{1, 1}
		if port < len(f.Ports) {
			pi := &f.Ports[port]
			own := macWord(pi.MAC)
			v.accept[port] = [2]uint64{own, own}
			if pi.Virtual != ([6]byte{}) {
				v.accept[port][1] = macWord(pi.Virtual)
			}
		}
	}
	v.local = [localBits / 64]uint64{}
	for _, k := range f.Local {
		b := k[1] % localBits
		v.local[b/64] |= 1 << (b % 64)
	}
	ps := v.scratch[:0]
	for i := range f.Site {
		ps = append(ps, fastPrefixOf(&f.Site[i]))
	}
	v.site.set(ps)
	ps = ps[:0]
	v.egress = append(v.egress[:0], fastEgress{})
	for i := range f.Uplinks {
		u := &f.Uplinks[i]
		ps = append(ps, fastPrefixOf(&u.Prefix))
		v.egress = append(v.egress, egressOf(f, u))
	}
	v.uplinks.set(ps)
	v.scratch = ps
	for port := range v.byPort {
		v.byPort[port] = fastEgress{}
		if u := f.UplinkOnPort(uint16(port)); u != nil {
			v.byPort[port] = egressOf(f, u)
		}
	}
}

// plain reports whether a packet with these addresses is one fast paths
// may take: not multicast, not for us, no link-local address.
func (v *fastFwd) plain(srcHi, dstHi, dstLo uint64) bool {
	const linkLocal = 0xfe80 >> 6 // fe80::/10
	b := dstLo % localBits
	return dstHi>>56 != 0xff && v.local[b/64]&(1<<(b%64)) == 0 &&
		srcHi>>54 != linkLocal && dstHi>>54 != linkLocal
}

// tcpSYN reports whether the TCP segment at off in the IPv6 payload after
// the fixed headers h is a SYN, or too short to tell: either way one for
// route, which clamps its MSS. plen is the payload length, which the
// caller checked the frame holds: it alone bounds the read, with no slice
// of the frame made for it.
func tcpSYN(h *fixed, plen, off int) bool {
	return plen < off+tcpMinSize ||
		*(*uint8)(unsafe.Add(unsafe.Pointer(h), fixedHeaders+off+tcpFlagsOff))&tcpFlagSYN != 0
}

// tcpFlags returns the flags of the TCP header that follows the fixed
// headers, for a frame whose length the caller checked holds one.
func (h *fixed) tcpFlags() uint8 {
	return *(*uint8)(unsafe.Add(unsafe.Pointer(h), fixedHeaders+tcpFlagsOff))
}

// fastOut runs the fast path over a burst from inside, setting w.res[i]
// and, for the packets it takes, w.next[i], and sums up the burst; route
// classifies the rest after it (packets are independent, and tx keeps
// their order). The loop is here, and lookup and rewrite are written out
// in it rather than called, because Go saves every live register around a
// call: per packet and per call, that cost more than the work (callgrind).
// Only a probe collision calls out, to findPair.
func (w *Worker) fastOut(pkts []ports.Packet, v *fastFwd) (sum fastSum) {
	// Every verdict starts as fastSlow (0), in one store.
	w.res = [ports.MaxBurst]fastResult{}
	// A burst is at most MaxBurst long: said so, the compiler drops the
	// bounds checks of the per-packet arrays indexed by i.
	pkts = pkts[:min(len(pkts), ports.MaxBurst)]
	own, virt := v.macsOf(v.inside)
	// The TCP flags that send a segment to route: a SYN while the MSS
	// clamp is on, and a SYN, FIN or RST while the retransmission watch
	// is, so that the watch's common case below needs no test of its own
	// (retxCheck sees them on route's path, as ever rare; an RST frees
	// its flow's place beside the context's feedback tick).
	var tcpSlow uint8
	if w.shim.MSSClamp != 0 {
		tcpSlow = tcpFlagSYN
	}
	if w.sh.watch >= 0 {
		tcpSlow = tcpFlagSYN | tcpFlagFIN | tcpFlagRST
	}
	for i := range pkts {
		p := &pkts[i]
		h := headers(p)
		if h == nil || binary.LittleEndian.Uint32(h[frameEtherType:])&ipv6WordMask != ipv6Word {
			continue
		}
		if d := binary.LittleEndian.Uint64(h[:8]) & macMask; d != own && d != virt {
			if d&1 == 0 {
				w.notForUs(i, &sum)
			}
			continue // multicast: route checks the groups
		}
		plen := int(binary.BigEndian.Uint16(h[framePayloadLength:]))
		nh, hop := h[frameNextHeader], h[frameHopLimit]
		if fixedHeaders+plen != int(p.Len) || hop <= 1 {
			continue
		}
		srcHi, srcLo := binary.BigEndian.Uint64(h[frameSrcHi:]), binary.BigEndian.Uint64(h[frameSrcLo:])
		dstHi, dstLo := binary.BigEndian.Uint64(h[frameDstHi:]), binary.BigEndian.Uint64(h[frameDstLo:])
		if !v.plain(srcHi, dstHi, dstLo) || v.site.index(dstHi, dstLo) >= 0 {
			continue
		}
		// A TCP header shorter than its minimum, or one with a flag of
		// tcpSlow, is route's. The frame's length is the headers' and
		// plen, checked above: plen is all the bounds check needed.
		if nh == header.ProtoTCP && (plen < tcpMinSize || h.tcpFlags()&tcpSlow != 0) {
			continue
		}
		found := false
		var sw *SentWord // the context's feedback word, once found
		t := w.shim.Contexts
		l := &w.sh.line
		if w.sh.active && w.sh.kinds[i] != keyPair {
			continue // not keyed by prefetch; cannot happen to a parsed packet
		}
		if e := w.sh.entries[i]; w.sh.active && e != 0 {
			// The pair's first index entry, which prefetch loaded: empty
			// settles it (no context), a matching fingerprint usually finds
			// it, and only a collision walks on.
			k := w.sh.keys[i]
			if slot := uint32(e) - 1; e != tombstone && e>>32 == k>>32 && int(slot) < len(t.recs) {
				// readLine, written out: it is over the inliner's budget
				// (see seqBegin).
				r, u := &t.recs[slot], &t.pairs[slot]
				for {
					s := r.seqBegin()
					copyRec(r, &l.rec)
					copyPair(u, &l.pair)
					if r.seqStable(s) {
						break
					}
				}
				l.slot = slot
				found = l.holds(srcHi, srcLo, dstHi, dstLo)
			}
			if !found {
				found = t.findPair(k, srcHi, srcLo, dstHi, dstLo, l)
			}
		}
		if found && l.flags()&CtxRewrite != 0 {
			// pushShim6 on the context's words: locators, payload header and
			// headers written in place, 8 bytes before the old ones.
			port := int(l.port())
			if port >= len(v.byPort) {
				continue
			}
			e := &v.byPort[port]
			if !header.EndsFixedHeader(nh) || p.Off < header.Shim6PayloadSize ||
				header.IPv6MinimumSize+plen+header.Shim6PayloadSize > e.mtu {
				// Packet Too Big, resolution and extension headers are route's.
				continue
			}
			kept := *(*[keptSize]byte)(h[frameEtherType:])
			p.Off -= header.Shim6PayloadSize
			p.Len += header.Shim6PayloadSize
			n := (*shimmedHeaders)(unsafe.Add(unsafe.Pointer(h), -header.Shim6PayloadSize))
			*(*[macPairSize]byte)(n[header.EthernetDstAddrOffset:]) = e.mac
			*(*[keptSize]byte)(n[frameEtherType:]) = kept
			binary.BigEndian.PutUint16(n[framePayloadLength:], uint16(plen+header.Shim6PayloadSize))
			n[frameNextHeader], n[frameHopLimit] = header.ProtoShim6, hop-1
			binary.BigEndian.PutUint64(n[frameSrcHi:], l.rec[lineLocL])
			binary.BigEndian.PutUint64(n[frameSrcLo:], l.rec[lineLocL+1])
			binary.BigEndian.PutUint64(n[frameDstHi:], l.rec[lineLocP])
			binary.BigEndian.PutUint64(n[frameDstLo:], l.rec[lineLocP+1])
			binary.BigEndian.PutUint64(n[fixedHeaders:], uint64(nh)<<56|shim6PBit|l.peerTag())
			sw = &w.shim.Feedback.Sent[l.slot]
			noteSentWord(sw, w.sh.tick)
			w.next[i], w.res[i] = e.port, fastRewrote
			sum.taken++
			sum.done++
			sum.out |= 1 << (e.port & 31)
		} else {
			// Unchanged but for the hop: by the uplink that owns the source.
			j := v.uplinks.index(srcHi, srcLo) + 1
			if uint(j) >= uint(len(v.egress)) {
				continue
			}
			e := &v.egress[j]
			if header.IPv6MinimumSize+plen > e.mtu {
				continue
			}
			h[frameHopLimit] = hop - 1
			*(*[macPairSize]byte)(h[header.EthernetDstAddrOffset:]) = e.mac
			w.next[i], w.res[i] = e.port, fastForward
			sum.taken++
			sum.out |= 1 << (e.port & 31)
			if !found {
				if w.shim.EstablishAfter > 0 && t != nil {
					w.countForEstablish(p.Port, h.ip().Src(), h.ip().Dst())
				}
				continue
			}
			sw = &w.shim.Feedback.Sent[l.slot]
			noteSentWord(sw, w.sh.tick)
		}
		// A context's packet went out, rewritten or on its ULID pair: the
		// retransmission watch, retxTable.inOrder written out (see
		// advice.go), with what it leaves marked for retxLate. The TCP
		// header did not move: it starts where the old headers ended,
		// and the check above made sure it is all there and neither SYN,
		// FIN nor RST.
		if int(nh) != w.sh.watch {
			continue
		}
		tcp := (*[tcpMinSize]byte)(unsafe.Add(unsafe.Pointer(h), fixedHeaders))
		// retxKey plus the sequence number from the pair's hash in
		// memory: the ports and the sequence number come in one load.
		want := binary.BigEndian.Uint64(tcp[:8]) + w.sh.keys[i]
		n := plen - int(tcp[tcpDataOffOff]&0xf0)>>2
		// The flow kept beside the context's feedback tick, in the line
		// noteSentWord just wrote: a context's one transfer stops here.
		if sw.watch == want {
			sw.watch = want + uint64(n)
			continue
		}
		ways := (*[retxWays]uint64)(unsafe.Add(unsafe.Pointer(&w.sh.retx),
			(keyWord(&w.sh.keys[i])^binary.LittleEndian.Uint32(tcp[:4]))&retxSetMask))
		if ways[0] == want {
			ways[0] = want + uint64(n)
			continue
		}
		// The set's other flows, written out: a loop's continue could
		// not reach the packets' loop without a label.
		if ways[1] == want {
			ways[1] = want + uint64(n)
			continue
		}
		if ways[2] == want {
			ways[2] = want + uint64(n)
			continue
		}
		if ways[3] == want {
			ways[3] = want + uint64(n)
			continue
		}
		if n <= 0 {
			continue
		}
		w.sh.late |= 1 << i
		w.sh.lateSlot[i] = l.slot
	}
	return sum
}

// notForUs drops packet i of the burst, unicast to another station, in
// the fast path: a switch's flood of unknown unicast costs a compare a
// packet, not a trip through route. Rare, so a call.
func (w *Worker) notForUs(i int, sum *fastSum) {
	w.Counters.local[DropCounter(DropNotForUs)]++
	w.next[i%ports.MaxBurst], w.res[i%ports.MaxBurst] = outDrop, fastDropped
	sum.taken++
	sum.dropped++
}

// tagUnknown drops packet i of the burst, h its headers, a payload packet
// from port with a tag no context has, and raises the event route would
// (unknownTag, once its limits are checked here, so that a flood's packet
// past them costs no second call).
func (w *Worker) tagUnknown(i int, port uint16, h *fixed, tag uint64, sum *fastSum) {
	if w.sh.tagEventsTick != w.sh.tick || w.sh.tagEvents < tagEventsPerTick {
		w.unknownTag(port, h.src(), h.dst(), tag)
	}
	w.Counters.local[DropCounter(DropUnknownTag)]++
	w.next[i%ports.MaxBurst], w.res[i%ports.MaxBurst] = outDrop, fastDropped
	sum.taken++
	sum.dropped++
}

// shim6PBit is the payload header's P bit, as a bit of the header's
// big-endian word (RFC 5533 §5.2).
const shim6PBit = 1 << 47

// fastIn runs the fast path over a burst from an uplink, as fastOut does
// from inside: payload packets restored to their ULIDs, plain packets
// delivered as they are.
func (w *Worker) fastIn(pkts []ports.Packet, v *fastFwd) (sum fastSum) {
	w.res = [ports.MaxBurst]fastResult{}
	pkts = pkts[:min(len(pkts), ports.MaxBurst)]
	if len(pkts) == 0 {
		return sum
	}
	// A burst comes from one port.
	own, virt := v.macsOf(pkts[0].Port)
	for i := range pkts {
		p := &pkts[i]
		h := headers(p)
		if h == nil || binary.LittleEndian.Uint32(h[frameEtherType:])&ipv6WordMask != ipv6Word {
			continue
		}
		if d := binary.LittleEndian.Uint64(h[:8]) & macMask; d != own && d != virt {
			if d&1 == 0 {
				w.notForUs(i, &sum)
			}
			continue // multicast: route checks the groups
		}
		plen := int(binary.BigEndian.Uint16(h[framePayloadLength:]))
		nh, hop := h[frameNextHeader], h[frameHopLimit]
		if fixedHeaders+plen != int(p.Len) || hop <= 1 || header.IPv6MinimumSize+plen > v.insideMTU+header.Shim6PayloadSize {
			continue
		}
		srcHi, srcLo := binary.BigEndian.Uint64(h[frameSrcHi:]), binary.BigEndian.Uint64(h[frameSrcLo:])
		dstHi, dstLo := binary.BigEndian.Uint64(h[frameDstHi:]), binary.BigEndian.Uint64(h[frameDstLo:])
		if !v.plain(srcHi, dstHi, dstLo) || v.site.index(dstHi, dstLo) < 0 {
			continue
		}
		if nh == header.ProtoShim6 {
			// restoreIn and deliver in one: the headers are written anew 8
			// bytes later, over the payload header, with the context's
			// ULIDs.
			if p.Len < fixedHeaders+header.Shim6PayloadSize || !w.sh.active {
				continue
			}
			n := (*shimmedHeaders)(unsafe.Pointer(h))
			sh := binary.BigEndian.Uint64(n[fixedHeaders:])
			// Hdr Ext Len 0 and the P bit: a payload header.
			if sh&(0xff<<48|shim6PBit) != shim6PBit {
				// A control message (P = 0: an I1 or any other, RFC
				// 5533 §5.3), whose Hdr Ext Len fits the packet, is the
				// control core's, as route would find after its walk
				// of the chain, at a fraction of the cost. Anything
				// else (a payload header with a Hdr Ext Len, one that
				// runs past the packet) is route's to count.
				if sh&shim6PBit == 0 && (int(sh>>48&0xff)+1)*8 <= plen {
					w.next[i], w.res[i] = outControl, fastControl
					sum.taken++
					sum.dropped++
				}
				continue
			}
			inner := uint8(sh >> 56)
			if inner == header.ProtoTCP && w.shim.MSSClamp != 0 && tcpSYN(h, plen, header.Shim6PayloadSize) {
				continue
			}
			// Unknown tags are dropped here, as route would, so that a
			// flood of them (RFC 5533 §7.17's R1bis candidates) costs a
			// byte of tagCheck a packet and not a second parse: prefetch
			// keyed the packet by its tag (it checks what the lines above
			// did) and found its check byte, and a 0 entry says no
			// context has the tag without a look at its record.
			l := &w.sh.line
			t := w.shim.Contexts
			tag := sh & tagMask
			slot := uint32(w.sh.entries[i] - 1)
			if uint(slot) >= uint(len(t.recs)) {
				w.tagUnknown(i, p.Port, h, tag, &sum)
				continue
			}
			// readTag's read and compare, written out as fastOut has
			// readLine. Each miss calls out on its own: joined, the
			// compiler reloads the loop's registers for every packet.
			r, u := &t.recs[slot], &t.pairs[slot]
			for {
				s := r.seqBegin()
				copyRec(r, &l.rec)
				copyPair(u, &l.pair)
				if r.seqStable(s) {
					break
				}
			}
			l.slot = slot
			if l.flags()&CtxValid == 0 || l.localTag() != tag {
				w.tagUnknown(i, p.Port, h, tag, &sum)
				continue
			}
			mac, ok := w.nb.lookupWords(l.pair[pairULIDL], l.pair[pairULIDL+1])
			if !ok {
				continue
			}
			kept := *(*[keptSize]byte)(n[frameEtherType:])
			p.Off += header.Shim6PayloadSize
			p.Len -= header.Shim6PayloadSize
			h := (*fixed)(n[header.Shim6PayloadSize:])
			*(*[header.EthernetAddressSize]byte)(h[header.EthernetDstAddrOffset:]) = mac
			*(*[header.EthernetAddressSize]byte)(h[header.EthernetSrcAddrOffset:]) = v.insideMAC
			*(*[keptSize]byte)(h[frameEtherType:]) = kept
			binary.BigEndian.PutUint16(h[framePayloadLength:], uint16(plen-header.Shim6PayloadSize))
			h[frameNextHeader], h[frameHopLimit] = inner, hop-1
			binary.BigEndian.PutUint64(h[frameSrcHi:], l.pair[pairULIDP])
			binary.BigEndian.PutUint64(h[frameSrcLo:], l.pair[pairULIDP+1])
			binary.BigEndian.PutUint64(h[frameDstHi:], l.pair[pairULIDL])
			binary.BigEndian.PutUint64(h[frameDstLo:], l.pair[pairULIDL+1])
			note(w.shim.Feedback.Recv, l.slot, w.sh.tick)
			w.next[i], w.res[i] = v.inside, fastStripped
			sum.taken++
			sum.done++
			sum.out |= 1 << (v.inside & 31)
			continue
		}
		if !header.EndsFixedHeader(nh) || nh == header.ProtoICMPv6 || header.IPv6MinimumSize+plen > v.insideMTU ||
			nh == header.ProtoTCP && w.shim.MSSClamp != 0 && tcpSYN(h, plen, 0) {
			continue
		}
		// Plain IPv6 to a site host: delivered as it is, and if it
		// belongs to a context, REAP hears of it.
		mac, ok := w.nb.lookupWords(dstHi, dstLo)
		if !ok {
			continue
		}
		// prefetch keyed every plain packet by its pair (a short one
		// never gets here), so its entry is this pair's.
		if t := w.shim.Contexts; w.sh.active && w.sh.kinds[i] == keyPair {
			if w.firstProbe(t, i, w.sh.keys[i], dstHi, dstLo, srcHi, srcLo) {
				note(w.shim.Feedback.Recv, w.sh.line.slot, w.sh.tick)
			}
		}
		h[frameHopLimit] = hop - 1
		*(*[header.EthernetAddressSize]byte)(h[header.EthernetDstAddrOffset:]) = mac
		*(*[header.EthernetAddressSize]byte)(h[header.EthernetSrcAddrOffset:]) = v.insideMAC
		w.next[i], w.res[i] = v.inside, fastForward
		sum.taken++
		sum.out |= 1 << (v.inside & 31)
	}
	return sum
}
