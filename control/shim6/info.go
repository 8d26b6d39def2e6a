package shim6

import (
	"net/netip"
	"time"

	"shim6d/control/wire"
	"shim6d/dataplane"
)

// ContextInfo describes one context for operators (`shim6ctl contexts`):
// the RFC 5533 §6.1 fields that matter when looking at a context.
type ContextInfo struct {
	// Slot is the context's slot in the fast path's table.
	Slot uint32
	// State is the context's state (§6.2).
	State State
	// LocalULID and PeerULID are ULID(local) and ULID(peer).
	LocalULID, PeerULID netip.Addr
	// LocalLocator and PeerLocator are the current pair Lp(local),
	// Lp(peer); equal to the ULIDs until REAP switches.
	LocalLocator, PeerLocator netip.Addr
	// LocalTag and PeerTag are CT(local) and CT(peer) (0 until known).
	LocalTag, PeerTag uint64
	// LocalLocators is Ls(local), the proxied host's set.
	LocalLocators []netip.Addr
	// PeerLocators is Ls(peer) as last verified.
	PeerLocators []netip.Addr
	// PeerPreferences are the peer's Locator Preferences, if it sent any.
	PeerPreferences []wire.Preference
	// PeerGeneration is the peer's Locator List Generation (0 if it sent
	// no list).
	PeerGeneration uint32
	// UpdatePending is set while our Update Request is unacknowledged
	// (§10.2).
	UpdatePending bool
	// Age is the time since the context was created; InState the time
	// since its last state change (to the timer resolution).
	Age, InState time.Duration
	// ViaLocal and ViaPeer, set only for OnEstablished, are the locator
	// pair the establishing exchange went over when that was not the
	// ULIDs (an initial failure of the ULID pair, seed draft §8.4). The
	// exchange proved it both ways: the peer's validator binds the pair
	// its R1 or R1bis went to, and only an answer from that pair
	// completes. Zero when the exchange used the ULIDs.
	ViaLocal, ViaPeer netip.Addr
	// PeerKeepaliveTimeout is the peer's Keepalive Timeout option in
	// seconds (RFC 5534 §5.3), 0 when it sent none: REAP keeps its
	// keepalives within it.
	PeerKeepaliveTimeout uint16
}

// Contexts lists every context the machine holds with its RFC 5533 §6.1
// state. It walks all of them, so it is for the admin API, not for a loop.
func (m *Machine) Contexts() []ContextInfo {
	m.clock()
	var out []ContextInfo
	for p, pg := range m.pages {
		if pg == nil {
			continue
		}
		for i := range pg {
			if pg[i].state != Idle {
				out = append(out, m.info(uint32(p)<<pageBits|uint32(i), &pg[i]))
			}
		}
	}
	return out
}

// ContextsFrom is Contexts in parts, for callers that must not hold the
// machine's goroutine for long (an admin listing of a million contexts):
// up to max contexts from slot start on, and the slot to start the next
// part from; done once no slot is left.
func (m *Machine) ContextsFrom(start uint32, max int) (out []ContextInfo, next uint32, done bool) {
	m.clock()
	for p := int(start >> pageBits); p < len(m.pages); p++ {
		pg := m.pages[p]
		if pg == nil {
			continue
		}
		i := 0
		if p == int(start>>pageBits) {
			i = int(start & (1<<pageBits - 1))
		}
		for ; i < len(pg); i++ {
			if len(out) == max {
				return out, uint32(p)<<pageBits | uint32(i), false
			}
			if pg[i].state != Idle {
				out = append(out, m.info(uint32(p)<<pageBits|uint32(i), &pg[i]))
			}
		}
	}
	return out, 0, true
}

// Context describes the context of a ULID pair (RFC 5533 §6.1), if the
// machine holds one.
func (m *Machine) Context(local, peer netip.Addr) (ContextInfo, bool) {
	m.clock()
	slot, c, _ := m.lookupPair(local, peer)
	if c == nil {
		return ContextInfo{}, false
	}
	return m.info(slot, c), true
}

func (m *Machine) info(slot uint32, c *ctx) ContextInfo {
	var t dataplane.Context
	m.cfg.Table.Get(slot, &t)
	ci := ContextInfo{
		Slot: slot, State: c.state,
		LocalULID: netip.AddrFrom16(t.ULIDLocal), PeerULID: netip.AddrFrom16(t.ULIDPeer),
		LocalLocator: netip.AddrFrom16(t.LocLocal), PeerLocator: netip.AddrFrom16(t.LocPeer),
		LocalTag: t.LocalTag, PeerTag: t.PeerTag,
		UpdatePending: c.flags&flagUpdating != 0, PeerKeepaliveTimeout: c.peerKT,
		Age:     time.Duration(m.cur-c.created) * m.res,
		InState: time.Duration(m.cur-c.since) * m.res,
	}
	if h := m.hosts[c.host]; h != nil {
		for _, l := range h.list.Locators {
			ci.LocalLocators = append(ci.LocalLocators, l.Addr)
		}
	}
	for _, a := range m.peerAddrs(slot, t.ULIDPeer) {
		ci.PeerLocators = append(ci.PeerLocators, netip.AddrFrom16(a))
	}
	if ps := m.peers[slot]; ps != nil {
		ci.PeerPreferences = append([]wire.Preference(nil), ps.prefs...)
		ci.PeerGeneration = ps.gen
	}
	return ci
}

// LocalLocatorsUnder returns the ULIDs and announced locators under p of
// the hosts that have contexts, each once. It walks the hosts, not the
// contexts: an uplink's failure asks for it, at any number of contexts.
func (m *Machine) LocalLocatorsUnder(p netip.Prefix) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	add := func(a netip.Addr) {
		if p.Contains(a) && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, h := range m.hosts {
		if h == nil || h.n == 0 {
			continue
		}
		for _, l := range h.list.Locators {
			add(l.Addr)
		}
		add(h.ulid)
	}
	return out
}
