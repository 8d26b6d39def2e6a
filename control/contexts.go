package control

import (
	"shim6d/dataplane"
	"shim6d/dataplane/header"
	"shim6d/ports"
)

// peerKey is what an ICMPv6 error's quoted packet identifies a context by:
// the locators we sent from and to, and the peer's tag we put in its payload
// header. RFC 5533 §8: <Source Locator, Destination Locator, CT(peer)> is
// unique, since the peer must find one context from it.
type peerKey struct {
	src, dst [16]byte
	tag      uint64
}

// AddContext creates a context in the fast-path table and indexes it for
// ICMPv6 error translation. Every context is created through here, on the
// core's goroutine (or before the core runs).
func (c *Core) AddContext(spec dataplane.ContextSpec) (uint32, uint64, error) {
	slot, tag, err := c.cfg.Contexts.Create(spec)
	if err == nil {
		c.reindexPeer(slot)
	}
	return slot, tag, err
}

// SetContextLocators switches a context's locator pair (RFC 5534
// exploration, RFC 5533 §10 updates).
func (c *Core) SetContextLocators(slot uint32, local, peer *[16]byte, egress uint16) error {
	if err := c.cfg.Contexts.SetLocators(slot, local, peer, egress); err != nil {
		return err
	}
	c.reindexPeer(slot)
	return nil
}

// DeleteContext removes a context.
func (c *Core) DeleteContext(slot uint32) error {
	var old dataplane.Context
	if !c.cfg.Contexts.Get(slot, &old) {
		return dataplane.ErrNoSuchSlot
	}
	if k, ok := c.peerKeys[slot]; ok {
		delete(c.peers, k)
		delete(c.peerKeys, slot)
	}
	return c.cfg.Contexts.Delete(slot)
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

// Offsets for translateError: the fixed header's Next Header (RFC 8200
// §3), and the RFC 4884 Length octet of Destination Unreachable and Time
// Exceeded.
const (
	ipv6NextHeaderOff = 6
	rfc4884LengthOff  = 4
)

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
	if icmp.Type() == header.ICMPv6ParameterProblem && (ptr == ipv6NextHeaderOff || ptr >= header.IPv6MinimumSize && ptr < header.IPv6MinimumSize+header.Shim6PayloadSize) {
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

// ContextCount is the number of contexts in the table (core's view).
func (c *Core) ContextCount() int {
	if c.cfg.Contexts == nil {
		return 0
	}
	return c.cfg.Contexts.Len()
}
