package shim6

import (
	"encoding/binary"
	"net/netip"

	"shim6d/control/ratelimit"
	"shim6d/control/wire"
	"shim6d/dataplane"
)

// scratch is reused for the messages that may go out in floods (R1 to
// spoofed I1s, R1bis, Update Acknowledgement), so answering them does not
// allocate; Send must not keep them (Config.Send).
type scratch struct {
	tc    dataplane.Context
	r1    wire.R1
	r1bis wire.R1bis
	ack   wire.UpdateAck
	ulids wire.ULIDPair
	ipv6  [wire.IPv6HeaderLen + wire.MaxMessageLen]byte
}

func (m *Machine) send(src, dst netip.Addr, msg wire.Message) {
	m.Stats.out[kindOf(msg.Type())].Add(1)
	m.cfg.Send(src, dst, msg)
}

// options puts the host's locator set in o: Locator List, Locator
// Preferences, CGA Parameter Data Structure and CGA Signature (RFC 5533
// §5.6, §5.7, §5.9, §5.10). Unless always, a set that is just the ULID is
// left out: the peer then takes Ls = {ULID}.
func (h *host) options(o *wire.Options, always bool) {
	if !always && h.ulidOnly() {
		return
	}
	o.LocatorList = &h.list
	o.LocatorPreferences = h.prefs
	if len(h.set.Parameters) > 0 {
		o.CGAParameterDataStructure = h.set.Parameters
	}
	o.CGASignature = h.sig
}

// table reads slot's fast-path record into the scratch copy.
func (m *Machine) table(slot uint32) *dataplane.Context {
	m.cfg.Table.Get(slot, &m.scratch.tc)
	return &m.scratch.tc
}

// ulidOption returns a ULID Pair option when the locator pair a message
// goes out on is not the ULID pair (RFC 5533 §5.15.6, §7.7, §7.11, §7.18).
func ulidOption(t *dataplane.Context, from, to netip.Addr) *wire.ULIDPair {
	if from.As16() == t.ULIDLocal && to.As16() == t.ULIDPeer {
		return nil
	}
	return &wire.ULIDPair{Sender: netip.AddrFrom16(t.ULIDLocal), Receiver: netip.AddrFrom16(t.ULIDPeer)}
}

// sendI1 sends (or resends) the I1 of slot (RFC 5533 §7.7, §7.8).
func (m *Machine) sendI1(slot uint32, c *ctx) {
	hs := m.hs[slot]
	t := m.table(slot)
	msg := &wire.I1{InitiatorContextTag: t.LocalTag, InitiatorNonce: c.initNonce}
	msg.Options.ULIDPair = ulidOption(t, hs.from, hs.to)
	m.send(hs.from, hs.to, msg)
}

// sendI2 sends (or resends) the I2 of slot: the R1's validator and
// Responder Nonce, our Initiator Nonce of the I1, and Ls(local) (RFC 5533
// §7.11, §7.12).
func (m *Machine) sendI2(slot uint32, c *ctx) {
	hs := m.hs[slot]
	h := m.hosts[c.host]
	t := m.table(slot)
	msg := &wire.I2{InitiatorContextTag: t.LocalTag, InitiatorNonce: c.initNonce, ResponderNonce: hs.respNonce}
	msg.Options.ResponderValidator = hs.validator
	msg.Options.ULIDPair = ulidOption(t, hs.from, hs.to)
	h.options(&msg.Options, false)
	c.sentVer = h.version
	msg.Options.KeepaliveTimeout = m.cfg.KeepaliveTimeout
	m.noteOptional(c, m.fitPeer(t.ULIDPeer, &msg.Options))
	m.send(hs.from, hs.to, msg)
}

