// Package reap is the REAP failure detection and locator pair exploration
// state machine (RFC 5534) for every Shim6 context of the proxy, as pure
// logic: no goroutines, no ports, time through an injected Clock.
//
// # Driving it
//
// The control core owns one Machine and calls it from its single goroutine:
// Add and Remove as contexts come and go, HandleProbe and HandleKeepalive
// for received REAP messages, LinkDown and LinkUp for local locators, and
// Tick periodically (every Granularity or so). The Machine answers through
// Output: SendProbe, SendKeepalive and OnSwitch.
//
// # Fast-path feedback: pulled, not pushed
//
// The workers stamp, per context slot, when they last sent and last
// received a payload packet (dataplane.Feedback). The Machine pulls those
// stamps through Traffic.Last, and only for contexts whose timer fires in
// the wheel: an idle-but-healthy context costs one look every
// CheckInterval, a context with an armed Send or Keepalive timer one look
// more when that timer is due. Pushing (the core calling Feedback(id, ...)
// for every context each tick) would cost a scan of all contexts per tick
// whatever their state; pulling costs only what is due.
//
// From the stamps the Machine derives the RFC 5534 §4.1 / §6.1–§6.2 events
// (incoming and outgoing payload) and keeps the Send timer (§6.4) and the
// Keepalive obligation (§4.1 rules 3 and 5). Because it looks at the
// stamps at most every CheckInterval, a Send timer starts at the newest
// stamp it saw (never earlier than the real start, so exploration is never
// started too early, at most CheckInterval late), and a Keepalive goes out
// a randomised Keepalive Interval (one third to one half of the Keepalive
// Timeout, §7) after the first receipt it saw since this side last sent:
// with CheckInterval at most a third of the Keepalive Timeout, the peer
// hears from us within its Send Timeout.
//
// # Scale
//
// Records are pointer-free and indexed by ID; timers live on a hashed
// wheel threaded through the records; probe reports and exploration state
// live in a separate pool used only by contexts that are exploring;
// locators live in one pointer-free arena.
package reap

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"shim6d/control/wire"
)

// ID is a context's index: the slot of the context table, below the
// Machine's Capacity.
type ID uint32

// State is a context's REAP state (RFC 5534 §6).
type State uint8

const (
	// Operational: the current address pair is assumed to work (RFC 5534
	// §6); the Send and Keepalive timers run as traffic dictates.
	Operational State = iota
	// Exploring: no traffic seen from the peer for a Send Timeout; probes
	// go out with backoff and no timer runs (RFC 5534 §6, §6.4).
	Exploring
	// InboundOk: traffic from the peer arrives but the peer may not yet
	// see ours; probes continue and the Send timer runs (RFC 5534 §6,
	// §6.1).
	InboundOk
	numStates
)

var stateNames = [numStates]string{"operational", "exploring", "inbound_ok"}

// String returns the state's name.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

func (s State) wire() wire.ReapState {
	switch s {
	case Exploring:
		return wire.ReapExploring
	case InboundOk:
		return wire.ReapInboundOK
	}
	return wire.ReapOperational
}

// Protocol constants and defaults, RFC 5534 §7.
const (
	DefaultSendTimeout    = 15 * time.Second
	InitialProbeTimeout   = 500 * time.Millisecond
	NumberOfInitialProbes = 4
	MaxProbeTimeout       = 60 * time.Second
	DefaultGranularity    = 10 * time.Millisecond
	DefaultCheckInterval  = 2 * time.Second
	DefaultExploreCheck   = 500 * time.Millisecond
	DefaultJitter         = 0.1
	reportsKept           = 4 // sent and received probe reports kept per exploration
	// MaxLocators is how many locators of a side REAP takes for a
	// context: it bounds the pairs an exploration walks (15 × 15).
	MaxLocators             = 15
	defaultWheelSlots       = 1 << 13
	never             int64 = -1 << 62
)

// Clock is the time source; tests advance a fake one.
type Clock interface{ Now() time.Time }

// Traffic is the fast path's per-context feedback: when a worker last sent
// and last received a payload packet of context id (RFC 5534 §4.1 rules 2
// and 3; "payload" includes Shim6 control messages other than REAP's). A
// zero time means never.
type Traffic interface {
	Last(id ID) (sent, recv time.Time)
}

// Output receives what the Machine decides. The messages passed are the
// Machine's and valid only during the call: marshal them, do not keep them.
// The methods must not call back into the Machine (queue instead).
type Output interface {
	// SendProbe sends a REAP Probe from src to dst (RFC 5534 §5.2).
	SendProbe(id ID, src, dst netip.Addr, p *wire.Probe)
	// SendKeepalive sends a REAP Keepalive on the current pair (§5.1).
	SendKeepalive(id ID, src, dst netip.Addr, k *wire.Keepalive)
	// OnSwitch reports that context id now uses the pair (local, peer),
	// proven by a probe round trip (§4.2, §6.8).
	OnSwitch(id ID, local, peer netip.Addr)
}

