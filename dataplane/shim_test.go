package dataplane

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"sync/atomic"
	"testing"

	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// The shim testbed: site A's proxy with an inside port (0) and two uplinks,
// isp1 (1) and isp2 (2). The host's ULID is under isp1's prefix; its
// context with a peer has moved to isp2's locator.
var (
	macIsp2     = [6]byte{0x02, 0, 0, 0, 0, 0x03}
	macNextHop2 = [6]byte{0x02, 0, 0, 0, 0, 0x21}
	peerULID    = netip.MustParseAddr("2001:db8:3::20")
	hostLoc2    = netip.MustParseAddr("2001:db8:2::10")
	peerLoc4    = netip.MustParseAddr("2001:db8:4::20")
	peerTag     = uint64(0x1234_5678_9abc) // 47 bits
)

type shimbed struct {
	ports  []*mem.Port
	ring   *mem.Ring
	events *EventRing
	tbl    *ContextTable
	w      *Worker
	fwd    atomic.Pointer[Forwarding]
	tick   atomic.Uint32
	slot   uint32
	tag    uint64 // our local tag for the context
}

func newShimbed(t testing.TB, rewrite bool) *shimbed {
	t.Helper()
	pool := mem.NewPool(256, mem.DefaultBufSize)
	b := &shimbed{ring: mem.NewRing(64), events: NewEventRing(16)}
	for i, m := range [][6]byte{macInside, macUplink, macIsp2} {
		b.ports = append(b.ports, mem.NewPort(mem.Config{Name: []string{"inside", "isp1", "isp2"}[i], Index: uint16(i), MAC: m, Pool: pool}))
	}
	f := &Forwarding{
		Ports: []PortInfo{{Role: RoleInside, MAC: macInside, MTU: 1500}, {Role: RoleUplink, MAC: macUplink, MTU: 1500},
			{Role: RoleUplink, MAC: macIsp2, MTU: 1500}},
		Site: []Prefix{MakePrefix(netip.MustParsePrefix("2001:db8:1::/48")), MakePrefix(netip.MustParsePrefix("2001:db8:2::/48"))},
		Uplinks: []Uplink{
			{Prefix: MakePrefix(netip.MustParsePrefix("2001:db8:1::/48")), Port: 1, NextHopMAC: macNextHop, Resolved: true},
			{Prefix: MakePrefix(netip.MustParsePrefix("2001:db8:2::/48")), Port: 2, NextHopMAC: macNextHop2, Resolved: true},
		},
		Neighbors: map[[16]byte][6]byte{hostAddr.As16(): macHost},
	}
	f.AddLocal(insideAddr)
	b.fwd.Store(f)
	b.tbl, _ = NewContextTable(1024)
	spec := ContextSpec{PeerTag: peerTag, ULIDLocal: hostAddr.As16(), ULIDPeer: peerULID.As16(),
		LocLocal: hostAddr.As16(), LocPeer: peerULID.As16(), EgressPort: 1}
	if rewrite {
		spec.LocLocal, spec.LocPeer, spec.EgressPort = hostLoc2.As16(), peerLoc4.As16(), 2
	}
	var err error
	b.slot, b.tag, err = b.tbl.Create(spec)
	if err != nil {
		t.Fatal(err)
	}
	b.tick.Store(7)
	pp := make([]ports.Port, len(b.ports))
	for i := range b.ports {
		pp[i] = b.ports[i]
	}
	b.w = NewWorker(WorkerConfig{Ports: pp, Control: b.ring, Fwd: &b.fwd,
		Shim: ShimConfig{Contexts: b.tbl, Tick: &b.tick, Events: b.events, MSSClamp: 1432, EstablishAfter: 3}})
	return b
}

