package reap

import (
	"fmt"
	"net/netip"
)

// A context's candidate locators, the order in which an exploration tries
// their pairs, and the local locators' operational status (RFC 5534 §3.2,
// §4.2, §4.3).

// Locator is one locator of a context with its priority: lower priorities
// are tried first, equal ones in list order (RFC 5534 §4.3; the caller
// folds in RFC 3484 order and the peer's Locator Preferences).
type Locator struct {
	Addr     netip.Addr
	Priority uint8
}

func (m *Machine) local(r *record, i int) netip.Addr {
	return netip.AddrFrom16(m.locs[int(r.locOff)+i])
}

func (m *Machine) peer(r *record, i int) netip.Addr {
	return netip.AddrFrom16(m.locs[int(r.locOff)+int(r.nLocal)+i])
}

// pairIndex is the position of the pair (local, peer) in r's exploration
// order, if both are r's locators.
func (m *Machine) pairIndex(r *record, local, peer netip.Addr) (int, bool) {
	li, pi := -1, -1
	for i := 0; i < int(r.nLocal); i++ {
		if m.local(r, i) == local {
			li = i
		}
	}
	for i := 0; i < int(r.nPeer); i++ {
		if m.peer(r, i) == peer {
			pi = i
		}
	}
	if li < 0 || pi < 0 {
		return 0, false
	}
	return rank(li, pi, int(r.nLocal), int(r.nPeer)), true
}

func (m *Machine) find(r *record, local, peer [16]byte) (int, int) {
	li, pi := -1, -1
	for i := range int(r.nLocal) {
		if m.locs[int(r.locOff)+i] == local {
			li = i
		}
	}
	for i := range int(r.nPeer) {
		if m.locs[int(r.locOff)+int(r.nLocal)+i] == peer {
			pi = i
		}
	}
	if li < 0 || pi < 0 {
		return -1, -1
	}
	return li, pi
}

// SetLocators replaces a context's candidate locators, after an Update
// Request (RFC 5533 §10.4). The current pair must be among them.
func (m *Machine) SetLocators(id ID, local, peer []Locator, curLocal, curPeer netip.Addr) error {
	r := m.rec(id)
	if r == nil {
		return ErrID
	}
	old, n := r.locOff, int(r.nLocal)+int(r.nPeer)
	if err := m.setLocators(r, local, peer, curLocal, curPeer); err != nil {
		return err
	}
	if old != none {
		m.locDead += n
	}
	if e := m.exp(r); e != nil {
		next := rank(int(r.curLocal), int(r.curPeer), int(r.nLocal), int(r.nPeer))
		if r.state == Exploring {
			// The current pair is the one that failed: start where a
			// new exploration would (as startExploration does).
			next = firstPair(int(r.curLocal), int(r.curPeer), int(r.nLocal), int(r.nPeer))
		}
		e.nextPair, e.good = uint16(next), -1
	}
	return nil
}

func (m *Machine) setLocators(r *record, local, peer []Locator, curLocal, curPeer netip.Addr) error {
	if len(local) == 0 || len(peer) == 0 || len(local) > MaxLocators || len(peer) > MaxLocators {
		return ErrLocators
	}
	if m.locDead > 4096 && m.locDead > len(m.locs)/2 {
		m.compact()
	}
	off := len(m.locs)
	cl, cp := -1, -1
	for side, list := range [2][]Locator{local, peer} {
		start := len(m.locs)
		for _, l := range list {
			if !l.Addr.Is6() || l.Addr.Is4In6() {
				m.locs = m.locs[:off]
				return fmt.Errorf("%w: %v is not IPv6", ErrLocators, l.Addr)
			}
			// insertion sort, stable: after every locator of lower or equal priority
			i := len(m.locs)
			m.locs = append(m.locs, l.Addr.As16())
			m.prio = append(m.prio[:i-start], l.Priority)
			for i > start && m.prio[i-start-1] > l.Priority {
				m.locs[i], m.locs[i-1] = m.locs[i-1], m.locs[i]
				m.prio[i-start], m.prio[i-start-1] = m.prio[i-start-1], m.prio[i-start]
				i--
			}
		}
		cur := curLocal.As16()
		if side == 1 {
			cur = curPeer.As16()
		}
		for i := start; i < len(m.locs); i++ {
			if m.locs[i] == cur && (curLocal.Is6() && side == 0 || curPeer.Is6() && side == 1) {
				if side == 0 {
					cl = i - start
				} else {
					cp = i - start
				}
			}
		}
	}
	if cl < 0 || cp < 0 {
		m.locs = m.locs[:off]
		return fmt.Errorf("%w: current pair %v, %v not among the locators", ErrLocators, curLocal, curPeer)
	}
	r.locOff, r.nLocal, r.nPeer, r.curLocal, r.curPeer = uint32(off), uint8(len(local)), uint8(len(peer)), uint8(cl), uint8(cp)
	return nil
}