// Config sets a Machine up. Clock, Traffic and Output are required.
type Config struct {
	Clock   Clock
	Traffic Traffic
	Output  Output
	// Capacity is the number of context IDs, 0 ≤ id < Capacity.
	Capacity int
	// SendTimeout is this side's Send Timeout (RFC 5534 §7), 15 s when 0.
	// A non-default value must be announced to the peer: see
	// KeepaliveTimeoutOption.
	SendTimeout time.Duration
	// CheckInterval is how often a healthy context's traffic stamps are
	// looked at (2 s when 0); at most a third of the Keepalive Timeout.
	CheckInterval time.Duration
	// ExploreCheck is how often an exploring context's stamps are looked
	// at, to see returning payload (§6.1); 500 ms (the Initial Probe
	// Timeout) when 0: after a site failure every active context explores,
	// so this sets the control core's load then.
	ExploreCheck time.Duration
	// Granularity is the wheel's tick, 10 ms when 0.
	Granularity time.Duration
	// WheelSlots is the number of wheel slots (a power of two), 8192 when 0.
	WheelSlots int
	// Jitter randomises the Send Timeout, probe intervals and checks by
	// ±Jitter (a fraction; RFC 5534 §4.1 "SHOULD be randomized"); 0.1
	// when 0, none when negative.
	Jitter float64
	// Rand draws nonces and jitter; a ChaCha8 generator seeded from
	// crypto/rand when nil (RFC 5534 §5.2, RFC 4086).
	Rand func() uint64
}

// Locator is one locator of a context with its priority: lower priorities
// are tried first, equal ones in list order (RFC 5534 §4.3; the caller
// folds in RFC 3484 order and the peer's Locator Preferences).
type Locator struct {
	Addr     netip.Addr
	Priority uint8
}

// Context is what Add needs to know of a context.
type Context struct {
	// PeerTag is the peer's context tag, the Receiver Context Tag of the
	// messages sent (RFC 5533 §5.3).
	PeerTag uint64
	// Local and Peer are the candidate locators (1 to 15 each).
	Local, Peer []Locator
	// CurrentLocal and CurrentPeer are the current address pair (§3.5);
	// both must be among Local and Peer.
	CurrentLocal, CurrentPeer netip.Addr
	// KeepaliveTimeout is the peer's Keepalive Timeout option value (RFC
	// 5534 §5.3); 0 when it sent none (then the default Send Timeout).
	KeepaliveTimeout wire.KeepaliveTimeout
}

const (
	flagInUse uint8 = 1 << iota
	flagFailed
)

// record is one context: pointer-free, 96 bytes.
type record struct {
	due          int64 // the wheel deadline: min of the others and the next check
	check        int64 // next look at the traffic stamps
	sendDue      int64 // Send timer deadline, never when stopped (§6)
	kaDue        int64 // Keepalive deadline, never when nothing is owed (§4.1)
	seenS, seenR int64 // newest traffic stamps already acted on
	tag          uint64
	wtick        uint64 // the wheel tick it is queued for, 0 when none
	explore      uint32 // index into Machine.explores, none when not exploring
	locOff       uint32 // locals then peers in Machine.locs
	kaTimeout    uint16 // the Keepalive Timeout in seconds (§5.3, §7)
	nLocal       uint8
	nPeer        uint8
	curLocal     uint8 // index of the current pair in the sorted locators
	curPeer      uint8
	state        State
	flags        uint8
}

type report struct {
	src, dst    [16]byte
	nonce, data uint32
}

// exploration is a context's exploration state (RFC 5534 §4.2–§4.3, §6.5).
type exploration struct {
	start    int64
	probeDue int64
	probes   uint32 // probes sent in this exploration
	nextFree uint32
	nextPair uint16 // rank of the next pair to probe
	good     int16  // rank of a pair whose probe the peer reported, -1 if none
	nSent    uint8
	nRecv    uint8
	sent     [reportsKept]report // newest first
	recv     [reportsKept]report // newest first, since the last move to Exploring
}

// Machine runs REAP for every context. It is not safe for concurrent use
// except Stats, which another goroutine may read.
type Machine struct {
	clock   Clock
	traffic Traffic
	out     Output
	epoch   time.Time
	rnd     func() uint64 // nonces
	fast    *rand.PCG     // jitter, seeded from rnd: cheap, not secret

	sendTimeout  int64
	checkEvery   int64
	exploreCheck int64
	jitter       float64

	recs     []record
	wheel    wheel
	explores []exploration
	freeExp  uint32
	locs     [][16]byte
	locDead  int
	down     map[[16]byte]struct{} // local locators not operational (LinkDown)
	prio     []uint8               // scratch for setLocators
	sink     uint64                // keeps Tick's touch loads alive

	probe     wire.Probe
	sentBuf   [reportsKept]wire.ProbeReport
	recvBuf   [reportsKept]wire.ProbeReport
	keepalive wire.Keepalive

	stats Stats
}

// Errors Add and SetLocators return.
var (
	ErrID       = errors.New("reap: context id out of range")
	ErrInUse    = errors.New("reap: context id in use")
	ErrLocators = errors.New("reap: bad locator list")
)