// run injects frame on port from and polls once; it returns what each port
// sent and how many packets went to the control ring.
func (b *shimbed) run(t *testing.T, from int, frame []byte) ([][][]byte, int) {
	t.Helper()
	if err := b.ports[from].Inject(0, frame); err != nil {
		t.Fatal(err)
	}
	b.w.Poll()
	var outs [][][]byte
	for _, p := range b.ports {
		outs = append(outs, p.SentAll())
	}
	var ctl [8]ports.Packet
	n := b.ring.ScDequeueBurst(ctl[:])
	b.ports[0].Free(ctl[:n])
	return outs, n
}

// udpFrame is a UDP frame checksummed over its own addresses.
func udpFrame(dmac, smac [6]byte, src, dst netip.Addr, hop byte, firstNH byte, ext []byte, payload string) []byte {
	return pkttest.UDP(dmac, smac, src, dst, hop, firstNH, ext, payload, src, dst)
}

var shimHeader = pkttest.ShimPayload

// udpChecksumOK verifies the UDP checksum of a plain IPv6/UDP frame
// (extension headers allowed before it, Shim6 not).
func udpChecksumOK(t *testing.T, frame []byte) bool {
	t.Helper()
	ip := header.IPv6(frame[14:])
	c, e := header.WalkExtensions(ip)
	if e != header.ChainOK || c.NextHeader != header.ProtoUDP {
		t.Fatalf("not UDP: chain %+v %v", c, e)
	}
	udp := ip[c.Offset:]
	sum := header.PseudoHeaderSum(ip.Src(), ip.Dst(), uint32(len(udp)), header.ProtoUDP)
	return ^header.ChecksumFold(header.ChecksumAdd(sum, udp)) == 0
}

func TestShimOutboundRewriteGolden(t *testing.T) {
	hbh := []byte{header.ProtoUDP, 0, 1, 4, 0, 0, 0, 0} // hop-by-hop: PadN
	frag := []byte{header.ProtoUDP, 0, 0, 0, 0, 0, 0, 42}
	dstopts := []byte{header.ProtoUDP, 0, 1, 4, 0, 0, 0, 0}
	tests := []struct {
		name    string
		nh      byte
		ext     []byte
		wantExt []byte // the rewritten chain, payload header included
		wantNH  byte
	}{{
		name: "plain UDP: header right after the fixed header", nh: header.ProtoUDP,
		wantExt: shimHeader(header.ProtoUDP, peerTag), wantNH: header.ProtoShim6,
	}, {
		name: "after hop-by-hop", nh: header.ProtoHopByHop, ext: hbh,
		wantExt: append([]byte{header.ProtoShim6, 0, 1, 4, 0, 0, 0, 0}, shimHeader(header.ProtoUDP, peerTag)...),
		wantNH:  header.ProtoHopByHop,
	}, {
		name: "before a fragment header", nh: header.ProtoFragment, ext: frag,
		wantExt: append(shimHeader(header.ProtoFragment, peerTag), frag...), wantNH: header.ProtoShim6,
	}, {
		name: "before destination options that end the chain", nh: header.ProtoDestOpts, ext: dstopts,
		wantExt: append(shimHeader(header.ProtoDestOpts, peerTag), dstopts...), wantNH: header.ProtoShim6,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newShimbed(t, true)
			in := udpFrame(macInside, macHost, hostAddr, peerULID, 64, tt.nh, tt.ext, "ping")
			outs, nctl := b.run(t, 0, in)
			if nctl != 0 || len(outs[2]) != 1 || len(outs[1]) != 0 {
				t.Fatalf("want one packet on isp2; got isp1 %d isp2 %d control %d", len(outs[1]), len(outs[2]), nctl)
			}
			// Expected: MACs of isp2's hop, locators, hop limit 63, the
			// payload header at its place, payload length + 8, the UDP
			// datagram untouched (its checksum is over the ULIDs).
			want := udpFrame(macNextHop2, macIsp2, hostLoc2, peerLoc4, 63, tt.wantNH, tt.wantExt, "ping")
			udp := in[len(in)-12:]
			copy(want[len(want)-12:], udp)
			if !bytes.Equal(outs[2][0], want) {
				t.Fatalf("rewritten packet\n got %s\nwant %s", hex.EncodeToString(outs[2][0]), hex.EncodeToString(want))
			}
			if b.w.Counters.local[CounterRewritten] != 1 {
				t.Fatal("rewrite not counted")
			}
			if got := b.w.shim.Feedback.Sent[b.slot].Load(); got != 7 {
				t.Fatalf("feedback sent tick = %d, want 7", got)
			}
		})
	}
}

