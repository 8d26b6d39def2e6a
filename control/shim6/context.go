package shim6

import (
	"encoding/binary"
	"io"
	"net/netip"
	"slices"

	"shim6d/control/wire"
	"shim6d/dataplane"
)

// Where a context's state lives (RFC 5533 §6.1 lists what it holds):
//
//   - the fast-path ContextTable record, named by its slot: ULIDs, current
//     locators Lp(local)/Lp(peer), CT(local), CT(peer). It is the one copy
//     of those, and the table's indices are the machine's lookups by ULID
//     pair (I1, I2, I2bis, §12.4) and by CT(local) (Update, Keepalive,
//     Probe). A context gets its record, and so its tag, when it leaves
//     IDLE (RFC 5533 §7.7 allocates CT(local) before I1), with locators
//     equal to the ULIDs: the fast path forwards such packets unchanged,
//     and its deferred-establishment counter stops asking for the pair.
//     E-FAILED and NO-SUPPORT keep the record, which is the negative cache
//     of §7.8; IDLE removes it.
//   - a ctx in pages, indexed by the same slot: the protocol state. It is
//     pointer-free (STYLE.md habit 6), so a million of them cost the
//     garbage collector nothing, and lives in fixed pages so its address
//     never moves.
//   - side maps, by slot, for what only some contexts have: the handshake
//     in progress (nonces, validator; I1-SENT, I2-SENT, I2BIS-SENT only),
//     and the peer's Locator List with its CGA parameters when the peer
//     sent one (a peer that sent none has Ls(peer) = {ULID(peer)}).
//   - hosts: the proxied host's own locator set Ls(local), shared by all
//     its contexts, with an intrusive list of them for locator updates.
//   - peerTags: CT(peer) → contexts, an intrusive list per tag, for R1bis
//     (§7.18) and context confusion (§7.15).

const (
	pageBits = 12
	pageSize = 1 << pageBits
	pageMask = pageSize - 1
)

// ctx is one context's protocol state.
type ctx struct {
	timers    [numTimers]timerNode
	hostNext  uint32 // the host's contexts
	hostPrev  uint32
	tagNext   uint32 // contexts with the same CT(peer)
	tagPrev   uint32
	host      uint32 // index in Machine.hosts
	initNonce uint32 // ours, while a handshake is pending (§7.7, §7.18)
	updNonce  uint32 // Request Nonce of the outstanding Update (§10.1)
	sentVer   uint32 // version of Ls(local) we last sent
	ackedVer  uint32 // version of Ls(local) the peer holds
	created   uint32 // tick
	since     uint32 // tick of the last state change
	lastRx    uint32 // tick of the last control message received for it
	r2Nonce   uint32 // Initiator Nonce our last R2 answered (flagR2Optional)
	state     State
	retries   uint8 // tries of the state timer's message so far
	fallbacks uint8 // I2/I2bis retries exhausted, back to I1 (§7.12)
	flags     uint8
	peerKT    uint16 // the peer's Keepalive Timeout option, seconds; 0 when it sent none (RFC 5534 §5.3)
}

const (
	flagUpdating = 1 << iota // an Update Request is outstanding (§10.3)
	flagLinked               // on the host and tag lists
	// flagOptional: the last I2, I2bis or Update Request carried options
	// a minimal peer drops (minimal.go).
	flagOptional
	// flagR2Optional: the last R2, to r2Nonce, carried such options.
	flagR2Optional
)

type page [pageSize]ctx

// ctxAt returns the record of slot, which must exist.
func (m *Machine) ctxAt(slot uint32) *ctx { return &m.pages[slot>>pageBits][slot&pageMask] }

// lookup returns our record of slot, or nil when the slot holds no context
// of ours (a static context from config, or none).
func (m *Machine) lookup(slot uint32) *ctx {
	p := slot >> pageBits
	if int(p) >= len(m.pages) || m.pages[p] == nil {
		return nil
	}
	c := &m.pages[p][slot&pageMask]
	if c.state == Idle {
		return nil
	}
	return c
}

// newRecord makes the record of a slot the table just handed out.
func (m *Machine) newRecord(slot uint32) *ctx {
	p := int(slot >> pageBits)
	for len(m.pages) <= p {
		m.pages = append(m.pages, nil)
	}
	if m.pages[p] == nil {
		m.pages[p] = new(page)
	}
	c := &m.pages[p][slot&pageMask]
	*c = ctx{hostNext: none, hostPrev: none, tagNext: none, tagPrev: none}
	for i := range c.timers {
		c.timers[i] = timerNode{next: none, prev: none}
	}
	return c
}

