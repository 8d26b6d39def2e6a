package shim6

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"shim6d/control/wire"
	"shim6d/dataplane"
)

// The test network: machines wired back to back through an in-memory
// queue, with a fake clock the test advances. Every message is encoded on
// Send and decoded on delivery, so the codec's checks apply end to end.

var ap = netip.MustParseAddr

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

// fakeVerifier accepts a locator list when the parameters are "pds:" and
// the ULID (standing in for an HBA set bound to that ULID) and no locator
// is on its refuse list.
type fakeVerifier struct {
	refuse map[netip.Addr]bool
	calls  int
}

func fakePDS(ulid netip.Addr) []byte { return []byte("pds:" + ulid.String()) }

var errFake = errors.New("fake verifier refuses")

func (f *fakeVerifier) VerifyLocators(ulid netip.Addr, params []byte, list *wire.LocatorList, sig []byte) error {
	f.calls++
	if string(params) != string(fakePDS(ulid)) {
		return fmt.Errorf("parameters %q are not %v's: %w", params, ulid, errFake)
	}
	if list == nil {
		return nil
	}
	for i, l := range list.Locators {
		if f.refuse[l.Addr] {
			return &LocatorError{Index: i, Err: errFake}
		}
	}
	return nil
}

// node is one proxy: a machine, its table and the hosts it acts for.
type node struct {
	name   string
	m      *Machine
	table  *dataplane.ContextTable
	hosts  map[netip.Addr]LocatorSet
	verify *fakeVerifier
	reap   []wire.Message
	data   map[uint32]time.Time // LastData feedback
}

// sent is one message on the wire.
type sent struct {
	from     *node
	src, dst netip.Addr
	b        []byte
	t        wire.Type
}

func (s sent) msg() wire.Message {
	m, err := wire.Decode(s.b)
	if err != nil {
		panic(err)
	}
	return m
}

type network struct {
	t      testing.TB
	clock  *fakeClock
	nodes  []*node
	owner  map[netip.Addr]*node
	queue  []sent
	log    []sent // every message sent, in order
	rng    *rand.Rand
	seq    uint64
	record bool

	// drop, when set, is asked about every message before delivery.
	drop func(s sent) bool
	// dup delivers every message twice; reorder picks a random one next.
	dup, reorder bool
	// delivered counts messages handed to a machine.
	delivered int
	// route, when set, replaces owner to find a destination's machine.
	route func(netip.Addr) *node
}

func newNetwork(t testing.TB) *network {
	return &network{
		t:      t,
		clock:  &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		owner:  map[netip.Addr]*node{},
		rng:    rand.New(rand.NewPCG(1, 2)),
		record: true,
	}
}

// seqReader is a deterministic random source per node.
type seqReader struct{ r *rand.ChaCha8 }

func (s seqReader) Read(b []byte) (int, error) { return s.r.Read(b) }

// addNode makes a proxy for hosts (ULID → set; an empty set is the ULID
// alone) with a table of capacity contexts.
func (n *network) addNode(name string, capacity int, hosts map[netip.Addr]LocatorSet, tweak func(*Config)) *node {
	nd := &node{name: name, hosts: hosts, verify: &fakeVerifier{refuse: map[netip.Addr]bool{}}, data: map[uint32]time.Time{}}
	n.nodes = append(n.nodes, nd)
	for u, s := range hosts {
		n.owner[u] = nd
		for _, l := range s.Locators {
			n.owner[l.Addr] = nd
		}
	}
	n.restart(nd, capacity, tweak)
	return nd
}

