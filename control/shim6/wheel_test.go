package shim6

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"shim6d/control/wire"
)

// The timer wheel on its own: thousands of timers armed up to three turns
// of the wheel ahead, some cancelled, some re-armed; each must fire once,
// in the tick it is due, and cancelled ones never.
func TestWheel(t *testing.T) {
	n := newNetwork(t)
	nd := n.addNode("A", 8, nil, nil)
	m := nd.m
	const contexts = 5000
	for s := range uint32(contexts) {
		m.newRecord(s)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[uint32]uint32{} // node id → tick due
	fired := map[uint32]uint32{}
	m.testFire = func(slot uint32, kind int) {
		id := slot<<1 | uint32(kind)
		if _, dup := fired[id]; dup {
			t.Fatalf("timer %d fired twice", id)
		}
		fired[id] = m.cur
	}
	arm := func() {
		for s := range uint32(contexts) {
			for k := range numTimers {
				id := s<<1 | uint32(k)
				switch r := rng.IntN(10); {
				case r < 6:
					d := uint32(1 + rng.IntN(3*wheelSlots))
					m.arm(s, k, d)
					want[id] = m.cur + d
					delete(fired, id)
				case r < 8:
					m.cancel(s, k)
					delete(want, id)
					delete(fired, id)
				}
			}
		}
	}
	arm()
	for range 2 * wheelSlots {
		m.cur++
		m.runTimers(m.cur)
		if m.cur%500 == 0 {
			arm() // re-arm and cancel while others are pending
		}
	}
	// A jump of several turns at once fires everything left.
	m.cur += 4 * wheelSlots
	m.runTimers(m.cur)
	if len(fired) != len(want) {
		t.Fatalf("%d timers fired, %d armed", len(fired), len(want))
	}
	for id, due := range want {
		got, ok := fired[id]
		switch {
		case !ok:
			t.Fatalf("timer %d due at %d never fired", id, due)
		case due <= m.cur-4*wheelSlots && got != due:
			t.Fatalf("timer %d due at %d fired at %d", id, due, got)
		case got < due:
			t.Fatalf("timer %d due at %d fired early at %d", id, due, got)
		}
	}
	for s := range uint32(contexts) {
		if m.armed(s, timerState) || m.armed(s, timerIdle) {
			t.Fatalf("slot %d still armed", s)
		}
	}
	for i, h := range m.wheel.heads {
		if h != none {
			t.Fatalf("wheel list %d not empty", i)
		}
	}
}

// A few thousand contexts with no answer: each retransmits on its own
// randomised schedule, all reach E-FAILED, and all are gone after the
// hold-down, table included.
func TestManyContextsFail(t *testing.T) {
	const k = 3000
	n := newNetwork(t)
	hosts := map[netip.Addr]LocatorSet{}
	// Random interface IDs: with sequential ones (…::1, …::2) the
	// fast-path table's pair hash clusters them into a few index runs
	// and every lookup walks thousands of entries (reported; the table
	// is not this package's).
	rng := rand.New(rand.NewPCG(5, 6))
	for len(hosts) < k {
		hosts[randomHost(rng, 0xa1)] = LocatorSet{}
	}
	a := n.addNode("A", k, hosts, nil)
	n.drop = func(sent) bool { return true }
	n.record = false
	for u := range hosts {
		if err := a.m.Establish(u, ulidB); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.m.Stats.Contexts(I1Sent); got != k {
		t.Fatalf("%d in I1-SENT", got)
	}
	// Failure comes after 4+8+16+32+64 s of timeouts, each randomised
	// over [0.5, 1.5]: between 62 and 186 s.
	n.advance(61 * time.Second)
	if a.m.Stats.FailedNoResponse.Load() != 0 {
		t.Fatal("failed too early")
	}
	n.advance(126 * time.Second)
	checkInvariants(t, a)
	if got := a.m.Stats.FailedNoResponse.Load(); got != k || a.m.Stats.Out(wire.TypeI1) != 5*k {
		t.Fatalf("%d failed, %d I1s sent", got, a.m.Stats.Out(wire.TypeI1))
	}
	n.advance(61 * time.Second)
	if a.m.Len() != 0 || a.table.Len() != 0 || len(a.m.hostIdx) != 0 || len(a.m.hs) != 0 {
		t.Fatalf("%d contexts, %d in table left", a.m.Len(), a.table.Len())
	}
}
