package control

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"shim6d/dataplane"
	"shim6d/dataplane/header"
	"shim6d/ports"
)

// ICMPv6 types and ND layout (RFC 4443 §2.1, RFC 4861 §4.3–4.4, §4.6.1).
const (
	icmpDstUnreachable = 1
	icmpPacketTooBig   = 2
	icmpTimeExceeded   = 3
	icmpEchoRequest    = 128
	icmpEchoReply      = 129
	icmpNS             = 135
	icmpNA             = 136

	icmpHeaderSize = 8 // type, code, checksum, 4 bytes of message body
	ndTargetOff    = 8 // NS/NA: target address after type..reserved
	ndOptionsOff   = 24
	ndOptSLLA      = 1
	ndOptTLLA      = 2
	ndHopLimit     = 255 // ND messages must arrive with 255 (RFC 4861 §7.1)

	naFlagRouter    = 0x80
	naFlagSolicited = 0x40
	naFlagOverride  = 0x20

	l3 = header.EthernetMinimumSize
	// errorHopLimit is the hop limit of packets the core originates.
	errorHopLimit = 64
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
		c.sendError(p, port, icmpTimeExceeded, 0, 0, now)
		return false
	}
	if mtu := fwd.Ports[out].MTU; header.IPv6MinimumSize+int(ip.PayloadLength())+grow > mtu {
		// A packet of a rewriting context gets the MTU less the 8 bytes
		// its payload header will take (RFC 5533 §11.4 leaves the host to
		// learn that from us).
		c.sendError(p, port, icmpPacketTooBig, 0, uint32(mtu-grow), now)
		return false
	}
	if grow > 0 {
		// Waiting for the uplink's next hop; the packet goes out plain
		// from here (the workers rewrite it when it next comes around).
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

// handleLocal handles packets for our own or multicast addresses: ND and
// echo. Everything else addressed to us is counted and dropped.
func (c *Core) handleLocal(p *ports.Packet, port int, ip header.IPv6, now time.Time) bool {
	if ip.NextHeader() != header.ProtoICMPv6 || len(ip) < header.IPv6MinimumSize+icmpHeaderSize {
		c.Stats.Unhandled.Add(1)
		return false
	}
	icmp := ip[header.IPv6MinimumSize:]
	if icmpChecksum(ip, icmp) != 0 {
		c.Stats.Malformed.Add(1)
		return false
	}
	src := netip.AddrFrom16(*ip.Src())
	switch icmp[0] {
	case icmpNS:
		if ip.HopLimit() != ndHopLimit || icmp[1] != 0 || len(icmp) < ndOptionsOff {
			c.Stats.Malformed.Add(1)
			return false
		}
		c.Stats.NSReceived.Add(1)
		target := netip.AddrFrom16([16]byte(icmp[ndTargetOff:ndOptionsOff]))
		lla, ok := ndOption(icmp[ndOptionsOff:], ndOptSLLA)
		if !ok {
			c.Stats.Malformed.Add(1)
			return false
		}
		if !c.ownsOnPort(port, target) {
			c.Stats.Unhandled.Add(1)
			return false
		}
		var replyMAC [6]byte
		copy(replyMAC[:], header.Ethernet(p.Frame()).Src()[:])
		if src.IsUnspecified() {
			// Duplicate Address Detection: answer to all-nodes, unsolicited.
			c.sendNA(port, target, netip.IPv6LinkLocalAllNodes(), [6]byte{0x33, 0x33, 0, 0, 0, 1}, false)
			return false
		}
		if lla != nil {
			replyMAC = [6]byte(lla)
			c.learn(port, src, replyMAC, false, true, true, now)
		}
		c.sendNA(port, target, src, replyMAC, true)
		return false
	case icmpNA:
		if ip.HopLimit() != ndHopLimit || icmp[1] != 0 || len(icmp) < ndOptionsOff {
			c.Stats.Malformed.Add(1)
			return false
		}
		c.Stats.NAReceived.Add(1)
		target := netip.AddrFrom16([16]byte(icmp[ndTargetOff:ndOptionsOff]))
		lla, ok := ndOption(icmp[ndOptionsOff:], ndOptTLLA)
		if !ok {
			c.Stats.Malformed.Add(1)
			return false
		}
		mac := [6]byte(header.Ethernet(p.Frame()).Src()[:])
		if lla != nil {
			mac = [6]byte(lla)
		}
		c.learn(port, target, mac, icmp[4]&naFlagSolicited != 0, icmp[4]&naFlagOverride != 0, false, now)
		return false
	case icmpEchoRequest:
		if ip.Dst()[0] == 0xff || !c.echo.take(now) {
			c.Stats.ICMPRateLimited.Add(1)
			return false
		}
		// Answer in place: swap addresses and MACs, change the type.
		s, d := *ip.Src(), *ip.Dst()
		ip.SetSrc(&d)
		ip.SetDst(&s)
		ip.SetHopLimit(errorHopLimit)
		icmp[0] = icmpEchoReply
		setICMPChecksum(ip, icmp)
		eth := header.Ethernet(p.Frame())
		es, ed := *eth.Src(), *eth.Dst()
		eth.SetAddresses(&es, &ed)
		c.Stats.EchoReplies.Add(1)
		c.send(port, *p)
		return true
	}
	c.Stats.Unhandled.Add(1)
	return false
}

// ndOption finds the link-layer address option of type typ. It reports false
// for malformed options (zero length, overrunning the message, RFC 4861
// §4.6) and returns nil when the option is absent.
func ndOption(opts []byte, typ byte) ([]byte, bool) {
	var found []byte
	for len(opts) > 0 {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return nil, false
		}
		n := int(opts[1]) * 8
		if opts[0] == typ && n >= 8 {
			found = opts[2:8]
		}
		opts = opts[n:]
	}
	return found, true
}

