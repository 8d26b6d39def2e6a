package control

import (
	"net/netip"
	"time"

	"shim6d/control/ratelimit"
	"shim6d/dataplane"
	"shim6d/dataplane/header"
	"shim6d/ports"
)

// rfc4884LengthOff is the RFC 4884 Length octet of Destination
// Unreachable and Time Exceeded, which translateError keeps right.
const rfc4884LengthOff = 4

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
	smac := c.srcMAC(port)
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

// sendError sends an ICMPv6 error about the packet p that arrived on port,
// back to its source through the hop it came from. RFC 4443 §2.4: not about
// errors, not to multicast or unspecified sources, rate-limited, and the
// quoted packet truncated so the error fits the IPv6 minimum MTU.
//
// Toward an uplink the source may be forged, so the error takes the
// source /64's bucket before the global one: a flood spoofing one victim
// gets it ICMPRatePerPrefix errors, not the whole ICMPRate, and leaves
// the rest to traceroutes and path MTU discovery from elsewhere. Toward
// the inside the sources are the site's own hosts, few /64s that each
// hold many of them, so a per-/64 share would only cut a LAN's share of a
// cap that is already the site's alone.
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
	verdict := ratelimit.Allowed
	if c.cfg.Setup[port].Role == dataplane.RoleUplink {
		verdict = c.icmp.Take(src, now)
	} else if !c.icmp.Global.Take(now) {
		verdict = ratelimit.RefusedGlobal
	}
	if verdict != ratelimit.Allowed {
		c.Stats.ICMPRateLimited.Add(1)
		if verdict == ratelimit.RefusedPrefix {
			c.Stats.ICMPRateLimitedPrefix.Add(1)
		}
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

// peerKey is what an ICMPv6 error's quoted packet identifies a context by:
// the locators we sent from and to, and the peer's tag we put in its payload
// header. RFC 5533 §8: <Source Locator, Destination Locator, CT(peer)> is
// unique, since the peer must find one context from it.
type peerKey struct {
	src, dst [16]byte
	tag      uint64
}

// indexPeer makes (src, dst, tag) name slot, in place of whatever named it
// before: a slot's key changes with its locators and, when the peer makes
// the context anew, its tag.
func (c *Core) indexPeer(src, dst [16]byte, tag uint64, slot uint32) {
	if c.peers == nil {
		c.peers, c.peerKeys = map[peerKey]uint32{}, map[uint32]peerKey{}
	}
	if k, ok := c.peerKeys[slot]; ok {
		delete(c.peers, k)
	}
	k := peerKey{src, dst, tag}
	c.peers[k], c.peerKeys[slot] = slot, k
}

// reindexPeer indexes slot by its record as it stands, for a change the
// signalling made in the table itself (a new CT(peer)). Only a rewriting
// context sends payload headers an error can quote: one on its ULIDs
// gets no key, so a million plain contexts cost the index nothing.
func (c *Core) reindexPeer(slot uint32) {
	var t dataplane.Context
	if c.cfg.Contexts == nil || !c.cfg.Contexts.Get(slot, &t) {
		return
	}
	if t.Flags&dataplane.CtxRewrite != 0 {
		c.indexPeer(t.LocLocal, t.LocPeer, t.PeerTag, slot)
	} else if k, ok := c.peerKeys[slot]; ok {
		delete(c.peers, k)
		delete(c.peerKeys, slot)
	}
}

// translateError turns an ICMPv6 error that quotes a packet this box
// rewrote back into the error its host would have got without the shim
// (RFC 5533 §8, Figure 9): the quoted packet gets its ULIDs back and loses
// its payload header, the error goes to the host's ULID, and a Packet Too
// Big reports 8 octets less. It reports whether it changed the packet.
func (c *Core) translateError(p *ports.Packet, ip header.IPv6) bool {
	if c.cfg.Contexts == nil || ip.NextHeader() != header.ProtoICMPv6 {
		return false
	}
	icmp := header.ICMPv6(ip[header.IPv6MinimumSize:])
	const qoff = header.ICMPv6ErrorHeaderSize
	if len(icmp) < qoff+header.IPv6MinimumSize+header.Shim6PayloadSize || icmp.Type() >= header.ICMPv6EchoRequest {
		return false
	}
	q := header.IPv6(icmp[qoff:])
	sh := header.Shim6Payload(q[header.IPv6MinimumSize:])
	if q.NextHeader() != header.ProtoShim6 || !sh.IsValid() || !icmp.IsChecksumValid(ip.Src(), ip.Dst()) {
		// A corrupt error is not given a fresh checksum.
		return false
	}
	ptr := icmp.MTU() // Parameter Problem's Pointer, into the quote
	if icmp.Type() == header.ICMPv6ParameterProblem && (ptr == header.IPv6NextHeaderOffset || ptr >= header.IPv6MinimumSize && ptr < header.IPv6MinimumSize+header.Shim6PayloadSize) {
		// About the shim's own header (the Next Header that says 140, or
		// the payload header): nothing the host sent, nothing for its
		// upper layers (RFC 5533 §8).
		return false
	}
	slot, ok := c.peers[peerKey{*q.Src(), *q.Dst(), sh.ContextTag()}]
	if !ok || !c.cfg.Contexts.Get(slot, &c.ctx) ||
		c.ctx.LocLocal != *q.Src() || c.ctx.LocPeer != *q.Dst() || c.ctx.PeerTag != sh.ContextTag() {
		// The signalling frees and reuses slots without the index
		// hearing of it: a key must still match its slot's record.
		return false
	}
	// The quote: ULIDs back, payload header out, lengths down by 8.
	q.SetNextHeader(sh.NextHeader())
	q.SetSrc(&c.ctx.ULIDLocal)
	q.SetDst(&c.ctx.ULIDPeer)
	if pl := q.PayloadLength(); pl >= header.Shim6PayloadSize {
		q.SetPayloadLength(pl - header.Shim6PayloadSize)
	}
	copy(q[header.IPv6MinimumSize:], q[header.IPv6MinimumSize+header.Shim6PayloadSize:])
	ip.SetPayloadLength(ip.PayloadLength() - header.Shim6PayloadSize)
	p.Len -= header.Shim6PayloadSize
	icmp = icmp[:len(icmp)-header.Shim6PayloadSize]
	switch icmp.Type() {
	case header.ICMPv6PacketTooBig:
		if icmp.MTU() > header.Shim6PayloadSize {
			icmp.SetMTU(icmp.MTU() - header.Shim6PayloadSize)
		}
	case header.ICMPv6ParameterProblem:
		if ptr >= header.IPv6MinimumSize+header.Shim6PayloadSize {
			icmp.SetMTU(ptr - header.Shim6PayloadSize)
		}
	case header.ICMPv6DestinationUnreachable, header.ICMPv6TimeExceeded:
		// RFC 4884: a non-zero Length counts the quote in 8-octet
		// units, ICMP extensions after it; the quote is one unit
		// shorter now.
		if icmp[rfc4884LengthOff] != 0 {
			icmp[rfc4884LengthOff]--
		}
	}
	ip.SetDst(&c.ctx.ULIDLocal)
	icmp.SetChecksum(icmp.CalculateChecksum(ip.Src(), ip.Dst()))
	c.Stats.ICMPTranslated.Add(1)
	return true
}
