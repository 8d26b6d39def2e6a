package reap

import (
	"fmt"

	"shim6d/control/wire"
)

// REAP states and the moves between them, and the exploration a context
// keeps while not Operational (RFC 5534 §4.2–§4.3, §6, §6.5).

// State is a context's REAP state (RFC 5534 §6).
type State uint8

const (
	// Operational: the current address pair is assumed to work (RFC 5534
	// §6); the Send and Keepalive timers run as traffic dictates.
	Operational State = iota
	// Exploring: no traffic seen from the peer for a Send Timeout; probes
	// go out with backoff and no timer runs (RFC 5534 §6, §6.4).
	Exploring
	// InboundOk: traffic from the peer arrives but the peer may not yet
	// see ours; probes continue and the Send timer runs (RFC 5534 §6,
	// §6.1).
	InboundOk
	numStates
)

var stateNames = [numStates]string{"operational", "exploring", "inbound_ok"}

// String returns the state's name.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

func (s State) wire() wire.ReapState {
	switch s {
	case Exploring:
		return wire.ReapExploring
	case InboundOk:
		return wire.ReapInboundOK
	}
	return wire.ReapOperational
}

// exploration is a context's exploration state (RFC 5534 §4.2–§4.3, §6.5).
type exploration struct {
	start    int64
	probeDue int64
	probes   uint32 // probes sent in this exploration
	nextFree uint32
	nextPair uint16 // rank of the next pair to probe
	good     int16  // rank of a pair whose probe the peer reported, -1 if none
	nSent    uint8
	nRecv    uint8
	sent     [reportsKept]report // newest first
	recv     [reportsKept]report // newest first, since the last move to Exploring
}

func (m *Machine) exp(r *record) *exploration {
	if r.explore == none {
		return nil
	}
	return &m.explores[r.explore]
}

// setState moves a context to next, starting or ending its exploration
// and stopping the timers the new state does not run (RFC 5534 §6: no
// timer in Exploring, the Keepalive timer only in Operational). The caller
// arms what the transition's table entry starts and re-arms the wheel.
func (m *Machine) setState(r *record, next State, now int64) {
	prev := r.state
	if prev == next {
		return
	}
	m.stats.states[prev].Add(^uint64(0))
	m.stats.states[next].Add(1)
	r.state = next
	switch next {
	case Operational:
		if e := m.exp(r); e != nil {
			m.stats.counts[explorationsSucceeded].Add(1)
			m.stats.observe(now - e.start)
			m.freeExploration(r)
		}
		r.flags &^= flagFailed
	case Exploring:
		r.sendDue, r.kaDue = never, never
		e := m.startExploration(r, now)
		e.nRecv = 0 // received reports count since the last move to Exploring (§5.2)
		// A Send timeout in InboundOk says the pair it proved has failed
		// too: the exploration goes back to trying every pair (§4.3).
		e.good = -1
	case InboundOk:
		r.kaDue = never
		m.startExploration(r, now)
	}
}

func (m *Machine) startExploration(r *record, now int64) *exploration {
	if e := m.exp(r); e != nil {
		return e
	}
	m.stats.counts[explorationsStarted].Add(1)
	var i uint32
	if m.freeExp != none {
		i = m.freeExp
		m.freeExp = m.explores[i].nextFree
	} else {
		i = uint32(len(m.explores))
		m.explores = append(m.explores, exploration{})
	}
	next := rank(int(r.curLocal), int(r.curPeer), int(r.nLocal), int(r.nPeer))
	if r.state == Exploring {
		// Our own path failed; a peer's exploration (InboundOk) starts on
		// the current pair, which works from here.
		next = firstPair(int(r.curLocal), int(r.curPeer), int(r.nLocal), int(r.nPeer))
	}
	m.explores[i] = exploration{start: now, probeDue: never, nextFree: none, good: -1, nextPair: uint16(next)}
	r.explore = i
	return &m.explores[i]
}

func (m *Machine) freeExploration(r *record) {
	if r.explore == none {
		return
	}
	m.explores[r.explore].nextFree = m.freeExp
	m.freeExp = r.explore
	r.explore = none
}
