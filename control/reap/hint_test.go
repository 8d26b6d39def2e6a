package reap

import (
	"testing"
	"time"

	"shim6d/control/wire"
)

// hintFixture is a fixture with the RFC's Send Timeout (15 s), checks
// every 1.5 s as the control core sets them, and a context ctx that last
// sent and received at the start.
func hintFixture(t *testing.T) *fixture {
	f := newFixture(t, Config{SendTimeout: DefaultSendTimeout, CheckInterval: 1500 * time.Millisecond})
	f.add(ctx)
	f.sendPayload(ctx)
	f.recvPayload(ctx)
	f.run(50 * time.Millisecond)
	f.out.reset()
	return f
}

func (f *fixture) count(c counter) uint64 { return f.m.Stats().counts[c].Load() }

// TestHintAfterTheHoldExplores: TCP retransmits while nothing came back
// for the hold: exploring at once, a probe on its way, no switch (only a
// probe round trip moves the context).
func TestHintAfterTheHoldExplores(t *testing.T) {
	f := hintFixture(t)
	f.sendPayload(ctx)
	f.run(DefaultULPHold) // nothing back since the start, 250 ms ago
	f.m.Hint(ctx)
	if st := f.m.State(ctx); st != Exploring {
		t.Fatalf("after a hint past the hold: %v, want exploring", st)
	}
	if n := len(f.out.of("probe")); n != 1 || len(f.out.of("switch")) != 0 {
		t.Fatalf("%d probes, %d switches; want 1 probe and no switch", n, len(f.out.of("switch")))
	}
	if f.count(explorationsULP) != 1 || f.count(explorationsStarted) != 1 || f.count(ulpHints) != 1 {
		t.Fatalf("counters: ulp explorations %d, started %d, hints %d; want 1, 1, 1",
			f.count(explorationsULP), f.count(explorationsStarted), f.count(ulpHints))
	}
}

// TestHintWaitsOutTheHold: a hint 100 ms after the last receipt waits;
// with nothing back by the end of the hold, the context explores then.
func TestHintWaitsOutTheHold(t *testing.T) {
	f := hintFixture(t)
	f.recvPayload(ctx)
	f.run(100 * time.Millisecond)
	f.sendPayload(ctx)
	f.m.Hint(ctx)
	if st := f.m.State(ctx); st != Operational {
		t.Fatalf("a hint within the hold: %v at once", st)
	}
	f.run(DefaultULPHold - 100*time.Millisecond - 2*time.Duration(f.m.wheel.gran))
	if st := f.m.State(ctx); st != Operational {
		t.Fatalf("%v before the hold passed", st)
	}
	f.run(3 * time.Duration(f.m.wheel.gran))
	if st := f.m.State(ctx); st != Exploring || f.count(explorationsULP) != 1 {
		t.Fatalf("after the hold: %v, %d hint explorations; want exploring, 1", st, f.count(explorationsULP))
	}
}

// TestHintCancelledByTraffic: something comes back during the hold (the
// retransmission was a fast retransmit, or it got through): no
// exploration, and the context stays quiet afterwards too.
func TestHintCancelledByTraffic(t *testing.T) {
	f := hintFixture(t)
	f.recvPayload(ctx)
	f.run(100 * time.Millisecond)
	f.sendPayload(ctx)
	f.m.Hint(ctx)
	f.run(50 * time.Millisecond)
	f.recvPayload(ctx)
	f.run(5 * time.Second) // then silence both ways: an idle connection
	if st := f.m.State(ctx); st != Operational || f.count(explorationsStarted) != 0 {
		t.Fatalf("%v with %d explorations after a hint the peer answered", st, f.count(explorationsStarted))
	}
}

