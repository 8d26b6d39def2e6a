package reap

import (
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"shim6d/control/wire"
)

const ctx ID = 3

// enter drives context ctx of a fresh fixture into state s through the
// protocol's own paths and clears the recorded output.
func (f *fixture) enter(s State) {
	f.t.Helper()
	f.add(ctx)
	if s != Operational {
		f.sendPayload(ctx)
		f.m.Poll(ctx)
		f.clock.Advance(f.m.sendTimeoutMax())
		f.m.Poll(ctx) // §6.4: Send timeout → Exploring
	}
	if s == InboundOk {
		f.m.HandleKeepalive(ctx, b1, a1, &wire.Keepalive{}) // §6.6 → InboundOk
	}
	if got := f.m.State(ctx); got != s {
		f.t.Fatalf("enter(%v): in %v", s, got)
	}
	f.out.reset()
}

// sendTimeoutMax is the longest a jittered Send Timeout can be.
func (m *Machine) sendTimeoutMax() time.Duration {
	return time.Duration(float64(m.sendTimeout)*(1+m.jitter)) + time.Millisecond
}

func peerProbe(s wire.ReapState) *wire.Probe {
	return &wire.Probe{State: s, Sent: []wire.ProbeReport{{Source: b1, Destination: a1, Nonce: 7}}}
}

