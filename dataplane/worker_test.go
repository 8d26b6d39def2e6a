package dataplane

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// Short names for pkttest's addressing plan.
var (
	macInside, macUplink, macHost, macNextHop    = pkttest.MACInside, pkttest.MACUplink, pkttest.MACHost, pkttest.MACNextHop
	hostAddr, remoteAddr, insideAddr, uplinkAddr = pkttest.HostAddr, pkttest.RemoteAddr, pkttest.InsideAddr, pkttest.UplinkAddr
	unknownHost                                  = netip.MustParseAddr("2001:db8:1::99")
)

// testbed is one worker between an inside port (0) and an uplink (1).
type testbed struct {
	inside, uplink *mem.Port
	ring           *mem.Ring
	w              *Worker
	fwd            atomic.Pointer[Forwarding]
}

func newTestbed(t testing.TB) *testbed {
	pool := mem.NewPool(256, mem.DefaultBufSize)
	tb := &testbed{
		inside: mem.NewPort(mem.Config{Name: "inside", Index: 0, MAC: macInside, Pool: pool}),
		uplink: mem.NewPort(mem.Config{Name: "isp1", Index: 1, MAC: macUplink, Pool: pool}),
		ring:   mem.NewRing(64),
	}
	f := &Forwarding{
		Ports:  []PortInfo{{Role: RoleInside, MAC: macInside, MTU: 1500}, {Role: RoleUplink, MAC: macUplink, MTU: 1500}},
		Inside: 0,
		Site:   []Prefix{MakePrefix(netip.MustParsePrefix("2001:db8:1::/48"))},
		Uplinks: []Uplink{{
			Prefix: MakePrefix(netip.MustParsePrefix("2001:db8:1::/48")), Port: 1,
			NextHopMAC: macNextHop, Resolved: true,
		}},
		Neighbors: map[[16]byte][6]byte{hostAddr.As16(): macHost},
	}
	f.AddLocal(insideAddr)
	f.AddLocal(uplinkAddr)
	tb.fwd.Store(f)
	tb.w = NewWorker(WorkerConfig{
		Ports: []ports.Port{tb.inside, tb.uplink}, Control: tb.ring, Fwd: &tb.fwd,
	})
	return tb
}

// frame builds Ethernet + IPv6 + UDP (ports 1000 → 2000, 4 payload bytes,
// checksummed over its own addresses) with pkttest, from the RFC layouts.
func frame(dmac, smac [6]byte, src, dst netip.Addr, hop byte) []byte {
	return pkttest.UDP(dmac, smac, src, dst, hop, header.ProtoUDP, nil, "data", src, dst)
}