// TestHintRateLimit: hints start at most one exploration per context per
// Send Timeout, whatever an inside host sends; the rest are counted. A
// flood of hints (one every 10 ms, a worker's limit at ten a second
// times the workers and more) for a minute starts at most four.
func TestHintRateLimit(t *testing.T) {
	f := hintFixture(t)
	f.run(time.Second)
	f.m.Hint(ctx)
	if f.count(explorationsULP) != 1 {
		t.Fatal("the first hint did not explore")
	}
	// The peer answers: back to Operational on a proven pair.
	f.m.HandleProbe(ctx, b1, a1, peerProbe(wire.ReapOperational))
	if st := f.m.State(ctx); st != Operational {
		t.Fatalf("after the peer's probe: %v", st)
	}
	for range 6000 { // 60 s of a hint a tick, traffic out only
		f.sendPayload(ctx)
		f.m.Hint(ctx)
		f.run(10 * time.Millisecond)
		if f.m.State(ctx) != Operational {
			f.m.HandleProbe(ctx, b1, a1, peerProbe(wire.ReapOperational))
		}
	}
	n := f.count(explorationsULP)
	if n < 2 || n > 1+60/15 {
		t.Fatalf("a minute of hints started %d explorations, want 2 to %d (one per Send Timeout)", n, 1+60/15)
	}
	if f.count(ulpHintsLimited) == 0 {
		t.Fatal("no hint counted as limited")
	}
	t.Logf("a minute of hints, one every 10 ms: %d explorations, %d hints, %d limited",
		n, f.count(ulpHints), f.count(ulpHintsLimited))
}

// TestHintIgnoredWhileExploring: an exploring context takes no hint.
func TestHintIgnoredWhileExploring(t *testing.T) {
	f := newFixture(t, Config{})
	f.enter(Exploring)
	f.m.Hint(ctx)
	if f.count(explorationsULP) != 0 || len(f.out.events) != 0 {
		t.Fatalf("a hint while exploring: %d explorations, %d events", f.count(explorationsULP), len(f.out.events))
	}
	f.m.Hint(ID(9)) // no such context
}

// keepalivesPerHour runs one context for an hour of the RFC's timers
// with traffic stamps at the workers' 100 ms resolution, sending and
// receiving as told every 100 ms, and counts the Keepalives it sends and
// the explorations it starts.
func keepalivesPerHour(t *testing.T, send, recv bool) (keepalives, explorations int) {
	f := newFixture(t, Config{SendTimeout: DefaultSendTimeout, CheckInterval: 1500 * time.Millisecond})
	f.add(ctx)
	f.out.reset()
	const step = 100 * time.Millisecond
	for range time.Hour / step {
		now := f.clock.t.Truncate(step)
		if send {
			f.traffic[ctx].sent = now
		}
		if recv {
			f.traffic[ctx].recv = now
		}
		f.run(step)
	}
	return len(f.out.of("keepalive")), int(f.count(explorationsStarted))
}

// TestBusyContextsNeedNoKeepalives: positive advice. A context carrying
// traffic both ways (live TCP: data one way, ACKs the other) sends no
// Keepalive in an hour: the returning traffic is the peer's proof of
// life, and ours reaches it. A context that only receives (a one-way
// stream) owes the peer one every Keepalive Interval (RFC 5534 §4.1).
func TestBusyContextsNeedNoKeepalives(t *testing.T) {
	ka, ex := keepalivesPerHour(t, true, true)
	if ka != 0 || ex != 0 {
		t.Fatalf("busy both ways: %d keepalives and %d explorations in an hour, want none", ka, ex)
	}
	kaIn, exIn := keepalivesPerHour(t, false, true)
	// One every 5 to 7.5 s (a third to a half of 15 s), and the checks
	// every 1.5 s: 480 to 720 an hour.
	if kaIn < 400 || kaIn > 800 || exIn != 0 {
		t.Fatalf("receiving only: %d keepalives and %d explorations in an hour, want about 480 to 720 and none", kaIn, exIn)
	}
	t.Logf("keepalives sent per context-hour: busy both ways %d, receiving only %d", ka, kaIn)
}
