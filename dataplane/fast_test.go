package dataplane

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// fastCorpus is traffic of every kind a worker meets, for the fast paths'
// differential test: each frame with the port it arrives on.
func fastCorpus(b *shimbed) []struct {
	from  int
	frame []byte
} {
	plainPeer := netip.MustParseAddr("2001:db8:5::5") // has a context that does not rewrite
	var c []struct {
		from  int
		frame []byte
	}
	add := func(from int, f []byte) {
		c = append(c, struct {
			from  int
			frame []byte
		}{from, f})
	}
	tcp := func(src, dst netip.Addr, syn bool) []byte {
		seg := pkttest.TCPSyn(src, dst, 1460)
		if !syn {
			seg[tcpFlagsOff] = 0x10 // ACK
		}
		return seg
	}
	big := strings.Repeat("x", 1500-header.IPv6MinimumSize-8-header.Shim6PayloadSize)
	for _, hop := range []byte{64, 2, 1, 0} {
		// Outbound: a context that rewrites, one that does not, none.
		for _, dst := range []netip.Addr{peerULID, plainPeer, remoteAddr} {
			add(0, udpFrame(macInside, macHost, hostAddr, dst, hop, header.ProtoUDP, nil, "data"))
			// A flow in order, the context's first: kept beside its
			// feedback tick, its entry there moves on at each segment
			// (in later rounds of the corpus, they are retransmissions).
			for _, seq := range []uint32{5000, 5200, 5400} {
				add(0, pkttest.Frame(macInside, macHost, hostAddr, dst, hop, header.ProtoTCP, tcpSeg(hostAddr, dst, 40001, 443, seq, 0, 200)))
			}
			add(0, pkttest.Frame(macInside, macHost, hostAddr, dst, hop, header.ProtoTCP, tcp(hostAddr, dst, true)))
			add(0, pkttest.Frame(macInside, macHost, hostAddr, dst, hop, header.ProtoTCP, tcp(hostAddr, dst, false)))
			// Data, for the retransmission watch: every round of the
			// corpus sends them again.
			for _, seq := range []uint32{1000, 1300, 1100} {
				add(0, pkttest.Frame(macInside, macHost, hostAddr, dst, hop, header.ProtoTCP, tcpSeg(hostAddr, dst, 40000, 443, seq, 0, 200)))
			}
			add(0, udpFrame(macInside, macHost, hostAddr, dst, hop, header.ProtoUDP, nil, big))
			add(0, udpFrame(macInside, macHost, hostAddr, dst, hop, header.ProtoUDP, nil, big+"y"))
			add(0, udpFrame(macInside, macHost, hostAddr, dst, hop, header.ProtoHopByHop, []byte{header.ProtoUDP, 0, 1, 4, 0, 0, 0, 0}, "data"))
			add(0, pkttest.Frame(macInside, macHost, hostAddr, dst, hop, header.ProtoICMPv6, []byte{128, 0, 0, 0, 0, 1, 0, 1}))
			add(0, pkttest.Frame(macInside, macHost, hostAddr, dst, hop, header.ProtoESP, []byte{0, 0, 1, 0, 0, 0, 0, 1}))
		}
		// Frames the ports must not take, each otherwise one the fast
		// paths would forward: unicast to another station (a switch's
		// flood), to the virtual MAC of a port that has none, to
		// broadcast, to a group not joined; and to all-nodes, which is
		// taken.
		for _, dmac := range [][6]byte{macForeign, macVirtual1, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x33, 0x33, 0xff, 0, 0, 0x99}, {0x33, 0x33, 0, 0, 0, 1}} {
			for _, dst := range []netip.Addr{peerULID, remoteAddr} {
				add(0, udpFrame(dmac, macHost, hostAddr, dst, hop, header.ProtoUDP, nil, "data"))
			}
			add(2, udpFrame(dmac, macNextHop2, peerLoc4, hostLoc2, hop, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag), "data"))
			add(1, udpFrame(dmac, macNextHop, remoteAddr, hostAddr, hop, header.ProtoUDP, nil, "data"))
		}
		// Outbound odd ones: hairpin, multicast, for us, link-local,
		// foreign source.
		add(0, udpFrame(macInside, macHost, hostAddr, unknownHost, hop, header.ProtoUDP, nil, "data"))
		add(0, udpFrame(macInside, macHost, hostAddr, netip.MustParseAddr("ff02::1"), hop, header.ProtoUDP, nil, "data"))
		add(0, udpFrame(macInside, macHost, hostAddr, insideAddr, hop, header.ProtoUDP, nil, "data"))
		add(0, udpFrame(macInside, macHost, netip.MustParseAddr("fe80::1"), remoteAddr, hop, header.ProtoUDP, nil, "data"))
		add(0, udpFrame(macInside, macHost, netip.MustParseAddr("2001:db8:9::1"), remoteAddr, hop, header.ProtoUDP, nil, "data"))
		// Inbound: payload headers with our tag, a stale one, a control
		// message; plain packets to a known and an unknown host.
		for _, tag := range []uint64{b.tag, b.tag ^ 1<<40} {
			add(2, udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, hop, header.ProtoShim6, shimHeader(header.ProtoUDP, tag), "data"))
			add(2, udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, hop, header.ProtoShim6, shimHeader(header.ProtoUDP, tag), big))
			add(2, pkttest.Frame(macIsp2, macNextHop2, peerLoc4, hostLoc2, hop, header.ProtoShim6,
				append(shimHeader(header.ProtoTCP, tag), tcp(peerULID, hostAddr, true)...)))
			add(2, pkttest.Frame(macIsp2, macNextHop2, peerLoc4, hostLoc2, hop, header.ProtoShim6,
				append(shimHeader(header.ProtoTCP, tag), tcp(peerULID, hostAddr, false)...)))
		}
		add(2, pkttest.Frame(macIsp2, macNextHop2, peerLoc4, hostLoc2, hop, header.ProtoShim6, []byte{header.ProtoNoNext, 0, 1, 0, 0, 0, 0, 0}))
		// An I1's length (Hdr Ext Len 1), and a control message whose
		// Hdr Ext Len runs past the packet.
		add(2, pkttest.Frame(macIsp2, macNextHop2, peerLoc4, hostLoc2, hop, header.ProtoShim6,
			[]byte{header.ProtoNoNext, 1, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}))
		add(2, pkttest.Frame(macIsp2, macNextHop2, peerLoc4, hostLoc2, hop, header.ProtoShim6,
			[]byte{header.ProtoNoNext, 2, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}))
		for _, dst := range []netip.Addr{hostAddr, unknownHost, remoteAddr} {
			for _, src := range []netip.Addr{plainPeer, peerULID, remoteAddr} {
				add(1, udpFrame(macUplink, macNextHop, src, dst, hop, header.ProtoUDP, nil, "data"))
				// To the pair's virtual MAC, which port 1 takes while
				// active (newFastDiff), and to another station.
				add(1, udpFrame(macVirtual1, macNextHop, src, dst, hop, header.ProtoUDP, nil, "data"))
				add(1, udpFrame(macForeign, macNextHop, src, dst, hop, header.ProtoUDP, nil, "data"))
				add(1, pkttest.Frame(macUplink, macNextHop, src, dst, hop, header.ProtoTCP, tcp(src, dst, true)))
				add(1, pkttest.Frame(macUplink, macNextHop, src, dst, hop, header.ProtoTCP, tcp(src, dst, false)))
			}
			add(1, udpFrame(macUplink, macNextHop, remoteAddr, dst, hop, header.ProtoUDP, nil, big+"yyyyyyyy"))
			add(1, pkttest.Frame(macUplink, macNextHop, remoteAddr, dst, hop, header.ProtoICMPv6, []byte{1, 4, 0, 0, 0, 0, 0, 0}))
			add(1, pkttest.Frame(macUplink, macNextHop, remoteAddr, dst, hop, header.ProtoICMPv6, []byte{129, 0, 0, 0, 0, 1, 0, 1}))
			add(1, udpFrame(macUplink, macNextHop, remoteAddr, dst, hop, header.ProtoFragment, []byte{header.ProtoUDP, 0, 0, 0, 0, 0, 0, 1}, "data"))
		}
	}
	return c
}

