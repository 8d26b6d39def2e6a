// Package control is the control core: one goroutine that drains the control
// ring, runs Neighbor Discovery for the middlebox's own addresses and next
// hops, answers pings, sends rate-limited ICMPv6 errors, and publishes the
// forwarding snapshot the workers read.
//
// The core is single-threaded by design, so its state needs no locks; other
// goroutines (the admin API) reach it through Query, which runs a function
// on the core's goroutine between rounds.
package control

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"shim6d/control/policy"
	"shim6d/control/ratelimit"
	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/dataplane"
	"shim6d/ports"
)

// PortSetup is the control core's view of one configured port.
type PortSetup struct {
	Name      string
	Role      dataplane.Role
	Addresses []netip.Addr
	// Prefix is an uplink's ISP prefix.
	Prefix netip.Prefix
	// Prefixes are the site prefixes an inside port serves.
	Prefixes []netip.Prefix
	// NextHop is an uplink's router; NextHopMAC, when set, pins its MAC.
	NextHop    netip.Addr
	NextHopMAC *[6]byte
	MTU        int
	// Priority and Weight are an uplink's Locator Preferences (RFC 5533
	// §5.15.3); Backup announces priority 255 instead of Priority.
	Priority, Weight uint8
	Backup           bool
	// Carrier, when set, is asked besides the device's link status: for
	// devices whose link status says nothing (af_packet reports up
	// whatever its interface does), the kernel interface's carrier.
	Carrier func() bool
}

// StaticNeighbor is a neighbour entry from config that ND never changes.
type StaticNeighbor struct {
	Port    int
	Address netip.Addr
	MAC     [6]byte
}

// Config sets up the control core.
type Config struct {
	Ports   []ports.Port
	Setup   []PortSetup
	Static  []StaticNeighbor
	TxQueue uint16 // the core's own tx queue on every port
	// TxHandoff, indexed by port, replaces TxQueue on ports whose device
	// has no spare tx queue: worker 0 sends for the core there.
	TxHandoff []*dataplane.Handoff
	Ring      ports.Ring
	Fwd       *atomic.Pointer[dataplane.Forwarding]
	ICMPRate  int           // ICMPv6 errors per second
	Reachable time.Duration // how long a confirmed neighbour stays REACHABLE
	Now       func() time.Time
	Log       *slog.Logger
	// Contexts is the fast path's context table; nil when the shim is off.
	Contexts *dataplane.ContextTable
	// Tick is the coarse clock the workers stamp REAP feedback with; the
	// core advances it every TickPeriod.
	Tick *atomic.Uint32
	// Events are the workers' establish and unknown-tag notices.
	Events *dataplane.EventRing
	// EstablishPeers and EstablishRate are the deferred-establishment
	// policy (the seed draft's §6): which peers a worker's establish event
	// may start a handshake with (empty: any), and how many a second.
	EstablishPeers []netip.Prefix
	EstablishRate  int
	// Failback is FailbackStay or FailbackReturn (the default: "" is
	// stay), FailbackHold how long a context stays off its preferred pair
	// before it tries it again.
	Failback     string
	FailbackHold time.Duration
	// Spread spreads contexts over the best-ranked uplinks by weight (see
	// PreferredPair); off, a context stays on its ULIDs while they rank
	// best.
	Spread bool
	// HostLocators returns a proxied host's own locator set, before the
	// site policy (drained uplinks, preferences) is applied to it; nil:
	// every host has its ULID alone. See LocalLocators.
	HostLocators func(ulid netip.Addr) (shim6.LocatorSet, error)
}

// TickPeriod is the resolution of the workers' REAP feedback: fine enough
// for a 1 s Send Timeout, coarse enough that a busy context's tick changes
// (and is stored) rarely.
const TickPeriod = 100 * time.Millisecond

