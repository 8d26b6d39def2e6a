package reap

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"shim6d/control/wire"
)

// node is one side of a back-to-back test: a Machine with one context
// (id 1) whose output goes into the fake network.
type node struct {
	name    string
	m       *Machine
	traffic fakeTraffic
	net     *fakeNet
	peer    *node
	states  []State // every state seen, in order, without repeats
	log     []event
}

type delivery struct {
	at       time.Time
	to       *node
	src, dst netip.Addr
	probe    *wire.Probe // nil for a keepalive
}

// fakeNet delivers after a fixed delay whatever drop lets through.
type fakeNet struct {
	clock     *fakeClock
	delay     time.Duration
	drop      func(src, dst netip.Addr) bool
	queue     []delivery
	delivered []delivery
}

func (n *fakeNet) send(to *node, src, dst netip.Addr, p *wire.Probe) {
	if n.drop(src, dst) {
		return
	}
	n.queue = append(n.queue, delivery{at: n.clock.t.Add(n.delay), to: to, src: src, dst: dst, probe: p})
}

func (n *fakeNet) deliver() {
	for len(n.queue) > 0 && !n.queue[0].at.After(n.clock.t) {
		d := n.queue[0]
		n.queue = n.queue[1:]
		n.delivered = append(n.delivered, d)
		if d.probe != nil {
			d.to.m.HandleProbe(1, d.src, d.dst, d.probe)
		} else {
			d.to.m.HandleKeepalive(1, d.src, d.dst, &wire.Keepalive{})
		}
	}
}

func (nd *node) SendProbe(id ID, src, dst netip.Addr, p *wire.Probe) {
	c := copyProbe(p)
	nd.log = append(nd.log, event{at: nd.net.clock.t, kind: "probe", src: src, dst: dst, probe: c})
	nd.net.send(nd.peer, src, dst, &c)
}

func (nd *node) SendKeepalive(id ID, src, dst netip.Addr, k *wire.Keepalive) {
	nd.log = append(nd.log, event{at: nd.net.clock.t, kind: "keepalive", src: src, dst: dst})
	nd.net.send(nd.peer, src, dst, nil)
}

func (nd *node) OnSwitch(id ID, local, peer netip.Addr) {
	nd.log = append(nd.log, event{at: nd.net.clock.t, kind: "switch", src: local, dst: peer})
	nd.checkRoundTrip(local, peer)
}

// checkRoundTrip asserts what a switch needs (RFC 5534 §4.2): a probe of
// ours on (local, peer) was delivered, and the peer's probe reporting it
// was delivered back to us.
func (nd *node) checkRoundTrip(local, peer netip.Addr) {
	var nonce uint32
	found := false
	for _, d := range nd.net.delivered {
		if d.to == nd.peer && d.probe != nil && d.src == local && d.dst == peer {
			nonce, found = d.probe.Sent[0].Nonce, true
		}
	}
	if !found {
		panic(nd.name + ": switch to a pair none of our probes crossed")
	}
	for _, d := range nd.net.delivered {
		if d.to == nd && d.probe != nil && slices.ContainsFunc(d.probe.Received, func(r wire.ProbeReport) bool {
			return r.Nonce == nonce && r.Source == local && r.Destination == peer
		}) {
			return
		}
	}
	panic(nd.name + ": switch before the peer's report came back")
}

func newNode(t *testing.T, name string, n *fakeNet, local, peer []netip.Addr) *node {
	return newNodeWith(t, name, n, Config{}, local, peer)
}

// newNodeWith is newNode with cfg's timers (Clock, Traffic, Output,
// Capacity and Rand are the fixture's).
func newNodeWith(t *testing.T, name string, n *fakeNet, cfg Config, local, peer []netip.Addr) *node {
	nd := &node{name: name, traffic: fakeTraffic{1: &stamps{}}, net: n}
	cfg.Clock, cfg.Traffic, cfg.Output, cfg.Capacity, cfg.Rand = n.clock, nd.traffic, nd, 2, seqRand()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nd.m = m
	if err := m.Add(1, Context{Local: locs(local...), Peer: locs(peer...), CurrentLocal: local[0], CurrentPeer: peer[0]}); err != nil {
		t.Fatal(err)
	}
	nd.states = []State{Operational}
	return nd
}

func (nd *node) note() {
	if s := nd.m.State(1); s != nd.states[len(nd.states)-1] {
		nd.states = append(nd.states, s)
	}
}