func TestShimOutboundESPAndAlreadyShimmed(t *testing.T) {
	b := newShimbed(t, true)
	esp := []byte{0, 0, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef}
	in := udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoESP, nil, "")
	in = append(in[:54], esp...)
	in[18], in[19] = 0, byte(len(esp))
	outs, _ := b.run(t, 0, in)
	got := outs[2][0]
	if got[20] != header.ProtoShim6 || !bytes.Equal(got[54:62], shimHeader(header.ProtoESP, peerTag)) || !bytes.Equal(got[62:], esp) {
		t.Fatalf("ESP packet: % x", got)
	}
	// A host that sends Shim6 itself is not shimmed twice.
	in = udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoShim6, shimHeader(header.ProtoUDP, 5), "x")
	outs, _ = b.run(t, 0, in)
	if len(outs[2]) != 0 || b.w.Counters.local[DropCounter(DropShimRewrite)] != 1 {
		t.Fatalf("already-shimmed packet: sent %d, drops %d", len(outs[2]), b.w.Counters.local[DropCounter(DropShimRewrite)])
	}
}

func TestShimMTUEdge(t *testing.T) {
	for _, tt := range []struct {
		payload int
		rewrite bool
	}{{1500 - 40 - 8 - 8, true}, {1500 - 40 - 8 - 8 + 1, false}} {
		b := newShimbed(t, true)
		in := udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoUDP, nil, string(make([]byte, tt.payload)))
		outs, nctl := b.run(t, 0, in)
		if tt.rewrite && (len(outs[2]) != 1 || len(outs[2][0]) != 14+1500) {
			t.Fatalf("packet of %d payload bytes should leave at exactly the MTU", tt.payload)
		}
		if !tt.rewrite && (nctl != 1 || len(outs[2]) != 0) {
			t.Fatalf("packet one byte over MTU-8 should go to the control core for Packet Too Big")
		}
	}
}

func TestShimInboundRestoreGolden(t *testing.T) {
	b := newShimbed(t, true)
	// The peer's proxy sends to our locator with our tag.
	in := udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, 60, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag), "pong")
	// The UDP checksum was computed by the peer host over the ULIDs.
	ref := udpFrame(macIsp2, macNextHop2, peerULID, hostAddr, 60, header.ProtoUDP, nil, "pong")
	copy(in[len(in)-12:], ref[len(ref)-12:])
	outs, nctl := b.run(t, 2, in)
	if nctl != 0 || len(outs[0]) != 1 {
		t.Fatalf("want one packet inside; got %d, control %d", len(outs[0]), nctl)
	}
	want := udpFrame(macHost, macInside, peerULID, hostAddr, 59, header.ProtoUDP, nil, "pong")
	if !bytes.Equal(outs[0][0], want) {
		t.Fatalf("restored packet\n got %s\nwant %s", hex.EncodeToString(outs[0][0]), hex.EncodeToString(want))
	}
	if !udpChecksumOK(t, outs[0][0]) {
		t.Fatal("UDP checksum does not verify after restore")
	}
	if b.w.shim.Feedback.Recv[b.slot].Load() != 7 {
		t.Fatal("received tick not noted")
	}
}