// restart gives a node a new machine and an empty table: a crash and
// reboot that lost every context.
func (n *network) restart(nd *node, capacity int, tweak func(*Config)) {
	tab, err := dataplane.NewContextTable(capacity)
	if err != nil {
		n.t.Fatal(err)
	}
	n.seq++
	var seed [32]byte
	seed[0], seed[1] = byte(n.seq), byte(len(n.nodes))
	cfg := Config{
		Table: tab,
		Send: func(src, dst netip.Addr, msg wire.Message) {
			b, err := wire.Marshal(msg)
			if err != nil {
				n.t.Fatalf("%s sends a bad %v: %v", nd.name, msg.Type(), err)
			}
			s := sent{from: nd, src: src, dst: dst, b: b, t: msg.Type()}
			if n.record {
				n.log = append(n.log, s)
			}
			n.queue = append(n.queue, s)
		},
		Now:      n.clock.Now,
		Verifier: nd.verify,
		LocalLocators: func(ulid netip.Addr) (LocatorSet, error) {
			s, ok := nd.hosts[ulid]
			if !ok {
				return LocatorSet{}, fmt.Errorf("%v is not ours", ulid)
			}
			return s, nil
		},
		LastData: func(slot uint32) time.Time { return nd.data[slot] },
		OnREAP: func(slot uint32, src, dst netip.Addr, msg wire.Message) {
			nd.reap = append(nd.reap, msg)
		},
		Rand: seqReader{rand.NewChaCha8(seed)},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	nd.m, nd.table = m, tab
}

// deliver hands one message to the machine that owns its destination.
func (n *network) deliver(s sent) {
	if n.drop != nil && n.drop(s) {
		return
	}
	var to *node
	if n.route != nil {
		to = n.route(s.dst)
	} else {
		to = n.owner[s.dst]
	}
	if to == nil {
		return // a spoofed source's answer goes nowhere
	}
	n.delivered++
	to.m.HandleMessage(s.src, s.dst, s.b)
}

// run delivers until the queue is empty.
func (n *network) run() {
	for steps := 0; len(n.queue) > 0; steps++ {
		if steps > 1_000_000 {
			n.t.Fatal("network does not settle")
		}
		var s sent
		if n.reorder {
			i, last := n.rng.IntN(len(n.queue)), len(n.queue)-1
			s = n.queue[i]
			n.queue[i] = n.queue[last]
			n.queue = n.queue[:last]
		} else {
			s = n.queue[0]
			n.queue = n.queue[1:]
		}
		n.deliver(s)
		if n.dup {
			n.deliver(s)
		}
	}
}

// advance moves the clock by d in steps of one timer tick, running every
// machine's timers and the network after each step.
func (n *network) advance(d time.Duration) {
	const step = 100 * time.Millisecond
	for end := n.clock.t.Add(d); n.clock.t.Before(end); {
		n.clock.t = n.clock.t.Add(step)
		for _, nd := range n.nodes {
			nd.m.Tick()
		}
		n.run()
	}
}

// count returns how many messages of type t from nd are in the log.
func (n *network) count(nd *node, t wire.Type) int {
	k := 0
	for _, s := range n.log {
		if s.t == t && (nd == nil || s.from == nd) {
			k++
		}
	}
	return k
}

// last returns the last logged message of type t from nd.
func (n *network) last(nd *node, t wire.Type) (sent, bool) {
	for i := len(n.log) - 1; i >= 0; i-- {
		if s := n.log[i]; s.t == t && (nd == nil || s.from == nd) {
			return s, true
		}
	}
	return sent{}, false
}

// types lists the logged message types.
func (n *network) types() []wire.Type {
	var ts []wire.Type
	for _, s := range n.log {
		ts = append(ts, s.t)
	}
	return ts
}

// dropFirst drops the first k messages of type t.
func dropFirst(t wire.Type, k int) func(sent) bool {
	return func(s sent) bool {
		if s.t == t && k > 0 {
			k--
			return true
		}
		return false
	}
}

// Two multihomed sites: host A behind proxy A with a locator under each
// of two ISPs, host B likewise.
var (
	ulidA  = ap("2001:db8:a1::10")
	locA2  = ap("2001:db8:a2::10")
	ulidA3 = ap("2001:db8:a1::30")
	ulidB  = ap("2001:db8:b1::20")
	locB2  = ap("2001:db8:b2::20")
)

func multihomed(ulid netip.Addr, others ...netip.Addr) LocatorSet {
	s := LocatorSet{Locators: []wire.Locator{{Addr: ulid, Method: wire.VerifyHBA}}, Parameters: fakePDS(ulid)}
	for _, o := range others {
		s.Locators = append(s.Locators, wire.Locator{Addr: o, Method: wire.VerifyHBA})
	}
	return s
}

// pairNet is the usual two-proxy network.
func pairNet(t testing.TB) (*network, *node, *node) {
	n := newNetwork(t)
	a := n.addNode("A", 64, map[netip.Addr]LocatorSet{ulidA: multihomed(ulidA, locA2), ulidA3: multihomed(ulidA3)}, nil)
	b := n.addNode("B", 64, map[netip.Addr]LocatorSet{ulidB: multihomed(ulidB, locB2)}, nil)
	return n, a, b
}

// ctxOf returns nd's context for the pair or fails.
func ctxOf(t testing.TB, nd *node, local, peer netip.Addr) ContextInfo {
	t.Helper()
	ci, ok := nd.m.Context(local, peer)
	if !ok {
		t.Fatalf("%s has no context %v–%v", nd.name, local, peer)
	}
	return ci
}

// established checks that both ends hold the pair's context in
// ESTABLISHED, each with the other's tag, published in the table with
// locators equal to the ULIDs.
func established(t testing.TB, a, b *node, ua, ub netip.Addr) (ContextInfo, ContextInfo) {
	t.Helper()
	ca, cb := ctxOf(t, a, ua, ub), ctxOf(t, b, ub, ua)
	if ca.State != Established || cb.State != Established {
		t.Fatalf("states %v (%s), %v (%s), want ESTABLISHED", ca.State, a.name, cb.State, b.name)
	}
	if ca.PeerTag != cb.LocalTag || cb.PeerTag != ca.LocalTag || ca.LocalTag == 0 || cb.LocalTag == 0 {
		t.Fatalf("tags: %s local %#x peer %#x, %s local %#x peer %#x", a.name, ca.LocalTag, ca.PeerTag, b.name, cb.LocalTag, cb.PeerTag)
	}
	for _, x := range []struct {
		nd *node
		ci ContextInfo
	}{{a, ca}, {b, cb}} {
		var tc dataplane.Context
		if !x.nd.table.LookupTag(x.ci.LocalTag, &tc) || tc.PeerTag != x.ci.PeerTag {
			t.Fatalf("%s: table does not hold the context by its tag with peer tag %#x: %+v", x.nd.name, x.ci.PeerTag, tc)
		}
		if tc.LocLocal != tc.ULIDLocal || tc.LocPeer != tc.ULIDPeer || tc.Flags&dataplane.CtxRewrite != 0 {
			t.Fatalf("%s: context published with rewriting before any locator pair was verified reachable: %+v", x.nd.name, tc)
		}
	}
	return ca, cb
}

// checkInvariants cross-checks a machine's bookkeeping: state counts,
// table, side maps, lists.
func checkInvariants(t testing.TB, nd *node) {
	t.Helper()
	m := nd.m
	counts := [numStates]int64{}
	n := 0
	for p, pg := range m.pages {
		if pg == nil {
			continue
		}
		for i := range pg {
			c := &pg[i]
			if c.state == Idle {
				continue
			}
			slot := uint32(p)<<pageBits | uint32(i)
			counts[c.state]++
			n++
			var tc dataplane.Context
			if !nd.table.Get(slot, &tc) {
				t.Fatalf("%s: slot %d in %v has no table record", nd.name, slot, c.state)
			}
			_, hasHS := m.hs[slot]
			if hasHS != c.state.pending() {
				t.Fatalf("%s: slot %d in %v: handshake kept %v", nd.name, slot, c.state, hasHS)
			}
			if c.state.pending() && m.byNonce[c.initNonce] != slot {
				t.Fatalf("%s: slot %d in %v not findable by nonce", nd.name, slot, c.state)
			}
			if tc.PeerTag != 0 {
				found := false
				for s := m.peerTags[tc.PeerTag]; s != none; s = m.ctxAt(s).tagNext {
					found = found || s == slot
				}
				if !found {
					t.Fatalf("%s: slot %d not on the list of its peer tag", nd.name, slot)
				}
			}
			if !m.armed(slot, timerState) && c.state != Established {
				t.Fatalf("%s: slot %d in %v has no state timer", nd.name, slot, c.state)
			}
			if m.armed(slot, timerIdle) != (c.state == Established) {
				t.Fatalf("%s: slot %d in %v: idle timer armed %v", nd.name, slot, c.state, m.armed(slot, timerIdle))
			}
		}
	}
	for s := range numStates {
		if s != Idle && counts[s] != m.Stats.Contexts(s) {
			t.Fatalf("%s: %d contexts in %v, Stats says %d", nd.name, counts[s], s, m.Stats.Contexts(s))
		}
	}
	if n != nd.table.Len() || n != m.Len() {
		t.Fatalf("%s: %d records, table has %d, Len says %d", nd.name, n, nd.table.Len(), m.Len())
	}
	if len(m.hs) > n || len(m.byNonce) != len(m.hs) || len(m.peers) > n {
		t.Fatalf("%s: side maps: %d handshakes, %d nonces, %d peer sets for %d contexts", nd.name, len(m.hs), len(m.byNonce), len(m.peers), n)
	}
	hostCtx := 0
	for _, h := range m.hosts {
		if h != nil {
			hostCtx += h.n
		}
	}
	if hostCtx != n {
		t.Fatalf("%s: hosts count %d contexts, there are %d", nd.name, hostCtx, n)
	}
}