// TestTransitions walks RFC 5534 §6.1–§6.9's table: every event in every
// state, with the state after, the message sent and the timers running.
func TestTransitions(t *testing.T) {
	events := map[string]func(f *fixture){
		"payload in":  func(f *fixture) { f.recvPayload(ctx); f.m.Poll(ctx) },
		"payload out": func(f *fixture) { f.sendPayload(ctx); f.m.Poll(ctx) },
		"keepalive":   func(f *fixture) { f.m.HandleKeepalive(ctx, b1, a1, &wire.Keepalive{}) },
		"probe exploring": func(f *fixture) {
			f.m.HandleProbe(ctx, b1, a1, peerProbe(wire.ReapExploring))
		},
		"probe inboundok": func(f *fixture) {
			f.m.HandleProbe(ctx, b1, a1, peerProbe(wire.ReapInboundOK))
		},
		"probe operational": func(f *fixture) {
			f.m.HandleProbe(ctx, b1, a1, peerProbe(wire.ReapOperational))
		},
		"send timeout": func(f *fixture) { // only a running Send timer can expire
			if r := &f.m.recs[ctx]; r.state != Exploring {
				r.sendDue = f.m.now()
			}
			f.m.Poll(ctx)
		},
		"keepalive timeout": func(f *fixture) {
			if r := &f.m.recs[ctx]; r.state == Operational {
				r.kaDue = f.m.now()
			}
			f.m.Poll(ctx)
		},
		"retransmission": func(f *fixture) {
			if e := f.m.exp(&f.m.recs[ctx]); e != nil {
				e.probeDue = f.m.now()
			}
			f.m.Poll(ctx)
		},
	}
	type want struct {
		State       State
		Sent        string // "", "keepalive" or "probe <state>"
		SendTimer   bool
		KeepaliveOn bool
	}
	tests := []struct {
		from  State
		event string
		want  want
	}{
		// §6.1 incoming payload
		{Operational, "payload in", want{Operational, "", false, true}},
		{Exploring, "payload in", want{InboundOk, "probe InboundOk", true, false}},
		{InboundOk, "payload in", want{InboundOk, "", false, false}},
		// §6.2 outgoing payload
		{Operational, "payload out", want{Operational, "", true, false}},
		{Exploring, "payload out", want{Exploring, "", false, false}},
		{InboundOk, "payload out", want{InboundOk, "", true, false}},
		// §6.3 Keepalive timeout
		{Operational, "keepalive timeout", want{Operational, "keepalive", false, false}},
		{Exploring, "keepalive timeout", want{Exploring, "", false, false}},
		{InboundOk, "keepalive timeout", want{InboundOk, "", true, false}},
		// §6.4 Send timeout
		{Operational, "send timeout", want{Exploring, "probe Exploring", false, false}},
		{Exploring, "send timeout", want{Exploring, "", false, false}},
		{InboundOk, "send timeout", want{Exploring, "probe Exploring", false, false}},
		// §6.5 retransmission
		{Operational, "retransmission", want{Operational, "", false, false}},
		{Exploring, "retransmission", want{Exploring, "probe Exploring", false, false}},
		{InboundOk, "retransmission", want{InboundOk, "probe InboundOk", true, false}},
		// §6.6 Keepalive received
		{Operational, "keepalive", want{Operational, "", false, false}},
		{Exploring, "keepalive", want{InboundOk, "probe InboundOk", true, false}},
		{InboundOk, "keepalive", want{InboundOk, "", false, false}},
		// §6.7 Probe, State = Exploring
		{Operational, "probe exploring", want{InboundOk, "probe InboundOk", true, false}},
		{Exploring, "probe exploring", want{InboundOk, "probe InboundOk", true, false}},
		{InboundOk, "probe exploring", want{InboundOk, "probe InboundOk", true, false}},
		// §6.8 Probe, State = InboundOk
		{Operational, "probe inboundok", want{Operational, "probe Operational", true, false}},
		{Exploring, "probe inboundok", want{Operational, "probe Operational", true, false}},
		{InboundOk, "probe inboundok", want{Operational, "probe Operational", true, false}},
		// §6.9 Probe, State = Operational
		{Operational, "probe operational", want{Operational, "", false, true}},
		{Exploring, "probe operational", want{Operational, "", false, true}},
		{InboundOk, "probe operational", want{Operational, "", false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.from.String()+"/"+tt.event, func(t *testing.T) {
			f := newFixture(t, Config{})
			f.enter(tt.from)
			events[tt.event](f)
			r := &f.m.recs[ctx]
			got := want{State: r.state, SendTimer: r.sendDue != never, KeepaliveOn: r.kaDue != never}
			var sent []string
			for _, e := range f.out.events {
				switch e.kind {
				case "keepalive":
					sent = append(sent, "keepalive")
				case "probe":
					sent = append(sent, "probe "+e.probe.State.String())
				}
			}
			got.Sent = strings.Join(sent, ",")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			// The state gauges always add up to the contexts.
			var n uint64
			for s := range numStates {
				n += f.m.stats.states[s].Load()
			}
			if n != 1 {
				t.Errorf("state gauges sum to %d", n)
			}
			if r.state == Operational && r.explore != none {
				t.Errorf("Operational with an exploration record")
			}
		})
	}
}

// TestSendTimeoutStartsExploration: payload out, nothing back for Send
// Timeout → Exploring and a probe (RFC 5534 §4.1 rule 6, §6.4); return
// traffic in time keeps the context Operational.
func TestSendTimeoutStartsExploration(t *testing.T) {
	f := newFixture(t, Config{Jitter: -1})
	f.add(ctx)
	f.add(ctx + 1)
	f.run(time.Second)
	t0 := f.clock.t
	f.sendPayload(ctx)
	f.sendPayload(ctx + 1)
	f.run(10 * time.Second)
	f.recvPayload(ctx + 1) // ctx+1 hears back
	f.run(DefaultSendTimeout - 10*time.Second - 20*time.Millisecond)
	if s := f.m.State(ctx); s != Operational {
		t.Fatalf("before Send Timeout: %v", s)
	}
	f.run(DefaultCheckInterval + 40*time.Millisecond)
	if s := f.m.State(ctx); s != Exploring {
		t.Fatalf("after Send Timeout: %v", s)
	}
	if s := f.m.State(ctx + 1); s != Operational {
		t.Fatalf("context with return traffic: %v", s)
	}
	probes := f.out.of("probe")
	if len(probes) == 0 || probes[0].id != ctx || probes[0].probe.State != wire.ReapExploring {
		t.Fatalf("probes: %+v", probes)
	}
	for _, p := range probes {
		if p.id != ctx {
			t.Errorf("probe for context %d", p.id)
		}
	}
	// The Send timer starts at the stamp, so the exploration starts no
	// earlier than Send Timeout after the payload.
	if d := probes[0].at.Sub(t0); d < DefaultSendTimeout || d > DefaultSendTimeout+DefaultCheckInterval {
		t.Errorf("exploration %v after the payload", d)
	}
	// The first probe goes to the first pair sharing no locator with the
	// failed one (firstPair).
	if p := probes[0]; p.src != a2 || p.dst != b2 || p.probe.ReceiverContextTag != 0x1234+uint64(ctx) {
		t.Errorf("first probe %v → %v tag %#x, want (a2, b2)", p.src, p.dst, p.probe.ReceiverContextTag)
	}
}

// TestKeepalive: receiving without sending makes keepalives every
// Keepalive Interval, one third to one half of the Keepalive Timeout (RFC
// 5534 §4.1 rules 1, 5, §7); sending payload suppresses them; the peer's
// Keepalive Timeout option changes the interval (§5.3).
func TestKeepalive(t *testing.T) {
	for _, kt := range []wire.KeepaliveTimeout{0, 30} {
		f := newFixture(t, Config{})
		f.add(ctx)
		f.m.SetKeepaliveTimeout(ctx, kt)
		timeout := DefaultSendTimeout
		if kt != 0 {
			timeout = time.Duration(kt) * time.Second
		}
		start := f.clock.t
		for range 600 { // a one-way stream for 60 s
			f.recvPayload(ctx)
			f.run(100 * time.Millisecond)
		}
		kas := f.out.of("keepalive")
		if len(kas) < int(60*time.Second/(timeout/2+DefaultCheckInterval)) || len(kas) > int(60*time.Second/(timeout/3)) {
			t.Errorf("kt %d: %d keepalives in 60 s", kt, len(kas))
		}
		prev := start
		for _, k := range kas {
			if d := k.at.Sub(prev); d < timeout/3 || d > timeout/2+DefaultCheckInterval {
				t.Errorf("kt %d: keepalive after %v", kt, d)
			}
			if k.src != a1 || k.dst != b1 {
				t.Errorf("keepalive on %v → %v", k.src, k.dst)
			}
			prev = k.at
		}
		// Two-way traffic: no keepalives, no exploration.
		f.out.reset()
		for range 300 {
			f.recvPayload(ctx)
			f.sendPayload(ctx)
			f.run(100 * time.Millisecond)
		}
		if len(f.out.events) != 0 {
			t.Errorf("kt %d: two-way traffic sent %d messages", kt, len(f.out.events))
		}
		// Idle after receiving: one keepalive, then silence.
		f.out.reset()
		f.recvPayload(ctx)
		f.run(2 * time.Minute)
		if n := len(f.out.of("keepalive")); n != 1 {
			t.Errorf("kt %d: %d keepalives going idle, want 1", kt, n)
		}
		if s := f.m.State(ctx); s != Operational {
			t.Errorf("kt %d: state %v", kt, s)
		}
	}
}

func TestKeepaliveTimeoutOption(t *testing.T) {
	if o := newFixture(t, Config{}).m.KeepaliveTimeoutOption(); o != nil {
		t.Errorf("default Send Timeout announces %v", *o)
	}
	o := newFixture(t, Config{SendTimeout: 20 * time.Second}).m.KeepaliveTimeoutOption()
	if o == nil || *o != 20 {
		t.Errorf("Send Timeout 20 s announces %v", o)
	}
}

// TestBackoff: a peer that never answers gets probes on every candidate
// pair in turn, 4 at 0.5 s, then doubling to 60 s (RFC 5534 §4.3, §7).
func TestBackoff(t *testing.T) {
	for _, jitter := range []float64{-1, DefaultJitter} {
		f := newFixture(t, Config{Jitter: jitter})
		f.enter(Exploring)
		f.out.reset()
		r := &f.m.recs[ctx]
		e := f.m.exp(r)
		e.probeDue = f.m.now() // first retransmission now, times measured from here
		f.run(6 * time.Minute)
		probes := f.out.of("probe")
		wantGaps := []time.Duration{500, 500, 500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000}
		if len(probes) < len(wantGaps) {
			t.Fatalf("jitter %v: %d probes", jitter, len(probes))
		}
		// enter sent probe 1 on (a2,b2), the first pair disjoint from the
		// failed (a1,b1); retransmissions continue the diagonal order
		// (a1,b1), (a1,b2), (a2,b1), (a2,b2), ...
		order := [][2]netip.Addr{{a1, b1}, {a1, b2}, {a2, b1}, {a2, b2}}
		for i, p := range probes[:len(wantGaps)] {
			if want := order[i%4]; p.src != want[0] || p.dst != want[1] {
				t.Errorf("jitter %v: probe %d on %v → %v, want %v", jitter, i+2, p.src, p.dst, want)
			}
			if p.probe.State != wire.ReapExploring || len(p.probe.Sent) != min(i+2, reportsKept) {
				t.Errorf("jitter %v: probe %d state %v, %d sent reports", jitter, i+2, p.probe.State, len(p.probe.Sent))
			}
			if i == 0 {
				continue
			}
			// probe i+2's gap follows the (i+1)-th probe of the exploration
			gap := p.at.Sub(probes[i-1].at)
			want := wantGaps[i] * time.Millisecond
			tol := time.Duration(float64(want)*max(jitter, 0)) + 2*time.Duration(f.m.wheel.gran)
			if gap < want-tol || gap > want+tol {
				t.Errorf("jitter %v: gap before probe %d = %v, want %v ± %v", jitter, i+2, gap, want, tol)
			}
		}
		if n := f.m.stats.counts[explorationsFailed].Load(); n != 1 {
			t.Errorf("explorations failed = %d", n)
		}
		if len(f.out.of("switch")) != 0 {
			t.Errorf("switched without an answer")
		}
	}
}

// TestNoSwitchWithoutRoundTrip: probes from the peer that do not report
// one of ours, or misreport it, never change the pair (RFC 5534 §4.2).
func TestNoSwitchWithoutRoundTrip(t *testing.T) {
	f := newFixture(t, Config{})
	f.enter(Exploring)
	f.run(700 * time.Millisecond) // a second probe, on (a1, b1)
	probes := f.out.of("probe")
	if len(probes) != 1 || probes[0].src != a1 || probes[0].dst != b1 {
		t.Fatalf("probes %+v", probes)
	}
	ours := probes[0].probe.Sent[0]
	bad := []wire.ProbeReport{
		{Source: a1, Destination: b1, Nonce: ours.Nonce + 1},
		{Source: a2, Destination: b1, Nonce: ours.Nonce},
		{Source: a1, Destination: b2, Nonce: ours.Nonce},
	}
	for _, rep := range bad {
		p := peerProbe(wire.ReapInboundOK)
		p.Received = []wire.ProbeReport{rep}
		f.m.HandleProbe(ctx, b2, a2, p)
	}
	if sw := f.out.of("switch"); len(sw) != 0 {
		t.Fatalf("switched on %+v", sw)
	}
	if l, p := f.m.Current(ctx); l != a1 || p != b1 {
		t.Fatalf("current %v %v", l, p)
	}
}

// TestLinkDown: a local locator going down starts exploration at once for
// the contexts using it, on pairs from other locators (RFC 5534 §3.2, §4.2).
func TestLinkDown(t *testing.T) {
	f := newFixture(t, Config{})
	f.add(1)
	f.traffic[2] = &stamps{}
	if err := f.m.Add(2, Context{Local: locs(a1, a2), Peer: locs(b1, b2), CurrentLocal: a2, CurrentPeer: b1}); err != nil {
		t.Fatal(err)
	}
	f.run(time.Second)
	f.m.LinkDown(a1)
	probes := f.out.of("probe")
	if len(probes) != 1 || probes[0].id != 1 || probes[0].src == a1 || probes[0].probe.State != wire.ReapExploring {
		t.Fatalf("probes %+v", probes)
	}
	if f.m.State(1) != Exploring || f.m.State(2) != Operational {
		t.Fatalf("states %v %v", f.m.State(1), f.m.State(2))
	}
	f.run(5 * time.Second)
	for _, p := range f.out.of("probe") {
		if p.src == a1 {
			t.Errorf("probe from the down locator at %v", p.at)
		}
	}
}

func TestAddErrors(t *testing.T) {
	f := newFixture(t, Config{Capacity: 4})
	if err := f.m.Add(4, Context{}); err != ErrID {
		t.Errorf("id out of range: %v", err)
	}
	if err := f.m.Add(1, Context{Local: locs(a1), Peer: locs(b1), CurrentLocal: a2, CurrentPeer: b1}); err == nil {
		t.Errorf("current pair not among the locators accepted")
	}
	f.add(1)
	if err := f.m.Add(1, Context{Local: locs(a1), Peer: locs(b1), CurrentLocal: a1, CurrentPeer: b1}); err != ErrInUse {
		t.Errorf("twice: %v", err)
	}
	f.m.Remove(1)
	f.add(1)
	if err := f.m.SetLocators(1, []Locator{{Addr: a2, Priority: 1}, {Addr: a1, Priority: 0}}, locs(b2), a2, b2); err != nil {
		t.Fatal(err)
	}
	if l, p := f.m.Current(1); l != a2 || p != b2 {
		t.Errorf("current %v %v", l, p)
	}
}

// TestTickLag: a Tick after a pause longer than a turn of the wheel still
// runs every timer that fell due.
func TestTickLag(t *testing.T) {
	f := newFixture(t, Config{Jitter: -1})
	f.add(ctx)
	f.run(time.Second)
	f.sendPayload(ctx)
	f.m.Poll(ctx)
	f.clock.Advance(100 * time.Second) // the wheel spans 81.92 s
	f.m.Tick()
	if s := f.m.State(ctx); s != Exploring {
		t.Fatalf("state %v", s)
	}
	if n := len(f.out.of("probe")); n != 1 {
		t.Fatalf("%d probes", n)
	}
	f.run(600 * time.Millisecond)
	if n := len(f.out.of("probe")); n != 2 {
		t.Fatalf("%d probes after the first gap", n)
	}
}

// TestRecordSize: the per-context record stays small and pointer-free
// (STYLE habit 6): 1,000,000 contexts cost under 100 MB.
func TestRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(record{}); n > 88 {
		t.Errorf("record is %d bytes", n)
	}
}