// New returns a Machine for cfg.Capacity contexts.
func New(cfg Config) (*Machine, error) {
	if cfg.Clock == nil || cfg.Traffic == nil || cfg.Output == nil {
		return nil, errors.New("reap: Clock, Traffic and Output are required")
	}
	if cfg.Capacity <= 0 || cfg.Capacity >= int(none) {
		return nil, fmt.Errorf("reap: capacity %d out of range", cfg.Capacity)
	}
	def := func(d, v time.Duration) int64 {
		if d <= 0 {
			d = v
		}
		return int64(d)
	}
	m := &Machine{
		clock: cfg.Clock, traffic: cfg.Traffic, out: cfg.Output,
		epoch:        cfg.Clock.Now().Add(-time.Hour), // stamps a little older than New stay positive
		sendTimeout:  def(cfg.SendTimeout, DefaultSendTimeout),
		checkEvery:   def(cfg.CheckInterval, DefaultCheckInterval),
		exploreCheck: def(cfg.ExploreCheck, DefaultExploreCheck),
		jitter:       cfg.Jitter,
		rnd:          cfg.Rand,
		recs:         make([]record, cfg.Capacity),
		freeExp:      none,
	}
	if m.jitter == 0 {
		m.jitter = DefaultJitter
	} else if m.jitter < 0 {
		m.jitter = 0
	}
	if m.rnd == nil {
		var seed [32]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("reap: seeding: %w", err)
		}
		m.rnd = rand.NewChaCha8(seed).Uint64
	}
	m.fast = rand.NewPCG(m.rnd(), m.rnd())
	slots := cfg.WheelSlots
	if slots <= 0 {
		slots = defaultWheelSlots
	}
	m.wheel = newWheel(slots, def(cfg.Granularity, DefaultGranularity), m.now())
	for i := range m.recs {
		m.recs[i].explore = none
	}
	m.stats.states[Operational].Store(0)
	return m, nil
}

func (m *Machine) now() int64 { return m.ns(m.clock.Now()) }

func (m *Machine) ns(t time.Time) int64 {
	if t.IsZero() {
		return never
	}
	return int64(t.Sub(m.epoch))
}

// jit returns d randomised by ±jitter.
func (m *Machine) jit(d int64) int64 {
	if m.jitter == 0 || d <= 0 {
		return d
	}
	span := int64(float64(d) * m.jitter)
	if span <= 0 {
		return d
	}
	return d - span + int64(m.fast.Uint64()%uint64(2*span+1))
}

// KeepaliveTimeoutOption returns the Keepalive Timeout option this side
// must announce in I2, I2bis, R2 or UPDATE when its Send Timeout is not the
// default (RFC 5534 §5.3), nil when it is.
func (m *Machine) KeepaliveTimeoutOption() *wire.KeepaliveTimeout {
	if m.sendTimeout == int64(DefaultSendTimeout) {
		return nil
	}
	v := wire.KeepaliveTimeout(min(time.Duration(m.sendTimeout)/time.Second, 65535))
	return &v
}

func kaSeconds(v wire.KeepaliveTimeout) uint16 {
	if v == 0 {
		return uint16(DefaultSendTimeout / time.Second)
	}
	return uint16(v)
}

// SetKeepaliveTimeout records the peer's Keepalive Timeout option (RFC
// 5534 §5.3, received in I2, I2bis, R2 or UPDATE): this side's Keepalive
// Timeout becomes v seconds; 0 restores the default.
func (m *Machine) SetKeepaliveTimeout(id ID, v wire.KeepaliveTimeout) {
	if r := m.rec(id); r != nil {
		r.kaTimeout = kaSeconds(v)
	}
}

// keepaliveInterval is one third to one half of the Keepalive Timeout,
// drawn at random (RFC 5534 §4.1 rule 1, §7), at least 100 ms. It must
// stay under the Keepalive Timeout: the peer's Send Timer runs that long,
// and a keepalive that comes later makes it explore a working pair.
func (m *Machine) keepaliveInterval(r *record) int64 {
	kt := int64(r.kaTimeout) * int64(time.Second)
	lo := kt / 3
	d := lo + int64(m.fast.Uint64()%uint64(kt/2-lo+1))
	return max(d, int64(100*time.Millisecond))
}

func (m *Machine) rec(id ID) *record {
	if int(id) >= len(m.recs) || m.recs[id].flags&flagInUse == 0 {
		return nil
	}
	return &m.recs[id]
}

// Add starts REAP for a context in the Operational state (RFC 5534 §6):
// the exploration it may need later is only possible once the context is
// established (§8). Traffic stamps older than Add are ignored.
func (m *Machine) Add(id ID, c Context) error {
	if int(id) >= len(m.recs) {
		return ErrID
	}
	r := &m.recs[id]
	if r.flags&flagInUse != 0 {
		return ErrInUse
	}
	*r = record{explore: none, locOff: none,
		flags: flagInUse, tag: c.PeerTag, kaTimeout: kaSeconds(c.KeepaliveTimeout),
		sendDue: never, kaDue: never}
	if err := m.setLocators(r, c.Local, c.Peer, c.CurrentLocal, c.CurrentPeer); err != nil {
		r.flags = 0
		return err
	}
	s, rv := m.traffic.Last(id)
	r.seenS, r.seenR = m.ns(s), m.ns(rv)
	m.stats.states[Operational].Add(1)
	now := m.now()
	r.check = now + int64(m.fast.Uint64()%uint64(m.checkEvery)) // spread the checks over the wheel
	m.rearm(uint32(id), r)
	return nil
}

