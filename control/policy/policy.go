// Package policy is the site policy of the proxy: which locator pair each
// Shim6 context should use, and when to move it there. It is pure logic:
// no goroutines, no ports, no machine of its own to drive; time comes in
// as arguments, randomness through Config.Rand, and the two things it
// needs of the node (a context's state, a probe on a pair) through Node.
//
// # The policy
//
// Site policy is the traffic engineering operators lose with host-based
// multihoming, given back centrally. Each uplink has a priority and a
// weight (DNS SRV semantics: lower priority preferred, weight a share
// within a priority); they become the Locator Preferences announced for
// the hosts' locators under the uplink's prefix (RFC 5533 §5.15.3), with
// BROKEN set while the uplink is down or drained. Neither RFC 5533 nor
// RFC 5534 says which pair a node uses while several work: RFC 5534 §4.3
// leaves the order of pairs to local preference, and the preferences the
// peer announces are a hint. This package makes the choice, the same way
// at both ends of a context when both run it. A context's preferred pair
// follows from both ends' preferences:
//
//   - on each side, the candidates are the locators not known broken (ours:
//     uplink up and not drained; the peer's: not flagged BROKEN) of the best
//     priority among them;
//   - without spreading, the side's ULID is kept when it is a candidate;
//   - otherwise one candidate is drawn by weighted rendezvous hashing over
//     the ULID pair: stable while nothing changes, moving only the
//     contexts it must when something does, proportional to the weights
//     over many contexts, and computed alike at both ends (the key does
//     not depend on which end computes it), so two shim6d sites settle on
//     the same pair instead of probing each other's choice.
//
// The peer's side uses its announced preferences; a peer that announced
// none is reached at its ULID.
//
// # Moving contexts
//
// A context never moves on the policy's word alone: the node asks REAP to
// explore with the preferred pair first (Node.TryPair), and traffic moves
// only once that pair is proven both ways. Two kinds of move exist:
//
//   - at once, queued (Track with urgent, or a change by the operator):
//     the context's pair is broken by what is known locally, or the
//     operator changed an uplink's policy. Moves starts at most MoveBudget
//     of them every 100 ms, so a change that concerns a million contexts
//     is spread over seconds instead of one burst of probes; one REAP
//     cannot start yet (its context exploring) is tried again a second
//     later.
//   - failback (Config.Return): a context REAP moved off its preferred
//     pair tries it again once it has been off it for the hold time, and
//     every hold time (give or take a tenth) after that while it stays
//     off, and only once the preferred local uplink has been up for the
//     hold time. The end of the context with the higher ULID waits twice
//     the hold time, so two shim6d sites do not cross their explorations.
//
// A drained uplink's locators stay in the sets, flagged BROKEN, while its
// contexts move; Withdraw takes them out once no move is pending (after
// DrainGrace at least, DrainLimit at most).
package policy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"shim6d/control/wire"
)

// BackupPriority is what a backup uplink announces (RFC 5533 §5.15.3
// Priority): the last rank, used only when nothing else works.
const BackupPriority = 255

// MoveBudget caps how many moves Moves starts per round, and how many
// contexts Failback tries per round: each is a probe exchange.
const MoveBudget = 1000

// moveEvery is how often Moves starts up to MoveBudget moves, and
// moveRetryAfter how long a move REAP could not start waits to be tried
// again (its context exploring at the time, say).
const (
	moveEvery      = 100 * time.Millisecond
	moveRetryAfter = time.Second
)

// failbackEvery is how often Failback looks for contexts due to return.
const failbackEvery = time.Second

// DrainGrace is the least time a drained uplink's locators stay in the
// sets, flagged BROKEN, and DrainLimit the most: in between, they leave
// once no move is pending (queued or waiting to retry), which is when the
// contexts on them have moved (or could not).
const (
	DrainGrace = 10 * time.Second
	DrainLimit = 5 * time.Minute
)

// Uplink is an uplink as configured: its ISP's prefix (the local locators
// it carries) and its Locator Preferences (RFC 5533 §5.15.3). A Backup
// uplink announces BackupPriority instead of Priority.
type Uplink struct {
	Prefix           netip.Prefix
	Priority, Weight uint8
	Backup           bool
}

// State is an uplink's policy and condition at run time.
type State struct {
	Priority  uint8     // as announced (BackupPriority while Backup)
	Weight    uint8     // as announced
	Backup    bool      // announces BackupPriority
	Down      bool      // link down or next hop unusable (LinkDown)
	UpSince   time.Time // when it last came up (zero: up from the start)
	Drained   bool      // by the operator: contexts move off, then its locators leave the sets
	DrainedAt time.Time // when Drained was last changed
	Withdrawn bool      // drained, and its locators have left the sets (see Withdraw)
}

