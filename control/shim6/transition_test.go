package shim6

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shim6d/control/wire"
)

// soloEnv is machine A alone; the test plays the peer with hand-made
// messages, so every transition of RFC 5533 Appendix B can be reached
// and checked on its own.
type soloEnv struct {
	t    *testing.T
	n    *network
	a    *node
	slot uint32
}

const peerTag = 0x5eed0000beef

func newSolo(t *testing.T) *soloEnv {
	n := newNetwork(t)
	a := n.addNode("A", 16, map[netip.Addr]LocatorSet{ulidA: multihomed(ulidA, locA2)}, nil)
	return &soloEnv{t: t, n: n, a: a}
}

func (e *soloEnv) inject(m wire.Message) { e.injectFrom(ulidB, m) }

func (e *soloEnv) injectFrom(src netip.Addr, m wire.Message) {
	e.a.m.HandleMessage(src, ulidA, mustMarshal(e.t, m))
}

func (e *soloEnv) ctx() *ctx { return e.a.m.lookup(e.slot) }

func (e *soloEnv) nonce() uint32 { return e.ctx().initNonce }

func (e *soloEnv) state() State {
	ci, ok := e.a.m.Context(ulidA, ulidB)
	if !ok {
		return Idle
	}
	return ci.State
}

func (e *soloEnv) r1() *wire.R1 {
	return &wire.R1{InitiatorNonce: e.nonce(), ResponderNonce: 0x42, Options: wire.Options{ResponderValidator: []byte("v")}}
}

func (e *soloEnv) r2() *wire.R2 {
	return &wire.R2{ResponderContextTag: peerTag, InitiatorNonce: e.nonce()}
}

// waitFor advances the clock until A has sent k more messages or d passed.
func (e *soloEnv) waitFor(k int, d time.Duration) {
	start := len(e.n.log)
	for end := e.n.clock.t.Add(d); e.n.clock.t.Before(end) && len(e.n.log) < start+k; {
		e.n.advance(100 * time.Millisecond)
	}
}

// Setups that bring A's context for (A, B) into each state.
func (e *soloEnv) toI1Sent() {
	if err := e.a.m.Establish(ulidA, ulidB); err != nil {
		e.t.Fatal(err)
	}
	ci, _ := e.a.m.Context(ulidA, ulidB)
	e.slot = ci.Slot
}

func (e *soloEnv) toI2Sent() { e.toI1Sent(); e.inject(e.r1()) }

func (e *soloEnv) toEstablished() { e.toI2Sent(); e.inject(e.r2()) }

func (e *soloEnv) toI2bisSent() {
	e.toEstablished()
	e.inject(&wire.R1bis{PacketContextTag: peerTag, ResponderNonce: 0x43, Options: wire.Options{ResponderValidator: []byte("w")}})
}

func (e *soloEnv) toEFailed() {
	e.toI1Sent()
	for i := 0; i < 2000 && e.state() == I1Sent; i++ {
		e.n.advance(100 * time.Millisecond)
	}
}

func (e *soloEnv) toNoSupport() { e.toI1Sent(); e.a.m.PeerNoSupport(ulidA, ulidB) }

