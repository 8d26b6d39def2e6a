package shim6

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"shim6d/control/ratelimit"
	"shim6d/control/wire"
	"shim6d/dataplane"
)

// Verifier binds a peer's locators to its ULID with HBA or CGA (RFC 5533
// §7.2, RFC 5535 §7.2, RFC 3972 §5). The control core plugs in
// shim6d/control/hba.
type Verifier interface {
	// VerifyLocators reports whether every locator in list may be used
	// for the peer whose ULID is ulid: params is the peer's CGA Parameter
	// Data Structure (RFC 5533 §5.15.4) and sig its CGA Signature
	// (§5.15.5) or nil, which covers the octets wire.AppendCGASigned
	// builds from list, Generation included. A nil or empty list asks
	// only whether params belong to ulid (§7.13, §7.16). A *LocatorError
	// in the chain names the locator at fault, for the Error message's
	// Pointer (§5.14). list and sig are the machine's for the call only.
	VerifyLocators(ulid netip.Addr, params []byte, list *wire.LocatorList, sig []byte) error
}

// LocatorError is an error a Verifier may return to name the locator (by
// index in the Locator List) whose verification failed, so the Shim6 Error
// message with Error Code 2 points at its verification method octet (RFC
// 5533 §5.14, §7.2).
type LocatorError struct {
	// Index is the locator's position in the Locator List, from 0.
	Index int
	// Err says why it failed.
	Err error
}

// Error names the locator (from 1) and the cause (RFC 5533 §7.2).
func (e *LocatorError) Error() string { return fmt.Sprintf("locator %d: %v", e.Index+1, e.Err) }

// Unwrap returns the cause (RFC 5533 §7.2 verification failure).
func (e *LocatorError) Unwrap() error { return e.Err }

// LocatorSet is a proxied host's own locator set Ls(local) with its
// preferences and the CGA parameters that bind it to the host's ULID (RFC
// 5533 §6.1, §5.15.2–§5.15.4).
type LocatorSet struct {
	// Locators are the host's locators with their verification methods,
	// in the order Locator Preferences refer to (RFC 5533 §5.15.2). Empty
	// means the ULID alone, verified as HBA.
	Locators []wire.Locator
	// Preferences, when not nil, has one element per locator (RFC 5533
	// §5.15.3).
	Preferences []wire.Preference
	// Parameters is the CGA Parameter Data Structure (RFC 5533 §5.15.4);
	// required whenever Locators is more than the ULID, since a Locator
	// List always travels with it (§5.6, §5.7, §5.9).
	Parameters []byte
}

// Timers are the protocol constants of RFC 5533 §14. Zero fields take the
// RFC's values.
type Timers struct {
	I1Timeout        time.Duration // I1_TIMEOUT, 4 s
	I1RetriesMax     uint8         // I1_RETRIES_MAX, 4
	I2Timeout        time.Duration // I2_TIMEOUT, 4 s
	I2RetriesMax     uint8         // I2_RETRIES_MAX, 2
	I2bisTimeout     time.Duration // I2bis_TIMEOUT, 4 s
	I2bisRetriesMax  uint8         // I2bis_RETRIES_MAX, 2
	NoR1Holddown     time.Duration // NO_R1_HOLDDOWN_TIME, 1 min
	ICMPHolddown     time.Duration // ICMP_HOLDDOWN_TIME, 10 min
	UpdateTimeout    time.Duration // UPDATE_TIMEOUT, 4 s
	MaxUpdateTimeout time.Duration // MAX_UPDATE_TIMEOUT, 120 s
	// ValidatorLifetime is VALIDATOR_MIN_LIFETIME, 30 s: how often the
	// validator secret rotates; a validator is accepted for one to two
	// lifetimes (§7.13).
	ValidatorLifetime time.Duration
	// MaxFallbacks is how many times a context whose I2 or I2bis went
	// unanswered falls back to I1 (§7.12, §7.19) before E-FAILED; the RFC
	// sets no bound, we do so that a broken peer cannot keep a context
	// cycling forever. Default 2.
	MaxFallbacks uint8
}

