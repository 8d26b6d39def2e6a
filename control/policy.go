package control

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
)

// Site policy: the traffic engineering operators lose with host-based
// multihoming, given back centrally. Each uplink has a priority and a
// weight (DNS SRV semantics: lower priority preferred, weight a share
// within a priority); they become the Locator Preferences announced for
// the hosts' locators under the uplink's prefix (RFC 5533 §5.15.3), with
// BROKEN set while the uplink is down. A context's preferred pair follows
// from both ends' preferences:
//
//   - on each side, the candidates are the locators not known broken (ours:
//     uplink up and not drained; the peer's: not flagged BROKEN) of the best
//     priority among them;
//   - without spreading, the side's ULID is kept when it is a candidate;
//   - otherwise one candidate is drawn by weighted rendezvous hashing over
//     the ULID pair: stable while nothing changes, moving only the
//     contexts it must when something does, proportional to the weights
//     over many contexts, and computed alike at both ends (the key does
//     not depend on which end computes it), so two shim6d sites settle on
//     the same pair instead of probing each other's choice.
//
// The peer's side uses its announced preferences; a peer that announced
// none is reached at its ULID.

// uplinkState is an uplink's policy and condition while the daemon runs.
type uplinkState struct {
	priority, weight uint8
	backup           bool
	down             bool      // link down or next hop unusable (checkLinks)
	upSince          time.Time // when it last came up (zero: up from the start)
	drained          bool      // by the operator: contexts move off, then its locators leave the sets
	drainedAt        time.Time // when drained was set
	withdrawn        bool      // drained, and its locators have left the sets (see withdrawDrained)
}

// UplinkPolicy is what an operator may change of an uplink at run time
// (`shim6ctl uplink`); nil fields stay as they are.
type UplinkPolicy struct {
	Priority *uint8 `json:"priority,omitempty"`
	Weight   *uint8 `json:"weight,omitempty"`
	Backup   *bool  `json:"backup,omitempty"`
	Drained  *bool  `json:"drained,omitempty"`
}

// UplinkStatus describes an uplink's policy and condition for operators.
type UplinkStatus struct {
	Name     string       `json:"name"`
	Port     int          `json:"port"`
	Prefix   netip.Prefix `json:"prefix"`
	Priority uint8        `json:"priority"` // as announced (255 for backup)
	Weight   uint8        `json:"weight"`
	Backup   bool         `json:"backup"`
	Down     bool         `json:"down"`
	Drained  bool         `json:"drained"`
	// Withdrawn is true once a drained uplink's locators have left the
	// locator sets; before that it is still draining.
	Withdrawn bool `json:"withdrawn"`
}

// backupPriority is what a backup uplink announces: the last rank.
const backupPriority = 255

// moveBudget caps how many contexts a policy change moves per round (each
// move is a probe exchange): a change that concerns a million contexts is
// spread over seconds instead of one burst of probes.
const moveBudget = 1000

func (c *Core) initPolicy() {
	c.uplinks = make([]uplinkState, len(c.cfg.Setup))
	for i, s := range c.cfg.Setup {
		if s.Role == dataplane.RoleUplink {
			c.uplinks[i] = uplinkState{priority: s.Priority, weight: s.Weight, backup: s.Backup}
			if s.Backup {
				c.uplinks[i].priority = backupPriority
			}
		}
	}
}

// uplinkOf returns the index of the uplink whose prefix holds a, or -1.
func (c *Core) uplinkOf(a netip.Addr) int {
	for i, s := range c.cfg.Setup {
		if s.Role == dataplane.RoleUplink && s.Prefix.Contains(a) {
			return i
		}
	}
	return -1
}

// LocalUsable reports whether local locator a can carry traffic now: its
// uplink is neither down nor drained (shim6.Config.LocalUsable).
func (c *Core) LocalUsable(a netip.Addr) bool {
	i := c.uplinkOf(a)
	return i >= 0 && !c.uplinks[i].down && !c.uplinks[i].drained
}