// Remove forgets a context.
func (m *Machine) Remove(id ID) {
	r := m.rec(id)
	if r == nil {
		return
	}
	m.unschedule(uint32(id))
	m.freeExploration(r)
	m.stats.states[r.state].Add(^uint64(0))
	m.locDead += int(r.nLocal) + int(r.nPeer)
	r.flags = 0
}

// State returns a context's REAP state.
func (m *Machine) State(id ID) State {
	if r := m.rec(id); r != nil {
		return r.state
	}
	return Operational
}

// Current returns a context's current address pair (RFC 5534 §3.5).
func (m *Machine) Current(id ID) (local, peer netip.Addr) {
	r := m.rec(id)
	if r == nil {
		return netip.Addr{}, netip.Addr{}
	}
	return m.local(r, int(r.curLocal)), m.peer(r, int(r.curPeer))
}

func (m *Machine) local(r *record, i int) netip.Addr {
	return netip.AddrFrom16(m.locs[int(r.locOff)+i])
}

func (m *Machine) peer(r *record, i int) netip.Addr {
	return netip.AddrFrom16(m.locs[int(r.locOff)+int(r.nLocal)+i])
}

// pairIndex is the position of the pair (local, peer) in r's exploration
// order, if both are r's locators.
func (m *Machine) pairIndex(r *record, local, peer netip.Addr) (int, bool) {
	li, pi := -1, -1
	for i := 0; i < int(r.nLocal); i++ {
		if m.local(r, i) == local {
			li = i
		}
	}
	for i := 0; i < int(r.nPeer); i++ {
		if m.peer(r, i) == peer {
			pi = i
		}
	}
	if li < 0 || pi < 0 {
		return 0, false
	}
	return rank(li, pi, int(r.nLocal), int(r.nPeer)), true
}

// SetLocators replaces a context's candidate locators, after an Update
// Request (RFC 5533 §10.4). The current pair must be among them.
func (m *Machine) SetLocators(id ID, local, peer []Locator, curLocal, curPeer netip.Addr) error {
	r := m.rec(id)
	if r == nil {
		return ErrID
	}
	old, n := r.locOff, int(r.nLocal)+int(r.nPeer)
	if err := m.setLocators(r, local, peer, curLocal, curPeer); err != nil {
		return err
	}
	if old != none {
		m.locDead += n
	}
	if e := m.exp(r); e != nil {
		next := rank(int(r.curLocal), int(r.curPeer), int(r.nLocal), int(r.nPeer))
		if r.state == Exploring {
			// The current pair is the one that failed: start where a
			// new exploration would (as startExploration does).
			next = firstPair(int(r.curLocal), int(r.curPeer), int(r.nLocal), int(r.nPeer))
		}
		e.nextPair, e.good = uint16(next), -1
	}
	return nil
}

func (m *Machine) setLocators(r *record, local, peer []Locator, curLocal, curPeer netip.Addr) error {
	if len(local) == 0 || len(peer) == 0 || len(local) > MaxLocators || len(peer) > MaxLocators {
		return ErrLocators
	}
	if m.locDead > 4096 && m.locDead > len(m.locs)/2 {
		m.compact()
	}
	off := len(m.locs)
	cl, cp := -1, -1
	for side, list := range [2][]Locator{local, peer} {
		start := len(m.locs)
		for _, l := range list {
			if !l.Addr.Is6() || l.Addr.Is4In6() {
				m.locs = m.locs[:off]
				return fmt.Errorf("%w: %v is not IPv6", ErrLocators, l.Addr)
			}
			// insertion sort, stable: after every locator of lower or equal priority
			i := len(m.locs)
			m.locs = append(m.locs, l.Addr.As16())
			m.prio = append(m.prio[:i-start], l.Priority)
			for i > start && m.prio[i-start-1] > l.Priority {
				m.locs[i], m.locs[i-1] = m.locs[i-1], m.locs[i]
				m.prio[i-start], m.prio[i-start-1] = m.prio[i-start-1], m.prio[i-start]
				i--
			}
		}
		cur := curLocal.As16()
		if side == 1 {
			cur = curPeer.As16()
		}
		for i := start; i < len(m.locs); i++ {
			if m.locs[i] == cur && (curLocal.Is6() && side == 0 || curPeer.Is6() && side == 1) {
				if side == 0 {
					cl = i - start
				} else {
					cp = i - start
				}
			}
		}
	}
	if cl < 0 || cp < 0 {
		m.locs = m.locs[:off]
		return fmt.Errorf("%w: current pair %v, %v not among the locators", ErrLocators, curLocal, curPeer)
	}
	r.locOff, r.nLocal, r.nPeer, r.curLocal, r.curPeer = uint32(off), uint8(len(local)), uint8(len(peer)), uint8(cl), uint8(cp)
	return nil
}