// sendI2bis sends (or resends) the I2bis of slot on the R1bis's locator
// pair (RFC 5533 §7.18, §7.19).
func (m *Machine) sendI2bis(slot uint32, c *ctx) {
	hs := m.hs[slot]
	h := m.hosts[c.host]
	t := m.table(slot)
	msg := &wire.I2bis{InitiatorContextTag: t.LocalTag, InitiatorNonce: c.initNonce,
		ResponderNonce: hs.respNonce, PacketContextTag: hs.packetTag}
	msg.Options.ResponderValidator = hs.validator
	msg.Options.ULIDPair = ulidOption(t, hs.from, hs.to)
	h.options(&msg.Options, false)
	c.sentVer = h.version
	msg.Options.KeepaliveTimeout = m.cfg.KeepaliveTimeout
	m.noteOptional(c, m.fitPeer(t.ULIDPeer, &msg.Options))
	m.send(hs.from, hs.to, msg)
}

// sendR2 answers a message from src to dst (an I1, I2 or I2bis whose
// Initiator Nonce is nonce) with slot's R2: CT(local) and Ls(local) (RFC
// 5533 §7.14). R2 is never retransmitted; the initiator's retransmission
// brings another.
func (m *Machine) sendR2(slot uint32, c *ctx, nonce uint32, src, dst netip.Addr) {
	h := m.hosts[c.host]
	t := m.table(slot)
	msg := &wire.R2{ResponderContextTag: t.LocalTag, InitiatorNonce: nonce}
	h.options(&msg.Options, false)
	c.sentVer = h.version
	msg.Options.KeepaliveTimeout = m.cfg.KeepaliveTimeout
	if c.flags&flagR2Optional != 0 && c.r2Nonce == nonce {
		// The message our R2 answered came again: the initiator did not
		// take an R2 with options it may not know (minimal.go).
		m.markMinimal(t.ULIDPeer)
	}
	c.r2Nonce = nonce
	c.flags &^= flagR2Optional
	if m.fitPeer(t.ULIDPeer, &msg.Options) {
		c.flags |= flagR2Optional
	}
	m.send(dst, src, msg)
}

// sendR1 answers an I1 from src to dst without keeping any state (RFC 5533
// §7.10): the validator carries everything the I2 must match. Anyone can
// send an I1 from any address, so the answer takes src's /64 bucket and
// then the global one (Config.R1RatePerPrefix, R1Rate) before it costs an
// HMAC; a refused I1 is dropped and counted, and the initiator's
// retransmission (§7.8) is answered later.
func (m *Machine) sendR1(i1 *wire.I1, fii uint32, local, peer, src, dst netip.Addr) {
	lim := &m.r1
	if m.knownPeers.Contains(src) {
		// A /64 a context was established with proved before that it
		// answers at its addresses (RFC 5533 §7.10's validator round
		// trip); spoofed random sources, which exhaust r1's global cap,
		// almost never fall in one of these.
		lim = &m.r1Known
		m.Stats.R1KnownPeer.Add(1)
	}
	if v := lim.Take(src, m.now); v != ratelimit.Allowed {
		m.Stats.R1RateLimited.Add(1)
		if v == ratelimit.RefusedPrefix {
			m.Stats.R1RateLimitedPrefix.Add(1)
		}
		return
	}
	nonce := m.val.nonce(&m.rand)
	v := m.val.r1(nonce, i1.InitiatorContextTag, i1.InitiatorNonce, fii, local, peer, src, dst)
	m.scratch.r1 = wire.R1{InitiatorNonce: i1.InitiatorNonce, ResponderNonce: nonce}
	m.scratch.r1.Options.ResponderValidator = v
	m.send(dst, src, &m.scratch.r1)
}

