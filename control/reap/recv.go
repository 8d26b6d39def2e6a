package reap

import (
	"net/netip"

	"shim6d/control/wire"
)

// What comes in: payload traffic seen in the stamps, received Keepalives
// and Probes, and the switch a probe round trip proves (RFC 5534 §5.1,
// §5.2, §6.1, §6.2, §6.6–§6.9).

// payloadIn applies an incoming payload packet at time at (RFC 5534 §6.1).
func (m *Machine) payloadIn(id ID, r *record, at, now int64) {
	switch r.state {
	case Operational: // STOP Send, START Keepalive
		r.sendDue = never
		if r.kaDue == never {
			r.kaDue = at + m.keepaliveInterval(r)
		}
	case Exploring: // SEND Probe InboundOk, START Send, GOTO InboundOk
		m.setState(r, InboundOk, now)
		r.sendDue = now + m.jit(m.sendTimeout)
		m.sendProbe(id, r, now)
	case InboundOk: // STOP Send
		r.sendDue = never
	}
}

// payloadOut applies an outgoing payload packet at time at (RFC 5534 §6.2).
func (m *Machine) payloadOut(r *record, at, now int64) {
	switch r.state {
	case Operational: // START Send, STOP Keepalive
		r.kaDue = never
		if r.sendDue == never {
			r.sendDue = at + m.jit(m.sendTimeout)
		}
	case InboundOk: // START Send
		if r.sendDue == never {
			r.sendDue = at + m.jit(m.sendTimeout)
		}
	}
}

// HandleKeepalive applies a received, valid Keepalive (RFC 5534 §5.1,
// §6.6); the caller has matched its tag to context id.
func (m *Machine) HandleKeepalive(id ID, src, dst netip.Addr, k *wire.Keepalive) {
	r := m.rec(id)
	if r == nil {
		return
	}
	m.stats.counts[keepalivesReceived].Add(1)
	now := m.now()
	switch r.state {
	case Operational, InboundOk: // STOP Send
		r.sendDue = never
	case Exploring: // SEND Probe InboundOk, START Send, GOTO InboundOk
		m.setState(r, InboundOk, now)
		r.sendDue = now + m.jit(m.sendTimeout)
		m.sendProbe(id, r, now)
	}
	m.rearm(uint32(id), r)
}

// HandleProbe applies a received, valid Probe sent from src to dst (RFC
// 5534 §5.2, §6.7–§6.9); the caller has matched its tag to context id.
// A received report of one of this exploration's probes proves that pair
// (both directions: the probe went out on it, this one came back) and
// makes it the current pair, reported through OnSwitch.
func (m *Machine) HandleProbe(id ID, src, dst netip.Addr, p *wire.Probe) {
	r := m.rec(id)
	if r == nil || len(p.Sent) == 0 {
		return
	}
	m.stats.counts[probesReceived].Add(1)
	now := m.now()
	if p.State != wire.ReapOperational || r.state != Operational {
		e := m.exp(r)
		if e == nil {
			e = m.startExploration(r, now)
		}
		s := p.Sent[0]
		copy(e.recv[1:], e.recv[:reportsKept-1])
		e.recv[0] = report{src: s.Source.As16(), dst: s.Destination.As16(), nonce: s.Nonce, data: s.Data}
		e.nRecv = min(e.nRecv+1, reportsKept)
		m.confirm(id, r, e, p.Received)
	}
	switch p.State {
	case wire.ReapExploring: // §6.7
		// The peer's probe got here, so the reverse of its pair is the
		// likeliest to carry our answer: probe it first, and the peer
		// learns of a working pair in one round trip.
		if e := m.exp(r); e != nil && e.good < 0 {
			if k, ok := m.pairIndex(r, dst, src); ok {
				e.nextPair = uint16(k)
			}
		}
		if r.state == Exploring {
			m.setState(r, InboundOk, now)
			r.sendDue = now + m.jit(m.sendTimeout) // START Send
		} else {
			m.setState(r, InboundOk, now)          // STOP Keepalive
			r.sendDue = now + m.jit(m.sendTimeout) // RESTART Send
		}
		m.sendProbe(id, r, now)
	case wire.ReapInboundOK: // §6.8
		r.kaDue = never
		r.sendDue = now + m.jit(m.sendTimeout)
		prev := r.state
		r.state = Operational // the answer carries State 0 ...
		m.sendProbe(id, r, now)
		r.state = prev
		m.setState(r, Operational, now) // ... and ends the exploration
		m.freeExploration(r)            // (one the peer's probe opened while we were Operational)
	case wire.ReapOperational: // §6.9
		r.sendDue = never
		if r.kaDue == never {
			r.kaDue = now + m.keepaliveInterval(r)
		}
		m.setState(r, Operational, now)
	}
	m.rearm(uint32(id), r)
}

// confirm looks for a report of one of our probes in the peer's received
// reports and, when one proves a pair other than the current one, switches.
func (m *Machine) confirm(id ID, r *record, e *exploration, received []wire.ProbeReport) {
	for _, rep := range received {
		src, dst := rep.Source.As16(), rep.Destination.As16()
		for i := range e.nSent {
			s := &e.sent[i]
			if s.nonce != rep.Nonce || s.src != src || s.dst != dst {
				continue
			}
			li, pi := m.find(r, src, dst)
			if li < 0 {
				return
			}
			e.good = int16(rank(li, pi, int(r.nLocal), int(r.nPeer)))
			if li != int(r.curLocal) || pi != int(r.curPeer) {
				r.curLocal, r.curPeer = uint8(li), uint8(pi)
				m.stats.counts[switches].Add(1)
				m.out.OnSwitch(id, netip.AddrFrom16(src), netip.AddrFrom16(dst))
			}
			return
		}
	}
}
