package control

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
	"shim6d/dataplane/header"
	"shim6d/ports"
)

// AttachSignalling gives the core the Shim6 state machine (RFC 5533) it
// runs: control messages from the uplinks go to it, the workers' events
// drive it, and its timers run every round. Call before Run; the machine's
// Config.Send should be the core's SendControl.
func (c *Core) AttachSignalling(m *shim6.Machine) { c.sig = m }

// Signalling returns the attached state machine (nil without one). Use it
// only on the core's goroutine (through Query).
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
	own := c.cfg.Ports[port].MAC()
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

// SetFeedback gives the core the workers' REAP feedback arrays, for
// LastData. Call before Run.
func (c *Core) SetFeedback(fb []*dataplane.Feedback) { c.feedback = fb }

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
