package shim6

import (
	"errors"
	"net/netip"

	"shim6d/control/wire"
	"shim6d/dataplane"
)

// Errors the machine's own checks give the Verifier's place.
var (
	errNoVerifier = errors.New("no locator verifier configured")
	errNoParams   = errors.New("locator list without CGA parameters")
	errBadLocator = errors.New("locator is not a unicast IPv6 address")
)

// HandleMessage processes one received Shim6 control message (RFC 5533
// §12.3): b holds the message from its Shim6 header on, src and dst are
// the IPv6 addresses of the packet that carried it. b is not kept. The
// message is checked by the codec, dispatched to its context as §12.4
// says, and answered through Config.Send; every message that is dropped
// is counted in Stats with its reason.
func (m *Machine) HandleMessage(src, dst netip.Addr, b []byte) {
	m.clock()
	if !usable(src) || !usable(dst) {
		m.Stats.Malformed.Add(1)
		return
	}
	msg, err := wire.Decode(b)
	if err != nil {
		m.Stats.Malformed.Add(1)
		var we *wire.Error
		if errors.As(err, &we) {
			if code, ptr, ok := we.Reply(); ok {
				m.sendError(code, ptr, src, dst, b)
			}
		}
		return
	}
	m.Stats.in[kindOf(msg.Type())].Add(1)
	switch msg := msg.(type) {
	case *wire.I1:
		m.onI1(msg, src, dst)
	case *wire.R1:
		m.onR1(msg, src, dst)
	case *wire.I2:
		m.onI2(msg, src, dst)
	case *wire.R2:
		m.onR2(msg, src, dst)
	case *wire.R1bis:
		m.onR1bis(msg, src, dst)
	case *wire.I2bis:
		m.onI2bis(msg, src, dst)
	case *wire.UpdateRequest:
		m.onUpdateRequest(msg, src, dst, b)
	case *wire.UpdateAck:
		m.onUpdateAck(msg, src, dst)
	case *wire.Keepalive:
		m.onREAP(msg.ReceiverContextTag, msg, src, dst)
	case *wire.Probe:
		m.onREAP(msg.ReceiverContextTag, msg, src, dst)
	case *wire.ErrorMessage:
		// Counted above. Our messages carry no critical options and
		// only the types of Table 1; a peer's complaint changes no state.
	}
}

// pairOf returns the ULID pair of an I1, I2 or I2bis from our side: the
// ULID Pair option when present, else the IPv6 addresses (RFC 5533 §7.9,
// §7.13, §7.20).
func pairOf(src, dst netip.Addr, u *wire.ULIDPair) (local, peer netip.Addr) {
	if u != nil {
		return u.Receiver, u.Sender
	}
	return dst, src
}

func fiiOf(o *wire.Options) uint32 {
	if o.ForkedInstanceIdentifier == nil {
		return 0 // §7.9: absent means 0
	}
	return uint32(*o.ForkedInstanceIdentifier)
}

// onI1 answers an I1 (RFC 5533 §7.9): R1 without state when there is no
// context (or one in E-FAILED/NO-SUPPORT, which Appendix B processes as
// IDLE), R2 when ours crossed it (§7.4) or when it retransmits for a
// context we hold with the same CT(peer), R1 when the initiator lost its
// context (Figure 7). No state changes.
func (m *Machine) onI1(msg *wire.I1, src, dst netip.Addr) {
	local, peer := pairOf(src, dst, msg.Options.ULIDPair)
	if !usable(local) || !usable(peer) {
		m.Stats.Malformed.Add(1)
		return
	}
	fii := fiiOf(&msg.Options)
	if fii != 0 {
		m.Stats.ForkedRefused.Add(1)
		return
	}
	slot, c, found := m.lookupPair(local, peer)
	switch {
	case found && c == nil:
		m.Stats.Unmatched.Add(1)
	case !found:
		if !m.serves(local) {
			m.Stats.NotServed.Add(1)
			return
		}
		m.sendR1(msg, fii, local, peer, src, dst)
	case c.state == EFailed || c.state == NoSupport:
		m.sendR1(msg, fii, local, peer, src, dst)
	case c.state == Established:
		t := *m.table(slot)
		if msg.Options.ULIDPair != nil && !m.peerHas(slot, &t.ULIDPeer, src.As16()) {
			m.sendR1(msg, fii, local, peer, src, dst)
			return
		}
		if t.PeerTag == msg.InitiatorContextTag {
			m.sendR2(slot, c, msg.InitiatorNonce, src, dst) // our R2 was lost
			return
		}
		m.sendR1(msg, fii, local, peer, src, dst)
	default: // I1-SENT, I2-SENT, I2BIS-SENT: crossing, CT(peer) unchanged
		// The R2 carries CT(local). An I1 naming the pair from an address
		// Ls(peer) does not hold gets an R1, as in ESTABLISHED: the
		// stateless exchange then proves the sender, and anyone else
		// learns nothing.
		if t := m.table(slot); msg.Options.ULIDPair != nil && !m.peerHas(slot, &t.ULIDPeer, src.As16()) {
			m.sendR1(msg, fii, local, peer, src, dst)
			return
		}
		m.sendR2(slot, c, msg.InitiatorNonce, src, dst)
	}
}

