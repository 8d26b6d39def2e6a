package dataplane

import (
	"bytes"
	"net/netip"
	"testing"

	"shim6d/dataplane/header"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// captured is a drained record with its bytes copied.
type captured struct {
	CaptureMeta
	data []byte
}

func drainAll(r *CaptureRing) []captured {
	var out []captured
	r.Drain(func(m CaptureMeta, data []byte) {
		out = append(out, captured{m, bytes.Clone(data)})
	})
	return out
}

func TestParseCaptureWhat(t *testing.T) {
	for w := CaptureAll; w < numCaptureWhat; w++ {
		got, err := ParseCaptureWhat(w.String())
		if err != nil || got != w {
			t.Errorf("ParseCaptureWhat(%q) = %v, %v", w.String(), got, err)
		}
	}
	if _, err := ParseCaptureWhat("everything"); err == nil {
		t.Error("an unknown selection was accepted")
	}
}

// captureFrames are one of each fate on the shim testbed: a payload packet
// rewritten out isp2 (port 2), a payload packet with an unknown tag
// dropped on isp2, an I1 for the control core from isp2, and a plain
// packet from inside dropped for its link-local destination.
func captureFrames(b *shimbed) (out, unknown, i1, linkLocal []byte) {
	out = udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoUDP, nil, "ping")
	unknown = udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, 60, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag^1<<40), "x")
	i1 = udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, 60, header.ProtoShim6,
		[]byte{59, 1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "")
	i1 = i1[:len(i1)-8]
	i1[19] = 16
	linkLocal = udpFrame(macInside, macHost, hostAddr, netip.MustParseAddr("fe80::1"), 64, header.ProtoUDP, nil, "ll")
	return
}

// TestCaptureSelects runs one packet of each fate through a worker under
// each selection and checks what the ring holds: which packets, on which
// port, with which verdict and reason, and the bytes as they left.
func TestCaptureSelects(t *testing.T) {
	type want struct {
		port    uint16
		verdict CaptureVerdict
		reason  DropReason
	}
	fwd := want{2, CaptureForwarded, DropNone}
	unk := want{2, CaptureDropped, DropUnknownTag}
	ctl := want{2, CaptureToControl, DropNone}
	ll := want{0, CaptureDropped, DropLinkLocal}
	for _, tc := range []struct {
		filter CaptureFilter
		want   []want
	}{
		{CaptureFilter{What: CaptureAll}, []want{fwd, unk, ctl, ll}},
		{CaptureFilter{What: CaptureShim6}, []want{fwd, unk, ctl}},
		{CaptureFilter{What: CaptureControl}, []want{ctl}},
		{CaptureFilter{What: CaptureDrops}, []want{unk, ll}},
		{CaptureFilter{What: CaptureAll, Ports: 1 << 0}, []want{ll}},
		{CaptureFilter{What: CaptureDrops, Ports: 1 << 2}, []want{unk}},
		{CaptureFilter{What: CaptureAll, Ports: 1 << 1}, nil},
	} {
		b := newShimbed(t, true)
		r := NewCaptureRing(16, 2048, tc.filter)
		b.w.SetCapture(r)
		out, unknown, i1, linkLocal := captureFrames(b)
		sent, _ := b.run(t, 0, out)
		b.run(t, 2, unknown)
		b.run(t, 2, i1)
		b.run(t, 0, linkLocal)
		got := drainAll(r)
		if len(got) != len(tc.want) {
			t.Errorf("%+v: %d records, want %d: %+v", tc.filter, len(got), len(tc.want), got)
			continue
		}
		for i, g := range got {
			w := tc.want[i]
			if g.Port != w.port || g.Verdict != w.verdict || g.Reason != w.reason || g.Time == 0 || g.Len != len(g.data) {
				t.Errorf("%+v: record %d = %+v, want %+v", tc.filter, i, g.CaptureMeta, w)
			}
			if w == fwd && !bytes.Equal(g.data, sent[2][0]) {
				t.Errorf("%+v: the forwarded record is not the frame as it left:\n%x\n%x", tc.filter, g.data, sent[2][0])
			}
		}
		if r.Captured() != uint64(len(tc.want)) || r.Overflow() != 0 {
			t.Errorf("%+v: captured %d overflow %d", tc.filter, r.Captured(), r.Overflow())
		}
	}
}

