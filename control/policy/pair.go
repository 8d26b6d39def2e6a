package policy

import (
	"math"
	"net/netip"

	"shim6d/control/wire"
)

// candidate is one locator of a side with its preference.
type candidate struct {
	addr     netip.Addr
	priority uint8
	weight   uint8
}

// PreferredPair is the pair the policy wants ctx on (see the package
// comment); ok is false when one side has no locator that is not known
// broken.
func (m *Machine) PreferredPair(ctx *Context) (local, peer netip.Addr, ok bool) {
	var buf [2 * wire.MaxLocators]candidate
	locals := buf[:0:wire.MaxLocators]
	lset := ctx.LocalLocators
	if len(lset) == 0 {
		lset = []netip.Addr{ctx.LocalULID}
	}
	for _, a := range lset {
		i := m.UplinkOf(a)
		if i < 0 || m.up[i].Down || m.up[i].Drained {
			continue
		}
		locals = append(locals, candidate{a, m.up[i].Priority, m.up[i].Weight})
	}
	peers := buf[wire.MaxLocators:wire.MaxLocators]
	pset := ctx.PeerLocators
	if len(pset) == 0 {
		pset = []netip.Addr{ctx.PeerULID}
	}
	prefs := ctx.PeerPreferences
	if len(prefs) != len(pset) {
		prefs = nil
	}
	for k, a := range pset {
		cd := candidate{addr: a, weight: 1}
		if prefs != nil {
			if prefs[k].Flags&wire.PreferenceBroken != 0 {
				continue
			}
			cd.priority, cd.weight = prefs[k].Priority, prefs[k].Weight
		}
		peers = append(peers, cd)
	}
	key := pairKey(ctx.LocalULID, ctx.PeerULID)
	// A peer that states no preferences is reached at its ULID while that
	// is among its locators: spreading over its locators would be our
	// guess at its traffic engineering, not its own.
	spreadPeer := m.cfg.Spread && prefs != nil
	local, okL := choose(locals, ctx.LocalULID, m.cfg.Spread, key)
	peer, okP := choose(peers, ctx.PeerULID, spreadPeer, key)
	return local, peer, okL && okP
}

// choose picks a side's locator among cands: the best priority, the ULID
// when it qualifies and spread is off, otherwise the weighted rendezvous
// winner (zero weights count only when the whole priority has no other).
func choose(cands []candidate, ulid netip.Addr, spread bool, key uint64) (netip.Addr, bool) {
	if len(cands) == 0 {
		return netip.Addr{}, false
	}
	best, weighted := uint8(255), false
	for _, cd := range cands {
		best = min(best, cd.priority)
	}
	for _, cd := range cands {
		if cd.priority == best {
			if !spread && cd.addr == ulid {
				return ulid, true
			}
			weighted = weighted || cd.weight > 0
		}
	}
	var win netip.Addr
	top := math.Inf(-1)
	for _, cd := range cands {
		if cd.priority != best || weighted && cd.weight == 0 {
			continue
		}
		w := float64(cd.weight)
		if !weighted {
			w = 1
		}
		// Weighted rendezvous: score -w/ln(u) with u uniform in (0,1)
		// from the hash of (pair, locator); the highest score wins, each
		// locator with probability w/Σw.
		u := (float64(mix(key^addrHash(cd.addr))>>11) + 0.5) / (1 << 53)
		if s := -w / math.Log(u); s > top {
			top, win = s, cd.addr
		}
	}
	return win, win.IsValid()
}

// pairKey hashes a ULID pair the same way whichever end computes it.
func pairKey(a, b netip.Addr) uint64 {
	ha, hb := addrHash(a), addrHash(b)
	if ha > hb {
		ha, hb = hb, ha
	}
	return mix(ha ^ mix(hb))
}

func addrHash(a netip.Addr) uint64 {
	b := a.As16()
	var hi, lo uint64
	for i := range 8 {
		hi, lo = hi<<8|uint64(b[i]), lo<<8|uint64(b[8+i])
	}
	return mix(hi ^ mix(lo^0x9e3779b97f4a7c15))
}

// mix is SplitMix64's finaliser: fixed, so both sites of a context agree.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Broken reports whether ctx's current pair can no longer carry traffic
// by what is known locally: our locator's uplink down or drained, or
// either locator withdrawn or marked BROKEN by its owner.
func (m *Machine) Broken(ctx *Context) bool {
	if !m.Usable(ctx.LocalLocator) {
		return true
	}
	if len(ctx.LocalLocators) > 0 && index(ctx.LocalLocators, ctx.LocalLocator) < 0 {
		return true
	}
	if len(ctx.PeerLocators) > 0 {
		k := index(ctx.PeerLocators, ctx.PeerLocator)
		if k < 0 {
			return true
		}
		if len(ctx.PeerPreferences) == len(ctx.PeerLocators) && ctx.PeerPreferences[k].Flags&wire.PreferenceBroken != 0 {
			return true
		}
	}
	return false
}

func index(as []netip.Addr, a netip.Addr) int {
	for i, x := range as {
		if x == a {
			return i
		}
	}
	return -1
}