// pending finds the pending context an R1 or R2 answers: by our Initiator
// Nonce, and from the locator pair our message went to or from Ls(peer)
// to Ls(local) (RFC 5533 §7.11, §7.16, §12.4).
func (m *Machine) pending(nonce uint32, src, dst netip.Addr) (uint32, *ctx, bool) {
	slot, ok := m.byNonce[nonce]
	if !ok {
		return 0, nil, false
	}
	c := m.lookup(slot)
	hs := m.hs[slot]
	if c == nil || hs == nil {
		return 0, nil, false
	}
	if src == hs.to && dst == hs.from {
		return slot, c, true
	}
	t := m.table(slot)
	if m.peerHas(slot, &t.ULIDPeer, src.As16()) && m.hosts[c.host].has(dst) {
		return slot, c, true
	}
	return 0, nil, false
}

// onR1 sends I2 for a context in I1-SENT (RFC 5533 §7.11); in any other
// state we already sent I2 and the R1 answers a retransmitted I1, so it is
// discarded.
func (m *Machine) onR1(msg *wire.R1, src, dst netip.Addr) {
	slot, c, ok := m.pending(msg.InitiatorNonce, src, dst)
	if !ok || c.state != I1Sent {
		m.Stats.Unmatched.Add(1)
		return
	}
	hs := m.hs[slot]
	hs.respNonce = msg.ResponderNonce
	hs.validator = append(hs.validator[:0], msg.Options.ResponderValidator...)
	// The validator is bound to the pair of the I1 it answers (§7.10.1),
	// so the I2 goes back over that pair: after a retransmission from
	// another locator, an R1 to an earlier I1 may be the one that came.
	hs.from, hs.to = dst, src
	c.lastRx = m.cur
	m.setState(slot, c, I2Sent)
	m.sendI2(slot, c)
}

// onI2 creates or updates a context on an I2 whose validator proves it
// answers our R1 (RFC 5533 §7.13). Nothing is kept for an I2 that fails.
func (m *Machine) onI2(msg *wire.I2, src, dst netip.Addr) {
	o := &msg.Options
	local, peer := pairOf(src, dst, o.ULIDPair)
	if !usable(local) || !usable(peer) {
		m.Stats.Malformed.Add(1)
		return
	}
	fii := fiiOf(o)
	if fii != 0 {
		m.Stats.ForkedRefused.Add(1)
		return
	}
	if !m.val.checkR1(o.ResponderValidator, msg.ResponderNonce, msg.InitiatorContextTag, msg.InitiatorNonce, fii,
		local, peer, src, dst) {
		m.Stats.ValidatorFailures.Add(1)
		return
	}
	m.accept(false, local, peer, src, dst, msg.InitiatorContextTag, msg.InitiatorNonce, o)
}

// onI2bis re-creates or updates a context on an I2bis whose validator
// proves it answers our R1bis (RFC 5533 §7.20).
func (m *Machine) onI2bis(msg *wire.I2bis, src, dst netip.Addr) {
	o := &msg.Options
	local, peer := pairOf(src, dst, o.ULIDPair)
	if !usable(local) || !usable(peer) {
		m.Stats.Malformed.Add(1)
		return
	}
	if fiiOf(o) != 0 {
		m.Stats.ForkedRefused.Add(1)
		return
	}
	if !m.val.checkR1bis(o.ResponderValidator, msg.ResponderNonce, msg.PacketContextTag, src, dst) {
		m.Stats.ValidatorFailures.Add(1)
		return
	}
	m.accept(true, local, peer, src, dst, msg.InitiatorContextTag, msg.InitiatorNonce, o)
}

