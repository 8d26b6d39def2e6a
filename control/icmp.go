package control

import (
	"fmt"
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
	own := c.cfg.Ports[port].MAC()
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

// handleLocal handles packets for our own or multicast addresses: ND and
// echo. Everything else addressed to us is counted and dropped.
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
	src := netip.AddrFrom16(*ip.Src())
	ethSrc := *header.Ethernet(p.Frame()).Src()
	switch icmp.Type() {
	case header.ICMPv6NeighborSolicitation:
		ns := header.NeighborSolicitation(icmp)
		if ip.HopLimit() != ndHopLimit || icmp.Code() != 0 || !ns.IsValid() {
			c.Stats.Malformed.Add(1)
			return false
		}
		slla, _, ok := ns.Options().LinkLayerAddresses()
		if !ok {
			c.Stats.Malformed.Add(1)
			return false
		}
		c.Stats.NSReceived.Add(1)
		target := netip.AddrFrom16(*ns.TargetAddress())
		proxy := false
		if !c.ownsOnPort(port, target) {
			if proxy = c.proxiesOnPort(port, target); !proxy {
				c.Stats.Unhandled.Add(1)
				return false
			}
			c.Stats.NDProxied.Add(1)
		}
		if src.IsUnspecified() {
			// Duplicate Address Detection: answer to all-nodes, unsolicited.
			c.sendNA(port, target, netip.IPv6LinkLocalAllNodes(), [6]byte{0x33, 0x33, 0, 0, 0, 1}, false, proxy)
			return false
		}
		replyMAC := ethSrc
		if slla != nil {
			replyMAC = *slla
			c.learn(port, src, replyMAC, false, true, true, now)
		}
		c.sendNA(port, target, src, replyMAC, true, proxy)
		return false
	case header.ICMPv6NeighborAdvertisement:
		na := header.NeighborAdvertisement(icmp)
		if ip.HopLimit() != ndHopLimit || icmp.Code() != 0 || !na.IsValid() {
			c.Stats.Malformed.Add(1)
			return false
		}
		_, tlla, ok := na.Options().LinkLayerAddresses()
		if !ok {
			c.Stats.Malformed.Add(1)
			return false
		}
		c.Stats.NAReceived.Add(1)
		mac := ethSrc
		if tlla != nil {
			mac = *tlla
		}
		c.learn(port, netip.AddrFrom16(*na.TargetAddress()), mac, na.Solicited(), na.Override(), false, now)
		return false
	case header.ICMPv6EchoRequest:
		if ip.Dst()[0] == 0xff || !c.echo.Take(now) {
			c.Stats.ICMPRateLimited.Add(1)
			return false
		}
		// Answer in place: swap addresses and MACs, change the type.
		s, d := *ip.Src(), *ip.Dst()
		ip.SetSrc(&d)
		ip.SetDst(&s)
		ip.SetHopLimit(errorHopLimit)
		icmp.SetType(header.ICMPv6EchoReply)
		icmp.SetChecksum(icmp.CalculateChecksum(ip.Src(), ip.Dst()))
		eth := header.Ethernet(p.Frame())
		ed := *eth.Dst()
		eth.SetAddresses(&ethSrc, &ed)
		c.Stats.EchoReplies.Add(1)
		c.send(port, *p)
		return true
	}
	c.Stats.Unhandled.Add(1)
	return false
}

// newICMP allocates a packet for port and writes Ethernet and IPv6 headers
// for an ICMPv6 message of icmpLen bytes; it returns the packet and the
// ICMPv6 part to fill in. Call finishICMP after filling it.
func (c *Core) newICMP(port int, dmac [6]byte, src, dst netip.Addr, hop uint8, icmpLen int) (ports.Packet, header.IPv6, header.ICMPv6, bool) {
	p, ok := c.alloc(port)
	if !ok {
		return p, nil, nil, false
	}
	if !p.SetLen(l3 + header.IPv6MinimumSize + icmpLen) {
		c.free(&p)
		return p, nil, nil, false
	}
	frame := p.Frame()
	eth := header.Ethernet(frame)
	smac := c.cfg.Ports[port].MAC()
	eth.SetAddresses(&dmac, &smac)
	eth.SetEtherType(header.EtherTypeIPv6)
	ip := header.IPv6(frame[l3:])
	s, d := src.As16(), dst.As16()
	ip.Encode(uint16(icmpLen), header.ProtoICMPv6, hop, &s, &d)
	icmp := header.ICMPv6(ip[header.IPv6MinimumSize:])
	clear(icmp)
	return p, ip, icmp, true
}

// sourceFor picks our address on port to originate packets to dst from: the
// link-local for link-local peers, else the port's first address.
func (c *Core) sourceFor(port int, dst netip.Addr) netip.Addr {
	if dst.IsLinkLocalUnicast() || len(c.cfg.Setup[port].Addresses) == 0 {
		return c.linkLocs[port]
	}
	return c.cfg.Setup[port].Addresses[0]
}

