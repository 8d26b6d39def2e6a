package control

import (
	"cmp"
	"context"
	"crypto/rsa"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
	"shim6d/dataplane/header"
	"shim6d/ports"
)

// startShim builds the Shim6 state machine (RFC 5533) the core runs, and
// REAP (RFC 5534) when setup asks for it: control messages from the uplinks
// go to the machine, the workers' events drive it, and both run their
// timers every round. REAP's contexts join when the signalling establishes
// them and leave when they close; its probes and keepalives go out like
// every control message; a pair it proves both ways is published to the
// workers at once.
func (c *Core) startShim(setup *ShimSetup) error {
	if c.cfg.Contexts == nil {
		return errors.New("the signalling needs a context table")
	}
	if c.cfg.HostLocators == nil && setup.Hosts != nil {
		// Through c.hostSet, so that a reload can change the sets.
		c.hosts = setup.Hosts
		c.cfg.HostLocators = func(ulid netip.Addr) (shim6.LocatorSet, error) {
			locs, params, err := c.hostSet(ulid).Locators(ulid)
			return shim6.LocatorSet{Locators: locs, Parameters: params}, err
		}
	}
	var keepalive *wire.KeepaliveTimeout
	if setup.REAP {
		// The traffic checks run ten times per Send Timeout (at most
		// every 2 s): a failure is then seen within a tenth of the
		// timeout, which with a 1 s timeout lets the switch beat TCP's
		// third retransmission (1.4 s after the loss) instead of waiting
		// for the fourth (3 s).
		rc := reap.Config{Clock: clockFunc(c.cfg.Now), Traffic: coreTraffic{c}, Output: coreOutput{c},
			Capacity: c.cfg.Contexts.Capacity(), SendTimeout: setup.SendTimeout}
		if setup.SendTimeout > 0 {
			rc.CheckInterval = min(reap.DefaultCheckInterval, setup.SendTimeout/10)
		}
		// The workers stamp receipts to the tick: the last one may have
		// come up to a TickPeriod after its stamp, so the hold counts from
		// the end of the stamp's tick, and nothing came back for at least
		// ULPHold when a hint explores.
		rc.ULPHold = cmp.Or(setup.ULPHold, reap.DefaultULPHold) + TickPeriod
		for _, w := range c.cfg.Workers {
			w.SetULPAdvice(setup.ULPAdvice)
		}
		r, err := reap.New(rc)
		if err != nil {
			return err
		}
		c.reap = r
		keepalive = r.KeepaliveTimeoutOption()
	}
	verifier := setup.Verifier
	if verifier == nil {
		verifier = HBAVerifier{}
	}
	sc := shim6.Config{
		Table: c.cfg.Contexts, Send: c.SendControl, Now: c.cfg.Now, LastData: c.LastData,
		Verifier: verifier, LocalLocators: c.LocalLocators, LocalUsable: c.LocalUsable,
		OnEstablished: c.OnEstablished, OnClosed: c.OnClosed, OnREAP: c.OnREAPMessage, OnLocators: c.OnLocators,
		IdleTimeout: setup.IdleTimeout, KeepaliveTimeout: keepalive,
		R1Rate: setup.R1Rate, R1RatePerPrefix: setup.R1RatePerPrefix,
	}
	if setup.Hosts != nil {
		sc.Sign = CGASigner(func(ulid netip.Addr) *rsa.PrivateKey { return c.hostSet(ulid).Key(ulid) })
	}
	m, err := shim6.New(sc)
	if err != nil {
		return err
	}
	c.sig = m
	return nil
}

// Signalling returns the core's Shim6 state machine (nil without
// Config.Shim). Use it only on the core's goroutine (through Query).
func (c *Core) Signalling() *shim6.Machine { return c.sig }