// TestUnidirectionalFailure: A's packets from a1 are lost, everything else
// gets through. A streams payload to B on its current pair; B only
// answers with keepalives (FBD, RFC 5534 §4.1). A's Send timer expires, it
// explores; B, hearing a probe, goes InboundOk and probes back with a
// report; A switches to the pair its reported probe used, and both end
// Operational with the traffic flowing (RFC 5534 §4.2, §6.7–§6.9).
func TestUnidirectionalFailure(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	n := &fakeNet{clock: clock, delay: 20 * time.Millisecond}
	broken := false
	n.drop = func(src, dst netip.Addr) bool { return broken && src == a1 }
	a := newNode(t, "A", n, []netip.Addr{a1, a2}, []netip.Addr{b1, b2})
	b := newNode(t, "B", n, []netip.Addr{b1, b2}, []netip.Addr{a1, a2})
	a.peer, b.peer = b, a

	step := 10 * time.Millisecond
	var brokeAt time.Time
	for i := 0; clock.t.Before(time.Date(2026, 1, 1, 0, 3, 0, 0, time.UTC)); i++ {
		clock.Advance(step)
		if i == 3000 {
			broken, brokeAt = true, clock.t
		}
		round(clock, n, a, b, i%10 == 0)
	}
	if !slices.Equal(a.states, []State{Operational, Exploring, Operational}) {
		t.Errorf("A went %v", a.states)
	}
	if !slices.Equal(b.states, []State{Operational, InboundOk, Operational}) {
		t.Errorf("B went %v", b.states)
	}
	var switches []event
	for _, e := range a.log {
		if e.kind == "switch" {
			switches = append(switches, e)
		}
	}
	if len(switches) != 1 || switches[0].src != a2 {
		t.Fatalf("A switched %+v", switches)
	}
	if d := switches[0].at.Sub(brokeAt); d < DefaultSendTimeout || d > DefaultSendTimeout+DefaultCheckInterval+5*time.Second {
		t.Errorf("switch %v after the failure", d)
	}
	// B's pair never failed, but B answers A's probe on the reverse of the
	// pair it came by, and may then move to that proven pair: both ends
	// then use one pair. It must not move anywhere else.
	for _, e := range b.log {
		if e.kind == "switch" && (e.src != b2 || e.dst != a2) {
			t.Errorf("B switched to %v → %v, want none or the reverse of A's probe (b2, a2)", e.src, e.dst)
		}
	}
	t.Logf("A: %d events, switch %v after the failure; B: %d events", len(a.log), switches[0].at.Sub(brokeAt), len(b.log))
	// Every exploration ended; the stats say so.
	for _, nd := range []*node{a, b} {
		s := nd.m.Stats()
		if s.counts[explorationsStarted].Load() != 1 || s.counts[explorationsSucceeded].Load() != 1 || s.states[Operational].Load() != 1 {
			t.Errorf("%s: started %d succeeded %d operational %d", nd.name,
				s.counts[explorationsStarted].Load(), s.counts[explorationsSucceeded].Load(), s.states[Operational].Load())
		}
	}
	// After the switch, B's keepalives keep A's Send timer quiet.
	lastProbe := time.Time{}
	for _, e := range a.log {
		if e.kind == "probe" {
			lastProbe = e.at
		}
	}
	if clock.t.Sub(lastProbe) < time.Minute {
		t.Errorf("A still probing at %v", lastProbe.Sub(brokeAt))
	}
}

func TestStatsEach(t *testing.T) {
	f := newFixture(t, Config{})
	f.enter(Exploring)
	f.m.HandleProbe(ctx, b1, a1, peerProbe(wire.ReapOperational))
	got := map[string]uint64{}
	f.m.Stats().Each(func(name, help string, v uint64) {
		if help == "" {
			t.Errorf("%s without help", name)
		}
		got[name] = v
	})
	for name, want := range map[string]uint64{
		"reap_probes_sent_total": 1, "reap_probes_received_total": 1,
		"reap_explorations_started_total": 1, "reap_explorations_succeeded_total": 1,
		"reap_contexts_operational": 1, "reap_contexts_exploring": 0,
	} {
		if got[name] != want {
			t.Errorf("%s = %d, want %d", name, got[name], want)
		}
	}
	if count, _, buckets := f.m.Stats().ExplorationDurations(); count != 1 || buckets[0.5] != 1 {
		t.Errorf("exploration durations: %d in all, %d within 0.5 s; want the one", count, buckets[0.5])
	}
}