// compact drops the locator lists no context uses any more.
func (m *Machine) compact() {
	locs := make([][16]byte, 0, len(m.locs)-m.locDead+64)
	for i := range m.recs {
		r := &m.recs[i]
		if r.flags&flagInUse == 0 || r.locOff == none {
			continue
		}
		n := int(r.nLocal) + int(r.nPeer)
		off := len(locs)
		locs = append(locs, m.locs[r.locOff:int(r.locOff)+n]...)
		r.locOff = uint32(off)
	}
	m.locs, m.locDead = locs, 0
}

// rank and pairAt order the nLocal × nPeer candidate pairs along
// diagonals of the two preference orders: (0,0), (0,1), (1,0), (0,2),
// (1,1), ... so that exploration alternates the local and the peer
// locators (RFC 5534 §4.3).
func rank(l, p, nl, np int) int {
	k := 0
	for d := 0; d < nl+np-1; d++ {
		for i := 0; i <= d; i++ {
			j := d - i
			if i >= nl || j >= np {
				continue
			}
			if i == l && j == p {
				return k
			}
			k++
		}
	}
	return 0
}

// firstPair is where an exploration of our own starts in the pair order.
// The current pair is what just failed (Send Timeout, a link down), and it
// is not known which end broke, so the first probe goes
// to the first pair that shares neither locator with it, then on through
// the order, the current pair last. RFC 5534 §4.3 leaves such local
// ordering to the node and asks only that pairs be tried one at a time.
// Trying the disjoint pair first is what lets a single-ISP failure heal
// before TCP's third retransmission (1.4 s) with a 1 s Send Timeout.
func firstPair(cl, cp, nl, np int) int {
	for k := 0; k < nl*np; k++ {
		if l, p := pairAt(k, nl, np); l != cl && p != cp {
			return k
		}
	}
	return (rank(cl, cp, nl, np) + 1) % (nl * np)
}

func pairAt(k, nl, np int) (int, int) {
	for d := 0; d < nl+np-1; d++ {
		for i := 0; i <= d; i++ {
			j := d - i
			if i >= nl || j >= np {
				continue
			}
			if k == 0 {
				return i, j
			}
			k--
		}
	}
	return 0, 0
}

// LinkDown marks local locators not locally operational (RFC 5534 §3.2):
// exploration skips pairs from them, and every context whose current pair
// uses one starts exploring at once (§4.2). An uplink takes all of its
// hosts' locators down in one call: it looks at every context once, which
// at a million contexts is some milliseconds, not that times the hosts.
func (m *Machine) LinkDown(locals ...netip.Addr) {
	fresh := make(map[[16]byte]struct{}, len(locals))
	for _, l := range locals {
		a := l.As16()
		if !m.isDown(a) {
			fresh[a] = struct{}{}
		}
	}
	if len(fresh) == 0 {
		return
	}
	if m.down == nil {
		m.down = make(map[[16]byte]struct{}, len(fresh))
	}
	for a := range fresh {
		m.down[a] = struct{}{}
	}
	now := m.now()
	for i := range m.recs {
		r := &m.recs[i]
		if r.flags&flagInUse == 0 {
			continue
		}
		if _, gone := fresh[m.locs[int(r.locOff)+int(r.curLocal)]]; !gone {
			continue
		}
		if r.state != Exploring {
			m.setState(r, Exploring, now)
			m.sendProbe(ID(i), r, now)
		}
		m.rearm(uint32(i), r)
	}
}

// LinkUp marks local locators operational again. Contexts are not moved:
// failback is the caller's policy (TryPair).
func (m *Machine) LinkUp(locals ...netip.Addr) {
	for _, l := range locals {
		delete(m.down, l.As16())
	}
}

func (m *Machine) isDown(a [16]byte) bool {
	if len(m.down) == 0 {
		return false
	}
	_, ok := m.down[a]
	return ok
}

func (m *Machine) exp(r *record) *exploration {
	if r.explore == none {
		return nil
	}
	return &m.explores[r.explore]
}

// setState moves a context to next, starting or ending its exploration
// and stopping the timers the new state does not run (RFC 5534 §6: no
// timer in Exploring, the Keepalive timer only in Operational). The caller
// arms what the transition's table entry starts and re-arms the wheel.
func (m *Machine) setState(r *record, next State, now int64) {
	prev := r.state
	if prev == next {
		return
	}
	m.stats.states[prev].Add(^uint64(0))
	m.stats.states[next].Add(1)
	r.state = next
	switch next {
	case Operational:
		if e := m.exp(r); e != nil {
			m.stats.explorationsSucceeded.Add(1)
			m.stats.observe(now - e.start)
			m.freeExploration(r)
		}
		r.flags &^= flagFailed
	case Exploring:
		r.sendDue, r.kaDue = never, never
		e := m.startExploration(r, now)
		e.nRecv = 0 // received reports count since the last move to Exploring (§5.2)
		// A Send timeout in InboundOk says the pair it proved has failed
		// too: the exploration goes back to trying every pair (§4.3).
		e.good = -1
	case InboundOk:
		r.kaDue = never
		m.startExploration(r, now)
	}
}