func TestForwardGolden(t *testing.T) {
	tests := []struct {
		name     string
		from     int // 0 inside, 1 uplink
		in       []byte
		wantPort int // -1: control ring, -2: dropped
		want     []byte
		drop     DropReason
	}{{
		name: "inside to uplink: next hop MAC, hop limit 64->63",
		from: 0, in: frame(macInside, macHost, hostAddr, remoteAddr, 64),
		wantPort: 1, want: frame(macNextHop, macUplink, hostAddr, remoteAddr, 63),
	}, {
		name: "uplink to inside: host MAC from neighbor table",
		from: 1, in: frame(macUplink, macNextHop, remoteAddr, hostAddr, 2),
		wantPort: 0, want: frame(macHost, macInside, remoteAddr, hostAddr, 1),
	}, {
		name: "ethernet padding is trimmed",
		from: 0, in: append(frame(macInside, macHost, hostAddr, remoteAddr, 64), 0, 0, 0, 0),
		wantPort: 1, want: frame(macNextHop, macUplink, hostAddr, remoteAddr, 63),
	}, {
		name: "hop limit 1 goes to the control core for Time Exceeded",
		from: 0, in: frame(macInside, macHost, hostAddr, remoteAddr, 1), wantPort: -1,
	}, {
		name: "to our own address goes to the control core",
		from: 0, in: frame(macInside, macHost, hostAddr, insideAddr, 64), wantPort: -1,
	}, {
		name: "unresolved inside neighbor goes to the control core",
		from: 1, in: frame(macUplink, macNextHop, remoteAddr, unknownHost, 64), wantPort: -1,
	}, {
		name: "source outside every uplink prefix",
		from: 0, in: frame(macInside, macHost, netip.MustParseAddr("2001:db8:7::1"), remoteAddr, 64),
		wantPort: -2, drop: DropSourceNotInSite,
	}, {
		name: "uplink to a destination outside the site",
		from: 1, in: frame(macUplink, macNextHop, remoteAddr, netip.MustParseAddr("2001:db8:7::1"), 64),
		wantPort: -2, drop: DropNotForSite,
	}, {
		name: "inside to inside",
		from: 0, in: frame(macInside, macHost, hostAddr, unknownHost, 64), wantPort: -2, drop: DropHairpin,
	}, {
		name: "link-local destination",
		from: 0, in: frame(macInside, macHost, hostAddr, netip.MustParseAddr("fe80::1"), 64),
		wantPort: -2, drop: DropLinkLocal,
	}, {
		name: "multicast UDP",
		from: 0, in: frame(macInside, macHost, hostAddr, netip.MustParseAddr("ff0e::1"), 64),
		wantPort: -2, drop: DropMulticast,
	}, {
		name: "truncated ethernet", from: 0, in: []byte{1, 2, 3}, wantPort: -2, drop: DropTruncatedEthernet,
	}, {
		name: "IPv4 ethertype", from: 0,
		in:       append(append(append([]byte{}, macInside[:]...), macHost[:]...), 0x08, 0x00, 0x45, 0),
		wantPort: -2, drop: DropNotIPv6,
	}, {
		name: "truncated IPv6 header", from: 0,
		in: frame(macInside, macHost, hostAddr, remoteAddr, 64)[:14+39], wantPort: -2, drop: DropTruncatedIPv6,
	}, {
		name: "version 4 in an IPv6 frame", from: 0,
		in: func() []byte {
			b := frame(macInside, macHost, hostAddr, remoteAddr, 64)
			b[14] = 0x40
			return b
		}(), wantPort: -2, drop: DropBadVersion,
	}, {
		name: "payload length past the frame", from: 0,
		in: func() []byte {
			b := frame(macInside, macHost, hostAddr, remoteAddr, 64)
			b[19] = 13
			return b
		}(), wantPort: -2, drop: DropBadLength,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestbed(t)
			src := []*mem.Port{tb.inside, tb.uplink}[tt.from]
			if err := src.Inject(0, tt.in); err != nil {
				t.Fatal(err)
			}
			if n := tb.w.Poll(); n != 1 {
				t.Fatalf("Poll received %d packets, want 1", n)
			}
			tb.w.Counters.publish()
			outs := [][][]byte{tb.inside.SentAll(), tb.uplink.SentAll()}
			var ctl [4]ports.Packet
			nctl := tb.ring.ScDequeueBurst(ctl[:])
			defer tb.inside.Free(ctl[:nctl])
			switch tt.wantPort {
			case -1:
				if nctl != 1 || len(outs[0])+len(outs[1]) != 0 {
					t.Fatalf("want control ring: ring %d, tx %d/%d", nctl, len(outs[0]), len(outs[1]))
				}
				if ctl[0].Port != uint16(tt.from) {
					t.Errorf("control packet port = %d, want %d", ctl[0].Port, tt.from)
				}
			case -2:
				if nctl != 0 || len(outs[0])+len(outs[1]) != 0 {
					t.Fatalf("want drop: ring %d, tx %d/%d", nctl, len(outs[0]), len(outs[1]))
				}
				if got := tb.w.Counters.Load(DropCounter(tt.drop)); got != 1 {
					t.Fatalf("drop counter %v = %d, want 1", tt.drop, got)
				}
			default:
				got := outs[tt.wantPort]
				if len(got) != 1 || nctl != 0 || len(outs[1-tt.wantPort]) != 0 {
					t.Fatalf("want one packet on port %d; got %d/%d, ring %d", tt.wantPort, len(outs[0]), len(outs[1]), nctl)
				}
				if !bytes.Equal(got[0], tt.want) {
					t.Fatalf("output differs\n got %s\nwant %s", hex.EncodeToString(got[0]), hex.EncodeToString(tt.want))
				}
			}
			if tb.inside.Pool().Avail() != 256-nctl {
				t.Fatalf("pool leaked: %d of 256 free with %d held", tb.inside.Pool().Avail(), nctl)
			}
		})
	}
}

func TestDropReasonsHaveNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range DropReasons() {
		n := r.String()
		if n == "" || n == "unknown" || seen[n] || r.Help() == "" || strings.ContainsAny(n, " -") {
			t.Errorf("reason %d has a bad or duplicate name %q / help %q", r, n, r.Help())
		}
		seen[n] = true
	}
}

func TestControlRingFullIsCountedAndFreed(t *testing.T) {
	tb := newTestbed(t)
	tb.w.cfg.Control = mem.NewRing(2)
	for i := 0; i < 5; i++ {
		tb.inside.Inject(0, frame(macInside, macHost, hostAddr, insideAddr, 64))
	}
	tb.w.Poll()
	tb.w.Counters.publish()
	if got := tb.w.Counters.Load(DropCounter(DropControlRingFull)); got != 3 {
		t.Fatalf("ring-full drops = %d, want 3", got)
	}
	if got := tb.w.Counters.Load(CounterToControl); got != 2 {
		t.Fatalf("to control = %d, want 2", got)
	}
	if tb.inside.Pool().Avail() != 256-2 {
		t.Fatalf("refused packets were not freed: %d free", tb.inside.Pool().Avail())
	}
}

