package control

import (
	"net/netip"
	"slices"
	"time"

	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
)

type coreTraffic struct{ c *Core }

func (t coreTraffic) Last(id reap.ID) (sent, recv time.Time) {
	var s, r uint32
	for _, fb := range t.c.feedback {
		if int(id) < len(fb.Sent) {
			s, r = max(s, fb.Sent[id].Load()), max(r, fb.Recv[id].Load())
		}
	}
	at := func(tick uint32) time.Time {
		if tick == 0 {
			return time.Time{}
		}
		return t.c.start.Add(time.Duration(tick) * TickPeriod)
	}
	return at(s), at(r)
}

type coreOutput struct{ c *Core }

func (o coreOutput) SendProbe(_ reap.ID, src, dst netip.Addr, p *wire.Probe) {
	o.c.SendControl(src, dst, p)
}

func (o coreOutput) SendKeepalive(_ reap.ID, src, dst netip.Addr, k *wire.Keepalive) {
	o.c.SendControl(src, dst, k)
}

// OnSwitch moves the context to the proven pair, leaving by the uplink
// that owns the new local locator.
func (o coreOutput) OnSwitch(id reap.ID, local, peer netip.Addr) {
	c := o.c
	l, p := local.As16(), peer.As16()
	up := c.cfg.Fwd.Load().UplinkFor(&l)
	if up == nil {
		c.cfg.Log.Warn("REAP chose a local locator no uplink owns", "local", local)
		return
	}
	if err := c.SetContextLocators(uint32(id), &l, &p, up.Port); err != nil {
		c.cfg.Log.Warn("cannot switch context", "slot", id, "err", err)
		return
	}
	c.Stats.Switches.Add(1)
	c.cfg.Log.Info("context switched locator pair", "slot", id, "local", local, "peer", peer, "uplink", c.cfg.Setup[up.Port].Name)
	// Off its preferred pair, a context is a failback candidate from now
	// on; back on it, it is not.
	c.policy.Switched(uint32(id))
	if ci, ok := c.contextInfo(uint32(id)); ok {
		// Exploration may land on a drained or BROKEN locator, which
		// the policy moves off at once, as it would after a change.
		c.trackBroken(&ci)
	}
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

// OnEstablished is the signalling's hook: the context joins REAP with both
// locator sets. It starts on the pair the establishing exchange proved when
// that was not the ULIDs (an initial failure, seed draft §8.4), so the
// host's first packets already take a path that works; then, if the site
// policy prefers another pair (spreading, a better-ranked uplink), REAP
// probes that one before any data goes there.
func (c *Core) OnEstablished(ci shim6.ContextInfo) {
	// The machine reports only verified locators; checked again here
	// because this moves a host's traffic.
	if ci.ViaLocal.IsValid() && slices.Contains(ci.LocalLocators, ci.ViaLocal) && slices.Contains(ci.PeerLocators, ci.ViaPeer) {
		l, p := ci.ViaLocal.As16(), ci.ViaPeer.As16()
		if up := c.cfg.Fwd.Load().UplinkFor(&l); up != nil {
			if err := c.SetContextLocators(ci.Slot, &l, &p, up.Port); err == nil {
				ci.LocalLocator, ci.PeerLocator = ci.ViaLocal, ci.ViaPeer
				c.Stats.InitialSwitches.Add(1)
				c.cfg.Log.Info("context established over another pair than its ULIDs", "slot", ci.Slot,
					"local", ci.ViaLocal, "peer", ci.ViaPeer, "uplink", c.cfg.Setup[up.Port].Name)
			}
		}
	}
	// A context the peer made anew comes back with a new tag (see
	// shim6.Machine's renewed).
	c.reindexPeer(ci.Slot)
	if c.reap == nil {
		return
	}
	err := c.reap.Add(reap.ID(ci.Slot), reap.Context{
		PeerTag:      ci.PeerTag,
		Local:        c.reapLocators(ci.LocalLocators, ci.LocalLocator, nil, true),
		Peer:         c.reapLocators(ci.PeerLocators, ci.PeerLocator, ci.PeerPreferences, false),
		CurrentLocal: ci.LocalLocator, CurrentPeer: ci.PeerLocator,
	})
	if err != nil {
		c.cfg.Log.Warn("context not watched by REAP", "slot", ci.Slot, "err", err)
		return
	}
	// Our keepalives must come within the peer's Send Timeout, which it
	// announced (RFC 5534 §5.3); without it the default applies.
	c.reap.SetKeepaliveTimeout(reap.ID(ci.Slot), wire.KeepaliveTimeout(ci.PeerKeepaliveTimeout))
	// A context that had to start elsewhere than its ULIDs just saw the
	// ULID pair fail: going back to it waits for failback, like any.
	c.track(&ci, !ci.ViaLocal.IsValid())
}

// OnClosed is the signalling's hook for a context leaving ESTABLISHED.
func (c *Core) OnClosed(slot uint32) {
	c.policy.Closed(slot)
	if c.reap != nil {
		c.reap.Remove(reap.ID(slot))
	}
}

// OnREAPMessage is the signalling's hook for Keepalive and Probe messages
// that matched a context (RFC 5533 §12.4).
func (c *Core) OnREAPMessage(slot uint32, src, dst netip.Addr, msg wire.Message) {
	if c.reap == nil {
		return
	}
	switch m := msg.(type) {
	case *wire.Probe:
		c.reap.HandleProbe(reap.ID(slot), src, dst, m)
	case *wire.Keepalive:
		c.reap.HandleKeepalive(reap.ID(slot), src, dst, m)
	}
}

// linkCheckEvery is how often the core looks at the uplinks' link state:
// cheap (one nowait query per uplink), and fast next to any REAP timer.
const linkCheckEvery = 100 * time.Millisecond

// checkLinks turns an uplink becoming unusable (its link down, or its next
// hop no longer answering Neighbor Discovery) into an immediate exploration
// for every context with a local locator under its prefix (RFC 5534 §3.2:
// the locator is no longer locally operational), and its return into
// LinkUp. Either way the hosts' Locator Preferences change (BROKEN while
// down), and peers hear it in Update Requests.
func (c *Core) checkLinks(now time.Time) {
	if c.reap == nil || now.Before(c.nextLinkCheck) {
		return
	}
	c.nextLinkCheck = now.Add(linkCheckEvery)
	if c.linkDown == nil {
		c.linkDown = make([][]netip.Addr, len(c.cfg.Ports))
	}
	changed := false
	for i, p := range c.cfg.Ports {
		s := &c.cfg.Setup[i]
		if s.Role != dataplane.RoleUplink {
			continue
		}
		up := p.Link().Up && c.nextHopUsable(i)
		switch {
		case !up && !c.policy.Uplink(i).Down:
			c.policy.LinkDown(i)
			changed = true
			if !c.everUp(i) {
				// Its next hop still resolving at start-up, or an
				// uplink down from the start: nothing uses it yet, and
				// new contexts will not until it comes up.
				c.cfg.Log.Info("uplink not usable yet (link or next hop)", "port", s.Name)
				continue
			}
			addrs := c.localLocatorsUnder(s.Prefix)
			c.linkDown[i] = addrs
			c.reap.LinkDown(addrs...)
			c.Stats.UplinkDowns.Add(1)
			c.cfg.Log.Warn("uplink down (link or next hop): exploring other pairs", "port", s.Name, "locators", len(addrs))
		case up && c.policy.Uplink(i).Down:
			if c.everUp(i) {
				c.cfg.Log.Info("uplink usable again", "port", s.Name)
			} else {
				c.cfg.Log.Info("uplink usable", "port", s.Name)
			}
			c.markUp(i)
			c.reap.LinkUp(c.linkDown[i]...)
			c.linkDown[i] = nil
			c.policy.LinkUp(i, now)
			changed = true
		case up:
			c.markUp(i)
		}
	}
	if changed {
		c.policyChanged(false)
	}
}

// everUp and markUp remember which uplinks have been usable once.
func (c *Core) everUp(port int) bool { return c.wasUp&(1<<port) != 0 }
func (c *Core) markUp(port int)      { c.wasUp |= 1 << port }

// localLocatorsUnder lists the distinct local locators of the signalling's
// contexts under prefix p.
func (c *Core) localLocatorsUnder(p netip.Prefix) []netip.Addr {
	if c.sig == nil {
		return nil
	}
	return c.sig.LocalLocatorsUnder(p)
}

// nextHopUsable reports whether uplink port's next hop has a usable
// neighbour entry (static, or resolved and not given up on).
func (c *Core) nextHopUsable(port int) bool {
	nh := c.cfg.Setup[port].NextHop
	if !nh.IsValid() {
		return true
	}
	e := c.nd.ports[port][nh]
	return e != nil && e.usable()
}