// handshake is what a pending context keeps of its exchange (RFC 5533
// §6.2: INIT Nonce, RESP Nonce, Responder Validator, CT(R1bis)).
type handshake struct {
	from, to  netip.Addr // the locator pair our I1, I2 or I2bis goes out on
	respNonce uint32
	validator []byte
	packetTag uint64 // I2bis: the R1bis's Packet Context Tag
}

// peerSet is Ls(peer) as the peer's last verified Locator List gave it
// (RFC 5533 §6.1), with the preferences and the CGA parameters that bind
// it to ULID(peer), kept to check later Update Requests (§10.4).
type peerSet struct {
	addrs   [][16]byte
	methods []wire.VerificationMethod
	prefs   []wire.Preference // nil until the peer sends some
	gen     uint32
	params  *pds
}

// pds is an interned CGA Parameter Data Structure: every context with the
// same peer host shares one copy.
type pds struct {
	b    string
	refs int
}

func (m *Machine) internPDS(b []byte) *pds {
	if b == nil {
		return nil
	}
	p := m.pdsByValue[string(b)]
	if p == nil {
		p = &pds{b: string(b)}
		m.pdsByValue[p.b] = p
	}
	p.refs++
	return p
}

func (m *Machine) releasePDS(p *pds) {
	if p == nil {
		return
	}
	if p.refs--; p.refs == 0 {
		delete(m.pdsByValue, p.b)
	}
}

// setPeerSet records a verified Locator List as Ls(peer) of slot; a nil
// list with nil params keeps what is there (an R2 or I2bis need not
// repeat the list, §7.16).
func (m *Machine) setPeerSet(slot uint32, l *wire.LocatorList, prefs *wire.LocatorPreferences, params []byte) {
	if l == nil {
		return
	}
	old := m.peers[slot]
	ps := &peerSet{
		addrs:   make([][16]byte, len(l.Locators)),
		methods: make([]wire.VerificationMethod, len(l.Locators)),
		gen:     l.Generation,
	}
	for i, loc := range l.Locators {
		ps.addrs[i], ps.methods[i] = loc.Addr.As16(), loc.Method
	}
	if params != nil {
		ps.params = m.internPDS(params)
	} else if old != nil && old.params != nil {
		ps.params = m.internPDS([]byte(old.params.b))
	}
	if prefs != nil && prefs.Generation == l.Generation && len(prefs.Elements) == len(l.Locators) {
		ps.prefs = append([]wire.Preference(nil), prefs.Elements...)
	}
	if old != nil {
		m.releasePDS(old.params)
	}
	m.peers[slot] = ps
}

// same reports whether two peer sets hold the same locators and
// preferences (nil, the ULID alone, is its own kind).
func (ps *peerSet) same(o *peerSet) bool {
	if ps == nil || o == nil {
		return ps == o
	}
	return slices.Equal(ps.addrs, o.addrs) && slices.Equal(ps.prefs, o.prefs)
}

// peerHas reports whether a is in Ls(peer) of slot, whose peer ULID is
// ulid.
func (m *Machine) peerHas(slot uint32, ulid *[16]byte, a [16]byte) bool {
	ps := m.peers[slot]
	if ps == nil {
		return a == *ulid
	}
	for i := range ps.addrs {
		if ps.addrs[i] == a {
			return true
		}
	}
	return false
}

// peerAddrs returns Ls(peer) of slot.
func (m *Machine) peerAddrs(slot uint32, ulid [16]byte) [][16]byte {
	if ps := m.peers[slot]; ps != nil {
		return ps.addrs
	}
	return [][16]byte{ulid}
}

// host is a proxied host: its ULID and its own locator set Ls(local)
// (RFC 5533 §6.1), shared by all its contexts.
type host struct {
	ulid    netip.Addr
	set     LocatorSet
	list    wire.LocatorList
	prefs   *wire.LocatorPreferences
	sig     []byte // CGA Signature over list (§5.15.5), when a locator uses CGA
	version uint32 // bumped on every change of set; contexts compare
	head    uint32 // first context
	n       int    // contexts
}

// ulidOnly reports whether Ls(local) is just the ULID, in which case no
// Locator List need be sent (RFC 5533 §5.6: it is optional).
func (h *host) ulidOnly() bool {
	return len(h.list.Locators) == 1 && h.list.Locators[0].Addr == h.ulid && h.prefs == nil
}

func (h *host) has(a netip.Addr) bool {
	for i := range h.list.Locators {
		if h.list.Locators[i].Addr == a {
			return true
		}
	}
	return false
}

// hostOf returns the host of slot's context.
func (m *Machine) hostOf(slot uint32) *host {
	c := m.lookup(slot)
	if c == nil || c.flags&flagLinked == 0 {
		return nil
	}
	return m.hosts[c.host]
}