// accept is the common part of §7.13 (I2) and §7.20 (I2bis) once the
// validator is good: verify the peer's locators, then by state
//
//	IDLE (no context), E-FAILED, NO-SUPPORT: create it with a fresh
//	  CT(local) (for I2bis too: §7.20 says not to reuse the Packet Context
//	  Tag) and CT(peer) = the Initiator Context Tag, ESTABLISHED, R2;
//	I1-SENT: if the source is in Ls(peer) or the new list, take CT(peer)
//	  and Ls(peer), ESTABLISHED, R2;
//	ESTABLISHED, I2-SENT, I2BIS-SENT: same check, update, R2, state
//	  unchanged. So a duplicate I2 or I2bis gets the same R2 and no second
//	  context.
func (m *Machine) accept(bis bool, local, peer, src, dst netip.Addr, peerTag uint64, nonce uint32, o *wire.Options) {
	if err := m.verifyPeer(peer, o, nil); err != nil {
		m.Stats.VerificationFailures.Add(1)
		return
	}
	slot, c, found := m.lookupPair(local, peer)
	if found && c == nil {
		m.Stats.Unmatched.Add(1)
		return
	}
	if (!found || c.state == EFailed || c.state == NoSupport) && src != peer && !listHas(o.LocatorList, src) {
		// A new context for peer's ULID, asked for from another address
		// that no verified list of the peer holds: anyone can name any
		// ULID pair in a ULID Pair option, and the context would then be
		// theirs (its tag, its R2 sent to them) before the real peer's.
		m.Stats.Unmatched.Add(1)
		return
	}
	if !found {
		hi, err := m.hostFor(local)
		if err != nil {
			m.Stats.NotServed.Add(1)
			return
		}
		if slot, c, err = m.create(local, peer, hi, peerTag); err != nil {
			return
		}
		if bis {
			m.Stats.RecoveredContexts.Add(1)
		} else {
			m.Stats.ResponderContexts.Add(1)
		}
	} else if c.state != EFailed && c.state != NoSupport {
		t := m.table(slot)
		if !m.peerHas(slot, &t.ULIDPeer, src.As16()) && !listHas(o.LocatorList, src) {
			m.Stats.Unmatched.Add(1)
			return
		}
	}
	wasEstablished, oldTag, oldSet := found && c.state == Established, m.table(slot).PeerTag, m.peers[slot]
	m.setPeerTag(slot, c, peerTag)
	m.setPeerSet(slot, o.LocatorList, o.LocatorPreferences, o.CGAParameterDataStructure)
	c.peerKT = keepaliveTimeout(o)
	c.lastRx = m.cur
	m.confusion(slot, peerTag) // §7.14: before the R2
	m.sendR2(slot, c, nonce, src, dst)
	// The validator binds the pair our R1 or R1bis went to, so an I2 or
	// I2bis on it proves the pair both ways.
	m.via = [2]netip.Addr{dst, src}
	switch c.state {
	case I1Sent:
		m.Stats.HandshakesCompleted.Add(1)
		m.setState(slot, c, Established)
	case Idle, EFailed, NoSupport:
		m.setState(slot, c, Established)
	}
	m.via = [2]netip.Addr{}
	if wasEstablished {
		m.renewed(slot, c, oldTag != peerTag, !oldSet.same(m.peers[slot]))
	}
}

// renewed tells the core that an I2 or I2bis changed an established
// context: the peer lost its state and made it anew (RFC 5533 §7.5 Figure
// 7), so CT(peer), and maybe Ls(peer), are new. A new tag is a new context
// to those that keep the tag (REAP's keepalives and probes, the core's
// index of rewritten packets): closed and established again. A new
// locator set alone is what an Update brings. A duplicate I2 changes
// neither, and says nothing.
func (m *Machine) renewed(slot uint32, c *ctx, newTag, newSet bool) {
	switch {
	case newTag:
		if m.cfg.OnClosed != nil {
			m.cfg.OnClosed(slot)
		}
		if m.cfg.OnEstablished != nil {
			m.cfg.OnEstablished(m.info(slot, c))
		}
	case newSet:
		if m.cfg.OnLocators != nil {
			m.cfg.OnLocators(m.info(slot, c))
		}
	}
}

