package reap

import "time"

// Negative advice from the upper layer (the seed draft's §8.2; RFC 5534
// §3 leaves failure detection's inputs to the implementation): the
// workers see TCP retransmit on a context, and Hint tells the Machine.
// A retransmission alone says little (a lossy path, fast retransmit while
// ACKs flow); one while nothing has come back from the peer for at least
// the hold says what a Send Timeout would say, sooner. Then the context
// starts exploring at once, as on a link down (LinkDown): its probes, not
// the hint, decide which pair it ends on, so a hint never moves traffic
// onto a pair that has not answered.

// DefaultULPHold is how long nothing may have come back from the peer for
// a hint to start an exploration: the lowest retransmission timeout Linux
// uses (TCP_RTO_MIN), so that a retransmission timeout, not a fast
// retransmit amid returning ACKs, is what counts.
const DefaultULPHold = 200 * time.Millisecond

// Hint is negative advice for context id: its outbound TCP retransmitted
// (the workers' EventRetransmit). If the context is Operational and
// nothing has come back from the peer for the hold (Config.ULPHold), it
// starts exploring now; if something came back less than the hold ago,
// the Machine looks again when the hold has passed, and explores then
// unless something came back meanwhile. At most one exploration a hint
// starts per context within Config.ULPEvery: an inside host that fakes
// retransmissions can only make its own contexts probe, that often.
func (m *Machine) Hint(id ID) {
	r := m.rec(id)
	if r == nil {
		return
	}
	m.stats.counts[ulpHints].Add(1)
	if r.state != Operational || r.flags&flagHint != 0 {
		return // exploring already, or waiting out the hold
	}
	now := m.now()
	if r.hintAt != never && now-r.hintAt < m.hintEvery {
		m.stats.counts[ulpHintsLimited].Add(1)
		return
	}
	// The stamps as of now: what came back before the hint counts
	// against the hold, what comes after it cancels the hint.
	m.look(id, r, now)
	r.flags |= flagHint
	m.hintCheck(id, r, now)
	m.rearm(uint32(id), r)
}

// hintCheck decides a pending hint: exploring once nothing has come back
// for the hold, or a look again when the hold will have passed.
func (m *Machine) hintCheck(id ID, r *record, now int64) {
	if r.state != Operational {
		r.flags &^= flagHint
		return
	}
	if r.seenR == never || now-r.seenR >= m.hintHold {
		r.flags &^= flagHint
		r.hintAt = now
		m.stats.counts[explorationsULP].Add(1)
		m.setState(r, Exploring, now)
		m.sendProbe(id, r, now)
		return
	}
	r.check = min(r.check, r.seenR+m.hintHold)
}
