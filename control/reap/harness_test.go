package reap

import (
	"net/netip"
	"testing"
	"time"

	"shim6d/control/wire"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

type stamps struct{ sent, recv time.Time }

type fakeTraffic map[ID]*stamps

func (f fakeTraffic) Last(id ID) (time.Time, time.Time) {
	if s := f[id]; s != nil {
		return s.sent, s.recv
	}
	return time.Time{}, time.Time{}
}

type event struct {
	at       time.Time
	kind     string // "probe", "keepalive", "switch"
	id       ID
	src, dst netip.Addr
	probe    wire.Probe // deep copy
}

type recorder struct {
	clock  *fakeClock
	events []event
	hook   func(e event)
}

func copyProbe(p *wire.Probe) wire.Probe {
	c := *p
	c.Sent = append([]wire.ProbeReport(nil), p.Sent...)
	c.Received = append([]wire.ProbeReport(nil), p.Received...)
	return c
}

func (r *recorder) add(e event) {
	e.at = r.clock.t
	r.events = append(r.events, e)
	if r.hook != nil {
		r.hook(e)
	}
}

func (r *recorder) SendProbe(id ID, src, dst netip.Addr, p *wire.Probe) {
	r.add(event{kind: "probe", id: id, src: src, dst: dst, probe: copyProbe(p)})
}

func (r *recorder) SendKeepalive(id ID, src, dst netip.Addr, k *wire.Keepalive) {
	r.add(event{kind: "keepalive", id: id, src: src, dst: dst})
}

func (r *recorder) OnSwitch(id ID, local, peer netip.Addr) {
	r.add(event{kind: "switch", id: id, src: local, dst: peer})
}

func (r *recorder) of(kind string) []event {
	var out []event
	for _, e := range r.events {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) reset() { r.events = nil }

var (
	a1 = netip.MustParseAddr("2001:db8:a1::1")
	a2 = netip.MustParseAddr("2001:db8:a2::1")
	b1 = netip.MustParseAddr("2001:db8:b1::1")
	b2 = netip.MustParseAddr("2001:db8:b2::1")
)

func locs(as ...netip.Addr) []Locator {
	out := make([]Locator, len(as))
	for i, a := range as {
		out[i] = Locator{Addr: a}
	}
	return out
}

type fixture struct {
	t       *testing.T
	clock   *fakeClock
	traffic fakeTraffic
	out     *recorder
	m       *Machine
}

// seqRand is a deterministic Rand: a counter through a mixer.
func seqRand() func() uint64 {
	var x uint64
	return func() uint64 {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, traffic: fakeTraffic{}}
	f.out = &recorder{clock: f.clock}
	cfg.Clock, cfg.Traffic, cfg.Output = f.clock, f.traffic, f.out
	if cfg.Capacity == 0 {
		cfg.Capacity = 16
	}
	if cfg.Rand == nil {
		cfg.Rand = seqRand()
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	return f
}

// add adds context id with locals {a1, a2} and peers {b1, b2}, current
// pair (a1, b1).
func (f *fixture) add(id ID) {
	f.t.Helper()
	f.traffic[id] = &stamps{}
	err := f.m.Add(id, Context{PeerTag: 0x1234 + uint64(id), Local: locs(a1, a2), Peer: locs(b1, b2),
		CurrentLocal: a1, CurrentPeer: b1})
	if err != nil {
		f.t.Fatal(err)
	}
}

// run advances the clock by d in Granularity steps, ticking.
func (f *fixture) run(d time.Duration) {
	step := time.Duration(f.m.wheel.gran)
	for end := f.clock.t.Add(d); f.clock.t.Before(end); {
		f.clock.Advance(step)
		f.m.Tick()
	}
}

func (f *fixture) sendPayload(id ID) { f.traffic[id].sent = f.clock.t }
func (f *fixture) recvPayload(id ID) { f.traffic[id].recv = f.clock.t }
