package control

import (
	"net/netip"
	"time"

	"shim6d/control/reap"
	"shim6d/control/wire"
)

// coreTraffic is the reap.Traffic the core offers: the workers' feedback
// ticks, newest over all workers, as times.
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

// coreOutput is the reap.Output the core offers.
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

// retransmitting is a worker's EventRetransmit: the context in slot
// retransmitted TCP towards its peer, negative advice for REAP (see
// reap.Machine.Hint). A slot REAP does not watch, or no longer, is
// ignored there.
func (c *Core) retransmitting(slot uint32) {
	if c.reap != nil {
		c.reap.Hint(reap.ID(slot))
	}
}

// clockFunc is REAP's clock over the core's Now.
type clockFunc func() time.Time

// REAP returns the core's failure detector (nil without Config.Shim.REAP).
// Use it only on the core's goroutine (through Query); its Stats may be
// read from anywhere.
func (c *Core) REAP() *reap.Machine { return c.reap }

func (f clockFunc) Now() time.Time { return f() }