// onR2 completes a pending context (RFC 5533 §7.16): verify the peer's
// locators, record CT(peer) and Ls(peer), look for context confusion
// (§7.15), ESTABLISHED. An R2 for an established context matches no
// pending nonce and is ignored.
func (m *Machine) onR2(msg *wire.R2, src, dst netip.Addr) {
	slot, c, ok := m.pending(msg.InitiatorNonce, src, dst)
	if !ok {
		m.Stats.Unmatched.Add(1)
		return
	}
	o := &msg.Options
	peer := netip.AddrFrom16(m.table(slot).ULIDPeer)
	if err := m.verifyPeer(peer, o, nil); err != nil {
		m.Stats.VerificationFailures.Add(1)
		return
	}
	m.setPeerTag(slot, c, msg.ResponderContextTag)
	m.setPeerSet(slot, o.LocatorList, o.LocatorPreferences, o.CGAParameterDataStructure)
	c.peerKT = keepaliveTimeout(o)
	c.lastRx = m.cur
	m.confusion(slot, msg.ResponderContextTag)
	if hs := m.hs[slot]; hs != nil && src == hs.to && dst == hs.from {
		m.via = [2]netip.Addr{dst, src} // our I2 went out on it, its R2 came back
	}
	if c.state == I2bisSent {
		m.Stats.RecoveriesCompleted.Add(1)
	} else {
		m.Stats.HandshakesCompleted.Add(1)
	}
	m.setState(slot, c, Established)
}

// onR1bis: the peer has no context for the tag we sent it (RFC 5533
// §7.18). The context with that CT(peer) on this locator pair, if
// established, recovers with I2bis on the R1bis's locator pair; in any
// other state the R1bis is discarded.
func (m *Machine) onR1bis(msg *wire.R1bis, src, dst netip.Addr) {
	s, ok := m.peerTags[msg.PacketContextTag]
	if !ok {
		m.Stats.Unmatched.Add(1)
		return
	}
	s16, d16 := src.As16(), dst.As16()
	for ; s != none; s = m.ctxAt(s).tagNext {
		t := m.table(s)
		if t.LocPeer == s16 && t.LocLocal == d16 {
			break
		}
	}
	if s == none {
		m.Stats.Unmatched.Add(1)
		return
	}
	c := m.ctxAt(s)
	if c.state != Established {
		m.Stats.Unmatched.Add(1)
		return
	}
	hs := m.startHandshake(s, c, dst, src)
	hs.respNonce = msg.ResponderNonce
	hs.validator = append([]byte(nil), msg.Options.ResponderValidator...)
	hs.packetTag = msg.PacketContextTag
	c.fallbacks = 0
	m.Stats.RecoveriesStarted.Add(1)
	m.setState(s, c, I2bisSent)
	m.sendI2bis(s, c)
}

// byTag finds the context of a message that carries our CT(local) (Update
// Request, Update Acknowledgement, Keepalive, Probe; RFC 5533 §12.4) and
// checks that the source is in Ls(peer) and the destination in Ls(local).
// An unknown tag, or a match on stale locators (a peer holding an old
// context whose tag we reused, Appendix C), is answered with R1bis
// (§7.17, §10.4).
func (m *Machine) byTag(tag uint64, src, dst netip.Addr) (uint32, *ctx, bool) {
	var t dataplane.Context
	if !m.cfg.Table.LookupTag(tag, &t) {
		m.Stats.Unmatched.Add(1)
		m.sendR1bis(tag, src, dst)
		return 0, nil, false
	}
	c := m.lookup(t.Slot)
	if c == nil {
		m.Stats.Unmatched.Add(1)
		return 0, nil, false
	}
	if !m.peerHas(t.Slot, &t.ULIDPeer, src.As16()) || !m.hosts[c.host].has(dst) {
		m.Stats.StaleLocators.Add(1)
		m.sendR1bis(tag, src, dst)
		return 0, nil, false
	}
	return t.Slot, c, true
}

