package control

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"shim6d/configs"
	"shim6d/control/ha"
	"shim6d/control/hba"
	"shim6d/control/policy"
	"shim6d/control/ratelimit"
	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/dataplane"
	"shim6d/ports"
)

// PortSetup is the control core's view of one configured port.
type PortSetup struct {
	Name string
	// Device is the DPDK device the port is, for operators.
	Device    string
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
	// VirtualMAC, when not zero, is the HA pair's MAC for this port: the
	// active box answers and sends from it, and the port's link-local
	// address derives from it, so both boxes have the same one.
	VirtualMAC [6]byte
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

	// ICMPRatePerPrefix limits the ICMPv6 errors sent out an uplink to one
	// destination /64 (ratelimit.PrefixTable, burst one second's worth),
	// ahead of ICMPRate; 0: a tenth of ICMPRate, at least 1. An error
	// toward the Internet answers a packet whose source anyone may forge;
	// errors to the inside hosts take ICMPRate alone.
	ICMPRatePerPrefix int

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
	// Failback is configs.FailbackStay or FailbackReturn (the zero value is
	// stay), FailbackHold how long a context stays off its preferred pair
	// before it tries it again.
	Failback     configs.Failback
	FailbackHold time.Duration
	// Spread spreads contexts over the best-ranked uplinks by weight (see
	// PreferredPair); off, a context stays on its ULIDs while they rank
	// best.
	Spread bool
	// HostLocators returns a proxied host's own locator set, before the
	// site policy (drained uplinks, preferences) is applied to it; nil:
	// the sets of Shim.Hosts, or, without those, every host has its ULID
	// alone. See LocalLocators.
	HostLocators func(ulid netip.Addr) (shim6.LocatorSet, error)
	// Workers are the data plane's workers, built but not yet running:
	// their REAP feedback is what LastData and REAP read, their counters
	// what the admin API and the metrics sum.
	Workers []*dataplane.Worker
	// Shim, when set, has the core run the Shim6 signalling (RFC 5533)
	// and, if asked, REAP (RFC 5534); nil: forwarding, ND and ICMPv6 only.
	Shim *ShimSetup
	// StaticContexts are put in the context table before New returns.
	StaticContexts []dataplane.ContextSpec
	// AllowSynthetic lets the admin API load synthetic contexts (see
	// Synthesize): for benchmarks and capacity tests, never on a box
	// that carries customers' traffic.
	AllowSynthetic bool
	// Daemon describes the process to the admin API.
	Daemon DaemonInfo
	// Pools are the packet buffer pools, whose counts the admin API and
	// metrics show (see PoolView); nil: none shown.
	Pools []PoolView

	// File is the configuration the core was built from (FromConfig sets
	// it): a reload compares the file read again with it. Nil: the core
	// refuses reloads.
	File *configs.Config
	// ConfigPath is the file ReloadFile reads; "": the daemon runs the
	// embedded configuration, and there is no file to read again.
	ConfigPath string
	// LogLevel, when set, is the level of Log's handler, which a reload
	// of daemon.log_level changes.
	LogLevel *slog.LevelVar
	// HA makes the box one of an active/standby pair (role.go); nil: a
	// box on its own, always active.
	HA *HASetup
	// Replication, when set, replicates the context table between an
	// active and a standby box (control/ha, replicate.go); the core
	// starts as standby.
	Replication *ha.Config
}

// ShimSetup is the signalling's part of Config.
type ShimSetup struct {
	// IdleTimeout is how long an established context may carry no data
	// before it is collected (0: the machine's default).
	IdleTimeout time.Duration
	// Verifier checks peers' locator lists (RFC 5533 §7.2); nil: HBA and
	// CGA (HBAVerifier).
	Verifier shim6.Verifier
	// Hosts are the proxied hosts' HBA and CGA sets (RFC 5535); they give
	// the hosts' locators (unless Config.HostLocators is set) and the keys
	// that sign for CGA locators.
	Hosts hba.HostSet
	// REAP runs failure detection (RFC 5534) on every established
	// context, with SendTimeout as its Send Timeout (0: the RFC's 15 s).
	REAP        bool
	SendTimeout time.Duration
	// R1Rate and R1RatePerPrefix limit the R1s that answer I1s, in all
	// and to one source /64 (shim6.Config.R1Rate, R1RatePerPrefix; 0:
	// the machine's defaults, 1000 and 10 a second).
	R1Rate, R1RatePerPrefix int
	// ULPAdvice has the workers report TCP retransmissions on their
	// contexts, which start REAP's exploration once nothing came back for
	// ULPHold (0: reap.DefaultULPHold). Needs REAP.
	ULPAdvice bool
	ULPHold   time.Duration
}

// DaemonInfo is what the admin API reports about the process.
type DaemonInfo struct {
	Version string
	// Config names the configuration file the daemon runs.
	Config  string
	Polling string
	Started time.Time
}

// icmpPrefixSlots is the size of the per-/64 table of ICMPv6 errors toward
// the uplinks: 64 KiB, so sources seldom share a bucket at the rates a
// global cap of a few hundred a second lets through.
const icmpPrefixSlots = 4096

// TickPeriod is the resolution of the workers' REAP feedback: fine enough
// for a 1 s Send Timeout, coarse enough that a busy context's tick changes
// (and is stored) rarely.
const TickPeriod = 100 * time.Millisecond