// TestCaptureRingOverflow: a full ring refuses and counts, forwarding goes
// on, and the ring takes packets again once drained.
func TestCaptureRingOverflow(t *testing.T) {
	b := newShimbed(t, true)
	r := NewCaptureRing(3, 64, CaptureFilter{}) // rounds up to 4
	b.w.SetCapture(r)
	out := udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoUDP, nil, "ping")
	for range 10 {
		if err := b.ports[0].Inject(0, out); err != nil {
			t.Fatal(err)
		}
	}
	b.w.Poll()
	if n := len(b.ports[2].SentAll()); n != 10 {
		t.Fatalf("forwarded %d of 10 with the capture ring full", n)
	}
	if r.Captured() != 4 || r.Overflow() != 6 {
		t.Fatalf("captured %d overflow %d, want 4 and 6", r.Captured(), r.Overflow())
	}
	got := drainAll(r)
	if len(got) != 4 {
		t.Fatalf("drained %d, want 4", len(got))
	}
	// Snaplen: the copy is cut, the length is the frame's.
	if len(got[0].data) != 64 || got[0].Len <= 64 {
		t.Fatalf("copy %d bytes of %d, want 64 of more", len(got[0].data), got[0].Len)
	}
	b.run(t, 0, out)
	if r.Captured() != 5 || r.Overflow() != 6 || len(drainAll(r)) != 1 {
		t.Fatalf("after the drain: captured %d overflow %d", r.Captured(), r.Overflow())
	}
	// Stopped: the worker copies nothing more.
	b.w.SetCapture(nil)
	b.run(t, 0, out)
	if r.Captured() != 5 {
		t.Fatal("the worker copied after SetCapture(nil)")
	}
}

// TestCaptureRefusedByControlRing: packets the control ring refuses are
// recorded again as drops with their reason.
func TestCaptureRefusedByControlRing(t *testing.T) {
	tb := newTestbed(t)
	tb.w.cfg.Control = mem.NewRing(2)
	r := NewCaptureRing(16, 256, CaptureFilter{What: CaptureDrops})
	tb.w.SetCapture(r)
	for range 5 {
		tb.inside.Inject(0, frame(macInside, macHost, hostAddr, insideAddr, 64))
	}
	tb.w.Poll()
	got := drainAll(r)
	if len(got) != 3 {
		t.Fatalf("%d drop records, want 3", len(got))
	}
	for _, g := range got {
		if g.Verdict != CaptureDropped || g.Reason != DropControlRingFull || g.Port != 0 {
			t.Fatalf("record %+v", g.CaptureMeta)
		}
	}
}

// TestCaptureAllocatesNothing: the hot path allocates nothing with no
// capture, with one copying, and with one whose ring is full.
func TestCaptureAllocatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		ring *CaptureRing
	}{
		{"none", nil},
		{"copying", NewCaptureRing(1<<12, 2048, CaptureFilter{})},
		{"full", NewCaptureRing(1, 2048, CaptureFilter{})},
	} {
		b := newShimbed(t, true)
		out, unknown, i1, linkLocal := captureFrames(b)
		b.ports[0].SetSource(0, [][]byte{out, linkLocal})
		b.ports[2].SetSource(0, [][]byte{unknown, i1})
		for _, p := range b.ports {
			p.SetSink(0, true)
		}
		b.w.SetCapture(tc.ring)
		if a := testing.AllocsPerRun(100, func() {
			b.w.Poll()
			var ctl [8]ports.Packet
			b.ports[0].Free(ctl[:b.ring.ScDequeueBurst(ctl[:])])
		}); a != 0 {
			t.Errorf("%s: a round allocates %v", tc.name, a)
		}
		if tc.ring != nil && (tc.ring.Captured() == 0 || tc.name == "full" && tc.ring.Overflow() == 0) {
			t.Errorf("%s: the rounds did not exercise the capture: captured %d overflow %d",
				tc.name, tc.ring.Captured(), tc.ring.Overflow())
		}
	}
}

// BenchmarkCapture is BenchmarkShim's outbound_rewrite_insert/1K row with
// a capture running: copying every packet into a ring with room for all
// of them, selecting none of them (drops only), and refusing every one
// to a full ring. The differences with the row are what a capture costs
// a worker a packet; the drain runs on another core and is not counted.
func BenchmarkCapture(b *testing.B) {
	mk := func(pairs [][2][16]byte, _ []uint64, i int) []byte {
		return udpFrame(macInside, macHost, netip.AddrFrom16(pairs[i][0]), netip.AddrFrom16(pairs[i][1]), 64, header.ProtoUDP, nil, "0123456789abcdef")
	}
	for _, tc := range []struct {
		name string
		ring func(n int) *CaptureRing
	}{
		{"all_copying", func(n int) *CaptureRing { return NewCaptureRing(n+ports.MaxBurst, 128, CaptureFilter{}) }},
		{"drops_none_selected", func(n int) *CaptureRing { return NewCaptureRing(64, 128, CaptureFilter{What: CaptureDrops}) }},
		{"all_ring_full", func(n int) *CaptureRing {
			r := NewCaptureRing(1, 128, CaptureFilter{})
			r.head.Store(1) // full from the start
			return r
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			runShimBenchOf(b, 1<<10, mk, 0, false, func(w *Worker) { w.SetCapture(tc.ring(b.N)) })
		})
	}
}