func TestShimInboundUnknownTagAndControl(t *testing.T) {
	b := newShimbed(t, true)
	bad := udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, 60, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag^1<<40), "x")
	for i := 0; i < 3; i++ {
		outs, nctl := b.run(t, 2, bad)
		if len(outs[0])+nctl != 0 {
			t.Fatal("unknown tag was not dropped")
		}
	}
	if got := b.w.Counters.local[DropCounter(DropUnknownTag)]; got != 3 {
		t.Fatalf("unknown-tag drops = %d", got)
	}
	var e Event
	if !b.events.Pop(&e) || e.Kind != EventUnknownTag || e.Tag != b.tag^1<<40 || netip.AddrFrom16(e.Src) != peerLoc4 {
		t.Fatalf("event = %+v", e)
	}
	if b.events.Pop(&e) {
		t.Fatal("second event from the same source in the same tick")
	}
	b.tick.Store(8)
	b.run(t, 2, bad)
	if !b.events.Pop(&e) {
		t.Fatal("no event in the next tick")
	}
	// A control message (P = 0): to the control core. Type 1 is I1.
	ctl := udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, 60, header.ProtoShim6,
		[]byte{59, 1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "")
	ctl = ctl[:len(ctl)-8]
	ctl[19] = 16
	if _, nctl := b.run(t, 2, ctl); nctl != 1 {
		t.Fatal("control message not handed to the control core")
	}
}

// TestShimRoundTrip: site A's outbound path, then site B's inbound path
// (the two halves of one context); the datagram arrives bit-exact apart
// from MACs and hop limit, and its checksum verifies.
func TestShimRoundTrip(t *testing.T) {
	a := newShimbed(t, true)
	bsite := newShimbed(t, true)
	// B's table holds the mirror context: its local ULID is A's peer...
	bsite.tbl.Delete(bsite.slot)
	var err error
	bsite.slot, bsite.tag, err = bsite.tbl.Create(ContextSpec{PeerTag: a.tag,
		ULIDLocal: peerULID.As16(), ULIDPeer: hostAddr.As16(), LocLocal: peerLoc4.As16(), LocPeer: hostLoc2.As16(), EgressPort: 2})
	if err != nil {
		t.Fatal(err)
	}
	a.tbl.SetPeerTag(a.slot, bsite.tag)
	f := *bsite.fwd.Load()
	f.Site = append(f.Site, MakePrefix(netip.MustParsePrefix("2001:db8:3::/48")), MakePrefix(netip.MustParsePrefix("2001:db8:4::/48")))
	f.Neighbors = map[[16]byte][6]byte{peerULID.As16(): macHost}
	bsite.fwd.Store(&f)

	in := udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoUDP, nil, "across the Internet")
	outs, _ := a.run(t, 0, in)
	wire := outs[2][0]
	// The routers between the sites address it to B's uplink anew.
	copy(wire[header.EthernetDstAddrOffset:], macIsp2[:])
	outs, _ = bsite.run(t, 2, wire)
	if len(outs[0]) != 1 {
		t.Fatal("B did not deliver")
	}
	got := outs[0][0]
	if !bytes.Equal(got[14:21], in[14:21]) || got[21] != in[21]-2 || !bytes.Equal(got[22:], in[22:]) {
		t.Fatalf("round trip changed the packet\n  in %x\n out %x", in[14:], got[14:])
	}
	if !udpChecksumOK(t, got) {
		t.Fatal("checksum does not verify after the round trip")
	}
}

