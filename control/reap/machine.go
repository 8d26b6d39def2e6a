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

// The Machine: its configuration, its ports to the caller (Clock, Traffic,
// Output), the per-context records, and adding, removing and querying
// contexts (RFC 5534 §3.5, §6, §7, §8).

// ID is a context's index: the slot of the context table, below the
// Machine's Capacity.
type ID uint32

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
	// ULPHold is how long nothing may have come back from the peer for a
	// Hint to start an exploration (DefaultULPHold when 0); the caller
	// adds the resolution of its receive stamps. ULPEvery is the least
	// time between two explorations hints start on one context: the Send
	// Timeout when 0 (see Hint).
	ULPHold, ULPEvery time.Duration
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
	flagHint // a Hint waits out the hold (hint.go)
)

// record is one context: pointer-free, 88 bytes.
type record struct {
	due          int64 // the wheel deadline: min of the others and the next check
	check        int64 // next look at the traffic stamps
	sendDue      int64 // Send timer deadline, never when stopped (§6)
	kaDue        int64 // Keepalive deadline, never when nothing is owed (§4.1)
	seenS, seenR int64 // newest traffic stamps already acted on
	hintAt       int64 // when a Hint last started an exploration, never if none
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
	hintHold     int64
	hintEvery    int64

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
		hintHold:     def(cfg.ULPHold, DefaultULPHold),
		hintEvery:    def(cfg.ULPEvery, time.Duration(def(cfg.SendTimeout, DefaultSendTimeout))),
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
		sendDue: never, kaDue: never, hintAt: never}
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