// sendR1bis answers a packet from src to dst that named tag, which we do
// not know, so its sender can recover the context (RFC 5533 §7.17). It
// keeps no state and is rate-limited, per source /64 and in all: spoofed
// payload packets must not make us a reflector.
func (m *Machine) sendR1bis(tag uint64, src, dst netip.Addr) {
	if v := m.r1bis.Take(src, m.now); v != ratelimit.Allowed {
		m.Stats.R1bisRateLimited.Add(1)
		if v == ratelimit.RefusedPrefix {
			m.Stats.R1bisRateLimitedPrefix.Add(1)
		}
		return
	}
	nonce := m.val.nonce(&m.rand)
	m.scratch.r1bis = wire.R1bis{PacketContextTag: tag, ResponderNonce: nonce}
	m.scratch.r1bis.Options.ResponderValidator = m.val.r1bis(nonce, tag, src, dst)
	m.send(dst, src, &m.scratch.r1bis)
}

// startUpdate sends a new Update Request with the host's current set,
// abandoning any outstanding one (RFC 5533 §10.1, §10.3: new Request
// Nonce), and arms its retransmission (§10.2).
func (m *Machine) startUpdate(slot uint32, c *ctx, h *host) {
	c.updNonce = m.rand.uint32()
	c.flags |= flagUpdating
	c.retries = 0
	m.Stats.UpdatesStarted.Add(1)
	m.sendUpdate(slot, c, h)
	m.arm(slot, timerState, m.backoff(m.timers.UpdateTimeout, 0, m.timers.MaxUpdateTimeout))
}

// sendUpdate sends slot's Update Request with Ls(local) in full (RFC 5533
// §10.1: no deltas). It goes from Lp(local) while that is still ours,
// otherwise from the first of the new locators; the peer checks the source
// against Ls(peer) (§10.4), and if it does not know it yet, its R1bis
// leads to an I2bis that carries the new set.
func (m *Machine) sendUpdate(slot uint32, c *ctx, h *host) {
	t := m.table(slot)
	msg := &wire.UpdateRequest{ReceiverContextTag: t.PeerTag, RequestNonce: c.updNonce}
	h.options(&msg.Options, true)
	c.sentVer = h.version
	src := netip.AddrFrom16(t.LocLocal)
	if !h.has(src) {
		src = h.list.Locators[0].Addr
	}
	msg.Options.KeepaliveTimeout = m.cfg.KeepaliveTimeout
	m.noteOptional(c, m.fitPeer(t.ULIDPeer, &msg.Options))
	m.send(src, netip.AddrFrom16(t.LocPeer), msg)
}

// noteOptional records whether the I2, I2bis or Update Request just built
// for c carries options a minimal peer drops, for the retransmission
// timer to judge its silence by (minimal.go).
func (m *Machine) noteOptional(c *ctx, optional bool) {
	if optional {
		c.flags |= flagOptional
	} else {
		c.flags &^= flagOptional
	}
}

// sendError answers a message from src to dst, b from its Shim6 header on,
// with a Shim6 Error message (RFC 5533 §5.14, §12.3), rate-limited per
// source /64 and in all, since the message in error may be forged. The
// packet in error starts with an IPv6 header rebuilt from what we know
// (the control core hands us the message without it; extension headers
// in between are not reproduced), so pointer, relative to b, is moved by
// the 40 octets of that header.
func (m *Machine) sendError(code wire.ErrorCode, pointer int, src, dst netip.Addr, b []byte) {
	if v := m.errs.Take(src, m.now); v != ratelimit.Allowed {
		m.Stats.ErrorsRateLimited.Add(1)
		if v == ratelimit.RefusedPrefix {
			m.Stats.ErrorsRateLimitedPrefix.Add(1)
		}
		return
	}
	p := m.scratch.ipv6[:]
	clear(p[:wire.IPv6HeaderLen])
	p[0] = 0x60
	n := copy(p[wire.IPv6HeaderLen:], b)
	binary.BigEndian.PutUint16(p[4:], uint16(n))
	p[6] = wire.ProtocolNumber
	putAddr(p[8:], src)
	putAddr(p[24:], dst)
	msg := wire.NewErrorMessage(code, wire.IPv6HeaderLen+pointer, p[:wire.IPv6HeaderLen+n], 0)
	m.send(dst, src, &msg)
}