// SendControl transmits a Shim6 control message from src to dst: by the
// uplink whose prefix holds src (ISPs drop foreign sources), to that
// uplink's next hop. It is the state machine's Config.Send.
func (c *Core) SendControl(src, dst netip.Addr, msg wire.Message) {
	f := c.cfg.Fwd.Load()
	s, d := src.As16(), dst.As16()
	up := f.UplinkFor(&s)
	if up == nil || !up.Resolved {
		c.Stats.SignalDrops.Add(1)
		return
	}
	port := int(up.Port)
	n := msg.Len()
	p, ok := c.alloc(port)
	if !ok {
		return
	}
	if !p.SetLen(l3 + header.IPv6MinimumSize + n) {
		c.free(&p)
		c.Stats.SignalDrops.Add(1)
		return
	}
	frame := p.Frame()
	own := c.srcMAC(port)
	eth := header.Ethernet(frame)
	eth.SetAddresses(&up.NextHopMAC, &own)
	eth.SetEtherType(header.EtherTypeIPv6)
	header.IPv6(frame[l3:]).Encode(uint16(n), header.ProtoShim6, errorHopLimit, &s, &d)
	if _, err := msg.MarshalTo(frame[l3+header.IPv6MinimumSize:]); err != nil {
		c.free(&p)
		c.Stats.SignalDrops.Add(1)
		c.cfg.Log.Warn("cannot encode Shim6 message", "type", msg.Type(), "err", err)
		return
	}
	c.Stats.SignalSent.Add(1)
	if c.debug() {
		c.cfg.Log.Debug("shim6 sent", "type", msg.Type().String(), "src", src, "dst", dst, "uplink", c.cfg.Setup[port].Name)
	}
	c.send(port, p)
}

// debug reports whether debug logging is on, so the per-message log
// lines cost nothing when it is not.
func (c *Core) debug() bool { return c.cfg.Log.Enabled(context.Background(), slog.LevelDebug) }

// handleSignal passes a Shim6 control message (P = 0) from an uplink to
// the state machine and reports whether the packet was one.
func (c *Core) handleSignal(p *ports.Packet, port int, ip header.IPv6) bool {
	if c.cfg.Setup[port].Role != dataplane.RoleUplink {
		return false
	}
	if ip.NextHeader() == header.ProtoICMPv6 { // ND and errors, most of what comes here
		return false
	}
	chain, cerr := header.WalkExtensions(ip)
	off, ok := chain.Shim6()
	if cerr != header.ChainOK || !ok || header.Shim6(ip[off:]).IsPayload() {
		return false
	}
	if chain.Fragmented {
		// The first fragment of a control message: there is no
		// reassembly here (control messages are far below any MTU), and
		// the message is ours, not an inside host's.
		c.Stats.Malformed.Add(1)
		return true
	}
	c.Stats.SignalReceived.Add(1)
	if c.debug() {
		c.cfg.Log.Debug("shim6 received", "type", wire.Type(header.Shim6(ip[off:]).Type()).String(),
			"src", netip.AddrFrom16(*ip.Src()), "dst", netip.AddrFrom16(*ip.Dst()), "uplink", c.cfg.Setup[port].Name)
	}
	if c.sig == nil {
		c.Stats.Unhandled.Add(1)
		return true
	}
	c.sig.HandleMessage(netip.AddrFrom16(*ip.Src()), netip.AddrFrom16(*ip.Dst()), ip[off:])
	return true
}

// LastData is when a worker last saw a packet of the context in slot, to
// the tick's resolution; the zero time if never. It is the state machine's
// Config.LastData, so contexts that carry data are not collected as idle.
func (c *Core) LastData(slot uint32) time.Time {
	var last uint32
	for _, fb := range c.feedback {
		if int(slot) < len(fb.Sent) {
			last = max(last, fb.Sent[slot].Load(), fb.Recv[slot].Load())
		}
	}
	if last == 0 {
		return time.Time{}
	}
	return c.start.Add(time.Duration(last) * TickPeriod)
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
	c.replChanged(ci.Slot)
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
	c.replChanged(slot)
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

// mayEstablish applies the deferred-establishment policy to the event in
// c.ev: the peer must be under a listed prefix (if any are), and the
// handshake rate must allow one more.
func (c *Core) mayEstablish(now time.Time) bool {
	if len(c.cfg.EstablishPeers) > 0 {
		peer := netip.AddrFrom16(c.ev.Dst)
		listed := false
		for _, p := range c.cfg.EstablishPeers {
			listed = listed || p.Contains(peer)
		}
		if !listed {
			return false
		}
	}
	return c.estab.Take(now)
}
