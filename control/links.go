package control

import (
	"net/netip"
	"time"

	"shim6d/dataplane"
)

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

func (c *Core) markUp(port int) { c.wasUp |= 1 << port }

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