// fastDiff holds the fast paths to route, the reference, one packet at a
// time: a packet a fast path takes must leave by the port route gives it,
// byte for byte as route leaves it, with the same REAP feedback; a packet
// it hands back must be untouched. Two workers on one shimbed, fast and
// ref, each see every packet.
type fastDiff struct {
	b         *shimbed
	fast, ref *Worker
	f         *Forwarding
	pa, pb    [1]ports.Packet
	// events counts the events both raised, by kind.
	events [EventRetransmit + 1]int
}

func newFastDiff(t testing.TB) *fastDiff {
	b := newShimbed(t, true)
	plainPeer := netip.MustParseAddr("2001:db8:5::5")
	if _, _, err := b.tbl.Create(ContextSpec{PeerTag: 77, ULIDLocal: hostAddr.As16(), ULIDPeer: plainPeer.As16(),
		LocLocal: hostAddr.As16(), LocPeer: plainPeer.As16(), EgressPort: 1}); err != nil {
		t.Fatal(err)
	}
	// Each worker has its own event ring, so that check can hold their
	// events to each other too; both watch for retransmissions.
	b.events = NewEventRing(64)
	b.w.shim.Events = b.events
	rc := b.w.cfg
	rc.Shim.Events = NewEventRing(64)
	// And its own feedback, watch entries included: shared, checkFeedback
	// would compare an array with itself, and each worker's watch would
	// see the other's segments.
	rc.Shim.Feedback = NewFeedback(len(b.w.shim.Feedback.Sent))
	// Port 1 is active in an HA pair: it takes its virtual MAC too, and
	// sends from it.
	f := *b.fwd.Load()
	f.Ports = append([]PortInfo(nil), f.Ports...)
	f.Ports[1].Virtual = macVirtual1
	b.fwd.Store(&f)
	d := &fastDiff{b: b, fast: b.w, ref: NewWorker(rc), f: b.fwd.Load()}
	for _, w := range []*Worker{d.fast, d.ref} {
		w.nb.adopt(d.f)
		w.fp.adopt(d.f)
		w.sh.tick = b.tick.Load()
		w.sh.active = true
		w.sh.setAdvice(true)
	}
	if b.ports[0].Alloc(d.pa[:]) != 1 || b.ports[0].Alloc(d.pb[:]) != 1 {
		t.Fatal("alloc")
	}
	t.Cleanup(func() {
		b.ports[0].Free(d.pa[:])
		b.ports[0].Free(d.pb[:])
	})
	return d
}

