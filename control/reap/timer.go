package reap

import (
	"time"

	"shim6d/control/wire"
)

// The Send and Keepalive timers and the looks at the traffic stamps that
// drive them (RFC 5534 §4.1, §5.3, §6.3, §6.4, §7); the wheel that holds
// the deadlines is in wheel.go.

// KeepaliveTimeoutOption returns the Keepalive Timeout option this side
// must announce in I2, I2bis, R2 or UPDATE when its Send Timeout is not the
// default (RFC 5534 §5.3), nil when it is.
func (m *Machine) KeepaliveTimeoutOption() *wire.KeepaliveTimeout {
	if m.sendTimeout == int64(DefaultSendTimeout) {
		return nil
	}
	v := wire.KeepaliveTimeout(min(time.Duration(m.sendTimeout)/time.Second, 65535))
	return &v
}

func kaSeconds(v wire.KeepaliveTimeout) uint16 {
	if v == 0 {
		return uint16(DefaultSendTimeout / time.Second)
	}
	return uint16(v)
}

// SetKeepaliveTimeout records the peer's Keepalive Timeout option (RFC
// 5534 §5.3, received in I2, I2bis, R2 or UPDATE): this side's Keepalive
// Timeout becomes v seconds; 0 restores the default.
func (m *Machine) SetKeepaliveTimeout(id ID, v wire.KeepaliveTimeout) {
	if r := m.rec(id); r != nil {
		r.kaTimeout = kaSeconds(v)
	}
}

// keepaliveInterval is one third to one half of the Keepalive Timeout,
// drawn at random (RFC 5534 §4.1 rule 1, §7), at least 100 ms. It must
// stay under the Keepalive Timeout: the peer's Send Timer runs that long,
// and a keepalive that comes later makes it explore a working pair.
func (m *Machine) keepaliveInterval(r *record) int64 {
	kt := int64(r.kaTimeout) * int64(time.Second)
	lo := kt / 3
	d := lo + int64(m.fast.Uint64()%uint64(kt/2-lo+1))
	return max(d, int64(100*time.Millisecond))
}

// rearm computes the record's next wheel deadline and re-links it.
func (m *Machine) rearm(id uint32, r *record) {
	due := r.check
	if r.sendDue != never {
		due = min(due, r.sendDue)
	}
	if r.kaDue != never {
		due = min(due, r.kaDue)
	}
	if e := m.exp(r); e != nil && e.probeDue != never {
		due = min(due, e.probeDue)
	}
	r.due = due
	m.schedule(id)
}

// Poll looks at context id's traffic stamps now instead of at its next
// check, and runs whatever timer is due: for a core that learns of
// payload-equivalent traffic (RFC 5534 §4.1 rule 2: Shim6 control messages
// other than REAP's) or wants a prompt reaction.
func (m *Machine) Poll(id ID) {
	r := m.rec(id)
	if r == nil {
		return
	}
	now := m.now()
	r.check = now
	m.fire(uint32(id), r, now)
}

// fire handles a context whose deadline passed: its traffic stamps, then
// the Send timer (§6.4), the Keepalive (§4.1, §6.3) and probe
// retransmission (§6.5).
func (m *Machine) fire(id uint32, r *record, now int64) {
	// The stamps are read at every check and before any Send or Keepalive
	// timer acts: traffic since the last check may have stopped it (§4.1
	// rules 5 and 6 speak of the traffic up to the timeout, not up to the
	// last check).
	if now >= r.check || r.sendDue != never && now >= r.sendDue || r.kaDue != never && now >= r.kaDue {
		if m.look(ID(id), r, now) {
			r.flags &^= flagHint // the peer was heard after the hint
		}
	}
	if r.flags&flagHint != 0 {
		m.hintCheck(ID(id), r, now)
	}
	if r.sendDue != never && now >= r.sendDue && r.state != Exploring {
		m.setState(r, Exploring, now) // §6.4: SEND Probe Exploring, GOTO Exploring
		m.sendProbe(ID(id), r, now)
	}
	if r.kaDue != never && now >= r.kaDue && r.state == Operational {
		r.kaDue = never
		m.sendKeepalive(ID(id), r)
	}
	if e := m.exp(r); e != nil && r.state != Operational && e.probeDue != never && now >= e.probeDue {
		if r.state == InboundOk && r.sendDue == never { // §6.5: START Send
			r.sendDue = now + m.jit(m.sendTimeout)
		}
		m.sendProbe(ID(id), r, now)
	}
	m.rearm(uint32(id), r)
}

// look reads the context's traffic stamps and applies the payload events
// they show, older first (RFC 5534 §6.1, §6.2). It reports whether
// something came back from the peer since the last look.
func (m *Machine) look(id ID, r *record, now int64) bool {
	s, rv := m.traffic.Last(id)
	sent, recv := m.ns(s), m.ns(rv)
	newS, newR := sent > r.seenS, recv > r.seenR
	r.seenS, r.seenR = max(r.seenS, sent), max(r.seenR, recv)
	switch {
	case newS && newR && sent < recv:
		m.payloadOut(r, sent, now)
		m.payloadIn(id, r, recv, now)
	case newS && newR && sent == recv:
		// Sent and received within one stamp tick: which was last is
		// unknown, and both ends of a quick exchange see it so. Each
		// then runs its Send timer (in case it sent last) and also owes
		// a Keepalive (in case it received last), which stops the
		// other's; taking either order alone left both ends waiting for
		// the other and exploring a path that works.
		m.payloadIn(id, r, recv, now)
		m.payloadOut(r, sent, now)
		if r.state == Operational && r.kaDue == never {
			r.kaDue = recv + m.keepaliveInterval(r)
		}
	default:
		if newR {
			m.payloadIn(id, r, recv, now)
		}
		if newS {
			m.payloadOut(r, sent, now)
		}
	}
	every := m.checkEvery
	if r.state != Operational {
		every = m.exploreCheck
	} else if r.kaTimeout != 0 {
		// A payload packet is seen at the next check, and the Keepalive
		// it may call for must reach a peer with a short Send Timeout
		// in time (§4.1 rule 1): a quarter of its Keepalive Timeout.
		every = min(every, max(int64(r.kaTimeout)*int64(time.Second)/4, int64(100*time.Millisecond)))
	}
	r.check = now + m.jit(every)
	return newR
}