// Change is what an operator may change of an uplink at run time; nil
// fields stay as they are.
type Change struct {
	Priority *uint8
	Weight   *uint8
	Backup   *bool
	Drained  *bool
}

// Context is what the policy needs to know of an established context. A
// side whose locator set is empty has its ULID alone; PeerPreferences
// count only when they match PeerLocators one for one.
type Context struct {
	Slot                      uint32
	LocalULID, PeerULID       netip.Addr
	LocalLocator, PeerLocator netip.Addr // the pair in use
	LocalLocators             []netip.Addr
	PeerLocators              []netip.Addr
	PeerPreferences           []wire.Preference
}

// Node is what the policy asks of the node it decides for.
type Node interface {
	// Context returns the established context in slot; false when there
	// is none (it closed since it was queued, say).
	Context(slot uint32) (Context, bool)
	// TryPair starts an exploration of slot's context whose first probe
	// is (local, peer), as reap.Machine.TryPair; false when none started
	// (the context exploring already, say).
	TryPair(slot uint32, local, peer netip.Addr) bool
}

// Config sets up a Machine.
type Config struct {
	// Uplinks are the site's uplinks, indexed as the caller likes (the
	// control core uses port numbers); an entry without a valid Prefix is
	// no uplink.
	Uplinks []Uplink
	// Spread spreads contexts over the best-ranked locators by weight;
	// off, a context stays on its ULIDs while they rank best.
	Spread bool
	// Return is the failback mode: a context off its preferred pair tries
	// it again after Hold; false, it stays on the pair REAP moved it to.
	Return bool
	Hold   time.Duration
	// Node gives the contexts and starts the moves.
	Node Node
	// Rand draws the failback jitter; nil, math/rand/v2's generator,
	// seeded at random. Tests seed their own.
	Rand func() uint64
}

// Machine is the site policy: the uplinks' state, and the contexts off
// their preferred pair or waiting to move. One goroutine only.
type Machine struct {
	cfg Config
	up  []uplink
	rnd *rand.Rand

	// off holds the contexts off their preferred pair, waiting for
	// failback; queue (read from head) those asked to move at once,
	// queued marking the slots in it so a context is queued once; retry
	// the moves REAP could not start yet, with when to try again.
	off           map[uint32]offPair
	queue         []uint32
	head          int
	queued        map[uint32]struct{}
	retry         map[uint32]time.Time
	nextMove      time.Time
	nextRetryScan time.Time
	nextFailback  time.Time
}

type uplink struct {
	prefix     netip.Prefix
	configured uint8 // Priority as configured: what clearing Backup restores
	State
}

// offPair is a context off its preferred pair: since when (or since its
// last try to return), and whether this end leads its failback.
type offPair struct {
	since time.Time
	lead  bool
}

// New makes a Machine with every uplink up, none drained.
func New(cfg Config) *Machine {
	m := &Machine{cfg: cfg, up: make([]uplink, len(cfg.Uplinks))}
	for i, u := range cfg.Uplinks {
		if !u.Prefix.IsValid() {
			continue
		}
		m.up[i] = uplink{prefix: u.Prefix, configured: u.Priority,
			State: State{Priority: u.Priority, Weight: u.Weight, Backup: u.Backup}}
		if u.Backup {
			m.up[i].Priority = BackupPriority
		}
	}
	src := cfg.Rand
	if src == nil {
		src = rand.Uint64 // seeded at random by the runtime
	}
	m.rnd = rand.New(funcSource(src))
	return m
}

type funcSource func() uint64

func (f funcSource) Uint64() uint64 { return f() }

// UplinkOf returns the index of the uplink whose prefix holds local
// locator a, or -1.
func (m *Machine) UplinkOf(a netip.Addr) int {
	for i := range m.up {
		if m.up[i].prefix.IsValid() && m.up[i].prefix.Contains(a) {
			return i
		}
	}
	return -1
}

// Uplink returns uplink i's state.
func (m *Machine) Uplink(i int) State { return m.up[i].State }

// Usable reports whether local locator a can carry traffic now: its
// uplink is neither down nor drained.
func (m *Machine) Usable(a netip.Addr) bool {
	i := m.UplinkOf(a)
	return i >= 0 && !m.up[i].Down && !m.up[i].Drained
}

// LinkDown notes that uplink i can no longer carry traffic (its link, or
// its next hop).
func (m *Machine) LinkDown(i int) { m.up[i].Down = true }

// LinkUp notes that uplink i carries traffic again since now: failback to
// it waits until it has stayed up for the hold time.
func (m *Machine) LinkUp(i int, now time.Time) { m.up[i].Down, m.up[i].UpSince = false, now }