// macVirtual1 is port 1's virtual MAC in fastDiff; macForeign is another
// station's on every port's link.
var (
	macVirtual1 = [6]byte{0x00, 0x00, 0x5e, 0x00, 0x02, 0x01}
	macForeign  = [6]byte{0x02, 0, 0, 0, 0, 0x99}
)

// maxFrame is the longest frame a test buffer holds.
const maxFrame = mem.DefaultBufSize - ports.Headroom

// check runs frame, arriving on port from, through both workers and
// compares their verdicts. It reports the fast path's result.
func (d *fastDiff) check(t testing.TB, n int, from int, frame []byte) fastResult {
	t.Helper()
	load := func(p *ports.Packet) {
		p.Off, p.Port = ports.Headroom, uint16(from)
		if !p.SetLen(len(frame)) {
			t.Fatalf("frame of %d bytes does not fit", len(frame))
		}
		copy(p.Frame(), frame)
	}
	load(&d.pa[0])
	load(&d.pb[0])
	// A new tick every few packets, so that the watch's reports are not
	// all held back by its once-a-tick limit.
	d.fast.sh.tick, d.ref.sh.tick = uint32(n/5), uint32(n/5)
	defer d.checkEvents(t, n)
	inside := uint16(from) == d.f.Inside
	d.fast.prefetch(d.pa[:], inside)
	d.ref.prefetch(d.pb[:], inside)
	if inside {
		d.fast.fastOut(d.pa[:], &d.fast.fp)
		d.fast.retxLate(d.pa[:])
	} else {
		d.fast.fastIn(d.pa[:], &d.fast.fp)
	}
	out, r := d.fast.next[0], d.fast.res[0]
	if r == fastSlow {
		if d.pa[0].Off != ports.Headroom || !bytes.Equal(d.pa[0].Frame(), frame) {
			t.Fatalf("packet %d: handed back to route, but changed:\n% x\nwas\n% x", n, d.pa[0].Frame(), frame)
		}
		// Route then takes it, on both workers as on a real one: it must
		// do so without a panic, and both keep the same feedback.
		d.fast.slowRoute(&d.pa[0], d.f, 0)
		d.ref.slowRoute(&d.pb[0], d.f, 0)
		return r
	}
	want := d.ref.slowRoute(&d.pb[0], d.f, 0)
	if out != want || d.pa[0].Off != d.pb[0].Off || !bytes.Equal(d.pa[0].Frame(), d.pb[0].Frame()) {
		t.Fatalf("packet %d from port %d: fast path sent it to %d as\n% x\nroute to %d as\n% x\ninput\n% x",
			n, from, out, d.pa[0].Frame(), want, d.pb[0].Frame(), frame)
	}
	return r
}