// Stats are the control core's counters. The core is their only writer.
type Stats struct {
	ControlPackets atomic.Uint64 // dequeued from the control ring
	NSReceived     atomic.Uint64
	NASent         atomic.Uint64
	NSSent         atomic.Uint64
	NAReceived     atomic.Uint64
	NDProxied      atomic.Uint64 // NS on an uplink for a site address, answered as the site's edge
	EchoReplies    atomic.Uint64
	TimeExceeded   atomic.Uint64
	PacketTooBig   atomic.Uint64
	// AddressUnreachable counts ICMPv6 Destination Unreachable (Address
	// Unreachable) errors for packets whose neighbour never answered.
	AddressUnreachable atomic.Uint64
	ICMPRateLimited    atomic.Uint64
	Unhandled          atomic.Uint64 // control packets the core had no use for
	Malformed          atomic.Uint64 // ND/ICMPv6 that failed validation
	NDQueueDrops       atomic.Uint64 // packets dropped waiting for resolution
	NDTableFull        atomic.Uint64 // resolutions refused: too many incomplete entries
	TxDrops            atomic.Uint64
	AllocFailures      atomic.Uint64
	Publishes          atomic.Uint64
	EstablishEvents    atomic.Uint64 // deferred-establishment triggers from the workers
	UnknownTagEvent    atomic.Uint64 // payload packets with unknown tags (R1bis candidates)
	ICMPTranslated     atomic.Uint64 // ICMPv6 errors whose quoted packet was mapped back to ULIDs
	SignalReceived     atomic.Uint64 // Shim6 control messages from the uplinks
	SignalSent         atomic.Uint64 // Shim6 control messages sent
	SignalDrops        atomic.Uint64 // control messages not sent: no uplink for the source, unresolved next hop, encoding
	EstablishSkip      atomic.Uint64 // establish events refused by the policy (peer not listed, rate)
	Switches           atomic.Uint64 // contexts moved to another locator pair by REAP
	UplinkDowns        atomic.Uint64 // uplinks found unusable (link or next hop down): explorations started
	FailbackTries      atomic.Uint64 // explorations started to return to a preferred pair
	PolicyMoves        atomic.Uint64 // explorations started by the site policy (spreading, a change, a broken pair)
	InitialSwitches    atomic.Uint64 // contexts established over a pair other than their ULIDs (seed §8.4)
	// NeighborEntries is the neighbour table's size (a gauge).
	NeighborEntries atomic.Int64
}

// Core is the control core.
type Core struct {
	cfg   Config
	Stats Stats

	nd       ndTable
	icmp     ratelimit.Bucket
	echo     ratelimit.Bucket
	estab    ratelimit.Bucket
	dirty    bool // the forwarding snapshot is out of date
	queries  chan func()
	stop     atomic.Bool
	linkLocs []netip.Addr // per port, derived from its MAC

	start    time.Time
	ev       dataplane.Event
	ctx      dataplane.Context
	peers    map[peerKey]uint32 // see translateError
	peerKeys map[uint32]peerKey // each slot's key in peers
	sig      *shim6.Machine     // see AttachSignalling
	reap     *reap.Machine      // see AttachREAP
	// nextLinkCheck and linkDown belong to checkLinks: the locators a
	// down uplink took out, per port (nil while the link is up).
	nextLinkCheck time.Time
	linkDown      [][]netip.Addr
	// policy is the site policy: the uplinks' state, and the contexts
	// off their preferred pair or waiting to move (see policy.go).
	policy *policy.Machine
	wasUp  uint64 // bit per port: usable at least once (checkLinks)
	// feedback are the workers' REAP arrays (see LastData).
	feedback []*dataplane.Feedback

	rx  [ports.MaxBurst]ports.Packet
	tx  [dataplane.MaxPorts]txBuf
	one [1]ports.Packet
}

type txBuf struct {
	n    int
	pkts [ports.MaxBurst]ports.Packet
}

// New makes a control core and publishes the first forwarding snapshot, so
// workers can start right after it.
func New(cfg Config) *Core {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ICMPRate <= 0 {
		cfg.ICMPRate = 100
	}
	if cfg.Reachable <= 0 {
		cfg.Reachable = 30 * time.Second
	}
	c := &Core{cfg: cfg, queries: make(chan func(), 16)}
	now := cfg.Now()
	c.start = now
	c.icmp = ratelimit.New(cfg.ICMPRate, now)
	c.echo = ratelimit.New(cfg.ICMPRate, now)
	if cfg.EstablishRate <= 0 {
		cfg.EstablishRate = 1000
		c.cfg.EstablishRate = 1000
	}
	c.estab = ratelimit.New(cfg.EstablishRate, now)
	c.nd.init(len(cfg.Ports))
	c.initPolicy()
	for i, p := range cfg.Ports {
		c.linkLocs = append(c.linkLocs, linkLocalFromMAC(p.MAC()))
		s := cfg.Setup[i]
		if s.Role == dataplane.RoleUplink && s.NextHop.IsValid() {
			if s.NextHopMAC != nil {
				c.nd.setStatic(i, s.NextHop, *s.NextHopMAC)
			} else {
				c.nd.want(i, s.NextHop, now, true)
			}
		}
	}
	for _, s := range cfg.Static {
		c.nd.setStatic(s.Port, s.Address, s.MAC)
	}
	c.publish()
	return c
}

// Stop asks Run to return.
func (c *Core) Stop() { c.stop.Store(true) }

// Query runs f on the core's goroutine and waits for it; f may read any of
// the core's state. It is how the admin API looks inside without locks.
func (c *Core) Query(f func()) {
	done := make(chan struct{})
	c.queries <- func() { f(); close(done) }
	<-done
}