// resume applies the state rules RFC 5533 §10.4, §10.5 and §12.2 share
// for a message that matched by tag: I1-SENT discards it, I2-SENT and
// I2BIS-SENT resend their message (the peer has the context, so our R2 was
// probably lost) and go on, ESTABLISHED goes on. It reports whether to go
// on.
func (m *Machine) resume(slot uint32, c *ctx) bool {
	switch c.state {
	case I1Sent:
		m.Stats.Unmatched.Add(1)
		return false
	case I2Sent:
		m.sendI2(slot, c)
	case I2bisSent:
		m.sendI2bis(slot, c)
	}
	c.lastRx = m.cur
	return true
}

// onUpdateRequest records a peer's new locator list and preferences and
// acknowledges them (RFC 5533 §10.4). A list that fails verification is
// answered with Error Code 2, preferences for another generation with
// Error Code 3, for another number of locators with Error Code 4.
func (m *Machine) onUpdateRequest(msg *wire.UpdateRequest, src, dst netip.Addr, b []byte) {
	slot, c, ok := m.byTag(msg.ReceiverContextTag, src, dst)
	if !ok || !m.resume(slot, c) {
		return
	}
	t := *m.table(slot)
	peer := netip.AddrFrom16(t.ULIDPeer)
	o := &msg.Options
	if o.LocatorList != nil {
		var stored *pds
		if ps := m.peers[slot]; ps != nil {
			stored = ps.params
		}
		if o.CGAParameterDataStructure != nil && m.verify(peer, o.CGAParameterDataStructure, nil, nil) != nil {
			// Parameters that are not the ULID's: silently discarded
			// (§10.4); the Error message is for the locators.
			m.Stats.VerificationFailures.Add(1)
			return
		}
		if err := m.verifyPeer(peer, o, stored); err != nil {
			m.Stats.VerificationFailures.Add(1)
			ptr, _ := wire.OptionOffset(b, wire.OptLocatorList)
			ptr += wire.LocatorListMethodOffset
			if le := (*LocatorError)(nil); errors.As(err, &le) && le.Index >= 0 && le.Index < len(o.LocatorList.Locators) {
				ptr += le.Index
			}
			m.sendError(wire.ErrorCodeVerificationFailed, ptr, src, dst, b)
			return
		}
		m.setPeerSet(slot, o.LocatorList, nil, o.CGAParameterDataStructure)
	} else if o.CGAParameterDataStructure != nil {
		if err := m.verifyPeer(peer, o, nil); err != nil {
			m.Stats.VerificationFailures.Add(1) // §10.4: silently discarded
			return
		}
	}
	if p := o.LocatorPreferences; p != nil {
		ps := m.peers[slot]
		off, _ := wire.OptionOffset(b, wire.OptLocatorPreferences)
		if ps == nil || p.Generation != ps.gen {
			m.sendError(wire.ErrorCodeGenerationOutOfSync, off+wire.LocatorListGenerationOffset, src, dst, b)
			return
		}
		if len(p.Elements) != len(ps.addrs) {
			m.sendError(wire.ErrorCodeLocatorCount, off+2, src, dst, b) // the Length field
			return
		}
		ps.prefs = append(ps.prefs[:0], p.Elements...)
	}
	kt := keepaliveTimeout(o)
	ktChanged := kt != c.peerKT
	c.peerKT = kt
	m.Stats.UpdatesAccepted.Add(1)
	// The Ack carries CT(peer) (§10.4). In I2-SENT it is not known yet:
	// the peer retransmits its Request until our exchange completes, and
	// that copy is acknowledged; an Ack with tag 0 would only draw an
	// R1bis.
	if t.PeerTag != 0 {
		m.scratch.ack = wire.UpdateAck{ReceiverContextTag: t.PeerTag, RequestNonce: msg.RequestNonce}
		m.send(dst, src, &m.scratch.ack)
	}
	if c.state == Established && m.cfg.OnLocators != nil && (o.LocatorList != nil || o.LocatorPreferences != nil || ktChanged) {
		m.cfg.OnLocators(m.info(slot, c))
	}
}

// keepaliveTimeout is the Keepalive Timeout option of o in seconds, 0 if
// absent (RFC 5534 §5.3: a message without it means the default).
func keepaliveTimeout(o *wire.Options) uint16 {
	if o.KeepaliveTimeout == nil {
		return 0
	}
	return uint16(*o.KeepaliveTimeout)
}