// checkEvents compares the events the two workers raised for packet n.
func (d *fastDiff) checkEvents(t testing.TB, n int) {
	t.Helper()
	var a, b Event
	for {
		okA, okB := d.fast.shim.Events.Pop(&a), d.ref.shim.Events.Pop(&b)
		if okA != okB || a != b {
			t.Fatalf("packet %d: the fast path raised event %+v (%v), route %+v (%v)", n, a, okA, b, okB)
		}
		if !okA {
			return
		}
		d.events[a.Kind]++
	}
}

// checkFeedback compares the two workers' REAP feedback and the
// retransmission watch's state beside it and in its table.
func (d *fastDiff) checkFeedback(t testing.TB) {
	t.Helper()
	fb, rb := d.fast.shim.Feedback, d.ref.shim.Feedback
	for s := range fb.Sent {
		if fs, rs := fb.Sent[s].Load(), rb.Sent[s].Load(); fs != rs {
			t.Errorf("slot %d: fast path noted sent at %d, route at %d", s, fs, rs)
		}
		if fs, rs := fb.Recv[s].Load(), rb.Recv[s].Load(); fs != rs {
			t.Errorf("slot %d: fast path noted received at %d, route at %d", s, fs, rs)
		}
		if fw, rw := fb.Sent[s].watch, rb.Sent[s].watch; fw != rw || fb.Sent[s].owner != rb.Sent[s].owner {
			t.Errorf("slot %d: the watch's flow beside the tick is %#x (owner %#x) on the fast path, %#x (%#x) on route's",
				s, fw, fb.Sent[s].owner, rw, rb.Sent[s].owner)
		}
	}
	// The watch's table, entries and gaps, alike too.
	if d.fast.sh.retx != d.ref.sh.retx || d.fast.sh.retxGap != d.ref.sh.retxGap {
		t.Error("the retransmission watch's table differs between the fast path and route")
	}
}