func (m *Machine) startExploration(r *record, now int64) *exploration {
	if e := m.exp(r); e != nil {
		return e
	}
	m.stats.explorationsStarted.Add(1)
	var i uint32
	if m.freeExp != none {
		i = m.freeExp
		m.freeExp = m.explores[i].nextFree
	} else {
		i = uint32(len(m.explores))
		m.explores = append(m.explores, exploration{})
	}
	next := rank(int(r.curLocal), int(r.curPeer), int(r.nLocal), int(r.nPeer))
	if r.state == Exploring {
		// Our own path failed; a peer's exploration (InboundOk) starts on
		// the current pair, which works from here.
		next = firstPair(int(r.curLocal), int(r.curPeer), int(r.nLocal), int(r.nPeer))
	}
	m.explores[i] = exploration{start: now, probeDue: never, nextFree: none, good: -1, nextPair: uint16(next)}
	r.explore = i
	return &m.explores[i]
}

func (m *Machine) freeExploration(r *record) {
	if r.explore == none {
		return
	}
	m.explores[r.explore].nextFree = m.freeExp
	m.freeExp = r.explore
	r.explore = none
}

// probeGap is the wait after the n-th probe of an exploration: Initial
// Probe Timeout for the first Number of Initial Probes, then doubling up
// to Max Probe Timeout (RFC 5534 §4.3, §7).
func probeGap(n uint32) int64 {
	if n < NumberOfInitialProbes {
		return int64(InitialProbeTimeout)
	}
	d := int64(InitialProbeTimeout)
	for i := uint32(NumberOfInitialProbes); i <= n && d < int64(MaxProbeTimeout); i++ {
		d *= 2
	}
	return min(d, int64(MaxProbeTimeout))
}

// sendProbe sends the next probe of r's exploration in r's state (RFC 5534
// §6.1, §6.5): on a pair a report proved to work if there is one, else on
// the next candidate pair whose local locator is up, and schedules the
// next retransmission.
func (m *Machine) sendProbe(id ID, r *record, now int64) {
	e := m.exp(r)
	if e == nil {
		e = m.startExploration(r, now)
	}
	nl, np := int(r.nLocal), int(r.nPeer)
	li, pi := int(r.curLocal), int(r.curPeer)
	if r.state == Operational {
		// the answer of §6.8 goes on the current pair
	} else if l, p := pairAt(int(e.good), nl, np); e.good >= 0 && !m.isDown(m.locs[int(r.locOff)+l]) {
		li, pi = l, p
	} else {
		found := false
		for try := 0; try < nl*np; try++ {
			k := (int(e.nextPair) + try) % (nl * np)
			l, p := pairAt(k, nl, np)
			if !m.isDown(m.locs[int(r.locOff)+l]) {
				li, pi, found = l, p, true
				e.nextPair = uint16((k + 1) % (nl * np))
				break
			}
		}
		if !found { // every local locator is down: wait for LinkUp
			e.probeDue = now + m.jit(probeGap(e.probes))
			return
		}
	}
	src, dst := m.local(r, li), m.peer(r, pi)
	rep := report{src: src.As16(), dst: m.locs[int(r.locOff)+nl+pi], nonce: uint32(m.rnd())}
	copy(e.sent[1:], e.sent[:reportsKept-1])
	e.sent[0] = rep
	e.nSent = min(e.nSent+1, reportsKept)
	p := &m.probe
	*p = wire.Probe{ReceiverContextTag: r.tag, State: r.state.wire(), Sent: m.sentBuf[:e.nSent]}
	for i := range e.nSent {
		m.sentBuf[i] = e.sent[i].wire()
	}
	if e.nRecv > 0 {
		p.Received = m.recvBuf[:e.nRecv]
		for i := range e.nRecv {
			m.recvBuf[i] = e.recv[i].wire()
		}
	}
	e.probes++
	gap := probeGap(e.probes)
	if gap >= int64(MaxProbeTimeout) && r.flags&flagFailed == 0 {
		r.flags |= flagFailed // a hint to garbage collection (§4.3)
		m.stats.explorationsFailed.Add(1)
	}
	e.probeDue = now + m.jit(gap)
	m.stats.probesSent.Add(1)
	m.out.SendProbe(id, src, dst, p)
}

func (rp report) wire() wire.ProbeReport {
	return wire.ProbeReport{Source: netip.AddrFrom16(rp.src), Destination: netip.AddrFrom16(rp.dst),
		Nonce: rp.nonce, Data: rp.data}
}

func (m *Machine) sendKeepalive(id ID, r *record) {
	m.keepalive = wire.Keepalive{ReceiverContextTag: r.tag}
	m.stats.keepalivesSent.Add(1)
	m.out.SendKeepalive(id, m.local(r, int(r.curLocal)), m.peer(r, int(r.curPeer)), &m.keepalive)
}

// rearm computes the record's next wheel deadline and re-links it.
func (m *Machine) rearm(id uint32, r *record) {
	due := r.check
	if r.sendDue != never {
		due = min(due, r.sendDue)
	}
	if r.kaDue != never {
		due = min(due, r.kaDue)
	}
	if e := m.exp(r); e != nil && e.probeDue != never {
		due = min(due, e.probeDue)
	}
	r.due = due
	m.schedule(id)
}

