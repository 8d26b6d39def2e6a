package policy

import (
	"bytes"
	"time"
)

// Track notes, at now, whether ctx is off its preferred pair: an urgent
// one (its pair broken, or the operator changed the policy) is queued to
// move on the next round of Moves, others wait for Failback.
func (m *Machine) Track(ctx *Context, urgent bool, now time.Time) {
	l, p, ok := m.PreferredPair(ctx)
	if !ok || l == ctx.LocalLocator && p == ctx.PeerLocator {
		delete(m.off, ctx.Slot)
		return
	}
	if urgent {
		m.enqueue(ctx.Slot)
		return
	}
	if m.off == nil {
		m.off = map[uint32]offPair{}
	}
	if _, seen := m.off[ctx.Slot]; !seen {
		m.off[ctx.Slot] = offPair{since: now, lead: leads(ctx)}
	}
}

// leads reports whether this end of ctx makes the first failback try: the
// end with the lower ULID. Two shim6d sites compute the same preferred
// pair, and the other end follows the leader's probes, but if both tried
// at the same moments their explorations would cross and could settle
// elsewhere, again and again. The other end waits a second hold time, so
// a peer that is not shim6d still gets its context back.
func leads(ctx *Context) bool {
	l, p := ctx.LocalULID.As16(), ctx.PeerULID.As16()
	return bytes.Compare(l[:], p[:]) < 0
}

// Switched notes that REAP moved slot's context to another pair: whether
// it is off its preferred pair is for the next Track to say, and its
// failback hold starts anew.
func (m *Machine) Switched(slot uint32) { delete(m.off, slot) }

// Closed forgets slot's context: it left ESTABLISHED. A queued move of it
// finds no context (Node.Context) and drops.
func (m *Machine) Closed(slot uint32) {
	delete(m.off, slot)
	delete(m.retry, slot)
}

// OffPreferred is how many contexts wait for failback.
func (m *Machine) OffPreferred() int { return len(m.off) }

// QueuedMoves is how many moves are queued and not started yet (moves
// waiting to be retried not counted).
func (m *Machine) QueuedMoves() int { return len(m.queue) - m.head }

// enqueue puts slot on the moves to start, once.
func (m *Machine) enqueue(slot uint32) {
	if m.queued == nil {
		m.queued = map[uint32]struct{}{}
	}
	if _, in := m.queued[slot]; in {
		return
	}
	m.queued[slot] = struct{}{}
	m.queue = append(m.queue, slot)
}

// movesPending reports whether a move is queued or waiting to retry.
func (m *Machine) movesPending() bool { return len(m.queue) > m.head || len(m.retry) > 0 }

// Moves starts, within MoveBudget every moveEvery, the moves Track queued:
// an exploration whose first probe is the preferred pair (REAP moves
// traffic only after that probe is answered both ways). A move REAP
// refuses for now is tried again moveRetryAfter later, not forgotten. It
// returns how many explorations it started.
func (m *Machine) Moves(now time.Time) (started int) {
	if now.Before(m.nextMove) {
		return 0
	}
	m.nextMove = now.Add(moveEvery)
	if len(m.retry) > 0 && !now.Before(m.nextRetryScan) {
		// Retries wait a second; looking for due ones that often keeps
		// a large set of them from being walked ten times a second.
		m.nextRetryScan = now.Add(moveRetryAfter)
		for slot, at := range m.retry {
			if !now.Before(at) {
				delete(m.retry, slot)
				m.enqueue(slot)
			}
		}
	}
	end := min(m.head+MoveBudget, len(m.queue))
	for _, slot := range m.queue[m.head:end] {
		delete(m.queued, slot)
		ok, pending := m.try(slot, now, false)
		switch {
		case ok:
			started++
		case pending:
			if m.retry == nil {
				m.retry = map[uint32]time.Time{}
			}
			m.retry[slot] = now.Add(moveRetryAfter)
		}
	}
	m.head = end
	if m.head == len(m.queue) {
		m.queue, m.head = m.queue[:0], 0
	}
	return started
}

// Failback tries, when Config.Return, the preferred pair of contexts that
// have been off it for the hold time (twice that where this end does not
// lead), at most MoveBudget a second: an uplink's return is no burst of
// probes. The try is a probe on that pair; nothing moves unless it goes
// through both ways. A context still off its pair after the try tries
// again a hold time later, give or take a tenth, so contexts that failed
// over together do not retry together. It returns how many explorations
// it started.
func (m *Machine) Failback(now time.Time) (started int) {
	if !m.cfg.Return || now.Before(m.nextFailback) {
		return 0
	}
	m.nextFailback = now.Add(failbackEvery)
	tries := 0
	for slot, o := range m.off {
		if tries == MoveBudget {
			break // the rest next round
		}
		hold := m.cfg.Hold
		if !o.lead {
			hold *= 2
		}
		if now.Sub(o.since) < hold {
			continue
		}
		tries++
		if ok, _ := m.try(slot, now, true); ok {
			started++
		}
		if o, still := m.off[slot]; still {
			o.since = now.Add(time.Duration(m.rnd.Int64N(int64(hold)/5+1)) - hold/10)
			m.off[slot] = o
		}
	}
	return started
}

// try asks the node to try slot's preferred pair; it reports whether an
// exploration started, and if not, whether the context is still off that
// pair (pending), so the caller may try again. A failback waits while the
// preferred local uplink is not stable.
func (m *Machine) try(slot uint32, now time.Time, failback bool) (started, pending bool) {
	ctx, ok := m.cfg.Node.Context(slot)
	if !ok {
		delete(m.off, slot)
		return false, false
	}
	l, p, ok := m.PreferredPair(&ctx)
	if !ok || l == ctx.LocalLocator && p == ctx.PeerLocator {
		delete(m.off, slot)
		return false, false
	}
	if failback && !m.stable(l, now) {
		return false, true
	}
	if m.cfg.Node.TryPair(slot, l, p) {
		return true, false
	}
	return false, true
}