// sendNS sends a Neighbor Solicitation for target: to its solicited-node
// group, or unicast to mac when probing a known entry.
func (c *Core) sendNS(port int, target netip.Addr, mac *[6]byte) {
	t := target.As16()
	group := header.SolicitedNodeMulticast(&t)
	dst, dmac := netip.AddrFrom16(group), header.MulticastEthernetAddress(&group)
	if mac != nil {
		dst, dmac = target, *mac
	}
	p, ip, icmp, ok := c.newICMP(port, dmac, c.sourceFor(port, target), dst, ndHopLimit, ndMessageSize)
	if !ok {
		return
	}
	icmp.SetType(header.ICMPv6NeighborSolicitation)
	ns := header.NeighborSolicitation(icmp)
	ns.SetTargetAddress(&t)
	own := c.cfg.Ports[port].MAC()
	header.PutLinkLayerAddressOption(ns.Options(), header.NDOptionSourceLinkLayerAddress, &own)
	icmp.SetChecksum(icmp.CalculateChecksum(ip.Src(), ip.Dst()))
	c.Stats.NSSent.Add(1)
	c.send(port, p)
}

// sendNA answers for target, one of our addresses on port.
func (c *Core) sendNA(port int, target, dst netip.Addr, dmac [6]byte, solicited, proxy bool) {
	p, ip, icmp, ok := c.newICMP(port, dmac, target, dst, ndHopLimit, ndMessageSize)
	if !ok {
		return
	}
	icmp.SetType(header.ICMPv6NeighborAdvertisement)
	na := header.NeighborAdvertisement(icmp)
	// A proxy's answer does not override an entry the owner itself
	// advertised (RFC 4861 §7.2.8).
	na.SetFlags(true, solicited, !proxy)
	t := target.As16()
	na.SetTargetAddress(&t)
	own := c.cfg.Ports[port].MAC()
	header.PutLinkLayerAddressOption(na.Options(), header.NDOptionTargetLinkLayerAddress, &own)
	icmp.SetChecksum(icmp.CalculateChecksum(ip.Src(), ip.Dst()))
	c.Stats.NASent.Add(1)
	c.send(port, p)
}

// sendError sends an ICMPv6 error about the packet p that arrived on port,
// back to its source through the hop it came from. RFC 4443 §2.4: not about
// errors, not to multicast or unspecified sources, rate-limited, and the
// quoted packet truncated so the error fits the IPv6 minimum MTU.
func (c *Core) sendError(p *ports.Packet, port int, typ, code uint8, param uint32, now time.Time) {
	frame := p.Frame()
	ip := header.IPv6(frame[l3:])
	src := netip.AddrFrom16(*ip.Src())
	if src.IsMulticast() || src.IsUnspecified() {
		return
	}
	if mayNotAnswer(ip) {
		return
	}
	if !c.icmp.Take(now) {
		c.Stats.ICMPRateLimited.Add(1)
		return
	}
	quote := ip[:header.IPv6MinimumSize+int(ip.PayloadLength())]
	if room := header.IPv6MinimumMTU - header.IPv6MinimumSize - header.ICMPv6ErrorHeaderSize; len(quote) > room {
		quote = quote[:room]
	}
	back := [6]byte(header.Ethernet(frame).Src()[:])
	q, eip, icmp, ok := c.newICMP(port, back, c.sourceFor(port, src), src, errorHopLimit, header.ICMPv6ErrorHeaderSize+len(quote))
	if !ok {
		return
	}
	icmp.SetType(typ)
	icmp.SetCode(code)
	icmp.SetMTU(param) // the MTU of Packet Too Big; unused (zero) otherwise
	copy(icmp[header.ICMPv6ErrorHeaderSize:], quote)
	icmp.SetChecksum(icmp.CalculateChecksum(eip.Src(), eip.Dst()))
	switch typ {
	case header.ICMPv6TimeExceeded:
		c.Stats.TimeExceeded.Add(1)
	case header.ICMPv6PacketTooBig:
		c.Stats.PacketTooBig.Add(1)
	case header.ICMPv6DestinationUnreachable:
		c.Stats.AddressUnreachable.Add(1)
	}
	c.send(port, q)
}

// mayNotAnswer reports whether ip may be an ICMPv6 error, which no error
// may answer (RFC 4443 §2.4(e.1)): one after any extension headers, or
// one we cannot rule out, behind a chain the walk cannot follow or in a
// fragment other than the first.
func mayNotAnswer(ip header.IPv6) bool {
	c, e := header.WalkExtensions(ip)
	switch {
	case e != header.ChainOK:
		return true
	case c.NextHeader != header.ProtoICMPv6:
		return false
	case c.NonFirstFragment:
		return true
	}
	return int(c.Offset) >= len(ip) || ip[c.Offset] < header.ICMPv6EchoRequest
}

// linkLocalFromMAC is the modified EUI-64 link-local address (RFC 4291
// Appendix A) a port answers for.
func linkLocalFromMAC(m [6]byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]})
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}