// TestReturnTrafficJustBeforeSendTimeout: the peer's answer arrives after
// the last check but before the Send timer expires. The timer must see it
// and not explore (RFC 5534 §4.1 rule 6: "with no return traffic"); a
// review found it read the stamps only at the checks.
func TestReturnTrafficJustBeforeSendTimeout(t *testing.T) {
	f := newFixture(t, Config{Jitter: -1, CheckInterval: 1500 * time.Millisecond})
	f.add(ctx)
	f.run(3 * time.Second)
	f.sendPayload(ctx)
	f.run(DefaultSendTimeout - 300*time.Millisecond)
	f.recvPayload(ctx) // in time
	f.run(time.Second)
	if s := f.m.State(ctx); s != Operational || len(f.out.of("probe")) != 0 {
		t.Fatalf("state %v, %d probes", s, len(f.out.of("probe")))
	}
}

// TestProvenPairThatFailsIsLeft: an exploration proves a pair, the context
// goes InboundOk on it, and then that pair fails too (its Send timer
// expires). The next exploration must try the other pairs again, not
// probe the proven one for ever (RFC 5534 §4.3: "test through all of them
// until an operational pair is found").
func TestProvenPairThatFailsIsLeft(t *testing.T) {
	f := newFixture(t, Config{Jitter: -1})
	f.enter(Exploring) // the first probe goes to (a2, b2)
	ours := f.out.of("probe")
	f.out.reset()
	if len(ours) == 0 {
		f.run(600 * time.Millisecond)
		ours = f.out.of("probe")
	}
	sent := ours[len(ours)-1].probe.Sent[0]
	// The peer, exploring too, reports our probe: that pair works.
	f.m.HandleProbe(ctx, netip.AddrFrom16(sent.Destination.As16()), sent.Source, &wire.Probe{State: wire.ReapExploring,
		Sent:     []wire.ProbeReport{{Source: sent.Destination, Destination: sent.Source, Nonce: 99}},
		Received: []wire.ProbeReport{sent}})
	proven := [2]netip.Addr{sent.Source, sent.Destination}
	if l, p := f.m.Current(ctx); l != proven[0] || p != proven[1] {
		t.Fatalf("not on the proven pair: %v → %v", l, p)
	}
	f.out.reset()
	// Then nothing more comes back, for long enough to explore again.
	f.run(2 * time.Minute)
	others := 0
	for _, e := range f.out.of("probe") {
		if e.src != proven[0] || e.dst != proven[1] {
			others++
		}
	}
	if f.m.State(ctx) != Exploring || others == 0 {
		t.Fatalf("state %v; %d probes, %d on other pairs than the failed one", f.m.State(ctx), len(f.out.of("probe")), others)
	}
}