// Run loops until Stop. The control core has no line-rate duty, so it sleeps
// up to a millisecond when idle instead of spinning.
func (c *Core) Run() {
	sleep := 10 * time.Microsecond
	for !c.stop.Load() {
		if c.Poll() > 0 {
			sleep = 10 * time.Microsecond
			continue
		}
		select {
		case f := <-c.queries:
			f()
		case <-time.After(sleep):
		}
		sleep = min(sleep*2, time.Millisecond)
	}
}

// Poll runs one round: drain a burst from the ring, handle it, run timers,
// flush transmissions, publish the snapshot if it changed. It returns the
// number of control packets handled. Tests drive it directly.
func (c *Core) Poll() int {
	now := c.cfg.Now()
	n := c.cfg.Ring.ScDequeueBurst(c.rx[:])
	c.Stats.ControlPackets.Add(uint64(n))
	for i := 0; i < n; i++ {
		if !c.handle(&c.rx[i], now) {
			c.free(&c.rx[i])
		}
	}
	c.nd.timers(c, now)
	c.shimRound(now)
	c.flush()
	c.Stats.NeighborEntries.Store(int64(c.nd.Len()))
	if c.dirty {
		c.publish()
	}
	select {
	case f := <-c.queries:
		f()
	default:
	}
	return n
}

// send queues a packet the core built or took over for transmission on port.
func (c *Core) send(port int, p ports.Packet) {
	b := &c.tx[port]
	if b.n == len(b.pkts) {
		c.flushPort(port)
	}
	b.pkts[b.n] = p
	b.n++
}

func (c *Core) flush() {
	for i := range c.cfg.Ports {
		c.flushPort(i)
	}
}

func (c *Core) flushPort(i int) {
	b := &c.tx[i]
	if b.n == 0 {
		return
	}
	var sent int
	if i < len(c.cfg.TxHandoff) && c.cfg.TxHandoff[i] != nil {
		sent = c.cfg.TxHandoff[i].Enqueue(b.pkts[:b.n])
	} else {
		sent = c.cfg.Ports[i].TxBurst(c.cfg.TxQueue, b.pkts[:b.n])
	}
	if sent < b.n {
		c.Stats.TxDrops.Add(uint64(b.n - sent))
		c.cfg.Ports[i].Free(b.pkts[sent:b.n])
	}
	b.n = 0
}

func (c *Core) free(p *ports.Packet) {
	c.one[0] = *p
	c.cfg.Ports[0].Free(c.one[:])
}

// alloc returns an empty buffer for a packet the core builds.
func (c *Core) alloc(port int) (ports.Packet, bool) {
	if c.cfg.Ports[port].Alloc(c.one[:]) == 0 {
		c.Stats.AllocFailures.Add(1)
		return ports.Packet{}, false
	}
	return c.one[0], true
}

// publish builds a new forwarding snapshot from config and the neighbour
// table and swaps it in.
func (c *Core) publish() {
	f := &dataplane.Forwarding{Neighbors: map[[16]byte][6]byte{}}
	for i, p := range c.cfg.Ports {
		s := c.cfg.Setup[i]
		mtu := s.MTU
		if mtu == 0 || mtu > p.MTU() && p.MTU() > 0 {
			mtu = p.MTU()
		}
		f.Ports = append(f.Ports, dataplane.PortInfo{Role: s.Role, MAC: p.MAC(), MTU: mtu})
		for _, a := range s.Addresses {
			f.AddLocal(a)
		}
		f.AddLocal(c.linkLocs[i])
		switch s.Role {
		case dataplane.RoleInside:
			f.Inside = uint16(i)
			for _, pr := range s.Prefixes {
				f.Site = append(f.Site, dataplane.MakePrefix(pr))
			}
			for a, e := range c.nd.ports[i] {
				if e.usable() {
					f.Neighbors[a.As16()] = e.mac
				}
			}
		case dataplane.RoleUplink:
			u := dataplane.Uplink{Prefix: dataplane.MakePrefix(s.Prefix), Port: uint16(i)}
			if e := c.nd.ports[i][s.NextHop]; e != nil && e.usable() {
				u.NextHopMAC, u.Resolved = e.mac, true
			}
			f.Uplinks = append(f.Uplinks, u)
		}
	}
	c.cfg.Fwd.Store(f)
	c.dirty = false
	c.Stats.Publishes.Add(1)
}