// compact drops the locator lists no context uses any more.
func (m *Machine) compact() {
	locs := make([][16]byte, 0, len(m.locs)-m.locDead+64)
	for i := range m.recs {
		r := &m.recs[i]
		if r.flags&flagInUse == 0 || r.locOff == none {
			continue
		}
		n := int(r.nLocal) + int(r.nPeer)
		off := len(locs)
		locs = append(locs, m.locs[r.locOff:int(r.locOff)+n]...)
		r.locOff = uint32(off)
	}
	m.locs, m.locDead = locs, 0
}

// rank and pairAt order the nLocal × nPeer candidate pairs along
// diagonals of the two preference orders: (0,0), (0,1), (1,0), (0,2),
// (1,1), ... so that exploration alternates the local and the peer
// locators (RFC 5534 §4.3).
func rank(l, p, nl, np int) int {
	k := 0
	for d := 0; d < nl+np-1; d++ {
		for i := 0; i <= d; i++ {
			j := d - i
			if i >= nl || j >= np {
				continue
			}
			if i == l && j == p {
				return k
			}
			k++
		}
	}
	return 0
}

// firstPair is where an exploration of our own starts in the pair order.
// The current pair is what just failed (Send Timeout, a link down), and it
// is not known which end broke, so the first probe goes
// to the first pair that shares neither locator with it, then on through
// the order, the current pair last. RFC 5534 §4.3 leaves such local
// ordering to the node and asks only that pairs be tried one at a time.
// Trying the disjoint pair first is what lets a single-ISP failure heal
// before TCP's third retransmission (1.4 s) with a 1 s Send Timeout.
func firstPair(cl, cp, nl, np int) int {
	for k := 0; k < nl*np; k++ {
		if l, p := pairAt(k, nl, np); l != cl && p != cp {
			return k
		}
	}
	return (rank(cl, cp, nl, np) + 1) % (nl * np)
}

func pairAt(k, nl, np int) (int, int) {
	for d := 0; d < nl+np-1; d++ {
		for i := 0; i <= d; i++ {
			j := d - i
			if i >= nl || j >= np {
				continue
			}
			if k == 0 {
				return i, j
			}
			k--
		}
	}
	return 0, 0
}

// LinkDown marks local locators not locally operational (RFC 5534 §3.2):
// exploration skips pairs from them, and every context whose current pair
// uses one starts exploring at once (§4.2). An uplink takes all of its
// hosts' locators down in one call: it looks at every context once, which
// at a million contexts is some milliseconds, not that times the hosts.
func (m *Machine) LinkDown(locals ...netip.Addr) {
	fresh := make(map[[16]byte]struct{}, len(locals))
	for _, l := range locals {
		a := l.As16()
		if !m.isDown(a) {
			fresh[a] = struct{}{}
		}
	}
	if len(fresh) == 0 {
		return
	}
	if m.down == nil {
		m.down = make(map[[16]byte]struct{}, len(fresh))
	}
	for a := range fresh {
		m.down[a] = struct{}{}
	}
	now := m.now()
	for i := range m.recs {
		r := &m.recs[i]
		if r.flags&flagInUse == 0 {
			continue
		}
		if _, gone := fresh[m.locs[int(r.locOff)+int(r.curLocal)]]; !gone {
			continue
		}
		if r.state != Exploring {
			m.setState(r, Exploring, now)
			m.sendProbe(ID(i), r, now)
		}
		m.rearm(uint32(i), r)
	}
}

// LinkUp marks local locators operational again. Contexts are not moved:
// failback is the caller's policy (TryPair).
func (m *Machine) LinkUp(locals ...netip.Addr) {
	for _, l := range locals {
		delete(m.down, l.As16())
	}
}

func (m *Machine) isDown(a [16]byte) bool {
	if len(m.down) == 0 {
		return false
	}
	_, ok := m.down[a]
	return ok
}

// TryPair explores starting with the pair (local, peer), for an Operational
// context on another pair: failback to a preferred uplink that may have
// come back (RFC 5534 §4.3 leaves the order of pairs to the node). The
// first probe goes to that pair; if it is answered both ways the context
// switches to it, otherwise the exploration goes on through the other pairs
// as any does, and ends on one that works, possibly the one in use now. It
// reports whether an exploration started.
func (m *Machine) TryPair(id ID, local, peer netip.Addr) bool {
	r := m.rec(id)
	if r == nil || r.state != Operational {
		return false
	}
	k, ok := m.pairIndex(r, local, peer)
	if !ok || (m.local(r, int(r.curLocal)) == local && m.peer(r, int(r.curPeer)) == peer) || m.isDown(local.As16()) {
		return false
	}
	now := m.now()
	e := m.startExploration(r, now)
	e.nextPair = uint16(k)
	m.setState(r, Exploring, now)
	m.sendProbe(id, r, now)
	m.rearm(uint32(id), r)
	return true
}