// TestKeepaliveInTimeForAShortPeerTimeout: our checks run every 2 s by
// default, but a peer that announced a Keepalive Timeout of 1 s (its Send
// Timeout, RFC 5534 §5.3) must get our keepalive within that second after
// its packet arrives (§4.1 rule 1); a review measured 1.5 s.
func TestKeepaliveInTimeForAShortPeerTimeout(t *testing.T) {
	f := newFixture(t, Config{})
	f.add(ctx)
	f.m.SetKeepaliveTimeout(ctx, 1)
	f.run(5 * time.Second)
	for range 20 {
		f.out.reset()
		f.recvPayload(ctx)
		t0 := f.clock.t
		f.run(3 * time.Second)
		ka := f.out.of("keepalive")
		if len(ka) == 0 {
			t.Fatal("no keepalive")
		}
		if d := ka[0].at.Sub(t0); d >= time.Second {
			t.Fatalf("the keepalive went %v after the packet", d)
		}
	}
}

// TestLinkDownOfAnUplink: an uplink's failure takes all its hosts'
// locators down in one call; every context on any of them explores, the
// others do not, and LinkUp of the same list clears them all.
func TestLinkDownOfAnUplink(t *testing.T) {
	f := newFixture(t, Config{})
	hosts := []netip.Addr{a1, netip.MustParseAddr("2001:db8:a1::2"), netip.MustParseAddr("2001:db8:a1::3")}
	for i, h := range hosts {
		f.traffic[ID(i)] = &stamps{}
		if err := f.m.Add(ID(i), Context{Local: locs(h, a2), Peer: locs(b1, b2), CurrentLocal: h, CurrentPeer: b1}); err != nil {
			t.Fatal(err)
		}
	}
	f.traffic[9] = &stamps{}
	if err := f.m.Add(9, Context{Local: locs(a1, a2), Peer: locs(b1, b2), CurrentLocal: a2, CurrentPeer: b1}); err != nil {
		t.Fatal(err)
	}
	f.run(time.Second)
	f.m.LinkDown(hosts[1:]...)
	f.m.LinkDown(hosts...) // again, with one more: only a1 is new
	for i := range hosts {
		if s := f.m.State(ID(i)); s != Exploring {
			t.Fatalf("context %d on a down locator: %v", i, s)
		}
	}
	if s := f.m.State(9); s != Operational {
		t.Fatalf("context on the other uplink: %v", s)
	}
	f.m.LinkUp(hosts...)
	for _, h := range hosts {
		if f.m.isDown(h.As16()) {
			t.Fatalf("%v still down", h)
		}
	}
}

// TestSetLocatorsWhileExploringSkipsTheFailedPair: new locator sets while
// exploring (an Update) restart the walk where a new exploration would,
// away from the pair that failed, not on it (found in review).
func TestSetLocatorsWhileExploringSkipsTheFailedPair(t *testing.T) {
	f := newFixture(t, Config{Jitter: -1})
	f.enter(Exploring)
	f.out.reset()
	if err := f.m.SetLocators(ctx, locs(a1, a2), locs(b1, b2), a1, b1); err != nil {
		t.Fatal(err)
	}
	f.run(600 * time.Millisecond)
	probes := f.out.of("probe")
	if len(probes) == 0 || probes[0].src == a1 && probes[0].dst == b1 {
		t.Fatalf("%d probes after the new sets, the first on the failed pair", len(probes))
	}
}