// LocalLocators is shim6.Config.LocalLocators: the host's set from
// Config.HostLocators without the locators of withdrawn uplinks, and, for
// a host with more than its ULID, the Locator Preferences of its uplinks.
// A draining uplink's locators stay in the set, flagged BROKEN, until it
// is withdrawn: a peer still probing or sending on one must not take it
// for a stale locator (R1bis, then recovery) while its contexts move.
func (c *Core) LocalLocators(ulid netip.Addr) (shim6.LocatorSet, error) {
	if c.cfg.HostLocators == nil {
		return shim6.LocatorSet{}, nil
	}
	set, err := c.cfg.HostLocators(ulid)
	if err != nil || len(set.Locators) <= 1 {
		return set, err
	}
	kept := set.Locators[:0:0]
	var prefs []wire.Preference
	for _, l := range set.Locators {
		i := c.uplinkOf(l.Addr)
		if i < 0 || c.uplinks[i].withdrawn {
			continue
		}
		u := &c.uplinks[i]
		p := wire.Preference{Priority: u.priority, Weight: u.weight}
		if u.down || u.drained {
			p.Flags |= wire.PreferenceBroken
		}
		kept = append(kept, l)
		prefs = append(prefs, p)
	}
	if len(kept) == 0 {
		// Every uplink of the host is drained: keep announcing the ULID,
		// marked broken, rather than an empty set the peer would refuse.
		return shim6.LocatorSet{
			Locators:    []wire.Locator{{Addr: ulid, Method: wire.VerifyHBA}},
			Preferences: []wire.Preference{{Flags: wire.PreferenceBroken, Priority: backupPriority}},
			Parameters:  set.Parameters,
		}, nil
	}
	set.Locators, set.Preferences = kept, prefs
	return set, nil
}

// candidate is one locator of a side with its preference.
type candidate struct {
	addr     netip.Addr
	priority uint8
	weight   uint8
}