// onUpdateAck completes our outstanding Update Request if the nonce is
// its (RFC 5533 §10.5), and sends the next one if the set moved on
// meanwhile.
func (m *Machine) onUpdateAck(msg *wire.UpdateAck, src, dst netip.Addr) {
	slot, c, ok := m.byTag(msg.ReceiverContextTag, src, dst)
	if !ok || !m.resume(slot, c) {
		return
	}
	if c.flags&flagUpdating == 0 || msg.RequestNonce != c.updNonce {
		m.Stats.Unmatched.Add(1)
		return
	}
	c.flags &^= flagUpdating
	m.cancel(slot, timerState)
	c.ackedVer = c.sentVer
	m.Stats.UpdatesCompleted.Add(1)
	if h := m.hosts[c.host]; h.version != c.ackedVer {
		m.startUpdate(slot, c, h)
	}
}

// onREAP matches a Keepalive or Probe to its context (RFC 5533 §12.4) and
// hands it to REAP (RFC 5534).
func (m *Machine) onREAP(tag uint64, msg wire.Message, src, dst netip.Addr) {
	slot, c, ok := m.byTag(tag, src, dst)
	if !ok || !m.resume(slot, c) {
		return
	}
	if m.cfg.OnREAP != nil {
		m.cfg.OnREAP(slot, src, dst, msg)
	}
}

// confusion removes other contexts that use the same CT(peer) with an
// overlapping Ls(peer) for another ULID pair: the peer has lost them and
// reused the tag (RFC 5533 §7.6, §7.15, Appendix C.2). Keeping both would
// make the peer demultiplex our packets to the wrong context. The
// removed context is not re-established here; the next data for its pair
// raises EventEstablish again.
func (m *Machine) confusion(slot uint32, tag uint64) {
	s, ok := m.peerTags[tag]
	if !ok {
		return
	}
	var mine dataplane.Context
	m.cfg.Table.Get(slot, &mine)
	var victims []uint32
	for ; s != none; s = m.ctxAt(s).tagNext {
		if s == slot || !m.ctxAt(s).state.hasPeer() {
			continue
		}
		other := m.table(s)
		if m.overlap(slot, &mine.ULIDPeer, s, &other.ULIDPeer) {
			victims = append(victims, s)
		}
	}
	for _, v := range victims {
		m.Stats.ContextConfusions.Add(1)
		m.setState(v, m.ctxAt(v), Idle)
	}
}

func (m *Machine) overlap(a uint32, aULID *[16]byte, b uint32, bULID *[16]byte) bool {
	for _, x := range m.peerAddrs(a, *aULID) {
		if m.peerHas(b, bULID, x) {
			return true
		}
	}
	return false
}

func listHas(l *wire.LocatorList, a netip.Addr) bool {
	if l == nil {
		return false
	}
	for i := range l.Locators {
		if l.Locators[i].Addr == a {
			return true
		}
	}
	return false
}

// verifyPeer checks the locator information a message carries for the
// peer's ULID (RFC 5533 §7.2, §7.13, §7.16, §10.4): with a Locator List,
// the list against the CGA parameters (the message's, else stored); with
// parameters alone, that they belong to the ULID. A list that holds only
// the ULID needs no proof: a ULID is its own locator (§1.3).
func (m *Machine) verifyPeer(peer netip.Addr, o *wire.Options, stored *pds) error {
	l := o.LocatorList
	params := o.CGAParameterDataStructure
	if l == nil {
		if params == nil {
			return nil
		}
		return m.verify(peer, params, nil, nil)
	}
	onlyULID := true
	for i, loc := range l.Locators {
		if !usable(loc.Addr) {
			return &LocatorError{Index: i, Err: errBadLocator}
		}
		onlyULID = onlyULID && loc.Addr == peer
	}
	if onlyULID && params == nil {
		return nil
	}
	if params == nil && stored != nil {
		params = []byte(stored.b)
	}
	if params == nil {
		return errNoParams
	}
	return m.verify(peer, params, l, o.CGASignature)
}

func (m *Machine) verify(peer netip.Addr, params []byte, l *wire.LocatorList, sig []byte) error {
	if m.cfg.Verifier == nil {
		return errNoVerifier
	}
	return m.cfg.Verifier.VerifyLocators(peer, params, l, sig)
}