// Poll looks at context id's traffic stamps now instead of at its next
// check, and runs whatever timer is due: for a core that learns of
// payload-equivalent traffic (RFC 5534 §4.1 rule 2: Shim6 control messages
// other than REAP's) or wants a prompt reaction.
func (m *Machine) Poll(id ID) {
	r := m.rec(id)
	if r == nil {
		return
	}
	now := m.now()
	r.check = now
	m.fire(uint32(id), r, now)
}

// fire handles a context whose deadline passed: its traffic stamps, then
// the Send timer (§6.4), the Keepalive (§4.1, §6.3) and probe
// retransmission (§6.5).
func (m *Machine) fire(id uint32, r *record, now int64) {
	// The stamps are read at every check and before any Send or Keepalive
	// timer acts: traffic since the last check may have stopped it (§4.1
	// rules 5 and 6 speak of the traffic up to the timeout, not up to the
	// last check).
	if now >= r.check || r.sendDue != never && now >= r.sendDue || r.kaDue != never && now >= r.kaDue {
		m.look(ID(id), r, now)
	}
	if r.sendDue != never && now >= r.sendDue && r.state != Exploring {
		m.setState(r, Exploring, now) // §6.4: SEND Probe Exploring, GOTO Exploring
		m.sendProbe(ID(id), r, now)
	}
	if r.kaDue != never && now >= r.kaDue && r.state == Operational {
		r.kaDue = never
		m.sendKeepalive(ID(id), r)
	}
	if e := m.exp(r); e != nil && r.state != Operational && e.probeDue != never && now >= e.probeDue {
		if r.state == InboundOk && r.sendDue == never { // §6.5: START Send
			r.sendDue = now + m.jit(m.sendTimeout)
		}
		m.sendProbe(ID(id), r, now)
	}
	m.rearm(uint32(id), r)
}

// look reads the context's traffic stamps and applies the payload events
// they show, older first (RFC 5534 §6.1, §6.2).
func (m *Machine) look(id ID, r *record, now int64) {
	s, rv := m.traffic.Last(id)
	sent, recv := m.ns(s), m.ns(rv)
	newS, newR := sent > r.seenS, recv > r.seenR
	r.seenS, r.seenR = max(r.seenS, sent), max(r.seenR, recv)
	switch {
	case newS && newR && sent < recv:
		m.payloadOut(r, sent, now)
		m.payloadIn(id, r, recv, now)
	case newS && newR && sent == recv:
		// Sent and received within one stamp tick: which was last is
		// unknown, and both ends of a quick exchange see it so. Each
		// then runs its Send timer (in case it sent last) and also owes
		// a Keepalive (in case it received last), which stops the
		// other's; taking either order alone left both ends waiting for
		// the other and exploring a path that works.
		m.payloadIn(id, r, recv, now)
		m.payloadOut(r, sent, now)
		if r.state == Operational && r.kaDue == never {
			r.kaDue = recv + m.keepaliveInterval(r)
		}
	default:
		if newR {
			m.payloadIn(id, r, recv, now)
		}
		if newS {
			m.payloadOut(r, sent, now)
		}
	}
	every := m.checkEvery
	if r.state != Operational {
		every = m.exploreCheck
	} else if r.kaTimeout != 0 {
		// A payload packet is seen at the next check, and the Keepalive
		// it may call for must reach a peer with a short Send Timeout
		// in time (§4.1 rule 1): a quarter of its Keepalive Timeout.
		every = min(every, max(int64(r.kaTimeout)*int64(time.Second)/4, int64(100*time.Millisecond)))
	}
	r.check = now + m.jit(every)
}

// payloadIn applies an incoming payload packet at time at (RFC 5534 §6.1).
func (m *Machine) payloadIn(id ID, r *record, at, now int64) {
	switch r.state {
	case Operational: // STOP Send, START Keepalive
		r.sendDue = never
		if r.kaDue == never {
			r.kaDue = at + m.keepaliveInterval(r)
		}
	case Exploring: // SEND Probe InboundOk, START Send, GOTO InboundOk
		m.setState(r, InboundOk, now)
		r.sendDue = now + m.jit(m.sendTimeout)
		m.sendProbe(id, r, now)
	case InboundOk: // STOP Send
		r.sendDue = never
	}
}

// payloadOut applies an outgoing payload packet at time at (RFC 5534 §6.2).
func (m *Machine) payloadOut(r *record, at, now int64) {
	switch r.state {
	case Operational: // START Send, STOP Keepalive
		r.kaDue = never
		if r.sendDue == never {
			r.sendDue = at + m.jit(m.sendTimeout)
		}
	case InboundOk: // START Send
		if r.sendDue == never {
			r.sendDue = at + m.jit(m.sendTimeout)
		}
	}
}

// HandleKeepalive applies a received, valid Keepalive (RFC 5534 §5.1,
// §6.6); the caller has matched its tag to context id.
func (m *Machine) HandleKeepalive(id ID, src, dst netip.Addr, k *wire.Keepalive) {
	r := m.rec(id)
	if r == nil {
		return
	}
	m.stats.keepalivesReceived.Add(1)
	now := m.now()
	switch r.state {
	case Operational, InboundOk: // STOP Send
		r.sendDue = never
	case Exploring: // SEND Probe InboundOk, START Send, GOTO InboundOk
		m.setState(r, InboundOk, now)
		r.sendDue = now + m.jit(m.sendTimeout)
		m.sendProbe(id, r, now)
	}
	m.rearm(uint32(id), r)
}