// Set applies an operator's change to uplink i at now. It refuses a
// priority that only backup uplinks announce, a priority for a backup
// uplink, and a change that would leave no uplink that is neither drained
// nor backup; changed is false when nothing changed (or on error).
func (m *Machine) Set(i int, ch Change, now time.Time) (changed bool, err error) {
	u := m.up[i].State
	if ch.Backup != nil {
		u.Backup = *ch.Backup
		switch {
		case u.Backup:
			u.Priority = BackupPriority
		case u.Priority == BackupPriority:
			u.Priority = m.up[i].configured
		}
	}
	if ch.Priority != nil {
		if *ch.Priority == BackupPriority {
			return false, fmt.Errorf("priority %d is for backup uplinks; set backup instead", BackupPriority)
		}
		if u.Backup {
			return false, errors.New("a backup uplink announces priority 255; clear backup first")
		}
		u.Priority = *ch.Priority
	}
	if ch.Weight != nil {
		u.Weight = *ch.Weight
	}
	if ch.Drained != nil && *ch.Drained != u.Drained {
		u.Drained, u.DrainedAt, u.Withdrawn = *ch.Drained, now, false
	}
	if u.Drained || u.Backup {
		primary := false
		for k := range m.up {
			o := m.up[k].State
			if k == i {
				o = u
			}
			primary = primary || m.up[k].prefix.IsValid() && !o.Drained && !o.Backup
		}
		if !primary {
			return false, errors.New("that would leave no uplink that is neither drained nor backup")
		}
	}
	if u == m.up[i].State {
		return false, nil
	}
	m.up[i].State = u
	return true, nil
}

// Withdraw takes the locators of drained uplinks out of the sets once
// their contexts have had time to move (see Announce), and returns the
// uplinks it withdrew: the caller re-announces the sets.
func (m *Machine) Withdraw(now time.Time) (withdrawn []int) {
	moving := m.movesPending()
	for i := range m.up {
		u := &m.up[i]
		if !u.Drained || u.Withdrawn {
			continue
		}
		if since := now.Sub(u.DrainedAt); since >= DrainLimit || since >= DrainGrace && !moving {
			u.Withdrawn = true
			withdrawn = append(withdrawn, i)
		}
	}
	return withdrawn
}

// Announce applies the policy to a host's locator set (ulid's, of more
// than one locator): the locators of withdrawn uplinks (or of none) leave
// it, and each remaining one gets its uplink's Locator Preference (RFC
// 5533 §5.15.3), BROKEN while the uplink is down or draining. A draining
// uplink's locators stay in the set until it is withdrawn: a peer still
// probing or sending on one must not take it for a stale locator (R1bis,
// then recovery) while its contexts move. With every uplink withdrawn,
// the set is the ULID alone, BROKEN, rather than an empty set the peer
// would refuse.
func (m *Machine) Announce(ulid netip.Addr, locs []wire.Locator) ([]wire.Locator, []wire.Preference) {
	kept := locs[:0:0]
	var prefs []wire.Preference
	for _, l := range locs {
		i := m.UplinkOf(l.Addr)
		if i < 0 || m.up[i].Withdrawn {
			continue
		}
		u := &m.up[i]
		p := wire.Preference{Priority: u.Priority, Weight: u.Weight}
		if u.Down || u.Drained {
			p.Flags |= wire.PreferenceBroken
		}
		kept = append(kept, l)
		prefs = append(prefs, p)
	}
	if len(kept) == 0 {
		return []wire.Locator{{Addr: ulid, Method: wire.VerifyHBA}},
			[]wire.Preference{{Flags: wire.PreferenceBroken, Priority: BackupPriority}}
	}
	return kept, prefs
}

// LocalRank is local locator a's rank among REAP's candidates (RFC 5534
// §4.3 local preference): its uplink's priority, last while the uplink is
// down or drained, 0 when a is under no uplink.
func (m *Machine) LocalRank(a netip.Addr) uint8 {
	i := m.UplinkOf(a)
	if i < 0 {
		return 0
	}
	if m.up[i].Down || m.up[i].Drained {
		return 255
	}
	return m.up[i].Priority
}

// PeerRank is a peer locator's rank among REAP's candidates, from the
// preference the peer announced for it: its priority, last when BROKEN.
func PeerRank(p wire.Preference) uint8 {
	if p.Flags&wire.PreferenceBroken != 0 {
		return 255
	}
	return p.Priority
}

// stable reports whether the uplink of local locator a has been up for
// the hold time (or since the start), so a failback may go to it: a
// flapping uplink must not pull contexts back and forth.
func (m *Machine) stable(a netip.Addr, now time.Time) bool {
	u := m.UplinkOf(a)
	return u < 0 || now.Sub(m.up[u].UpSince) >= m.cfg.Hold
}