// TestShimMSSClamp: the MSS option is lowered wherever it sits among the
// options, and the TCP checksum, updated incrementally, still verifies.
// At an odd offset the MSS straddles two of the checksum's 16-bit words,
// so the update must take its bytes swapped (RFC 1624 works on aligned
// words; a review found the odd case broken, which lost every SYN whose
// options start with a single NOP).
func TestShimMSSClamp(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []byte // 8 bytes, MSS 1460 somewhere
		at   int    // where the MSS value is, from the start of the options
	}{
		{"MSS first", []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2}, 2},
		{"after one NOP: odd offset", []byte{1, 2, 4, 0x05, 0xb4, 1, 4, 2}, 3},
		{"after SACK permitted", []byte{4, 2, 2, 4, 0x05, 0xb4, 1, 1}, 4},
		{"after three NOPs: odd offset", []byte{1, 1, 1, 2, 4, 0x05, 0xb4, 0}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newShimbed(t, false)
			tcp := append([]byte{0x04, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x70, tcpFlagSYN, 0xff, 0xff, 0, 0, 0, 0}, tc.opts...)
			in := udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoTCP, nil, "")
			in = append(in[:54], tcp...)
			in[19] = byte(len(tcp))
			s, d := hostAddr.As16(), peerULID.As16()
			c := ^header.ChecksumFold(header.ChecksumAdd(header.PseudoHeaderSum(&s, &d, uint32(len(tcp)), header.ProtoTCP), in[54:]))
			binary.BigEndian.PutUint16(in[54+16:], c)
			outs, _ := b.run(t, 0, in)
			got := outs[1][0]
			if mss := binary.BigEndian.Uint16(got[54+20+tc.at:]); mss != 1432 {
				t.Fatalf("MSS = %d, want 1432", mss)
			}
			if ^header.ChecksumFold(header.ChecksumAdd(header.PseudoHeaderSum(&s, &d, uint32(len(tcp)), header.ProtoTCP), got[54:])) != 0 {
				t.Fatal("TCP checksum wrong after clamping")
			}
		})
	}
}

func TestShimEstablishEventWithEmptyTable(t *testing.T) {
	b := newShimbed(t, false)
	b.tbl.Delete(b.slot)
	for i := 0; i < 3; i++ {
		b.run(t, 0, udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoUDP, nil, "x"))
	}
	var e Event
	if !b.events.Pop(&e) || e.Kind != EventEstablish {
		t.Fatal("no establish event while the table is empty")
	}
}

func TestShimEstablishEvent(t *testing.T) {
	b := newShimbed(t, false)
	other := netip.MustParseAddr("2001:db8:9::1")
	for i := 0; i < 5; i++ {
		b.run(t, 0, udpFrame(macInside, macHost, hostAddr, other, 64, header.ProtoUDP, nil, "x"))
	}
	var e Event
	if !b.events.Pop(&e) || e.Kind != EventEstablish || netip.AddrFrom16(e.Dst) != other || netip.AddrFrom16(e.Src) != hostAddr {
		t.Fatalf("event = %+v", e)
	}
	if b.events.Pop(&e) {
		t.Fatal("more than one establish event for one pair")
	}
	// The pair with a context raises none.
	for i := 0; i < 5; i++ {
		b.run(t, 0, udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoUDP, nil, "x"))
	}
	if b.events.Pop(&e) {
		t.Fatalf("event for a pair with a context: %+v", e)
	}
}

func TestShimPathsAllocateNothing(t *testing.T) {
	b := newShimbed(t, true)
	out := udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoUDP, nil, "ping")
	in := udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, 60, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag), "pong")
	b.ports[0].SetSource(0, [][]byte{out, udpFrame(macInside, macHost, hostAddr, remoteAddr, 64, header.ProtoUDP, nil, "plain")})
	b.ports[2].SetSource(0, [][]byte{in})
	for _, p := range b.ports {
		p.SetSink(0, true)
	}
	if a := testing.AllocsPerRun(100, func() { b.w.Poll() }); a != 0 {
		t.Fatalf("shim paths allocate %v per round", a)
	}
	if b.w.Counters.local[CounterRewritten] == 0 || b.w.Counters.local[CounterStripped] == 0 {
		t.Fatal("the rounds did not exercise both shim paths")
	}
}