// TestFastPathsMatchRoute runs fastDiff over the corpus and random
// corruptions of it.
func TestFastPathsMatchRoute(t *testing.T) {
	d := newFastDiff(t)
	corpus := fastCorpus(d.b)
	rng := rand.New(rand.NewPCG(5, 6))
	taken := [fastControl + 1]int{}
	for n := 0; n < 40*len(corpus); n++ {
		c := corpus[n%len(corpus)]
		frame := bytes.Clone(c.frame)
		if n >= len(corpus) {
			// Corrupt a few header bytes, or cut the frame short.
			for k := rng.IntN(3); k >= 0; k-- {
				frame[12+rng.IntN(min(len(frame), 80)-12)] ^= byte(1 << rng.IntN(8))
			}
			if rng.IntN(8) == 0 {
				frame = frame[:rng.IntN(len(frame))]
			}
		}
		taken[d.check(t, n, c.from, frame)]++
		// After each packet: a state that differs only for a while (the
		// watch's, put right by a later segment) counts too.
		d.checkFeedback(t)
	}
	// The corpus must exercise every fast path, or this test proves little.
	for r, n := range taken {
		if n == 0 {
			t.Errorf("no packet took fast path result %d", r)
		}
	}
	if d.events[EventRetransmit] == 0 {
		t.Error("no packet raised a retransmit event")
	}
	// Frames to other stations were dropped by both, for that reason.
	if f, r := d.fast.Counters.local[DropCounter(DropNotForUs)], d.ref.Counters.local[DropCounter(DropNotForUs)]; f == 0 || r == 0 {
		t.Errorf("not_for_us drops: fast path %d, route %d; want both above 0", f, r)
	}
	t.Logf("fast path results over %d packets (slow, forward, rewrote, stripped, dropped, control): %v; events by kind: %v", 40*len(corpus), taken, d.events)
}

// FuzzFastPathsMatchRoute is fastDiff under the fuzzer, seeded with the
// corpus: any frame from any port. Run it with
// go test ./dataplane -run '^$' -fuzz FuzzFastPathsMatchRoute.
func FuzzFastPathsMatchRoute(f *testing.F) {
	d := newFastDiff(f)
	for _, c := range fastCorpus(d.b) {
		f.Add(uint8(c.from), c.frame)
	}
	n := 0
	f.Fuzz(func(t *testing.T, from uint8, frame []byte) {
		if len(frame) > maxFrame {
			frame = frame[:maxFrame]
		}
		n++
		d.check(t, n, int(from)%len(d.b.ports), frame)
		d.checkFeedback(t)
	})
}

// TestSlowPathCounted: what the fast paths leave to route is counted, so an
// operator sees traffic missing the fast path; what they take is not.
func TestSlowPathCounted(t *testing.T) {
	b := newShimbed(t, true)
	slow := func() uint64 { b.w.Counters.publish(); return b.w.Counters.Load(CounterSlowPath) }
	b.run(t, 0, udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoUDP, nil, "data"))
	b.run(t, 2, udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, 64, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag), "data"))
	if n := slow(); n != 0 {
		t.Fatalf("a rewritten and a stripped packet counted %d on the slow path, want 0", n)
	}
	b.run(t, 0, udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoHopByHop, []byte{header.ProtoUDP, 0, 1, 4, 0, 0, 0, 0}, "data"))
	b.run(t, 0, udpFrame(macInside, macHost, hostAddr, peerULID, 1, header.ProtoUDP, nil, "data"))
	if n := slow(); n != 2 {
		t.Fatalf("a hop-by-hop packet and an expiring one counted %d on the slow path, want 2", n)
	}
}