func (t *Timers) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.I1Timeout, 4*time.Second)
	def(&t.I2Timeout, 4*time.Second)
	def(&t.I2bisTimeout, 4*time.Second)
	def(&t.NoR1Holddown, time.Minute)
	def(&t.ICMPHolddown, 10*time.Minute)
	def(&t.UpdateTimeout, 4*time.Second)
	def(&t.MaxUpdateTimeout, 120*time.Second)
	def(&t.ValidatorLifetime, 30*time.Second)
	if t.I1RetriesMax == 0 {
		t.I1RetriesMax = 4
	}
	if t.I2RetriesMax == 0 {
		t.I2RetriesMax = 2
	}
	if t.I2bisRetriesMax == 0 {
		t.I2bisRetriesMax = 2
	}
	if t.MaxFallbacks == 0 {
		t.MaxFallbacks = 2
	}
}

// Config connects a Machine to the control core: the table it publishes
// contexts to, the ports it sends through, the clock, and the HBA/CGA
// pieces (RFC 5533 §6.1 conceptual model, §7.2).
type Config struct {
	// Table is the fast path's context table; the machine is its only
	// writer for the contexts it creates (RFC 5533 §7.1: the table picks
	// every CT(local), unique and random in 30+ bits).
	Table *dataplane.ContextTable
	// Send transmits a control message from src to dst (RFC 5533 §5).
	// It must encode msg before it returns and keep no reference to it
	// or its slices: the machine reuses them.
	Send func(src, dst netip.Addr, msg wire.Message)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Verifier checks peers' locator lists (RFC 5533 §7.2). Nil refuses
	// every Locator List, so only peers whose locator set is their ULID
	// can establish.
	Verifier Verifier
	// LocalLocators returns the locator set of a proxied host by its
	// ULID; an error means the machine does not act for that address. Nil
	// serves every address with the ULID as its only locator.
	LocalLocators func(ulid netip.Addr) (LocatorSet, error)
	// Sign makes the CGA Signature (RFC 5533 §5.15.5) of a host's
	// Locator List, over the octets wire.AppendCGASigned builds from it,
	// for sets with CGA-verified locators; nil refuses such sets. list is
	// the machine's: Sign must not modify or keep it.
	Sign func(ulid netip.Addr, list *wire.LocatorList) ([]byte, error)
	// LastData reports when data last flowed on the context in slot (the
	// fast path's REAP feedback, RFC 5534 §2.2), for idle collection; the
	// zero time means not known. Nil: only control traffic counts.
	LastData func(slot uint32) time.Time
	// OnREAP receives the Keepalive and Probe messages (RFC 5534 §5) that
	// matched an established context (RFC 5533 §12.4), for REAP. Nil
	// drops them after matching.
	OnREAP func(slot uint32, src, dst netip.Addr, msg wire.Message)
	// OnEstablished is told when a context becomes ESTABLISHED (§7),
	// with its locator sets, so failure detection (RFC 5534) can take it
	// over; OnClosed when it leaves ESTABLISHED. Both may be nil.
	OnEstablished func(ContextInfo)
	OnClosed      func(slot uint32)
	// OnLocators is told when an established context's locator sets or
	// preferences change: the peer's by an accepted Update Request
	// (§10.4), ours by SetLocalLocators or RefreshLocalLocators. May be
	// nil.
	OnLocators func(ContextInfo)
	// KeepaliveTimeout, when set, is the Keepalive Timeout option this
	// side announces in I2, I2bis, R2 and Update Request (RFC 5534 §5.3):
	// its Send Timeout when that is not the default, so that the peer's
	// keepalives come often enough. Nil announces none.
	KeepaliveTimeout *wire.KeepaliveTimeout
	// LocalUsable reports whether a local locator is known to work (its
	// uplink is up): the I1 of a new context leaves from the ULID when
	// it is, otherwise from the first of the host's locators that is, and
	// each I1 retransmission moves to the next one, so that a ULID pair
	// broken from the start (seed draft §8.4) still gets a context over
	// another pair. Nil: every locator is tried in turn.
	LocalUsable func(netip.Addr) bool
	// Rand is the source of nonces, secrets and jitter; default
	// crypto/rand.Reader.
	Rand io.Reader
	// IdleTimeout removes an established context with no control message
	// received and no data for this long (RFC 5533 §9 suggests at least
	// 5 minutes); default 5 minutes.
	IdleTimeout time.Duration
	// TimerResolution is the timer wheel's tick; default 100 ms.
	TimerResolution time.Duration
	// R1bisRate limits R1bis messages (RFC 5533 §7.17) per second, with a
	// burst of a tenth of it; default 100.
	R1bisRate int
	// ErrorRate limits Shim6 Error messages (RFC 5533 §5.14) the same
	// way; default 100.
	ErrorRate int
	// R1Rate limits the R1 messages that answer I1s (RFC 5533 §7.10),
	// per second in all, with a burst of a tenth of it; default 1000.
	// An I1 is not authenticated, so without a cap every spoofed I1
	// makes us send a larger R1 to its forged source and spend the
	// control core on the HMAC. A refused I1 is dropped: a real
	// initiator retransmits it (I1_TIMEOUT, §7.8). 1000 a second is as
	// many handshakes as deferred establishment may start itself
	// (establish_rate's default): a site answers as many as it asks,
	// and at about 100 octets an R1 the cap is under 1 Mbit/s of
	// reflection.
	R1Rate int
	// R1RatePerPrefix limits R1s to one source /64 (ratelimit.PrefixTable),
	// with a burst of one second's worth, ahead of R1Rate; default 10.
	// A flood from one /64, or one spoofing a victim's, then costs that
	// /64 its own share, not everyone's R1Rate; ten handshakes at once
	// from one remote LAN still pass.
	R1RatePerPrefix int
	// R1bisRatePerPrefix and ErrorRatePerPrefix do the same ahead of
	// R1bisRate and ErrorRate; default 10 each.
	R1bisRatePerPrefix int
	ErrorRatePerPrefix int
	// RateLimitSlots is the number of buckets in each per-/64 table (a
	// power of two; 16 bytes each); default 16384. More slots make two
	// sources less likely to share a bucket; the memory does not grow
	// with the number of sources.
	RateLimitSlots int
	// RateLimitSecret, when set, keys the per-/64 tables' hash, for tests
	// that must know which sources share a bucket; nil draws a secret per
	// table from crypto/rand (not from Rand, whose stream the tests
	// replay).
	RateLimitSecret *[16]byte
	// MinimalPeerHold is how long a peer found to drop messages that
	// carry options it does not know (LinShim6, see minimal.go) is sent
	// messages without them; default 1 hour.
	MinimalPeerHold time.Duration
	// MinimalPeers bounds how many such peers are remembered; past it the
	// one found longest ago is forgotten. Default 4096.
	MinimalPeers int
	// Timers overrides the constants of RFC 5533 §14.
	Timers Timers
}