// TestShimEstablishCollidingPairs: two pairs whose hashes share a counting
// slot, sending in turns, must each raise their establish event. With one
// slot per hash they reset each other's count for ever, and neither host
// got a context: the two-site lab lost two of its sixteen that way.
func TestShimEstablishCollidingPairs(t *testing.T) {
	b := newShimbed(t, false)
	// Find two peers whose pairs with hostAddr land in the same slot.
	src := hostAddr.As16()
	seen := map[uint64]netip.Addr{}
	var p1, p2 netip.Addr
	for i := 0; p2 == (netip.Addr{}); i++ {
		d := netip.MustParseAddr("2001:db8:9::").As16()
		d[12], d[13], d[14], d[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		k := b.tbl.PairHash(&src, &d) & (establishSlots - 1)
		if o, ok := seen[k]; ok {
			p1, p2 = o, netip.AddrFrom16(d)
		}
		seen[k] = netip.AddrFrom16(d)
	}
	for i := 0; i < 3; i++ {
		for _, p := range []netip.Addr{p1, p2} {
			b.run(t, 0, udpFrame(macInside, macHost, hostAddr, p, 64, header.ProtoUDP, nil, "x"))
		}
	}
	got := map[netip.Addr]bool{}
	var e Event
	for b.events.Pop(&e) {
		if e.Kind == EventEstablish {
			got[netip.AddrFrom16(e.Dst)] = true
		}
	}
	if !got[p1] || !got[p2] {
		t.Fatalf("establish events for %v and %v: %v", p1, p2, got)
	}
}

// TestShimDisplacedPairsTakeTheFastPath fills the table's index half full,
// so that many pairs' index entries sit past their first probe, and sends
// a burst of such pairs: prefetch must find each one's own entry along the
// cache line (so that it prefetches that record and no other), and the
// fast path rewrite them all without falling back to route.
func TestShimDisplacedPairsTakeTheFastPath(t *testing.T) {
	b := newShimbed(t, true)
	ix := b.tbl.index.Load()
	entryOf := func(slot uint32) uint64 {
		for i := range ix.e {
			if e := ix.e[i].Load(); e != tombstone && uint32(e) == slot+1 {
				return e
			}
		}
		t.Fatalf("slot %d has no index entry", slot)
		return 0
	}
	var frames [][]byte
	var want []uint64
	for i := 0; len(frames) < ports.MaxBurst; i++ {
		if i == 1000 {
			t.Fatalf("only %d displaced pairs among 1000 contexts", len(frames))
		}
		host := hostAddr.As16()
		host[13], host[14], host[15] = 0x77, byte(i>>8), byte(i)
		spec := ContextSpec{PeerTag: peerTag, ULIDLocal: host, ULIDPeer: peerULID.As16(),
			LocLocal: hostLoc2.As16(), LocPeer: peerLoc4.As16(), EgressPort: 2}
		slot, _, err := b.tbl.Create(spec)
		if err != nil {
			t.Fatal(err)
		}
		h := b.tbl.pairHash(&spec.ULIDLocal, &spec.ULIDPeer)
		e := entryOf(slot)
		first := h & ix.mask
		if ix.e[first].Load() == e || first|(entriesPerLine-1) != firstOfLine(ix, e, first) {
			continue // at its first probe, or beyond the line
		}
		frames = append(frames, udpFrame(macInside, macHost, netip.AddrFrom16(host), peerULID, 64, header.ProtoUDP, nil, "ping"))
		want = append(want, e)
	}
	pkts := b.w.rd.Bufs[0][:len(frames)]
	if b.ports[0].Alloc(pkts) != len(pkts) {
		t.Fatal("alloc")
	}
	for i, f := range frames {
		pkts[i].SetLen(len(f))
		copy(pkts[i].Frame(), f)
	}
	w := b.w
	w.sh.active = true
	w.prefetch(pkts, true)
	for i := range pkts {
		if w.sh.entries[i] != want[i] {
			t.Errorf("packet %d: prefetch settled on entry %#x, want the pair's own %#x", i, w.sh.entries[i], want[i])
		}
	}
	for _, f := range frames {
		b.ports[0].Inject(0, f)
	}
	b.ports[0].Free(pkts)
	w.Poll()
	w.Counters.publish()
	if got, slow := w.Counters.Load(CounterRewritten), w.Counters.Load(CounterSlowPath); got != uint64(len(frames)) || slow != 0 {
		t.Errorf("rewritten %d, slow path %d; want %d and 0", got, slow, len(frames))
	}
	if sent := b.ports[2].Sent(0); len(sent) != len(frames) {
		t.Errorf("isp2 sent %d packets, want %d", len(sent), len(frames))
	}
}

// firstOfLine returns first|7 when entry e lies in first's cache line at
// or after it, and 0 otherwise.
func firstOfLine(ix *pairIndex, e, first uint64) uint64 {
	for i := first; i <= first|(entriesPerLine-1) && i <= ix.mask; i++ {
		if ix.e[i].Load() == e {
			return first | (entriesPerLine - 1)
		}
	}
	return 0
}

// TestShimMSSClampBeforeND: a SYN that must wait for Neighbor Discovery
// (to an inside host not yet resolved, or out of an uplink whose next hop
// is not) goes to the control core, which forwards it once ND answers and
// has no clamp of its own: so the worker clamps it on the way (a review
// found those SYNs, the first to a host being the usual case, unclamped).
func TestShimMSSClampBeforeND(t *testing.T) {
	b := newShimbed(t, false)
	for _, tc := range []struct {
		name     string
		from     int
		src, dst netip.Addr
		smac     [6]byte
	}{
		{"to an unresolved inside host", 1, remoteAddr, unknownHost, macNextHop},
		{"to the unresolved next hop", 0, hostAddr, remoteAddr, macHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.from == 0 {
				f := *b.fwd.Load()
				f.Uplinks = append([]Uplink(nil), f.Uplinks...)
				f.Uplinks[0].Resolved = false
				b.fwd.Store(&f)
			}
			seg := pkttest.TCPSyn(tc.src, tc.dst, 1460)
			dmac := [][6]byte{macInside, macUplink}[tc.from]
			if err := b.ports[tc.from].Inject(0, pkttest.Frame(dmac, tc.smac, tc.src, tc.dst, 64, header.ProtoTCP, seg)); err != nil {
				t.Fatal(err)
			}
			b.w.Poll()
			var ctl [1]ports.Packet
			if b.ring.ScDequeueBurst(ctl[:]) != 1 {
				t.Fatal("the SYN did not go to the control core")
			}
			defer b.ports[0].Free(ctl[:])
			ip := header.IPv6(ctl[0].Frame()[14:])
			tcp := ip[header.IPv6MinimumSize:]
			if mss := binary.BigEndian.Uint16(tcp[22:]); mss != 1432 {
				t.Fatalf("MSS %d on the way to the core, want 1432", mss)
			}
			if ^header.ChecksumFold(header.ChecksumAdd(header.PseudoHeaderSum(ip.Src(), ip.Dst(), uint32(len(tcp)), header.ProtoTCP), tcp)) != 0 {
				t.Fatal("TCP checksum wrong after clamping")
			}
		})
	}
}

