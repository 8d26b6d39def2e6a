package control

import (
	"net/netip"
	"time"

	"shim6d/dataplane"
	"shim6d/dataplane/header"
	"shim6d/ports"
)

// What the control core originates.
const (
	l3 = header.EthernetMinimumSize
	// ndHopLimit: ND messages are sent, and must arrive, with 255
	// (RFC 4861 §7.1).
	ndHopLimit = 255
	// errorHopLimit is the hop limit of packets the core originates.
	errorHopLimit = 64
	// ndMessageSize is an NS or NA with one link-layer address option.
	ndMessageSize = header.NeighborSolicitationMinimumSize + header.NDLinkLayerAddressOptionSize
)

// handle deals with one control packet and reports whether it took the
// buffer over (sent or queued it); otherwise the caller frees it.
func (c *Core) handle(p *ports.Packet, now time.Time) bool {
	frame := p.Frame()
	if len(frame) < l3+header.IPv6MinimumSize || header.Ethernet(frame).EtherType() != header.EtherTypeIPv6 {
		c.Stats.Malformed.Add(1)
		return false
	}
	ip := header.IPv6(frame[l3:])
	if ip.Check() != header.IPv6OK || int(p.Port) >= len(c.cfg.Ports) {
		c.Stats.Malformed.Add(1)
		return false
	}
	ip = ip[:header.IPv6MinimumSize+int(ip.PayloadLength())]
	port := int(p.Port)
	if c.handleSignal(p, port, ip) {
		return false
	}
	if c.cfg.Setup[port].Role == dataplane.RoleUplink && c.translateError(p, ip) {
		ip = ip[:len(ip)-header.Shim6PayloadSize]
	}
	dst := netip.AddrFrom16(*ip.Dst())
	if dst.IsMulticast() || c.isLocal(port, dst) {
		return c.handleLocal(p, port, ip, now)
	}
	fwd := c.cfg.Fwd.Load()
	out, nextHop, grow, ok := c.route(fwd, port, ip)
	if !ok {
		// The snapshot changed under the worker; nothing to route by now.
		c.Stats.Unhandled.Add(1)
		return false
	}
	if ip.HopLimit() <= 1 {
		c.sendError(p, port, header.ICMPv6TimeExceeded, 0, 0, now)
		return false
	}
	if mtu := fwd.Ports[out].MTU; header.IPv6MinimumSize+int(ip.PayloadLength())+grow > mtu {
		// A packet of a rewriting context gets the MTU less the 8 bytes
		// its payload header will take (RFC 5533 §11.4 leaves the host to
		// learn that from us).
		c.sendError(p, port, header.ICMPv6PacketTooBig, 0, uint32(mtu-grow), now)
		return false
	}
	if grow > 0 {
		// A rewriting context's uplink has no resolved next hop: the
		// core does not rewrite, so the packet is dropped (counted) and
		// the next ones go out through the workers once ND resolves it.
		c.Stats.Unhandled.Add(1)
		return false
	}
	return c.enqueue(out, nextHop, p, now)
}

// route finds the egress port and next-hop address the way the workers do,
// and how many bytes the shim will add on the way (8 for a packet of a
// rewriting context, else 0).
func (c *Core) route(f *dataplane.Forwarding, port int, ip header.IPv6) (int, netip.Addr, int, bool) {
	if uint16(port) == f.Inside {
		if f.InSite(ip.Dst()) {
			return 0, netip.Addr{}, 0, false
		}
		if t := c.cfg.Contexts; t != nil && t.LookupULIDs(ip.Src(), ip.Dst(), &c.ctx) && c.ctx.Flags&dataplane.CtxRewrite != 0 {
			return int(c.ctx.EgressPort), c.cfg.Setup[c.ctx.EgressPort].NextHop, header.Shim6PayloadSize, true
		}
		up := f.UplinkFor(ip.Src())
		if up == nil {
			return 0, netip.Addr{}, 0, false
		}
		return int(up.Port), c.cfg.Setup[up.Port].NextHop, 0, true
	}
	if !f.InSite(ip.Dst()) {
		return 0, netip.Addr{}, 0, false
	}
	return int(f.Inside), netip.AddrFrom16(*ip.Dst()), 0, true
}

// forwardResolved finishes forwarding a packet that waited for resolution.
func (c *Core) forwardResolved(p *ports.Packet, port int, mac [6]byte) bool {
	frame := p.Frame()
	ip := header.IPv6(frame[l3:])
	if ip.HopLimit() <= 1 {
		return false
	}
	ip.SetHopLimit(ip.HopLimit() - 1)
	own := c.srcMAC(port)
	header.Ethernet(frame).SetAddresses(&mac, &own)
	return true
}

func (c *Core) isLocal(port int, a netip.Addr) bool {
	if a == c.linkLocs[port] {
		return true
	}
	for i := range c.cfg.Setup {
		for _, l := range c.cfg.Setup[i].Addresses {
			if l == a {
				return true
			}
		}
	}
	return false
}

// ownsOnPort reports whether a is ours on this port, which is what an NS
// must ask about to be answered there.
func (c *Core) ownsOnPort(port int, a netip.Addr) bool {
	if a == c.linkLocs[port] {
		return true
	}
	for _, l := range c.cfg.Setup[port].Addresses {
		if l == a {
			return true
		}
	}
	return false
}

// proxiesOnPort reports whether the core answers Neighbor Discovery for a
// on uplink port as the site's edge: a is a site address (under a prefix
// the inside port serves) under the uplink's own prefix. An ISP router
// that treats the site's prefix as on-link finds the hosts' locators
// behind shim6d, which is where the site routes them (proxy ND, RFC 4389
// §4.1 in spirit: the box answers with its own link-layer address).
func (c *Core) proxiesOnPort(port int, a netip.Addr) bool {
	s := &c.cfg.Setup[port]
	if s.Role != dataplane.RoleUplink || !s.Prefix.Contains(a) || a.IsLinkLocalUnicast() {
		return false
	}
	for _, in := range c.cfg.Setup {
		if in.Role != dataplane.RoleInside {
			continue
		}
		for _, pr := range in.Prefixes {
			if pr.Contains(a) {
				return true
			}
		}
	}
	return false
}

// handleLocal handles packets for our own or multicast addresses: ND
// (nd.go) and echo (echo.go). Everything else addressed to us is counted
// and dropped.
func (c *Core) handleLocal(p *ports.Packet, port int, ip header.IPv6, now time.Time) bool {
	if ip.NextHeader() != header.ProtoICMPv6 || len(ip) < header.IPv6MinimumSize+header.ICMPv6ErrorHeaderSize {
		c.Stats.Unhandled.Add(1)
		return false
	}
	icmp := header.ICMPv6(ip[header.IPv6MinimumSize:])
	if !icmp.IsChecksumValid(ip.Src(), ip.Dst()) {
		c.Stats.Malformed.Add(1)
		return false
	}
	switch icmp.Type() {
	case header.ICMPv6NeighborSolicitation:
		c.handleNS(p, port, ip, icmp, now)
		return false
	case header.ICMPv6NeighborAdvertisement:
		c.handleNA(p, port, ip, icmp, now)
		return false
	case header.ICMPv6EchoRequest:
		return c.echoReply(p, port, ip, icmp, now)
	}
	c.Stats.Unhandled.Add(1)
	return false
}