// Each calls f with every counter's metric name, help and value, so the
// exporters (Prometheus, admin API) list them without knowing the fields.
func (s *Stats) Each(f func(name, help string, v uint64)) {
	f("control_packets", "packets dequeued from the control ring", s.ControlPackets.Load())
	f("ns_received", "Neighbor Solicitations received", s.NSReceived.Load())
	f("na_sent", "Neighbor Advertisements sent", s.NASent.Load())
	f("ns_sent", "Neighbor Solicitations sent", s.NSSent.Load())
	f("na_received", "Neighbor Advertisements received", s.NAReceived.Load())
	f("echo_replies", "ICMPv6 echo replies sent", s.EchoReplies.Load())
	f("time_exceeded", "ICMPv6 Time Exceeded errors sent", s.TimeExceeded.Load())
	f("packet_too_big", "ICMPv6 Packet Too Big errors sent", s.PacketTooBig.Load())
	f("address_unreachable", "ICMPv6 Destination Unreachable (address unreachable) errors sent for packets whose neighbor resolution failed", s.AddressUnreachable.Load())
	f("icmp_rate_limited", "ICMPv6 messages suppressed by the rate limit", s.ICMPRateLimited.Load())
	f("unhandled", "control packets the core had no use for", s.Unhandled.Load())
	f("malformed", "ND or ICMPv6 messages that failed validation", s.Malformed.Load())
	f("nd_proxied", "Neighbor Solicitations on an uplink for a site address, answered as the site's edge", s.NDProxied.Load())
	f("nd_queue_drops", "packets dropped while waiting for neighbor resolution", s.NDQueueDrops.Load())
	f("nd_table_full", "resolutions refused because the neighbor table was full", s.NDTableFull.Load())
	f("tx_drops", "packets the control core's tx queues did not take", s.TxDrops.Load())
	f("alloc_failures", "packet buffer allocation failures", s.AllocFailures.Load())
	f("publishes", "forwarding snapshots published", s.Publishes.Load())
	f("establish_events", "deferred-establishment triggers from the workers", s.EstablishEvents.Load())
	f("unknown_tag_events", "payload packets with unknown context tags reported by the workers", s.UnknownTagEvent.Load())
	f("icmp_translated", "ICMPv6 errors quoting a rewritten packet, mapped back to ULIDs", s.ICMPTranslated.Load())
	f("signal_received", "Shim6 control messages received on the uplinks", s.SignalReceived.Load())
	f("signal_sent", "Shim6 control messages sent", s.SignalSent.Load())
	f("signal_drops", "Shim6 control messages that could not be sent", s.SignalDrops.Load())
	f("establish_skipped", "establish events the policy refused (peer not listed, rate cap)", s.EstablishSkip.Load())
	f("failovers", "contexts moved to another locator pair by REAP (RFC 5534)", s.Switches.Load())
	f("uplink_downs", "uplinks found unusable (link down or next hop unreachable), explorations started at once", s.UplinkDowns.Load())
	f("failback_tries", "explorations started to return a context to its preferred pair", s.FailbackTries.Load())
	f("policy_moves", "explorations started to move a context to the pair the site policy prefers (spreading, an uplink change)", s.PolicyMoves.Load())
	f("initial_switches", "contexts established over another locator pair than their ULIDs (the ULID pair failed from the start)", s.InitialSwitches.Load())
}

// shimRound advances the workers' tick, drains their events into the
// signalling (I1 for establish events, R1bis for unknown tags) and runs its
// timers.
func (c *Core) shimRound(now time.Time) {
	if c.cfg.Tick != nil {
		if t := uint32(now.Sub(c.start) / TickPeriod); c.cfg.Tick.Load() != t {
			c.cfg.Tick.Store(t)
		}
	}
	for i := 0; c.cfg.Events != nil && i < ports.MaxBurst && c.cfg.Events.Pop(&c.ev); i++ {
		switch c.ev.Kind {
		case dataplane.EventEstablish:
			c.Stats.EstablishEvents.Add(1)
			if !c.mayEstablish(now) {
				c.Stats.EstablishSkip.Add(1)
				continue
			}
		case dataplane.EventUnknownTag:
			c.Stats.UnknownTagEvent.Add(1)
		}
		if c.sig != nil {
			c.sig.HandleEvent(&c.ev)
		}
	}
	if c.sig != nil {
		c.sig.Tick()
	}
	if c.reap != nil {
		c.checkLinks(now)
		c.failback(now)
		c.movePending(now)
		c.withdrawDrained(now)
		c.reap.Tick()
	}
}

// mayEstablish applies the deferred-establishment policy to the event in
// c.ev: the peer must be under a listed prefix (if any are), and the
// handshake rate must allow one more.
func (c *Core) mayEstablish(now time.Time) bool {
	if len(c.cfg.EstablishPeers) > 0 {
		peer := netip.AddrFrom16(c.ev.Dst)
		listed := false
		for _, p := range c.cfg.EstablishPeers {
			listed = listed || p.Contains(peer)
		}
		if !listed {
			return false
		}
	}
	return c.estab.Take(now)
}