// Core is the control core.
type Core struct {
	cfg   Config
	Stats Stats

	nd       ndTable
	icmp     ratelimit.Limiter // ICMPv6 errors: Global all, Prefix first those out the uplinks
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
	sig      *shim6.Machine     // nil without Config.Shim
	reap     *reap.Machine      // nil without Config.Shim.REAP
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
	// hosts are the proxied hosts' HBA and CGA sets, and pinned the sets
	// a reload replaced for hosts that had contexts then (see reload.go).
	hosts, pinned hba.HostSet
	// reloads counts reloads by result; lastReload is the Unix time of
	// the last that was applied, in nanoseconds.
	reloads    [reloadResults]atomic.Uint64
	lastReload atomic.Int64
	// repl is the context replication (replicate.go); nil when off.
	repl *replication

	// live guards the devices (ports, ring) against their release: the
	// admin and metrics handlers read them under RLock while released is
	// false, and ReleaseDevices sets it under Lock, so a scrape still
	// running when shutdown frees them cannot touch freed C memory.
	live     sync.RWMutex
	released bool

	// ha is the box's role in its pair (role.go); roleNow mirrors the
	// role for readers off the core's goroutine (the metrics).
	ha      haState
	roleNow atomic.Uint32
	capture captureState // shim6ctl capture (capture.go)

	rx  [ports.MaxBurst]ports.Packet
	tx  [dataplane.MaxPorts]txBuf
	one [1]ports.Packet
}

type txBuf struct {
	n    int
	pkts [ports.MaxBurst]ports.Packet
}

// New makes a control core with its machines (the Shim6 signalling and
// REAP when cfg.Shim asks for them), puts the static contexts in the table
// and publishes the first forwarding snapshot, so workers can start right
// after it.
func New(cfg Config) (*Core, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ICMPRate <= 0 {
		cfg.ICMPRate = 100
	}
	if cfg.ICMPRatePerPrefix <= 0 {
		cfg.ICMPRatePerPrefix = max(cfg.ICMPRate/10, 1)
	}
	if cfg.Reachable <= 0 {
		cfg.Reachable = 30 * time.Second
	}
	if cfg.EstablishRate <= 0 {
		cfg.EstablishRate = 1000
	}
	c := &Core{cfg: cfg, queries: make(chan func(), 16)}
	now := cfg.Now()
	c.start = now
	c.icmp = ratelimit.NewLimiter(cfg.ICMPRate, cfg.ICMPRatePerPrefix, icmpPrefixSlots, ratelimit.RandomSecret(), now)
	c.echo = ratelimit.New(cfg.ICMPRate, now)
	c.estab = ratelimit.New(cfg.EstablishRate, now)
	for _, w := range cfg.Workers {
		c.feedback = append(c.feedback, w.Feedback())
	}
	c.nd.init(len(cfg.Ports))
	c.initPolicy()
	c.initRole(now)
	for i := range cfg.Ports {
		c.linkLocs = append(c.linkLocs, linkLocalFromMAC(c.srcMAC(i)))
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
	if cfg.Shim != nil {
		if err := c.startShim(cfg.Shim); err != nil {
			return nil, err
		}
	}
	if cfg.Contexts != nil {
		cfg.Contexts.SetPortOf(c.uplinkOf)
	}
	for i, spec := range cfg.StaticContexts {
		if _, _, err := c.AddContext(spec); err != nil {
			return nil, fmt.Errorf("context[%d] (%s, %s): %w", i,
				netip.AddrFrom16(spec.ULIDLocal), netip.AddrFrom16(spec.ULIDPeer), err)
		}
	}
	if cfg.Replication != nil {
		if err := c.startReplication(*cfg.Replication); err != nil {
			return nil, err
		}
	}
	c.publish()
	return c, nil
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
	if c.repl != nil {
		c.repl.r.Close()
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
	c.roleTick(now)
	if c.active() {
		// A standby box's solicitations would not be sent, and its
		// next hops would look dead; it resolves on becoming active.
		c.nd.timers(c, now)
	}
	c.shimRound(now)
	c.replicationRound(now)
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
	c.captureSent(port, &p)
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
	if !c.active() {
		// A standby box sends nothing on its data ports (role.go): its
		// machines run on, and what they send ends here, counted.
		c.Stats.HASuppressed.Add(uint64(b.n))
		c.cfg.Ports[i].Free(b.pkts[:b.n])
		b.n = 0
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
	f := &dataplane.Forwarding{Neighbors: map[[16]byte][6]byte{}, Standby: !c.active()}
	for i, p := range c.cfg.Ports {
		s := c.cfg.Setup[i]
		pi := dataplane.PortInfo{Role: s.Role, MAC: p.MAC(), MTU: c.forwardMTU(i),
			Solicited: []uint32{dataplane.SolicitedLow(c.linkLocs[i])}, AnySolicited: s.Role == dataplane.RoleUplink}
		if c.active() {
			pi.Virtual = s.VirtualMAC
		}
		for _, a := range s.Addresses {
			f.AddLocal(a)
			pi.Solicited = append(pi.Solicited, dataplane.SolicitedLow(a))
		}
		f.Ports = append(f.Ports, pi)
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

// forwardMTU is the MTU the forwarding uses on port i: the configured one,
// unless the device's is smaller.
func (c *Core) forwardMTU(i int) int {
	mtu, dev := c.cfg.Setup[i].MTU, c.cfg.Ports[i].MTU()
	if mtu == 0 || mtu > dev && dev > 0 {
		mtu = dev
	}
	return mtu
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
		case dataplane.EventRetransmit:
			c.retransmitting(c.ev.Slot)
			continue
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