// TestReturnPathFailure: the other direction breaks: B's packets from b1
// are lost. A streams payload, B's keepalives vanish, A's Send timer
// expires and A explores; A's probes reach B, which goes InboundOk and
// probes back over its pairs until one from b2 gets through, carrying the
// report of A's probe. A learns its own direction works (any pair it
// switches to was reported), answers Operational with B's probe reported,
// and B switches to a pair from b2 (RFC 5534 §4.2, §6.7–§6.9).
func TestReturnPathFailure(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	n := &fakeNet{clock: clock, delay: 20 * time.Millisecond}
	broken := false
	n.drop = func(src, dst netip.Addr) bool { return broken && src == b1 }
	a := newNode(t, "A", n, []netip.Addr{a1, a2}, []netip.Addr{b1, b2})
	b := newNode(t, "B", n, []netip.Addr{b1, b2}, []netip.Addr{a1, a2})
	a.peer, b.peer = b, a
	for i := 0; i < 18000; i++ {
		clock.Advance(10 * time.Millisecond)
		broken = i >= 3000
		round(clock, n, a, b, i%10 == 0)
	}
	if a.m.State(1) != Operational || b.m.State(1) != Operational {
		t.Fatalf("ended %v / %v", a.m.State(1), b.m.State(1))
	}
	if !slices.Contains(b.states, InboundOk) || !slices.Contains(a.states, Exploring) {
		t.Errorf("A went %v, B went %v", a.states, b.states)
	}
	var bsw []event
	for _, e := range b.log {
		if e.kind == "switch" {
			bsw = append(bsw, e)
		}
	}
	if len(bsw) != 1 || bsw[0].src != b2 {
		t.Fatalf("B switched %+v", bsw)
	}
	if l, _ := b.m.Current(1); l != b2 {
		t.Errorf("B's current local %v", l)
	}
	// Quiet at the end: the last minute has no probes on either side.
	for _, nd := range []*node{a, b} {
		for _, e := range nd.log {
			if e.kind == "probe" && clock.t.Sub(e.at) < time.Minute {
				t.Errorf("%s probing %v before the end", nd.name, clock.t.Sub(e.at))
			}
		}
	}
	t.Logf("A: %d events, states %v; B: %d events, states %v, switch at +%v", len(a.log), a.states, len(b.log), b.states,
		bsw[0].at.Sub(time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)))
}

// TestTryPair: an Operational context is asked to try another pair (the
// core's failback); the first probe goes there, and once it is answered
// both ways the context switches to it and both ends are Operational.
func TestTryPair(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	n := &fakeNet{clock: clock, delay: 20 * time.Millisecond}
	n.drop = func(src, dst netip.Addr) bool { return false }
	a := newNode(t, "A", n, []netip.Addr{a1, a2}, []netip.Addr{b1, b2})
	b := newNode(t, "B", n, []netip.Addr{b1, b2}, []netip.Addr{a1, a2})
	a.peer, b.peer = b, a
	if a.m.TryPair(1, a1, b1) {
		t.Fatal("TryPair of the pair in use started an exploration")
	}
	if !a.m.TryPair(1, a2, b2) {
		t.Fatal("TryPair did not start")
	}
	for i := 0; i < 300; i++ {
		clock.Advance(10 * time.Millisecond)
		round(clock, n, a, b, false)
	}
	var first *event
	for i := range a.log {
		if a.log[i].kind == "probe" {
			first = &a.log[i]
			break
		}
	}
	if first == nil || first.src != a2 || first.dst != b2 {
		t.Fatalf("first probe %+v, want a2 → b2", first)
	}
	if l, p := a.m.Current(1); l != a2 || p != b2 {
		t.Fatalf("A on %v → %v after TryPair, want a2 → b2", l, p)
	}
	if a.m.State(1) != Operational || b.m.State(1) != Operational {
		t.Fatalf("states A %v, B %v", a.m.State(1), b.m.State(1))
	}
}

// round is one step of the two-node world after the clock moved: A sends
// payload on its current pair if stream is set (B sees it unless the
// network drops that pair), the network delivers, both machines tick, and
// their states are noted.
func round(clock *fakeClock, n *fakeNet, a, b *node, stream bool) {
	if stream {
		a.traffic[1].sent = clock.t
		if l, p := a.m.Current(1); !n.drop(l, p) {
			b.traffic[1].recv = clock.t
		}
	}
	n.deliver()
	a.m.Tick()
	b.m.Tick()
	a.note()
	b.note()
}