// icmpChecksum is the ICMPv6 checksum over icmp with ip's pseudo-header; 0
// when the message's checksum field is right.
func icmpChecksum(ip header.IPv6, icmp []byte) uint16 {
	s := header.PseudoHeaderSum(ip.Src(), ip.Dst(), uint32(len(icmp)), header.ProtoICMPv6)
	return ^header.ChecksumFold(header.ChecksumAdd(s, icmp))
}

func setICMPChecksum(ip header.IPv6, icmp []byte) {
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[2:], icmpChecksum(ip, icmp))
}

// newICMP allocates a packet for port and writes Ethernet and IPv6 headers
// for an ICMPv6 message of icmpLen bytes; it returns the packet and the
// ICMPv6 part to fill in. Call finishICMP after filling it.
func (c *Core) newICMP(port int, dmac [6]byte, src, dst netip.Addr, hop uint8, icmpLen int) (ports.Packet, header.IPv6, []byte, bool) {
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
	icmp := ip[header.IPv6MinimumSize:]
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
	dst := solicitedNode(target)
	dmac := multicastMAC(dst)
	if mac != nil {
		dst, dmac = target, *mac
	}
	p, ip, icmp, ok := c.newICMP(port, dmac, c.sourceFor(port, target), dst, ndHopLimit, ndOptionsOff+8)
	if !ok {
		return
	}
	icmp[0] = icmpNS
	t := target.As16()
	copy(icmp[ndTargetOff:], t[:])
	own := c.cfg.Ports[port].MAC()
	icmp[ndOptionsOff], icmp[ndOptionsOff+1] = ndOptSLLA, 1
	copy(icmp[ndOptionsOff+2:], own[:])
	setICMPChecksum(ip, icmp)
	c.Stats.NSSent.Add(1)
	c.send(port, p)
}

// sendNA answers for target, one of our addresses on port.
func (c *Core) sendNA(port int, target, dst netip.Addr, dmac [6]byte, solicited bool) {
	p, ip, icmp, ok := c.newICMP(port, dmac, target, dst, ndHopLimit, ndOptionsOff+8)
	if !ok {
		return
	}
	icmp[0] = icmpNA
	icmp[4] = naFlagRouter | naFlagOverride
	if solicited {
		icmp[4] |= naFlagSolicited
	}
	t := target.As16()
	copy(icmp[ndTargetOff:], t[:])
	own := c.cfg.Ports[port].MAC()
	icmp[ndOptionsOff], icmp[ndOptionsOff+1] = ndOptTLLA, 1
	copy(icmp[ndOptionsOff+2:], own[:])
	setICMPChecksum(ip, icmp)
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
	if ip.NextHeader() == header.ProtoICMPv6 && len(ip) > header.IPv6MinimumSize && ip[header.IPv6MinimumSize] < 128 {
		return
	}
	if !c.icmp.take(now) {
		c.Stats.ICMPRateLimited.Add(1)
		return
	}
	quote := ip[:header.IPv6MinimumSize+int(ip.PayloadLength())]
	if room := header.IPv6MinimumMTU - header.IPv6MinimumSize - icmpHeaderSize; len(quote) > room {
		quote = quote[:room]
	}
	back := [6]byte(header.Ethernet(frame).Src()[:])
	q, eip, icmp, ok := c.newICMP(port, back, c.sourceFor(port, src), src, errorHopLimit, icmpHeaderSize+len(quote))
	if !ok {
		return
	}
	icmp[0], icmp[1] = typ, code
	binary.BigEndian.PutUint32(icmp[4:], param)
	copy(icmp[icmpHeaderSize:], quote)
	setICMPChecksum(eip, icmp)
	switch typ {
	case icmpTimeExceeded:
		c.Stats.TimeExceeded.Add(1)
	case icmpPacketTooBig:
		c.Stats.PacketTooBig.Add(1)
	}
	c.send(port, q)
}

// linkLocalFromMAC is the modified EUI-64 link-local address (RFC 4291
// Appendix A) a port answers for.
func linkLocalFromMAC(m [6]byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]})
}

// solicitedNode is a's solicited-node multicast address (RFC 4291 §2.7.1).
func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// multicastMAC maps an IPv6 multicast address to Ethernet (RFC 2464 §7).
func multicastMAC(a netip.Addr) [6]byte {
	b := a.As16()
	return [6]byte{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}
