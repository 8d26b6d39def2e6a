package shim6

import (
	"errors"
	"fmt"
	"net/netip"

	"shim6d/control/wire"
	"shim6d/dataplane"
)

// Replication (issue #15): an active box hands its established contexts'
// signalling state to a standby (Export); the standby, once told to take
// over, makes them its own (Adopt) without a message, since the peer
// still holds its side. The table's record (tags, ULIDs, current pair)
// travels separately and is already in place when Adopt is called.

// Replica is what the machine holds of an established context beyond
// the table's record (RFC 5533 §6.1): the peer's verified locator set
// with its CGA parameters, so that its later Update Requests can be
// checked (§10.4), and its Keepalive Timeout (RFC 5534 §5.3).
type Replica struct {
	// PeerLocators is Ls(peer) as last verified; nil: the peer's ULID
	// alone (it sent no Locator List).
	PeerLocators []wire.Locator
	// PeerGeneration is the Locator List's Generation.
	PeerGeneration uint32
	// PeerPreferences, if any, has one element per locator.
	PeerPreferences []wire.Preference
	// PeerParameters is the peer's CGA Parameter Data Structure.
	PeerParameters []byte
	// PeerKeepaliveTimeout is the peer's Keepalive Timeout option in
	// seconds, 0 if it sent none.
	PeerKeepaliveTimeout uint16
}

// ErrNotEstablished: Export of a slot that holds no established context.
var ErrNotEstablished = errors.New("shim6: no established context in the slot")

// Export returns the replica of slot's context, which must be
// ESTABLISHED: the states before it are a handshake in progress, which a
// standby could not go on with, and those after are on their way out.
// The slices are copies.
func (m *Machine) Export(slot uint32) (Replica, error) {
	c := m.lookup(slot)
	if c == nil || c.state != Established {
		return Replica{}, ErrNotEstablished
	}
	r := Replica{PeerKeepaliveTimeout: c.peerKT}
	if ps := m.peers[slot]; ps != nil {
		r.PeerGeneration = ps.gen
		r.PeerLocators = make([]wire.Locator, len(ps.addrs))
		for i, a := range ps.addrs {
			r.PeerLocators[i] = wire.Locator{Addr: netip.AddrFrom16(a), Method: ps.methods[i]}
		}
		r.PeerPreferences = append([]wire.Preference(nil), ps.prefs...)
		if ps.params != nil {
			r.PeerParameters = []byte(ps.params.b)
		}
	}
	return r, nil
}

// Managed reports whether the machine holds a context in slot, in any
// state: a slot it does not manage is a static or synthetic context.
func (m *Machine) Managed(slot uint32) bool { return m.lookup(slot) != nil }

// State is the state of slot's context, Idle when the machine holds none.
func (m *Machine) State(slot uint32) State {
	if c := m.lookup(slot); c != nil {
		return c.state
	}
	return Idle
}

// Adopt makes the context in the table's slot an ESTABLISHED context of
// this machine, with r's peer state: the standby taking over a context
// the active established. No message is sent; the peer holds its side,
// under the tags the table's record already has. OnEstablished is told
// as for any new context, so REAP takes it over on its current pair. Our
// own locator set is the host's as LocalLocators gives it here: both
// boxes are configured alike. The peer is assumed to hold what we last
// sent, so no Update goes out until our set changes.
func (m *Machine) Adopt(slot uint32, r *Replica) (ContextInfo, error) {
	m.clock()
	var t dataplane.Context
	if !m.cfg.Table.Get(slot, &t) {
		return ContextInfo{}, dataplane.ErrNoSuchSlot
	}
	if m.lookup(slot) != nil {
		return ContextInfo{}, fmt.Errorf("shim6: slot %d already holds a context of the machine", slot)
	}
	if t.PeerTag == 0 {
		return ContextInfo{}, fmt.Errorf("shim6: slot %d has no peer tag: not an established context", slot)
	}
	local := netip.AddrFrom16(t.ULIDLocal)
	hi, err := m.hostFor(local)
	if err != nil {
		return ContextInfo{}, err
	}
	c := m.newRecord(slot)
	c.created, c.lastRx, c.since = m.cur, m.cur, m.cur
	m.link(slot, c, hi, t.PeerTag)
	if r.PeerLocators != nil {
		l := wire.LocatorList{Generation: r.PeerGeneration, Locators: r.PeerLocators}
		var prefs *wire.LocatorPreferences
		if len(r.PeerPreferences) > 0 {
			prefs = &wire.LocatorPreferences{Generation: r.PeerGeneration, ElementLen: 3, Elements: r.PeerPreferences}
		}
		m.setPeerSet(slot, &l, prefs, r.PeerParameters)
	}
	c.peerKT = r.PeerKeepaliveTimeout
	c.sentVer = m.hosts[hi].version
	m.Stats.Adopted.Add(1)
	m.setState(slot, c, Established)
	return m.info(slot, c), nil
}

// Forget drops slot's context, in whatever state, without a message:
// a box that becomes standby gives its contexts up to the active's
// replicas. Its table record goes too.
func (m *Machine) Forget(slot uint32) bool {
	m.clock()
	c := m.lookup(slot)
	if c == nil {
		return false
	}
	m.setState(slot, c, Idle)
	return true
}

// Slots calls f with the slot of every context the machine holds.
func (m *Machine) Slots(f func(slot uint32)) {
	for p, pg := range m.pages {
		if pg == nil {
			continue
		}
		for i := range pg {
			if pg[i].state != Idle {
				f(uint32(p)<<pageBits | uint32(i))
			}
		}
	}
}