// TestPrefixSet holds both forms of prefixSet to a scan of Prefix.Contains,
// first match first: one length within 64 bits (the uniform form), mixed
// lengths, lengths past 64 bits, and more prefixes than the uniform form
// holds.
func TestPrefixSet(t *testing.T) {
	sets := []struct {
		prefixes []string
		uniform  bool
	}{
		{[]string{"2001:db8:1::/48"}, true},
		{[]string{"2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:3::/48"}, true},
		{[]string{"2001:db8:1::/48", "2001:db8:1:2::/64"}, false},
		{[]string{"2001:db8:1::/64", "2001:db8:1::1/128", "2001:db8::/32"}, false},
		{[]string{"2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:3::/48", "2001:db8:4::/48", "2001:db8:5::/48"}, false},
		{[]string{"::/0"}, true},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range sets {
		var ps []Prefix
		var fps []fastPrefix
		for _, s := range c.prefixes {
			ps = append(ps, MakePrefix(netip.MustParsePrefix(s)))
			fps = append(fps, fastPrefixOf(&ps[len(ps)-1]))
		}
		var set prefixSet
		set.set(fps)
		if set.uniform != c.uniform {
			t.Errorf("%v: uniform %v, want %v", c.prefixes, set.uniform, c.uniform)
		}
		for n := 0; n < 2000; n++ {
			// Addresses near the prefixes: a prefix's own address with
			// a few random bits flipped.
			a := ps[rng.IntN(len(ps))].Netip().Addr().As16()
			for k := rng.IntN(4); k > 0; k-- {
				a[rng.IntN(16)] ^= byte(1 << rng.IntN(8))
			}
			want := -1
			for i := range ps {
				if ps[i].Contains(&a) {
					want = i
					break
				}
			}
			hi, lo := addrWords(&a)
			if got := set.index(hi, lo); got != want {
				t.Fatalf("%v: %s in prefix %d, want %d", c.prefixes, netip.AddrFrom16(a), got, want)
			}
		}
	}
}

// TestAdoptAllocatesNothing: a worker adopts every new forwarding
// snapshot in its loop, so one of the same shape must cost no allocation.
func TestAdoptAllocatesNothing(t *testing.T) {
	b := newShimbed(t, true)
	f := b.fwd.Load()
	var v fastFwd
	v.adopt(f)
	if n := testing.AllocsPerRun(100, func() { v.adopt(f) }); n != 0 {
		t.Fatalf("adopt allocated %v times a snapshot", n)
	}
}

// FuzzWorkerLosesNoBuffer feeds the whole worker, bursts and all, any mix
// of frames from any port: whatever it does with them (forward, rewrite,
// strip, hand to the control core, drop), it must not panic, and every
// buffer must come back to the pool once the ports' output and the
// control ring are drained. The input is a run of frames, each a port
// byte, a two-byte length and the frame.
func FuzzWorkerLosesNoBuffer(f *testing.F) {
	b := newShimbed(f, true)
	pool := b.ports[0].Pool()
	enc := func(frames ...struct {
		from  int
		frame []byte
	}) []byte {
		var in []byte
		for _, c := range frames {
			in = append(in, byte(c.from), byte(len(c.frame)>>8), byte(len(c.frame)))
			in = append(in, c.frame...)
		}
		return in
	}
	corpus := fastCorpus(b)
	for _, c := range corpus {
		f.Add(enc(c))
	}
	// Mixed bursts, longer than one: every port at once, over two rounds.
	f.Add(enc(corpus...)[:min(len(enc(corpus...)), 40*96)])
	f.Fuzz(func(t *testing.T, in []byte) {
		avail := pool.Avail()
		for frames := 0; len(in) >= 3 && frames < 3*ports.MaxBurst; frames++ {
			from := int(in[0]) % len(b.ports)
			n := min(int(in[1])<<8|int(in[2]), len(in)-3, maxFrame)
			if err := b.ports[from].Inject(0, in[3:3+n]); err != nil {
				t.Fatalf("inject: %v", err)
			}
			in = in[3+n:]
		}
		for b.w.Poll() > 0 {
		}
		for _, p := range b.ports {
			p.SentAll()
		}
		var ctl [64]ports.Packet
		for n := b.ring.ScDequeueBurst(ctl[:]); n > 0; n = b.ring.ScDequeueBurst(ctl[:]) {
			b.ports[0].Free(ctl[:n])
		}
		if got := pool.Avail(); got != avail {
			t.Fatalf("%d buffers lost (%d in the pool, %d before)", avail-got, got, avail)
		}
	})
}