// The state machine of RFC 5533 Appendix B, one row per trigger.
func TestTransitions(t *testing.T) {
	setups := map[State]func(*soloEnv){
		Idle: func(*soloEnv) {}, I1Sent: (*soloEnv).toI1Sent, I2Sent: (*soloEnv).toI2Sent,
		I2bisSent: (*soloEnv).toI2bisSent, Established: (*soloEnv).toEstablished,
		EFailed: (*soloEnv).toEFailed, NoSupport: (*soloEnv).toNoSupport,
	}
	i1 := func(tag uint64) func(*soloEnv) {
		return func(e *soloEnv) { e.inject(&wire.I1{InitiatorContextTag: tag, InitiatorNonce: 7}) }
	}
	keepalive := func(e *soloEnv) {
		ci, _ := e.a.m.Context(ulidA, ulidB)
		e.inject(&wire.Keepalive{ReceiverContextTag: ci.LocalTag})
	}
	wait := func(k int, d time.Duration) func(*soloEnv) { return func(e *soloEnv) { e.waitFor(k, d) } }
	cases := []struct {
		from  State
		name  string
		event func(*soloEnv)
		want  State
		sends []wire.Type
	}{
		{Idle, "I1 → R1, no state", i1(9), Idle, []wire.Type{wire.TypeR1}},
		{Idle, "heuristic → I1", func(e *soloEnv) { e.toI1Sent() }, I1Sent, []wire.Type{wire.TypeI1}},
		{Idle, "stray R2 → discard", func(e *soloEnv) { e.inject(&wire.R2{ResponderContextTag: 1, InitiatorNonce: 1}) }, Idle, nil},

		{I1Sent, "R1 → I2", func(e *soloEnv) { e.inject(e.r1()) }, I2Sent, []wire.Type{wire.TypeI2}},
		{I1Sent, "R1 with wrong nonce → discard", func(e *soloEnv) { r := e.r1(); r.InitiatorNonce++; e.inject(r) }, I1Sent, nil},
		{I1Sent, "R1 from elsewhere → discard", func(e *soloEnv) { e.injectFrom(ap("2001:db8:e::1"), e.r1()) }, I1Sent, nil},
		// An R2 in I1-SENT answers our I1 (the peer was in I1-SENT too): the
		// peer has not seen our locator list from us yet, so it follows in
		// an Update Request (§10.1).
		{I1Sent, "R2 → ESTABLISHED", func(e *soloEnv) { e.inject(e.r2()) }, Established, []wire.Type{wire.TypeUpdateRequest}},
		{I1Sent, "I1 crossing → R2", i1(peerTag), I1Sent, []wire.Type{wire.TypeR2}},
		{I1Sent, "timeout → I1 again", wait(1, 7*time.Second), I1Sent, []wire.Type{wire.TypeI1}},
		{I1Sent, "retries exhausted → E-FAILED", wait(99, 3*time.Minute), EFailed,
			[]wire.Type{wire.TypeI1, wire.TypeI1, wire.TypeI1, wire.TypeI1}},
		{I1Sent, "ICMP no support → NO-SUPPORT", func(e *soloEnv) { e.a.m.PeerNoSupport(ulidA, ulidB) }, NoSupport, nil},
		{I1Sent, "control message → discard", keepalive, I1Sent, nil},

		{I2Sent, "R2 → ESTABLISHED", func(e *soloEnv) { e.inject(e.r2()) }, Established, nil},
		{I2Sent, "R1 → discard", func(e *soloEnv) { e.inject(e.r1()) }, I2Sent, nil},
		{I2Sent, "I1 → R2", i1(peerTag), I2Sent, []wire.Type{wire.TypeR2}},
		{I2Sent, "timeout → I2 again", wait(1, 7*time.Second), I2Sent, []wire.Type{wire.TypeI2}},
		{I2Sent, "retries exhausted → I1", wait(3, 2*time.Minute), I1Sent,
			[]wire.Type{wire.TypeI2, wire.TypeI2, wire.TypeI1}},
		{I2Sent, "control message → I2 again", keepalive, I2Sent, []wire.Type{wire.TypeI2}},

		{I2bisSent, "R2 → ESTABLISHED", func(e *soloEnv) { e.inject(e.r2()) }, Established, nil},
		{I2bisSent, "R1 → discard", func(e *soloEnv) { e.inject(e.r1()) }, I2bisSent, nil},
		{I2bisSent, "I1 → R2", i1(peerTag), I2bisSent, []wire.Type{wire.TypeR2}},
		{I2bisSent, "timeout → I2bis again", wait(1, 7*time.Second), I2bisSent, []wire.Type{wire.TypeI2bis}},
		{I2bisSent, "retries exhausted → I1", wait(3, 2*time.Minute), I1Sent,
			[]wire.Type{wire.TypeI2bis, wire.TypeI2bis, wire.TypeI1}},
		{I2bisSent, "control message → I2bis again", keepalive, I2bisSent, []wire.Type{wire.TypeI2bis}},
		{I2bisSent, "R1bis → discard", func(e *soloEnv) {
			e.inject(&wire.R1bis{PacketContextTag: peerTag, ResponderNonce: 1, Options: wire.Options{ResponderValidator: []byte("x")}})
		}, I2bisSent, nil},

		{Established, "R1bis → I2bis", func(e *soloEnv) {
			e.inject(&wire.R1bis{PacketContextTag: peerTag, ResponderNonce: 1, Options: wire.Options{ResponderValidator: []byte("x")}})
		}, I2bisSent, []wire.Type{wire.TypeI2bis}},
		{Established, "R2 → discard", func(e *soloEnv) { e.inject(&wire.R2{ResponderContextTag: 3, InitiatorNonce: 0}) }, Established, nil},
		{Established, "R1 → discard", func(e *soloEnv) {
			e.inject(&wire.R1{InitiatorNonce: 0, Options: wire.Options{ResponderValidator: []byte{1}}})
		}, Established, nil},
		{Established, "I1 same tag → R2", i1(peerTag), Established, []wire.Type{wire.TypeR2}},
		{Established, "I1 other tag → R1", i1(peerTag + 1), Established, []wire.Type{wire.TypeR1}},
		{Established, "control message → processed", keepalive, Established, nil},
		{Established, "idle → IDLE", wait(99, 6*time.Minute), Idle, nil},

		{EFailed, "hold-down → IDLE", wait(99, 61*time.Second), Idle, nil},
		{EFailed, "I1 → R1 as in IDLE", i1(9), EFailed, []wire.Type{wire.TypeR1}},
		{NoSupport, "hold-down → IDLE", wait(99, 10*time.Minute+time.Second), Idle, nil},
		{NoSupport, "still held down before", wait(99, 9*time.Minute), NoSupport, nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%v/%s", tc.from, tc.name), func(t *testing.T) {
			e := newSolo(t)
			setups[tc.from](e)
			if got := e.state(); got != tc.from {
				t.Fatalf("setup reached %v, want %v", got, tc.from)
			}
			e.n.log = nil
			tc.event(e)
			if got := e.state(); got != tc.want {
				t.Fatalf("state %v, want %v", got, tc.want)
			}
			if got := e.n.types(); !slices.Equal(got, tc.sends) {
				t.Fatalf("sent %v, want %v", got, tc.sends)
			}
			checkInvariants(t, e.a)
		})
	}
}