// HandleProbe applies a received, valid Probe sent from src to dst (RFC
// 5534 §5.2, §6.7–§6.9); the caller has matched its tag to context id.
// A received report of one of this exploration's probes proves that pair
// (both directions: the probe went out on it, this one came back) and
// makes it the current pair, reported through OnSwitch.
func (m *Machine) HandleProbe(id ID, src, dst netip.Addr, p *wire.Probe) {
	r := m.rec(id)
	if r == nil || len(p.Sent) == 0 {
		return
	}
	m.stats.probesReceived.Add(1)
	now := m.now()
	if p.State != wire.ReapOperational || r.state != Operational {
		e := m.exp(r)
		if e == nil {
			e = m.startExploration(r, now)
		}
		s := p.Sent[0]
		copy(e.recv[1:], e.recv[:reportsKept-1])
		e.recv[0] = report{src: s.Source.As16(), dst: s.Destination.As16(), nonce: s.Nonce, data: s.Data}
		e.nRecv = min(e.nRecv+1, reportsKept)
		m.confirm(id, r, e, p.Received)
	}
	switch p.State {
	case wire.ReapExploring: // §6.7
		// The peer's probe got here, so the reverse of its pair is the
		// likeliest to carry our answer: probe it first, and the peer
		// learns of a working pair in one round trip.
		if e := m.exp(r); e != nil && e.good < 0 {
			if k, ok := m.pairIndex(r, dst, src); ok {
				e.nextPair = uint16(k)
			}
		}
		if r.state == Exploring {
			m.setState(r, InboundOk, now)
			r.sendDue = now + m.jit(m.sendTimeout) // START Send
		} else {
			m.setState(r, InboundOk, now)          // STOP Keepalive
			r.sendDue = now + m.jit(m.sendTimeout) // RESTART Send
		}
		m.sendProbe(id, r, now)
	case wire.ReapInboundOK: // §6.8
		r.kaDue = never
		r.sendDue = now + m.jit(m.sendTimeout)
		prev := r.state
		r.state = Operational // the answer carries State 0 ...
		m.sendProbe(id, r, now)
		r.state = prev
		m.setState(r, Operational, now) // ... and ends the exploration
		m.freeExploration(r)            // (one the peer's probe opened while we were Operational)
	case wire.ReapOperational: // §6.9
		r.sendDue = never
		if r.kaDue == never {
			r.kaDue = now + m.keepaliveInterval(r)
		}
		m.setState(r, Operational, now)
	}
	m.rearm(uint32(id), r)
}

// confirm looks for a report of one of our probes in the peer's received
// reports and, when one proves a pair other than the current one, switches.
func (m *Machine) confirm(id ID, r *record, e *exploration, received []wire.ProbeReport) {
	for _, rep := range received {
		src, dst := rep.Source.As16(), rep.Destination.As16()
		for i := range e.nSent {
			s := &e.sent[i]
			if s.nonce != rep.Nonce || s.src != src || s.dst != dst {
				continue
			}
			li, pi := m.find(r, src, dst)
			if li < 0 {
				return
			}
			e.good = int16(rank(li, pi, int(r.nLocal), int(r.nPeer)))
			if li != int(r.curLocal) || pi != int(r.curPeer) {
				r.curLocal, r.curPeer = uint8(li), uint8(pi)
				m.stats.switches.Add(1)
				m.out.OnSwitch(id, netip.AddrFrom16(src), netip.AddrFrom16(dst))
			}
			return
		}
	}
}

func (m *Machine) find(r *record, local, peer [16]byte) (int, int) {
	li, pi := -1, -1
	for i := range int(r.nLocal) {
		if m.locs[int(r.locOff)+i] == local {
			li = i
		}
	}
	for i := range int(r.nPeer) {
		if m.locs[int(r.locOff)+int(r.nLocal)+i] == peer {
			pi = i
		}
	}
	if li < 0 || pi < 0 {
		return -1, -1
	}
	return li, pi
}

// TryPair explores starting with the pair (local, peer), for an Operational
// context on another pair: failback to a preferred uplink that may have
// come back (RFC 5534 §4.3 leaves the order of pairs to the node). The
// first probe goes to that pair; if it is answered both ways the context
// switches to it, otherwise the exploration goes on through the other pairs
// as any does, and ends on one that works, possibly the one in use now. It
// reports whether an exploration started.
func (m *Machine) TryPair(id ID, local, peer netip.Addr) bool {
	r := m.rec(id)
	if r == nil || r.state != Operational {
		return false
	}
	k, ok := m.pairIndex(r, local, peer)
	if !ok || (m.local(r, int(r.curLocal)) == local && m.peer(r, int(r.curPeer)) == peer) || m.isDown(local.As16()) {
		return false
	}
	now := m.now()
	e := m.startExploration(r, now)
	e.nextPair = uint16(k)
	m.setState(r, Exploring, now)
	m.sendProbe(id, r, now)
	m.rearm(uint32(id), r)
	return true
}