// TestUnknownTagEventsCapped: a flood of unknown tags from ever new
// sources raises at most tagEventsPerTick events a tick (what the control
// core can answer with R1bis is far less), and every packet is still
// counted as an unknown-tag drop.
func TestUnknownTagEventsCapped(t *testing.T) {
	b := newShimbed(t, true)
	b.w.shim.Events = NewEventRing(4 * tagEventsPerTick)
	const n = 3 * tagEventsPerTick
	for i := 0; i < n; i++ {
		src := peerLoc4.As16()
		src[14], src[15] = byte(i>>8), byte(i)
		b.run(t, 2, udpFrame(macIsp2, macNextHop2, netip.AddrFrom16(src), hostLoc2, 60, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag^1<<40), "x"))
	}
	events := 0
	for e := (Event{}); b.w.shim.Events.Pop(&e); {
		events++
	}
	if events != tagEventsPerTick {
		t.Errorf("%d unknown-tag events from %d sources in one tick, want %d", events, n, tagEventsPerTick)
	}
	if got := b.w.Counters.local[DropCounter(DropUnknownTag)]; got != n {
		t.Errorf("unknown-tag drops = %d, want %d", got, n)
	}
	b.tick.Store(b.tick.Load() + 1)
	b.run(t, 2, udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, 60, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag^1<<40), "x"))
	if e := (Event{}); !b.w.shim.Events.Pop(&e) {
		t.Error("no event in the next tick")
	}
}