func TestForwardingAllocatesNothing(t *testing.T) {
	tb := newTestbed(t)
	tb.inside.SetSource(0, [][]byte{
		frame(macInside, macHost, hostAddr, remoteAddr, 64),
		frame(macInside, macHost, netip.MustParseAddr("2001:db8:7::1"), remoteAddr, 64),
	})
	tb.uplink.SetSource(0, [][]byte{frame(macUplink, macNextHop, remoteAddr, hostAddr, 64)})
	tb.inside.SetSink(0, true)
	tb.uplink.SetSink(0, true)
	if a := testing.AllocsPerRun(200, func() { tb.w.Poll() }); a != 0 {
		t.Fatalf("Poll allocates %v times per round", a)
	}
}

func BenchmarkForwardInsideToUplink(b *testing.B) {
	tb := newTestbed(b)
	var frames [][]byte
	for i := 0; i < 256; i++ {
		src := hostAddr.As16()
		src[14], src[15] = byte(i), byte(i>>8)
		frames = append(frames, frame(macInside, macHost, netip.AddrFrom16(src), remoteAddr, 64))
	}
	tb.inside.SetSource(0, frames)
	tb.uplink.SetSink(0, true)
	b.ResetTimer()
	pkts := 0
	for i := 0; i < b.N; i++ {
		pkts += tb.w.Poll()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts), "ns/pkt")
}

func TestHandoffPacketsLeaveOnTheWorkersQueue(t *testing.T) {
	tb := newTestbed(t)
	h := &Handoff{}
	tb.w.cfg.Handoff = []*Handoff{nil, h}
	var pk [3]ports.Packet
	if tb.uplink.Alloc(pk[:]) != 3 {
		t.Fatal("alloc")
	}
	for i := range pk {
		pk[i].SetLen(1)
		pk[i].Frame()[0] = byte(i)
	}
	if h.Enqueue(pk[:]) != 3 {
		t.Fatal("handoff refused 3 packets")
	}
	tb.w.Poll()
	sent := tb.uplink.Sent(0)
	if len(sent) != 3 || sent[2][0] != 2 {
		t.Fatalf("worker sent %d handed-off packets, want 3 in order", len(sent))
	}
}

func TestHandoffFullAndWrap(t *testing.T) {
	h := &Handoff{}
	var in [handoffSize + 10]ports.Packet
	for i := range in {
		in[i].Handle = uintptr(i)
	}
	if n := h.Enqueue(in[:]); n != handoffSize {
		t.Fatalf("enqueue into empty = %d, want %d", n, handoffSize)
	}
	var out [100]ports.Packet
	if n := h.Dequeue(out[:]); n != 100 || out[99].Handle != 99 {
		t.Fatalf("dequeue = %d", n)
	}
	if n := h.Enqueue(in[handoffSize:]); n != 10 {
		t.Fatalf("enqueue after dequeue = %d, want 10", n)
	}
	total := 0
	for {
		n := h.Dequeue(out[:])
		if n == 0 {
			break
		}
		total += n
	}
	if total != handoffSize-100+10 {
		t.Fatalf("drained %d", total)
	}
}

func TestHandoffConcurrent(t *testing.T) {
	h := &Handoff{}
	const n = 20000
	done := make(chan struct{})
	go func() {
		defer close(done)
		var p [7]ports.Packet
		for sent := 0; sent < n; {
			k := min(len(p), n-sent)
			for i := 0; i < k; i++ {
				p[i].Handle = uintptr(sent + i)
			}
			sent += h.Enqueue(p[:k])
		}
	}()
	var out [32]ports.Packet
	for next := 0; next < n; {
		k := h.Dequeue(out[:])
		for i := 0; i < k; i++ {
			if out[i].Handle != uintptr(next) {
				t.Fatalf("got %d, want %d", out[i].Handle, next)
			}
			next++
		}
	}
	<-done
}

// BenchmarkClassifyForward runs the classify pass alone over one burst of
// the bench's traffic (inside hosts to random peers, forwarded unchanged
// but for MACs and hop limit) that stays in L1: the worker's own cost per
// packet, without rx, tx or cache misses. Only the hop limit is reset
// between rounds.
func BenchmarkClassifyForward(b *testing.B) {
	tb := newTestbed(b)
	var pk [ports.MaxBurst]ports.Packet
	if tb.inside.Alloc(pk[:]) != len(pk) {
		b.Fatal("alloc")
	}
	for i := range pk {
		src, dst := hostAddr.As16(), remoteAddr.As16()
		src[15], dst[14], dst[15] = byte(i), byte(i*7), byte(i*13)
		f := frame(macInside, macHost, netip.AddrFrom16(src), netip.AddrFrom16(dst), 64)
		pk[i].SetLen(len(f))
		copy(pk[i].Frame(), f)
	}
	f := tb.fwd.Load()
	for b.Loop() {
		for i := range pk {
			pk[i].Frame()[header.EthernetMinimumSize+7] = 64
		}
		if out, same := tb.w.classifyBurst(pk[:], 0, f); out != 1 || !same {
			b.Fatalf("burst classified to %d (all same: %v), want uplink 1", out, same)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pk)), "ns/pkt")
}