// PreferredPair is the pair the site policy wants ci on (see the package
// comment on site policy); ok is false when one side has no locator that
// is not known broken.
func (c *Core) PreferredPair(ci *shim6.ContextInfo) (local, peer netip.Addr, ok bool) {
	var buf [2 * wire.MaxLocators]candidate
	locals := buf[:0:wire.MaxLocators]
	lset := ci.LocalLocators
	if len(lset) == 0 {
		lset = []netip.Addr{ci.LocalULID}
	}
	for _, a := range lset {
		i := c.uplinkOf(a)
		if i < 0 || c.uplinks[i].down || c.uplinks[i].drained {
			continue
		}
		locals = append(locals, candidate{a, c.uplinks[i].priority, c.uplinks[i].weight})
	}
	peers := buf[wire.MaxLocators:wire.MaxLocators]
	pset := ci.PeerLocators
	if len(pset) == 0 {
		pset = []netip.Addr{ci.PeerULID}
	}
	prefs := ci.PeerPreferences
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
	key := pairKey(ci.LocalULID, ci.PeerULID)
	// A peer that states no preferences is reached at its ULID while that
	// is among its locators: spreading over its locators would be our
	// guess at its traffic engineering, not its own.
	spreadPeer := c.cfg.Spread && prefs != nil
	local, okL := choose(locals, ci.LocalULID, c.cfg.Spread, key)
	peer, okP := choose(peers, ci.PeerULID, spreadPeer, key)
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

// currentBroken reports whether ci's current pair can no longer carry
// traffic by what is known locally: our locator's uplink down or drained,
// or either locator withdrawn or marked BROKEN by its owner.
func (c *Core) currentBroken(ci *shim6.ContextInfo) bool {
	if !c.LocalUsable(ci.LocalLocator) {
		return true
	}
	if len(ci.LocalLocators) > 0 && !contains(ci.LocalLocators, ci.LocalLocator) {
		return true
	}
	if len(ci.PeerLocators) > 0 {
		k := index(ci.PeerLocators, ci.PeerLocator)
		if k < 0 {
			return true
		}
		if len(ci.PeerPreferences) == len(ci.PeerLocators) && ci.PeerPreferences[k].Flags&wire.PreferenceBroken != 0 {
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

func contains(as []netip.Addr, a netip.Addr) bool { return index(as, a) >= 0 }

// reapLocators turns a side's locator set and preferences into REAP's
// candidates: priorities ordered the site's way, BROKEN last.
func (c *Core) reapLocators(as []netip.Addr, cur netip.Addr, prefs []wire.Preference, local bool) []reap.Locator {
	if len(as) == 0 {
		as = []netip.Addr{cur}
	}
	if len(prefs) != len(as) {
		prefs = nil
	}
	// REAP takes at most reap.MaxLocators a side, the pair in use among
	// them.
	out := make([]reap.Locator, 0, min(len(as), reap.MaxLocators))
	for i, a := range as {
		if i == reap.MaxLocators {
			break
		}
		l := reap.Locator{Addr: a}
		switch {
		case local:
			if u := c.uplinkOf(a); u >= 0 {
				l.Priority = c.uplinks[u].priority
				if c.uplinks[u].down || c.uplinks[u].drained {
					l.Priority = 255
				}
			}
		case prefs != nil:
			l.Priority = prefs[i].Priority
			if prefs[i].Flags&wire.PreferenceBroken != 0 {
				l.Priority = 255
			}
		}
		out = append(out, l)
	}
	// REAP needs the pair in use among the candidates; a locator just
	// withdrawn stays there, last, until the context leaves it.
	if !contains(as[:len(out)], cur) {
		if len(out) == reap.MaxLocators {
			out = out[:len(out)-1] // the last candidate makes room
		}
		out = append(out, reap.Locator{Addr: cur, Priority: 255})
	}
	return out
}

// OnLocators is the signalling's hook for a change of an established
// context's locator sets or preferences (ours after a policy change, the
// peer's after its Update Request): REAP gets the new candidates, and a
// context whose pair is now broken moves at once, one merely off its
// preferred pair when the failback policy says.
func (c *Core) OnLocators(ci shim6.ContextInfo) {
	if c.reap == nil {
		return
	}
	err := c.reap.SetLocators(reap.ID(ci.Slot),
		c.reapLocators(ci.LocalLocators, ci.LocalLocator, nil, true),
		c.reapLocators(ci.PeerLocators, ci.PeerLocator, ci.PeerPreferences, false),
		ci.LocalLocator, ci.PeerLocator)
	if err != nil && !errors.Is(err, reap.ErrID) {
		c.cfg.Log.Warn("REAP keeps the old locators", "slot", ci.Slot, "err", err)
	}
	c.reap.SetKeepaliveTimeout(reap.ID(ci.Slot), wire.KeepaliveTimeout(ci.PeerKeepaliveTimeout))
	c.track(&ci, c.currentBroken(&ci))
}

// track notes whether ci is off its preferred pair: urgent ones move on
// the next round, others when failback allows.
func (c *Core) track(ci *shim6.ContextInfo, urgent bool) {
	l, p, ok := c.PreferredPair(ci)
	if !ok || l == ci.LocalLocator && p == ci.PeerLocator {
		delete(c.offPreferred, ci.Slot)
		return
	}
	if urgent {
		c.queueMove(ci.Slot)
		return
	}
	if c.offPreferred == nil {
		c.offPreferred = map[uint32]time.Time{}
	}
	if _, seen := c.offPreferred[ci.Slot]; !seen {
		c.offPreferred[ci.Slot] = c.cfg.Now()
	}
}

// queueMove puts slot on the moves to start, once.
func (c *Core) queueMove(slot uint32) {
	if c.moveQueued == nil {
		c.moveQueued = map[uint32]struct{}{}
	}
	if _, in := c.moveQueued[slot]; in {
		return
	}
	c.moveQueued[slot] = struct{}{}
	c.moveNow = append(c.moveNow, slot)
}

// moveEvery is how often movePending starts up to moveBudget moves, and
// moveRetryAfter how long a move REAP could not start waits to be tried
// again (its context exploring at the time, say).
const (
	moveEvery      = 100 * time.Millisecond
	moveRetryAfter = time.Second
)

// movePending starts, within moveBudget every moveEvery, the moves a
// policy change asked for: an exploration whose first probe is the
// preferred pair (REAP moves traffic only after that probe is answered
// both ways). A move REAP refuses for now is tried again later, not
// forgotten.
func (c *Core) movePending(now time.Time) {
	if now.Before(c.nextMove) {
		return
	}
	c.nextMove = now.Add(moveEvery)
	if len(c.moveRetry) > 0 && !now.Before(c.nextRetryScan) {
		// Retries wait a second; looking for due ones that often keeps
		// a large set of them from being walked ten times a second.
		c.nextRetryScan = now.Add(moveRetryAfter)
		for slot, at := range c.moveRetry {
			if !now.Before(at) {
				delete(c.moveRetry, slot)
				c.queueMove(slot)
			}
		}
	}
	end := min(c.moveHead+moveBudget, len(c.moveNow))
	for _, slot := range c.moveNow[c.moveHead:end] {
		delete(c.moveQueued, slot)
		started, pending := c.tryPreferred(slot, time.Time{})
		switch {
		case started:
			c.Stats.PolicyMoves.Add(1)
		case pending:
			if c.moveRetry == nil {
				c.moveRetry = map[uint32]time.Time{}
			}
			c.moveRetry[slot] = now.Add(moveRetryAfter)
		}
	}
	c.moveHead = end
	if c.moveHead == len(c.moveNow) {
		c.moveNow, c.moveHead = c.moveNow[:0], 0
	}
}

// tryPreferred asks REAP to try the context's preferred pair; it reports
// whether an exploration started, and if not, whether the context is
// still off that pair (pending), so the caller may try again. For a
// failback (now not zero), an uplink that came back less than the hold
// time ago is not stable yet: the context waits (a flapping uplink must
// not pull contexts back and forth).
func (c *Core) tryPreferred(slot uint32, now time.Time) (started, pending bool) {
	ci, ok := c.contextInfo(slot)
	if !ok {
		delete(c.offPreferred, slot)
		return false, false
	}
	l, p, ok := c.PreferredPair(&ci)
	if !ok || l == ci.LocalLocator && p == ci.PeerLocator {
		delete(c.offPreferred, slot)
		return false, false
	}
	if !now.IsZero() && !c.uplinkStable(l, now) {
		return false, true
	}
	if c.reap.TryPair(reap.ID(slot), l, p) {
		return true, false
	}
	return false, true
}

// uplinkStable reports whether the uplink of local locator a has been up
// for the failback hold time (or since the start).
func (c *Core) uplinkStable(a netip.Addr, now time.Time) bool {
	u := c.uplinkOf(a)
	return u < 0 || now.Sub(c.uplinks[u].upSince) >= c.cfg.FailbackHold
}

// contextInfo is the signalling's view of the established context in slot.
func (c *Core) contextInfo(slot uint32) (shim6.ContextInfo, bool) {
	var t dataplane.Context
	if c.sig == nil || !c.cfg.Contexts.Get(slot, &t) {
		return shim6.ContextInfo{}, false
	}
	ci, ok := c.sig.Context(netip.AddrFrom16(t.ULIDLocal), netip.AddrFrom16(t.ULIDPeer))
	return ci, ok && ci.State == shim6.Established
}

// policyChanged re-announces every host's set after an uplink's policy or
// condition changed (Update Requests, RFC 5533 §10.1) and, when the
// operator changed it, moves the contexts it concerns now rather than at
// the next failback.
func (c *Core) policyChanged(byOperator bool) {
	if c.sig == nil {
		return
	}
	if err := c.sig.RefreshLocalLocators(); err != nil {
		c.cfg.Log.Warn("locator sets not all updated", "err", err)
	}
	if !byOperator {
		return
	}
	for _, ci := range c.sig.Contexts() {
		if ci.State == shim6.Established {
			c.track(&ci, true)
		}
	}
}

// drainGrace is the least time a drained uplink's locators stay in the
// sets, flagged BROKEN, and drainLimit the most: in between, they leave
// once no policy move is pending (queued or waiting to retry), which is
// when the contexts on them have moved (or could not).
const (
	drainGrace = 10 * time.Second
	drainLimit = 5 * time.Minute
)

// withdrawDrained takes the locators of drained uplinks out of the sets
// once their contexts have had time to move (see LocalLocators).
func (c *Core) withdrawDrained(now time.Time) {
	moving := len(c.moveNow) > c.moveHead || len(c.moveRetry) > 0
	changed := false
	for i := range c.uplinks {
		u := &c.uplinks[i]
		if !u.drained || u.withdrawn {
			continue
		}
		if since := now.Sub(u.drainedAt); since >= drainLimit || since >= drainGrace && !moving {
			u.withdrawn, changed = true, true
			c.cfg.Log.Info("drained uplink's locators withdrawn", "port", c.cfg.Setup[i].Name, "after", since.Round(time.Second))
		}
	}
	if changed {
		c.policyChanged(false)
	}
}

// Uplinks describes the uplinks' policy and condition. Core goroutine only
// (through Query).
func (c *Core) Uplinks() []UplinkStatus {
	var out []UplinkStatus
	for i, s := range c.cfg.Setup {
		if s.Role != dataplane.RoleUplink {
			continue
		}
		u := c.uplinks[i]
		out = append(out, UplinkStatus{Name: s.Name, Port: i, Prefix: s.Prefix, Priority: u.priority,
			Weight: u.weight, Backup: u.backup, Down: u.down, Drained: u.drained, Withdrawn: u.withdrawn})
	}
	return out
}

// SetUplinkPolicy changes an uplink's policy at run time: peers are told
// with Update Requests, and the contexts concerned move (after a probe on
// their new pair). Core goroutine only (through Query).
func (c *Core) SetUplinkPolicy(name string, p UplinkPolicy) error {
	i := -1
	for k, s := range c.cfg.Setup {
		if s.Role == dataplane.RoleUplink && s.Name == name {
			i = k
		}
	}
	if i < 0 {
		return fmt.Errorf("no uplink called %q", name)
	}
	u := c.uplinks[i]
	if p.Backup != nil {
		u.backup = *p.Backup
		switch {
		case u.backup:
			u.priority = backupPriority
		case u.priority == backupPriority:
			u.priority = c.cfg.Setup[i].Priority // as configured
		}
	}
	if p.Priority != nil {
		if *p.Priority == backupPriority {
			return fmt.Errorf("priority %d is for backup uplinks; set backup instead", backupPriority)
		}
		if u.backup {
			return errors.New("a backup uplink announces priority 255; clear backup first")
		}
		u.priority = *p.Priority
	}
	if p.Weight != nil {
		u.weight = *p.Weight
	}
	if p.Drained != nil && *p.Drained != u.drained {
		u.drained, u.drainedAt, u.withdrawn = *p.Drained, c.cfg.Now(), false
	}
	if u.drained || u.backup {
		primary := false
		for k, s := range c.cfg.Setup {
			o := c.uplinks[k]
			if k == i {
				o = u
			}
			primary = primary || s.Role == dataplane.RoleUplink && !o.drained && !o.backup
		}
		if !primary {
			return errors.New("that would leave no uplink that is neither drained nor backup")
		}
	}
	if u == c.uplinks[i] {
		return nil
	}
	c.uplinks[i] = u
	c.cfg.Log.Info("uplink policy changed", "port", c.cfg.Setup[i].Name, "priority", u.priority,
		"weight", u.weight, "backup", u.backup, "drained", u.drained)
	c.policyChanged(true)
	return nil
}