// link puts a new context on its host's list and, if it has a peer tag,
// on that tag's list.
func (m *Machine) link(slot uint32, c *ctx, hi uint32, peerTag uint64) {
	h := m.hosts[hi]
	c.host = hi
	c.hostPrev, c.hostNext = none, h.head
	if h.head != none {
		m.ctxAt(h.head).hostPrev = slot
	}
	h.head = slot
	h.n++
	c.flags |= flagLinked
	m.linkTag(slot, c, peerTag)
}

func (m *Machine) linkTag(slot uint32, c *ctx, tag uint64) {
	if tag == 0 {
		return
	}
	c.tagPrev, c.tagNext = none, none
	if head, ok := m.peerTags[tag]; ok {
		c.tagNext = head
		m.ctxAt(head).tagPrev = slot
	}
	m.peerTags[tag] = slot
}

func (m *Machine) unlinkTag(slot uint32, c *ctx, tag uint64) {
	if tag == 0 {
		return
	}
	if c.tagPrev != none {
		m.ctxAt(c.tagPrev).tagNext = c.tagNext
	} else if c.tagNext != none {
		m.peerTags[tag] = c.tagNext
	} else {
		delete(m.peerTags, tag)
	}
	if c.tagNext != none {
		m.ctxAt(c.tagNext).tagPrev = c.tagPrev
	}
	c.tagPrev, c.tagNext = none, none
}

// setPeerTag changes CT(peer) of slot in the table and in the tag lists.
func (m *Machine) setPeerTag(slot uint32, c *ctx, tag uint64) {
	var t dataplane.Context
	if !m.cfg.Table.Get(slot, &t) || t.PeerTag == tag {
		return
	}
	m.unlinkTag(slot, c, t.PeerTag)
	_ = m.cfg.Table.SetPeerTag(slot, tag) // the slot is ours and live
	m.linkTag(slot, c, tag)
}

// release undoes everything a context holds: lists, side maps, table
// record, and the record itself. Called by setState(Idle) only.
func (m *Machine) release(slot uint32, c *ctx) {
	var t dataplane.Context
	live := m.cfg.Table.Get(slot, &t)
	if c.flags&flagLinked != 0 {
		h := m.hosts[c.host]
		if c.hostPrev != none {
			m.ctxAt(c.hostPrev).hostNext = c.hostNext
		} else {
			h.head = c.hostNext
		}
		if c.hostNext != none {
			m.ctxAt(c.hostNext).hostPrev = c.hostPrev
		}
		if h.n--; h.n == 0 {
			m.dropHost(c.host)
		}
		if live {
			m.unlinkTag(slot, c, t.PeerTag)
		}
	}
	if ps := m.peers[slot]; ps != nil {
		m.releasePDS(ps.params)
		delete(m.peers, slot)
	}
	m.cancel(slot, timerState)
	m.cancel(slot, timerIdle)
	if live {
		_ = m.cfg.Table.Delete(slot)
	}
	*c = ctx{}
}

// forgetHandshake drops a finished or abandoned handshake.
func (m *Machine) forgetHandshake(slot uint32, c *ctx) {
	if _, ok := m.hs[slot]; !ok {
		return
	}
	delete(m.hs, slot)
	if s, ok := m.byNonce[c.initNonce]; ok && s == slot {
		delete(m.byNonce, c.initNonce)
	}
	c.initNonce = 0
}

// startHandshake gives slot a handshake on locator pair (from, to) and a
// fresh Initiator Nonce that no other pending context uses, so an R1 or
// R2 names one context (RFC 5533 §12.4).
func (m *Machine) startHandshake(slot uint32, c *ctx, from, to netip.Addr) *handshake {
	m.forgetHandshake(slot, c)
	hs := &handshake{from: from, to: to}
	m.hs[slot] = hs
	for {
		n := m.rand.uint32()
		if _, taken := m.byNonce[n]; !taken {
			c.initNonce = n
			m.byNonce[n] = slot
			return hs
		}
	}
}

// rng hands out random numbers from Config.Rand, read in blocks.
type rng struct {
	r   io.Reader
	buf [256]byte
	off int
}

func (g *rng) read(b []byte) {
	if _, err := io.ReadFull(g.r, b); err != nil {
		panic("shim6: random source failed: " + err.Error())
	}
}

func (g *rng) uint32() uint32 {
	if g.off == 0 || g.off+4 > len(g.buf) {
		g.read(g.buf[:])
		g.off = 0
	}
	v := binary.NativeEndian.Uint32(g.buf[g.off:])
	g.off += 4
	return v
}