// TestRoundSendsWithTheNextRound drives the loop Run runs: a round's
// forwarded packets wait for the next round's Rounder call (one crossing
// into C a round on DPDK), a round that receives nothing sends what it
// was handed at once, and a burst the port refuses is counted and freed.
func TestRoundSendsWithTheNextRound(t *testing.T) {
	tb := newTestbed(t)
	in := frame(macInside, macHost, hostAddr, remoteAddr, 64)
	want := frame(macNextHop, macUplink, hostAddr, remoteAddr, 63)
	for range 3 {
		tb.inside.Inject(0, in)
	}
	if n := tb.w.round(); n != 3 {
		t.Fatalf("round() = %d, want 3", n)
	}
	if got := tb.uplink.Sent(0); len(got) != 0 {
		t.Fatalf("sent %d packets before the next round", len(got))
	}
	if n := tb.w.round(); n != 0 {
		t.Fatalf("second round() = %d, want 0", n)
	}
	got := tb.uplink.Sent(0)
	if len(got) != 3 || !bytes.Equal(got[0], want) {
		t.Fatalf("after the second round: sent %d packets, first %x; want 3 of %x", len(got), got, want)
	}

	// A refused burst: counted as tx-full drops and freed.
	avail := tb.inside.Pool().Avail()
	tb.inside.Inject(0, in)
	tb.inside.Inject(0, in)
	tb.w.round()
	tb.uplink.SetLink(false)
	tb.w.round()
	tb.w.Counters.publish()
	c := &tb.w.Counters
	if d := c.Load(DropCounter(DropTxFull)); d != 2 {
		t.Errorf("tx-full drops = %d, want 2", d)
	}
	if tx := c.Load(PortCounter(1, PortTxPackets)); tx != 3 {
		t.Errorf("uplink tx packets = %d, want 3", tx)
	}
	if b := c.Load(PortCounter(1, PortTxBytes)); b != uint64(3*len(want)) {
		t.Errorf("uplink tx bytes = %d, want %d", b, 3*len(want))
	}
	if b := c.Load(PortCounter(0, PortRxBytes)); b != uint64(5*len(in)) {
		t.Errorf("inside rx bytes = %d, want %d", b, 5*len(in))
	}
	if a := tb.inside.Pool().Avail(); a != avail {
		t.Errorf("pool: %d free, want %d (refused packets not freed)", a, avail)
	}
}

// TestBurstsFromTwoPortsToOne sends a full burst from each of two uplinks
// to one inside host: the second burst cannot take over the inside port's
// tx buffer, which the first holds, and fills it halfway through the
// round, which must then send it.
func TestBurstsFromTwoPortsToOne(t *testing.T) {
	tb := newTestbed(t)
	isp2 := mem.NewPort(mem.Config{Name: "isp2", Index: 2, MAC: macUplink, Pool: tb.inside.Pool()})
	f := *tb.fwd.Load()
	f.Ports = append(f.Ports, PortInfo{Role: RoleUplink, MAC: macUplink, MTU: 1500})
	tb.fwd.Store(&f)
	w := NewWorker(WorkerConfig{Ports: []ports.Port{tb.inside, tb.uplink, isp2}, Control: tb.ring, Fwd: &tb.fwd})
	for i := range ports.MaxBurst {
		tb.uplink.Inject(0, frame(macUplink, macNextHop, remoteAddr, hostAddr, byte(10+i)))
		isp2.Inject(0, frame(macUplink, macNextHop, remoteAddr, hostAddr, byte(100+i)))
	}
	if n := w.Poll(); n != 2*ports.MaxBurst {
		t.Fatalf("Poll() = %d, want %d", n, 2*ports.MaxBurst)
	}
	got := tb.inside.Sent(0)
	if len(got) != 2*ports.MaxBurst {
		t.Fatalf("inside sent %d packets, want %d", len(got), 2*ports.MaxBurst)
	}
	for i := range ports.MaxBurst {
		for j, hop := range []byte{byte(10 + i), byte(100 + i)} {
			want := frame(macHost, macInside, remoteAddr, hostAddr, hop-1)
			if k := j*ports.MaxBurst + i; !bytes.Equal(got[k], want) {
				t.Fatalf("packet %d: %x, want %x", k, got[k], want)
			}
		}
	}
}
