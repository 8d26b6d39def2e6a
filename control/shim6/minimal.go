package shim6

import (
	"net/netip"
	"time"

	"shim6d/control/wire"
)

// Interop with minimal peers.
//
// RFC 5533 §5.15 says that a receiver ignores an option it does not know
// when its C bit is 0. LinShim6 0.9.1, the one earlier open implementation,
// does not: its parse_options (userspace/src/opt.c, repository
// sebstbarre/LinShim6) knows the Responder Validator, Locator List, CGA
// Parameter Data Structure, CGA Signature and Keepalive Timeout options
// (a later commit, 0044b86, adds the ULID Pair option of length 36), and
// for any other type it tests `type & 0xFFFFE`, which is the type and not
// the C bit, and drops the whole message. It runs that parser on the I2,
// I2bis, R2 and Update Request it receives (rcv_i2, rcv_i2bis, rcv_r2,
// rcv_ur in userspace/src/shim6d.c). So an I2, R2 or Update Request of ours
// that carries Locator Preferences (§5.15.3) or a ULID Pair (§5.15.6) never
// gets an answer from such a peer, however often it is resent.
//
// The machine therefore notices a peer that does not answer such a
// message, sends the next copy without those options, and remembers the
// peer as minimal for Config.MinimalPeerHold, so that later messages to it
// leave them out from the start:
//
//   - I2 and I2bis: when minimalAfter retransmissions that carried them went
//     unanswered. With the RFC's I2_RETRIES_MAX of 2 that is when the
//     retries run out, and the I2 of the I1 fallback that follows (§7.12,
//     with a fresh validator) is the minimal one.
//   - R2: when the I1, I2 or I2bis it answered arrives again with the same
//     Initiator Nonce: the initiator did not take the R2.
//   - Update Request: after minimalAfter unanswered retransmissions; the
//     next ones, which go on forever (§10.2), are minimal.
//
// Leaving Locator Preferences out loses nothing the protocol needs: the
// peer takes every locator as equally preferred (§5.15.3). Leaving the
// ULID Pair out of an I2 sent over a pair other than the ULIDs makes the
// peer take the locators for ULIDs; LinShim6 does so anyway (rcv_i1 and
// rcv_i2 take the packet's addresses and leave checking for the option
// to a note of its authors for later), so there is nothing better to
// offer such a peer. Every message
// thus stripped is counted, and so is every peer found minimal.

// minimalAfter is the number of unanswered retransmissions of a message
// carrying optional options after which the peer is taken to drop them:
// the original and two copies lost in a row is rare on a working path,
// and an I2 gets exactly that many by default (I2_RETRIES_MAX).
const minimalAfter = 2

// Defaults of the minimal-peer memory.
const (
	// defaultMinimalPeerHold is how long a peer found minimal stays so.
	// Long: each time it is forgotten, the next Update Request to it is
	// late by minimalAfter retransmissions (about 12 s), and a peer does
	// not learn new options between two handshakes.
	defaultMinimalPeerHold = time.Hour
	// defaultMinimalPeers bounds the memory: 36 octets a peer, and the
	// map's overhead.
	defaultMinimalPeers = 4096
)

// minimalPeers remembers, by ULID, the peers found to drop messages with
// options they do not know, each until a tick. It holds at most cap
// peers; a new one beyond that replaces the one remembered longest ago.
// Expired entries are not removed when looked up, so the ring and the
// map always hold the same keys.
type minimalPeers struct {
	until map[[16]byte]uint32
	ring  [][16]byte // insertion order, oldest at head
	head  int
	n     int
}

func (p *minimalPeers) init(capacity int) {
	p.until = make(map[[16]byte]uint32, min(capacity, 64))
	p.ring = make([][16]byte, capacity)
}

// has reports whether peer is remembered as minimal at tick now.
func (p *minimalPeers) has(peer [16]byte, now uint32) bool {
	u, ok := p.until[peer]
	return ok && now < u
}

// add remembers peer as minimal until tick until. It reports whether an
// older peer had to be forgotten to make room.
func (p *minimalPeers) add(peer [16]byte, until uint32) (evicted bool) {
	if _, ok := p.until[peer]; ok {
		p.until[peer] = until
		return false
	}
	if p.n == len(p.ring) {
		delete(p.until, p.ring[p.head])
		p.head = (p.head + 1) % len(p.ring)
		p.n--
		evicted = true
	}
	p.ring[(p.head+p.n)%len(p.ring)] = peer
	p.n++
	p.until[peer] = until
	return evicted
}

// len is the number of peers held, expired or not.
func (p *minimalPeers) len() int { return p.n }

// markMinimal remembers the peer with this ULID as minimal (see above)
// and counts it, once per finding.
func (m *Machine) markMinimal(peer [16]byte) {
	if m.minimal.has(peer, m.cur) {
		return
	}
	m.Stats.MinimalPeersFound.Add(1)
	if m.minimal.add(peer, m.cur+m.ticks(m.minimalHold)) {
		m.Stats.MinimalPeersEvicted.Add(1)
	}
}

// optional reports whether o carries an option outside LinShim6's known
// set (see above) that the protocol does not need: Locator Preferences or
// a ULID Pair. A Forked Instance Identifier is never sent (forked contexts
// are not supported).
func optional(o *wire.Options) bool {
	return o.LocatorPreferences != nil || o.ULIDPair != nil
}

// fitPeer strips the optional options from a message to peer when the
// peer is remembered as minimal, counting the message, and reports
// whether the message as sent still carries any.
func (m *Machine) fitPeer(peer [16]byte, o *wire.Options) bool {
	if !optional(o) {
		return false
	}
	if !m.minimal.has(peer, m.cur) {
		return true
	}
	o.LocatorPreferences, o.ULIDPair = nil, nil
	m.Stats.MinimalMessages.Add(1)
	return false
}

// MinimalPeer reports whether the machine holds peer's ULID as a minimal
// peer now (one that drops messages with options it does not know).
func (m *Machine) MinimalPeer(peer netip.Addr) bool {
	m.clock()
	return m.minimal.has(peer.As16(), m.cur)
}
