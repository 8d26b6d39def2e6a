package control

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"shim6d/configs"
	"shim6d/control/policy"
	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
)

// The site policy's decisions are package policy's (see its comment);
// the core keeps the effects: REAP's candidates and moves, the locator
// sets the signalling announces, counters and logs.

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

// initPolicy sets up the site policy from the uplinks' configuration.
func (c *Core) initPolicy() {
	ups := make([]policy.Uplink, len(c.cfg.Setup))
	for i, s := range c.cfg.Setup {
		if s.Role == dataplane.RoleUplink {
			ups[i] = policy.Uplink{Prefix: s.Prefix, Priority: s.Priority, Weight: s.Weight, Backup: s.Backup}
		}
	}
	c.policy = policy.New(policy.Config{Uplinks: ups, Spread: c.cfg.Spread,
		Return: c.cfg.Failback == configs.FailbackReturn, Hold: c.cfg.FailbackHold, Node: policyNode{c}})
}

// policyNode is the policy.Node the core offers: the signalling's
// established contexts, and REAP's explorations.
type policyNode struct{ c *Core }

func (n policyNode) Context(slot uint32) (policy.Context, bool) {
	ci, ok := n.c.contextInfo(slot)
	return policyContext(&ci), ok
}

func (n policyNode) TryPair(slot uint32, local, peer netip.Addr) bool {
	return n.c.reap.TryPair(reap.ID(slot), local, peer)
}

// policyContext is the policy's view of ci.
func policyContext(ci *shim6.ContextInfo) policy.Context {
	return policy.Context{Slot: ci.Slot, LocalULID: ci.LocalULID, PeerULID: ci.PeerULID,
		LocalLocator: ci.LocalLocator, PeerLocator: ci.PeerLocator,
		LocalLocators: ci.LocalLocators, PeerLocators: ci.PeerLocators, PeerPreferences: ci.PeerPreferences}
}

// LocalUsable reports whether local locator a can carry traffic now: its
// uplink is neither down nor drained (shim6.Config.LocalUsable).
func (c *Core) LocalUsable(a netip.Addr) bool { return c.policy.Usable(a) }

// LocalLocators is shim6.Config.LocalLocators: the host's set from
// Config.HostLocators, and, for a host with more than its ULID, the site
// policy applied to it (policy.Machine.Announce): the locators of
// withdrawn uplinks out, the others with their uplinks' Locator
// Preferences.
func (c *Core) LocalLocators(ulid netip.Addr) (shim6.LocatorSet, error) {
	if c.cfg.HostLocators == nil {
		return shim6.LocatorSet{}, nil
	}
	set, err := c.cfg.HostLocators(ulid)
	if err != nil || len(set.Locators) <= 1 {
		return set, err
	}
	set.Locators, set.Preferences = c.policy.Announce(ulid, set.Locators)
	return set, nil
}

// PreferredPair is the pair the site policy wants ci on (see package
// policy); ok is false when one side has no locator that is not known
// broken.
func (c *Core) PreferredPair(ci *shim6.ContextInfo) (local, peer netip.Addr, ok bool) {
	ctx := policyContext(ci)
	return c.policy.PreferredPair(&ctx)
}

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
			l.Priority = c.policy.LocalRank(a)
		case prefs != nil:
			l.Priority = policy.PeerRank(prefs[i])
		}
		out = append(out, l)
	}
	// REAP needs the pair in use among the candidates; a locator just
	// withdrawn stays there, last, until the context leaves it.
	if !slices.Contains(as[:len(out)], cur) {
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
	c.replChanged(ci.Slot)
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
	c.trackBroken(&ci)
}

// track notes whether ci is off its preferred pair: urgent ones move on
// the next round, others when failback allows (policy.Machine.Track).
func (c *Core) track(ci *shim6.ContextInfo, urgent bool) {
	ctx := policyContext(ci)
	c.policy.Track(&ctx, urgent, c.cfg.Now())
}

// trackBroken is track, urgent when ci's current pair can no longer carry
// traffic by what is known locally (policy.Machine.Broken).
func (c *Core) trackBroken(ci *shim6.ContextInfo) {
	ctx := policyContext(ci)
	c.policy.Track(&ctx, c.policy.Broken(&ctx), c.cfg.Now())
}

// movePending starts the moves the site policy asks for (a change, a
// broken pair), paced by policy.MoveBudget.
func (c *Core) movePending(now time.Time) {
	c.Stats.PolicyMoves.Add(uint64(c.policy.Moves(now)))
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

// withdrawDrained takes the locators of drained uplinks out of the sets
// once their contexts have had time to move (see LocalLocators).
func (c *Core) withdrawDrained(now time.Time) {
	out := c.policy.Withdraw(now)
	for _, i := range out {
		since := now.Sub(c.policy.Uplink(i).DrainedAt)
		c.cfg.Log.Info("drained uplink's locators withdrawn", "port", c.cfg.Setup[i].Name, "after", since.Round(time.Second))
	}
	if len(out) > 0 {
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
		u := c.policy.Uplink(i)
		out = append(out, UplinkStatus{Name: s.Name, Port: i, Prefix: s.Prefix, Priority: u.Priority,
			Weight: u.Weight, Backup: u.Backup, Down: u.Down, Drained: u.Drained, Withdrawn: u.Withdrawn})
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
	changed, err := c.policy.Set(i, policy.Change(p), c.cfg.Now())
	if !changed {
		return err
	}
	u := c.policy.Uplink(i)
	c.cfg.Log.Info("uplink policy changed", "port", c.cfg.Setup[i].Name, "priority", u.Priority,
		"weight", u.Weight, "backup", u.Backup, "drained", u.Drained)
	c.policyChanged(true)
	return nil
}

// failback tries the preferred pair of contexts that have been off it for
// the hold time (RFC 5534 §4.3 leaves the choice of pair to the node; see
// policy.Machine.Failback). The try is a probe on that pair; nothing moves
// unless it goes through both ways.
func (c *Core) failback(now time.Time) {
	if c.reap == nil {
		return
	}
	c.Stats.FailbackTries.Add(uint64(c.policy.Failback(now)))
}