// Errors of the API.
var (
	// ErrBadAddress: an address is not a unicast IPv6 address (RFC 5533
	// §12.3 refuses multicast and unspecified).
	ErrBadAddress = errors.New("shim6: not a unicast IPv6 address")
	// ErrHoldDown: the pair is in E-FAILED or NO-SUPPORT (RFC 5533 §7.8).
	ErrHoldDown = errors.New("shim6: peer in hold-down after a failed exchange")
	// ErrNotOurs: the ULID pair has a context the machine did not make
	// (a static one from config).
	ErrNotOurs = errors.New("shim6: the pair has a context this machine does not manage")
	// ErrBadLocatorSet: a LocatorSet cannot be sent (RFC 5533 §5.15.2).
	ErrBadLocatorSet = errors.New("shim6: bad locator set")
)

// Machine is the Shim6 signalling state machine of RFC 5533 §7 and §10 for
// the hosts a proxy acts for. It is not safe for concurrent use: the
// control core calls it from its one goroutine. Stats may be read from
// any goroutine.
type Machine struct {
	cfg    Config
	timers Timers
	// Stats are the machine's counters.
	Stats Stats

	epoch     time.Time
	res       time.Duration
	idleTicks uint32
	now       time.Time // at the current entry point
	cur       uint32    // its tick

	pages      []*page
	wheel      wheel
	hs         map[uint32]*handshake
	byNonce    map[uint32]uint32
	peers      map[uint32]*peerSet
	peerTags   map[uint64]uint32
	pdsByValue map[string]*pds
	hosts      []*host
	hostIdx    map[[16]byte]uint32
	freeHosts  []uint32

	// via is the pair a context being established went over, for the
	// OnEstablished of the setState that follows (ContextInfo.ViaLocal).
	via [2]netip.Addr

	rand rng
	val  validators
	r1   ratelimit.Limiter
	// r1Known answers I1s from the /64s of peers a context was
	// established with (knownPeers), apart from r1: a flood from spoofed
	// random sources fills r1's global cap, and a returning peer must not
	// have to win against it (see sendR1).
	r1Known    ratelimit.Limiter
	knownPeers *ratelimit.PrefixSet
	r1bis      ratelimit.Limiter
	errs       ratelimit.Limiter
	scratch    scratch

	// minimal holds the peers that drop messages with options they do
	// not know (minimal.go), for minimalHold.
	minimal     minimalPeers
	minimalHold time.Duration

	testFire func(slot uint32, kind int) // replaces fire in the wheel's unit tests
}

