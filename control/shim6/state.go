package shim6

import (
	"net/netip"
	"strconv"

	"shim6d/dataplane"
)

// State is the state of one ULID-pair context (RFC 5533 §6.2; transitions
// in Appendix B, whose tables the handlers follow and cite).
type State uint8

// Context states, RFC 5533 §6.2.
const (
	// Idle is the start state: no context exists (RFC 5533 §6.2). The
	// machine keeps no record for an idle pair; a responder stays idle
	// until a valid I2 or I2bis (§7.10, §7.13, §7.20).
	Idle State = iota
	// I1Sent: we sent I1 and wait for R1 or R2 (RFC 5533 §7.7, §7.8).
	I1Sent
	// I2Sent: we sent I2 and wait for R2 (RFC 5533 §7.11, §7.12).
	I2Sent
	// I2bisSent: the peer lost the context; we sent I2bis and wait for
	// R2 (RFC 5533 §7.18, §7.19).
	I2bisSent
	// Established: both ends hold the context (RFC 5533 §7.3).
	Established
	// EFailed: the I1 exchange got no answer; we do not try again for
	// NO_R1_HOLDDOWN_TIME (RFC 5533 §7.8, Appendix B).
	EFailed
	// NoSupport: the peer said, with an ICMP Parameter Problem
	// (Unrecognized Next Header), that it does not implement Shim6; we do
	// not try again for ICMP_HOLDDOWN_TIME (RFC 5533 §7.8, Appendix B).
	NoSupport

	numStates
)

var stateNames = [numStates]string{
	Idle: "IDLE", I1Sent: "I1-SENT", I2Sent: "I2-SENT", I2bisSent: "I2BIS-SENT",
	Established: "ESTABLISHED", EFailed: "E-FAILED", NoSupport: "NO-SUPPORT",
}

// String spells the state as RFC 5533 §6.2 does.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "state " + strconv.Itoa(int(s))
}

// pending reports whether s is a handshake in progress that an R1 or R2 can
// find by Initiator Nonce (RFC 5533 §12.4).
func (s State) pending() bool { return s == I1Sent || s == I2Sent || s == I2bisSent }

// hasPeer reports whether CT(peer) and Ls(peer) are set in s (RFC 5533
// §11: only in ESTABLISHED and I2BIS-SENT), the states §7.15 searches for
// context confusion.
func (s State) hasPeer() bool { return s == Established || s == I2bisSent }

// unshim puts slot's locators back to its ULIDs: outside ESTABLISHED and
// I2BIS-SENT the shim has no effect on how packets are sent (RFC 5533
// §11), and a context whose recovery failed would otherwise go on
// rewriting the host's packets under a tag the peer has lost, for as long
// as the record lives. Sent plain, they reach the peer if the ULID pair
// works.
func (m *Machine) unshim(slot uint32) {
	var t dataplane.Context
	if m.cfg.Table.Get(slot, &t) && (t.LocLocal != t.ULIDLocal || t.LocPeer != t.ULIDPeer) {
		_ = m.cfg.Table.SetLocators(slot, &t.ULIDLocal, &t.ULIDPeer, t.EgressPort) // the slot is ours and live
		m.Stats.Unshimmed.Add(1)
	}
}

// setState moves context slot to next and is the only place that does so:
// it keeps the per-state counts, cancels the timers of the state left and
// arms those of the state entered (habit 10 of STYLE.md), and drops what
// the new state no longer needs (RFC 5533 §6.2 lists what each state keeps):
//
//	I1-SENT      retransmit timer I1_TIMEOUT, backoff from the first try (§7.8)
//	I2-SENT      retransmit timer I2_TIMEOUT (§7.12)
//	I2BIS-SENT   retransmit timer I2bis_TIMEOUT (§7.19)
//	ESTABLISHED  idle timer (§9); the retransmit timer serves Update
//	             Requests (§10.2), started here if Ls(local) moved on
//	E-FAILED     hold-down NO_R1_HOLDDOWN_TIME, then IDLE (§7.8)
//	NO-SUPPORT   hold-down ICMP_HOLDDOWN_TIME, then IDLE (§7.8)
//	IDLE         no timers; the record and its table entry are removed
//
// Leaving the pending states forgets the handshake (nonces, validator).
// Callers hold no *ctx across setState(…, Idle).
func (m *Machine) setState(slot uint32, c *ctx, next State) {
	prev := c.state
	m.cancel(slot, timerState)
	c.retries = 0
	c.flags &^= flagUpdating | flagOptional
	if prev != next {
		// IDLE has no records, so it is not counted.
		if prev != Idle {
			m.Stats.states[prev].Add(-1)
		}
		if next != Idle {
			m.Stats.states[next].Add(1)
		}
		c.state = next
		c.since = m.cur
		if prev == I2bisSent && (next == I1Sent || next == EFailed) {
			m.unshim(slot)
		}
		if prev == Established && m.cfg.OnClosed != nil {
			m.cfg.OnClosed(slot)
		}
		if next == Established {
			m.rememberPeer(slot, c)
		}
		if next == Established && m.cfg.OnEstablished != nil {
			ci := m.info(slot, c)
			// The exchange's pair becomes the context's first pair only if
			// both ends are in the verified locator sets (RFC 5533 §7.2:
			// no locator is used as a destination before HBA/CGA
			// verification). A validator only proves that the sender gets
			// packets at its source, not that the source is the peer's.
			t := m.table(slot)
			if m.via[0].IsValid() && (m.via[0].As16() != t.ULIDLocal || m.via[1].As16() != t.ULIDPeer) &&
				m.peerHas(slot, &t.ULIDPeer, m.via[1].As16()) && m.hosts[c.host].has(m.via[0]) {
				ci.ViaLocal, ci.ViaPeer = m.via[0], m.via[1]
			}
			m.cfg.OnEstablished(ci)
		}
	}
	m.via = [2]netip.Addr{}
	if !next.pending() {
		m.forgetHandshake(slot, c)
	}
	if next != Established {
		m.cancel(slot, timerIdle)
	}
	t := &m.timers
	switch next {
	case I1Sent:
		m.arm(slot, timerState, m.backoff(t.I1Timeout, 0, 0))
	case I2Sent:
		m.arm(slot, timerState, m.backoff(t.I2Timeout, 0, 0))
	case I2bisSent:
		m.arm(slot, timerState, m.backoff(t.I2bisTimeout, 0, 0))
	case Established:
		if prev != Established {
			// What the peer last heard from us in I2, I2bis or R2 is
			// what it holds (§7.14, §7.16).
			c.ackedVer = c.sentVer
		}
		m.arm(slot, timerIdle, m.idleTicks)
		if h := m.hostOf(slot); h != nil && h.version != c.ackedVer {
			m.startUpdate(slot, c, h)
		}
	case EFailed:
		m.arm(slot, timerState, m.ticks(t.NoR1Holddown))
	case NoSupport:
		m.arm(slot, timerState, m.ticks(t.ICMPHolddown))
	case Idle:
		m.release(slot, c)
	}
}

// rememberPeer adds the /64s of an established context's peer (its ULID
// and its verified locators) to the peers whose I1s take r1Known: they
// proved that they answer at these addresses, which no spoofer of random
// sources can.
func (m *Machine) rememberPeer(slot uint32, c *ctx) {
	var t dataplane.Context
	if !m.cfg.Table.Get(slot, &t) {
		return
	}
	m.knownPeers.Add(netip.AddrFrom16(t.ULIDPeer))
	for _, a := range m.peerAddrs(slot, t.ULIDPeer) {
		m.knownPeers.Add(netip.AddrFrom16(a))
	}
}