// New makes a machine that establishes and maintains contexts (RFC 5533
// §7, §10) in cfg.Table. Table and Send are required.
func New(cfg Config) (*Machine, error) {
	if cfg.Table == nil || cfg.Send == nil {
		return nil, errors.New("shim6: Config needs Table and Send")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.TimerResolution <= 0 {
		cfg.TimerResolution = 100 * time.Millisecond
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.R1bisRate, 100)
	def(&cfg.ErrorRate, 100)
	def(&cfg.R1Rate, 1000)
	def(&cfg.R1RatePerPrefix, 10)
	def(&cfg.R1bisRatePerPrefix, 10)
	def(&cfg.ErrorRatePerPrefix, 10)
	def(&cfg.RateLimitSlots, 16384)
	m := &Machine{
		cfg:        cfg,
		timers:     cfg.Timers,
		res:        cfg.TimerResolution,
		hs:         map[uint32]*handshake{},
		byNonce:    map[uint32]uint32{},
		peers:      map[uint32]*peerSet{},
		peerTags:   map[uint64]uint32{},
		pdsByValue: map[string]*pds{},
		hostIdx:    map[[16]byte]uint32{},
	}
	m.timers.defaults()
	m.rand.r = cfg.Rand
	m.wheel.init()
	m.epoch = cfg.Now()
	m.clock()
	m.idleTicks = m.ticks(cfg.IdleTimeout)
	m.val.rotate(&m.rand, m.now)
	m.r1 = m.limiter(cfg.R1Rate, cfg.R1RatePerPrefix)
	m.r1Known = m.limiter(cfg.R1Rate, cfg.R1RatePerPrefix)
	secret := ratelimit.RandomSecret()
	if cfg.RateLimitSecret != nil {
		secret = *cfg.RateLimitSecret
	}
	m.knownPeers = ratelimit.NewPrefixSet(cfg.RateLimitSlots, secret)
	m.r1bis = m.limiter(cfg.R1bisRate, cfg.R1bisRatePerPrefix)
	m.errs = m.limiter(cfg.ErrorRate, cfg.ErrorRatePerPrefix)
	m.minimalHold = cfg.MinimalPeerHold
	if m.minimalHold <= 0 {
		m.minimalHold = defaultMinimalPeerHold
	}
	if cfg.MinimalPeers <= 0 {
		cfg.MinimalPeers = defaultMinimalPeers
	}
	m.minimal.init(cfg.MinimalPeers)
	m.Stats.states[Idle].Store(0)
	return m, nil
}

// limiter makes one of the machine's rate limits, full.
func (m *Machine) limiter(global, perPrefix int) ratelimit.Limiter {
	secret := ratelimit.RandomSecret()
	if m.cfg.RateLimitSecret != nil {
		secret = *m.cfg.RateLimitSecret
	}
	return ratelimit.NewLimiter(global, perPrefix, m.cfg.RateLimitSlots, secret, m.now)
}

// SetR1Rate changes Config.R1Rate and R1RatePerPrefix of a running machine
// (a reload of the configuration); 0 takes the default, as in New. The
// limits start again full, as at New: a moment's burst is what they allow
// anyway.
func (m *Machine) SetR1Rate(global, perPrefix int) {
	m.clock()
	m.cfg.R1Rate, m.cfg.R1RatePerPrefix = cmp.Or(max(global, 0), 1000), cmp.Or(max(perPrefix, 0), 10)
	m.r1 = m.limiter(m.cfg.R1Rate, m.cfg.R1RatePerPrefix)
	m.r1Known = m.limiter(m.cfg.R1Rate, m.cfg.R1RatePerPrefix)
}

// clock reads the time once per entry point.
func (m *Machine) clock() {
	m.now = m.cfg.Now()
	m.cur = m.tickOf(m.now)
}

// Tick runs the timers due by now (retransmissions, hold-downs, idle
// collection, RFC 5533 §14) and rotates the validator secret when due
// (§7.10.1). The control core calls it every round; a call with nothing
// due costs a clock read.
func (m *Machine) Tick() {
	m.clock()
	m.val.maybeRotate(&m.rand, m.now, m.timers.ValidatorLifetime)
	m.runTimers(m.cur)
}

// RotateSecret rotates the Responder Validator secret now (RFC 5533
// §7.10.1): validators made before the previous rotation stop working.
func (m *Machine) RotateSecret() {
	m.clock()
	m.val.rotate(&m.rand, m.now)
}

// Len is the number of contexts the machine holds, in any state but IDLE
// (RFC 5533 §6.2).
func (m *Machine) Len() int {
	n := 0
	for s := I1Sent; s < numStates; s++ {
		n += int(m.Stats.states[s].Load())
	}
	return n
}

func usable(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && a.Zone() == "" && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback()
}

// Establish starts a context for the ULID pair (local, peer) as initiator
// (RFC 5533 §7.7): it allocates CT(local), sends I1 and enters I1-SENT.
// The control core calls it for dataplane.EventEstablish (deferred
// establishment, RFC 5533 §4). It is idempotent: a pair that already has a
// context in progress or established is left alone and nil returned; a
// pair in E-FAILED or NO-SUPPORT gives ErrHoldDown (§7.8).
func (m *Machine) Establish(local, peer netip.Addr) error {
	m.clock()
	if !usable(local) || !usable(peer) {
		return ErrBadAddress
	}
	slot, c, found := m.lookupPair(local, peer)
	if found {
		switch {
		case c == nil:
			return ErrNotOurs
		case c.state == EFailed || c.state == NoSupport:
			return ErrHoldDown
		}
		return nil
	}
	hi, err := m.hostFor(local)
	if err != nil {
		m.Stats.FailedNoLocators.Add(1)
		return err
	}
	slot, c, err = m.create(local, peer, hi, 0)
	if err != nil {
		return err
	}
	m.Stats.HandshakesStarted.Add(1)
	from := local
	if m.cfg.LocalUsable != nil && !m.cfg.LocalUsable(local) {
		from = m.nextI1Source(m.hosts[hi], local)
	}
	m.startHandshake(slot, c, from, peer)
	m.setState(slot, c, I1Sent)
	m.sendI1(slot, c)
	return nil
}

// create makes a context record in the table (locators = ULIDs, so the
// fast path does not rewrite until REAP verifies another pair, RFC 5533
// §7.2) and in the machine, in IDLE; the caller moves it on.
func (m *Machine) create(local, peer netip.Addr, hi uint32, peerTag uint64) (uint32, *ctx, error) {
	l, p := local.As16(), peer.As16()
	slot, _, err := m.cfg.Table.Create(dataplane.ContextSpec{
		PeerTag: peerTag, ULIDLocal: l, ULIDPeer: p, LocLocal: l, LocPeer: p,
	})
	if err != nil {
		if m.hosts[hi].n == 0 {
			m.dropHost(hi)
		}
		m.Stats.FailedTableFull.Add(1)
		return 0, nil, fmt.Errorf("shim6: context for %v–%v: %w", local, peer, err)
	}
	c := m.newRecord(slot)
	c.created, c.lastRx, c.since = m.cur, m.cur, m.cur
	m.link(slot, c, hi, peerTag)
	return slot, c, nil
}

// lookupPair finds the context of a ULID pair. found with a nil ctx is a
// table entry the machine does not manage.
func (m *Machine) lookupPair(local, peer netip.Addr) (uint32, *ctx, bool) {
	l, p := local.As16(), peer.As16()
	if !m.cfg.Table.LookupULIDs(&l, &p, &m.scratch.tc) {
		return 0, nil, false
	}
	return m.scratch.tc.Slot, m.lookup(m.scratch.tc.Slot), true
}

// PeerNoSupport tells the machine that an ICMPv6 Parameter Problem
// (Unrecognized Next Header) quoted our I1 for the pair: the peer does not
// implement Shim6, and the context goes to NO-SUPPORT for
// ICMP_HOLDDOWN_TIME (RFC 5533 §7.8, Appendix B).
func (m *Machine) PeerNoSupport(local, peer netip.Addr) {
	m.clock()
	slot, c, _ := m.lookupPair(local, peer)
	if c != nil && c.state == I1Sent {
		m.Stats.FailedNoSupport.Add(1)
		m.setState(slot, c, NoSupport)
	}
}

// HandleEvent acts on a fast-path event: EventEstablish starts a context
// (Establish; errors are counted, not returned), EventUnknownTag answers
// with a rate-limited R1bis (RFC 5533 §7.17, §12.2).
func (m *Machine) HandleEvent(e *dataplane.Event) {
	switch e.Kind {
	case dataplane.EventEstablish:
		_ = m.Establish(netip.AddrFrom16(e.Src), netip.AddrFrom16(e.Dst))
	case dataplane.EventUnknownTag:
		m.clock()
		src, dst := netip.AddrFrom16(e.Src), netip.AddrFrom16(e.Dst)
		if !usable(src) || !usable(dst) {
			return
		}
		// The context may have been made since the worker looked.
		if m.cfg.Table.LookupTag(e.Tag, &m.scratch.tc) && m.lookup(m.scratch.tc.Slot) != nil {
			return
		}
		m.sendR1bis(e.Tag, src, dst)
	}
}

// hostFor returns the index of the host with this ULID, asking
// LocalLocators for its set the first time.
func (m *Machine) hostFor(ulid netip.Addr) (uint32, error) {
	if i, ok := m.hostIdx[ulid.As16()]; ok {
		return i, nil
	}
	set, err := m.localSet(ulid)
	if err != nil {
		return 0, err
	}
	h := &host{ulid: ulid, head: none}
	if err := m.setHostSet(h, set); err != nil {
		return 0, err
	}
	var i uint32
	if n := len(m.freeHosts); n > 0 {
		i = m.freeHosts[n-1]
		m.freeHosts = m.freeHosts[:n-1]
		m.hosts[i] = h
	} else {
		i = uint32(len(m.hosts))
		m.hosts = append(m.hosts, h)
	}
	m.hostIdx[ulid.As16()] = i
	return i, nil
}

// HasHost reports whether the machine holds state for the proxied host
// ulid: it has a context, established or on its way, and the locator set
// it announces for it. A reload that changes the host's set leaves such a
// host on the set it has (see control's Reload).
func (m *Machine) HasHost(ulid netip.Addr) bool {
	_, ok := m.hostIdx[ulid.As16()]
	return ok
}

// serves reports whether the machine acts for ulid, without keeping state.
func (m *Machine) serves(ulid netip.Addr) bool {
	if _, ok := m.hostIdx[ulid.As16()]; ok {
		return true
	}
	_, err := m.localSet(ulid)
	return err == nil
}

func (m *Machine) localSet(ulid netip.Addr) (LocatorSet, error) {
	if m.cfg.LocalLocators == nil {
		return LocatorSet{}, nil
	}
	return m.cfg.LocalLocators(ulid)
}

func (m *Machine) dropHost(i uint32) {
	h := m.hosts[i]
	delete(m.hostIdx, h.ulid.As16())
	m.hosts[i] = nil
	m.freeHosts = append(m.freeHosts, i)
}

// setHostSet checks a locator set and makes it h's: a new random Locator
// List Generation (RFC 5533 §10.1), a new version, a new signature.
func (m *Machine) setHostSet(h *host, set LocatorSet) error {
	locs := set.Locators
	if len(locs) == 0 {
		locs = []wire.Locator{{Addr: h.ulid, Method: wire.VerifyHBA}}
	}
	if len(locs) > wire.MaxLocators {
		return fmt.Errorf("%w: %d locators", ErrBadLocatorSet, len(locs))
	}
	cga := false
	for i, l := range locs {
		if !usable(l.Addr) {
			return fmt.Errorf("%w: locator %v", ErrBadLocatorSet, l.Addr)
		}
		for _, o := range locs[:i] {
			if o.Addr == l.Addr {
				return fmt.Errorf("%w: %v twice", ErrBadLocatorSet, l.Addr)
			}
		}
		cga = cga || l.Method == wire.VerifyCGA
	}
	if set.Preferences != nil && len(set.Preferences) != len(locs) {
		return fmt.Errorf("%w: %d preferences for %d locators", ErrBadLocatorSet, len(set.Preferences), len(locs))
	}
	n := &host{ulid: h.ulid, head: h.head, n: h.n, version: h.version + 1}
	n.set = LocatorSet{
		Locators:    append([]wire.Locator(nil), locs...),
		Preferences: append([]wire.Preference(nil), set.Preferences...),
		Parameters:  append([]byte(nil), set.Parameters...),
	}
	if set.Preferences == nil {
		n.set.Preferences = nil
	}
	n.list = wire.LocatorList{Generation: m.rand.uint32(), Locators: n.set.Locators}
	if n.set.Preferences != nil {
		n.prefs = &wire.LocatorPreferences{Generation: n.list.Generation, ElementLen: 3, Elements: n.set.Preferences}
	}
	if !n.ulidOnly() && len(n.set.Parameters) == 0 {
		return fmt.Errorf("%w: more than the ULID needs CGA parameters", ErrBadLocatorSet)
	}
	if cga {
		if m.cfg.Sign == nil {
			return fmt.Errorf("%w: CGA locators and no Sign function", ErrBadLocatorSet)
		}
		sig, err := m.cfg.Sign(h.ulid, &n.list)
		if err != nil {
			return fmt.Errorf("%w: signing: %v", ErrBadLocatorSet, err)
		}
		n.sig = sig
	}
	// The largest message that carries the set: an I2bis with a ULID
	// Pair option and a validator (RFC 5533 §5.1: 1280 octets in all).
	probe := wire.I2bis{Options: wire.Options{ResponderValidator: make([]byte, validatorLen), ULIDPair: &wire.ULIDPair{},
		KeepaliveTimeout: m.cfg.KeepaliveTimeout}}
	n.options(&probe.Options, true)
	if l := probe.Len(); l > wire.MaxMessageLen {
		return fmt.Errorf("%w: an I2bis carrying it would be %d octets, over %d", ErrBadLocatorSet, l, wire.MaxMessageLen)
	}
	*h = *n
	return nil
}

// SetLocalLocators replaces the locator set of the proxied host ulid (an
// uplink's prefix withdrawn or restored, preferences changed) and tells
// the peer of every context of the host with an Update Request (RFC 5533
// §10.1), retransmitted until acknowledged (§10.2). LocalLocators must
// return the same set from now on; a host with no context keeps nothing.
func (m *Machine) SetLocalLocators(ulid netip.Addr, set LocatorSet) error {
	m.clock()
	i, ok := m.hostIdx[ulid.As16()]
	if !ok {
		return nil
	}
	return m.changeHost(i, set)
}

// RefreshLocalLocators asks LocalLocators again for every host with
// contexts and sends Update Requests where a set changed (RFC 5533 §10.1):
// the call for an uplink going down or coming back, which changes many
// hosts at once.
func (m *Machine) RefreshLocalLocators() error {
	m.clock()
	var errs []error
	for i, h := range m.hosts {
		if h == nil {
			continue
		}
		set, err := m.localSet(h.ulid)
		if err != nil {
			errs = append(errs, fmt.Errorf("%v: %w", h.ulid, err))
			continue
		}
		if sameSet(&h.set, &set, h.ulid) {
			continue
		}
		if err := m.changeHost(uint32(i), set); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func sameSet(a, b *LocatorSet, ulid netip.Addr) bool {
	bl := b.Locators
	if len(bl) == 0 {
		bl = []wire.Locator{{Addr: ulid, Method: wire.VerifyHBA}}
	}
	if len(a.Locators) != len(bl) || len(a.Preferences) != len(b.Preferences) ||
		(a.Preferences == nil) != (b.Preferences == nil) || string(a.Parameters) != string(b.Parameters) {
		return false
	}
	for i := range bl {
		if a.Locators[i] != bl[i] {
			return false
		}
	}
	for i := range b.Preferences {
		if a.Preferences[i] != b.Preferences[i] {
			return false
		}
	}
	return true
}

func (m *Machine) changeHost(i uint32, set LocatorSet) error {
	h := m.hosts[i]
	if err := m.setHostSet(h, set); err != nil {
		return err
	}
	// Established contexts update their peers now (§10.3: a newer set
	// abandons an outstanding update); pending ones carry the new set in
	// their next I2/I2bis, and setState(Established) catches up the rest.
	for s := h.head; s != none; {
		c := m.ctxAt(s)
		next := c.hostNext
		if c.state == Established {
			m.startUpdate(s, c, h)
			if m.cfg.OnLocators != nil {
				m.cfg.OnLocators(m.info(s, c))
			}
		}
		s = next
	}
	return nil
}

// fire runs an expired timer (RFC 5533 §7.8, §7.12, §7.19, §10.2, §9).
func (m *Machine) fire(slot uint32, kind int) {
	c := m.lookup(slot)
	if c == nil {
		return
	}
	if kind == timerIdle {
		m.checkIdle(slot, c)
		return
	}
	t := &m.timers
	switch c.state {
	case I1Sent:
		if c.retries >= t.I1RetriesMax {
			m.Stats.FailedNoResponse.Add(1)
			m.setState(slot, c, EFailed)
			return
		}
		c.retries++
		m.Stats.Retransmissions.Add(1)
		if hs := m.hs[slot]; hs != nil {
			hs.from = m.nextI1Source(m.hosts[c.host], hs.from)
		}
		m.sendI1(slot, c)
		m.arm(slot, timerState, m.backoff(t.I1Timeout, c.retries, 0))
	case I2Sent, I2bisSent:
		base, limit := t.I2Timeout, t.I2RetriesMax
		if c.state == I2bisSent {
			base, limit = t.I2bisTimeout, t.I2bisRetriesMax
		}
		if c.retries >= minimalAfter && c.flags&flagOptional != 0 {
			m.markMinimal(m.table(slot).ULIDPeer) // the next I2 goes without them
		}
		if c.retries >= limit {
			m.fallBack(slot, c)
			return
		}
		c.retries++
		m.Stats.Retransmissions.Add(1)
		if c.state == I2Sent {
			m.sendI2(slot, c)
		} else {
			m.sendI2bis(slot, c)
		}
		m.arm(slot, timerState, m.backoff(base, c.retries, 0))
	case Established:
		if c.flags&flagUpdating == 0 {
			return
		}
		// §10.2: retransmit forever, backoff capped at
		// MAX_UPDATE_TIMEOUT; only idle collection ends it.
		if c.retries >= minimalAfter && c.flags&flagOptional != 0 {
			m.markMinimal(m.table(slot).ULIDPeer)
		}
		c.retries = min(c.retries+1, 30)
		m.Stats.UpdateRetransmissions.Add(1)
		m.sendUpdate(slot, c, m.hosts[c.host])
		m.arm(slot, timerState, m.backoff(t.UpdateTimeout, c.retries, t.MaxUpdateTimeout))
	case EFailed, NoSupport:
		m.setState(slot, c, Idle)
	}
}

// nextI1Source is the local locator the next I1 leaves from, after one
// from cur went unanswered: the next of h's locators that LocalUsable
// does not rule out, in the order of h's list, round again to cur itself
// when no other qualifies. The peer's locators are not known before its
// R2, so the I1 always goes to its ULID; what the proxy can vary is its
// own side: another uplink, another ISP. RFC 5533 §7.7 lets the I1 go
// over any pair as long as the ULID Pair option names the ULIDs.
func (m *Machine) nextI1Source(h *host, cur netip.Addr) netip.Addr {
	locs := h.list.Locators
	at := -1
	for i := range locs {
		if locs[i].Addr == cur {
			at = i
			break
		}
	}
	for k := 1; k <= len(locs); k++ {
		a := locs[(at+k+len(locs))%len(locs)].Addr
		if m.cfg.LocalUsable == nil || m.cfg.LocalUsable(a) {
			return a
		}
	}
	return cur
}

// fallBack: I2 or I2bis retries are exhausted; try I1 again (RFC 5533
// §7.12, §7.19), up to MaxFallbacks times, then E-FAILED.
func (m *Machine) fallBack(slot uint32, c *ctx) {
	if c.fallbacks >= m.timers.MaxFallbacks {
		m.Stats.FailedNoResponse.Add(1)
		m.setState(slot, c, EFailed)
		return
	}
	c.fallbacks++
	var t dataplane.Context
	m.cfg.Table.Get(slot, &t)
	m.startHandshake(slot, c, netip.AddrFrom16(t.ULIDLocal), netip.AddrFrom16(t.ULIDPeer))
	m.setState(slot, c, I1Sent)
	m.sendI1(slot, c)
}

// checkIdle removes an established context when neither control traffic
// nor data was seen for IdleTimeout (RFC 5533 §9), and otherwise looks
// again when that much time has passed since the last activity.
func (m *Machine) checkIdle(slot uint32, c *ctx) {
	last := c.lastRx
	if m.cfg.LastData != nil {
		last = max(last, m.tickOf(m.cfg.LastData(slot)))
	}
	last = min(last, m.cur)
	if idle := m.cur - last; idle < m.idleTicks {
		m.arm(slot, timerIdle, m.idleTicks-idle)
		return
	}
	m.Stats.IdleRemoved.Add(1)
	m.setState(slot, c, Idle)
}
