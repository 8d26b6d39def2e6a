package control

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"shim6d/control/admin"
	"shim6d/control/shim6"
	"shim6d/dataplane"
	"shim6d/ports"
)

// Admin returns the core as the admin API's source (control/admin). Its
// methods may be called from any goroutine: what belongs to the core is
// read or changed through Query, the context table and the workers'
// counters lock-free, the devices under ReleaseDevices' guard.
func (c *Core) Admin() admin.Source { return adminView{c} }

type adminView struct{ c *Core }

// PoolView is a packet buffer pool as operators see it: how many buffers
// are free and how many are out, so a leak shows as in-use creeping up.
// ports/dpdk's Mempool (rte_mempool_avail_count, rte_mempool_in_use_count)
// and ports/mem's Pool have it. Read under the devices' guard: a DPDK
// pool is freed at shutdown.
type PoolView interface {
	Name() string
	Avail() int
	InUse() int
}

// pools reads the pools' counts; nil once the devices are released.
func (c *Core) pools() []admin.Pool {
	var out []admin.Pool
	c.devices(func() {
		for _, p := range c.cfg.Pools {
			out = append(out, admin.Pool{Name: p.Name(), Available: p.Avail(), InUse: p.InUse()})
		}
	})
	return out
}

// ReleaseDevices waits for the admin and metrics readers of the ports and
// the ring, and keeps them from reading again: call it before the devices
// are freed. The rest of the API keeps answering.
func (c *Core) ReleaseDevices() {
	c.live.Lock()
	c.released = true
	c.live.Unlock()
}

// devices runs f, which reads the ports or the ring, unless they have been
// released; it reports whether f ran.
func (c *Core) devices(f func()) bool {
	c.live.RLock()
	defer c.live.RUnlock()
	if c.released {
		return false
	}
	f()
	return true
}

// sumCounter adds counter i over every worker.
func (c *Core) sumCounter(i dataplane.Counter) uint64 {
	var s uint64
	for _, w := range c.cfg.Workers {
		s += w.Counters.Load(i)
	}
	return s
}

func (v adminView) Status() admin.Status {
	c := v.c
	d := &c.cfg.Daemon
	s := admin.Status{
		Version: d.Version, Config: d.Config, Started: d.Started,
		UptimeSec: time.Since(d.Started).Seconds(),
		Workers:   len(c.cfg.Workers), Polling: d.Polling, Ports: len(c.cfg.Ports),
		Neighbors: int(c.Stats.NeighborEntries.Load()),
	}
	c.devices(func() { s.RingUsed, s.RingCap = c.cfg.Ring.Count(), c.cfg.Ring.Cap() })
	s.Pools = c.pools()
	return s
}

func (v adminView) Ports() []admin.Port {
	c := v.c
	var out []admin.Port
	for i, p := range c.cfg.Ports {
		ps := &c.cfg.Setup[i]
		var st ports.Stats
		var link ports.LinkStatus
		var mac [6]byte
		c.devices(func() { st, link, mac = p.Stats(), p.Link(), p.MAC() })
		ap := admin.Port{
			Name: ps.Name, Role: ps.Role.String(), Device: ps.Device, MAC: macString(mac),
			MTU: p.MTU(), ForwardMTU: v.c.forwardMTU(i), LinkUp: link.Up, SpeedMbps: link.SpeedMbps, Addresses: ps.Addresses,
			RxPackets: st.RxPackets, TxPackets: st.TxPackets, RxBytes: st.RxBytes, TxBytes: st.TxBytes,
			RxMissed: st.RxMissed, RxErrors: st.RxErrors, TxErrors: st.TxErrors,
			Drops: c.sumCounter(dataplane.PortCounter(i, dataplane.PortDrops)),
		}
		if ps.Role == dataplane.RoleUplink {
			ap.Prefix, ap.NextHop = ps.Prefix.String(), ps.NextHop.String()
		}
		out = append(out, ap)
	}
	return out
}

func (v adminView) Stats() admin.Stats {
	c := v.c
	s := admin.Stats{Drops: map[string]uint64{}, Control: map[string]uint64{}}
	for _, w := range c.cfg.Workers {
		s.Workers = append(s.Workers, admin.Worker{
			ID:        w.ID(),
			Polls:     w.Counters.Load(dataplane.CounterPolls),
			IdlePolls: w.Counters.Load(dataplane.CounterIdlePolls),
			RxPackets: w.Counters.Load(dataplane.CounterRxPackets),
			TxPackets: w.Counters.Load(dataplane.CounterTxPackets),
			ToControl: w.Counters.Load(dataplane.CounterToControl),
			Rewritten: w.Counters.Load(dataplane.CounterRewritten),
			Stripped:  w.Counters.Load(dataplane.CounterStripped),
			Clamped:   w.Counters.Load(dataplane.CounterMSSClamped),
			Events:    w.Counters.Load(dataplane.CounterEvents),
			SlowPath:  w.Counters.Load(dataplane.CounterSlowPath),
		})
	}
	for _, r := range dataplane.DropReasons() {
		s.Drops[r.String()] = c.sumCounter(dataplane.DropCounter(r))
	}
	c.Stats.Each(func(name, _ string, v uint64) { s.Control[name] = v })
	if c.sig != nil {
		c.sig.Stats.Each(func(name, _ string, v uint64) { s.Control[name] = v })
	}
	if c.reap != nil {
		c.reap.Stats().Each(func(name, _ string, v uint64) { s.Control[name] = v })
	}
	return s
}

// Neighbors lists the neighbour table, which belongs to the core, so it is
// read on the core's goroutine.
func (v adminView) Neighbors() []admin.Neighbor {
	var ns []NeighborInfo
	v.c.Query(func() { ns = v.c.Neighbors() })
	out := make([]admin.Neighbor, len(ns))
	for i, n := range ns {
		out[i] = admin.Neighbor{Port: n.Port, Address: n.Address, MAC: n.MAC, State: n.State,
			AgeSec: n.Age.Seconds(), Queued: n.Queued}
	}
	return out
}

// contextsPerQuery is how many contexts one Query of the admin listing
// describes: some 15 ms of the control core.
const contextsPerQuery = 4096

// maxListed caps the contexts listing: past it the answer is too large to
// be of use, and the table is better read with metrics.
const maxListed = 100000

// Contexts scans the table from the admin goroutine (readers are
// lock-free, so this costs the workers nothing) and joins what the
// signalling and the site policy know of each context.
func (v adminView) Contexts() []admin.Context {
	c := v.c
	if c.cfg.Contexts == nil {
		return nil
	}
	now := c.cfg.Tick.Load()
	ago := func(last func(fb *dataplane.Feedback) uint32) float64 {
		best := uint32(0)
		for _, fb := range c.feedback {
			best = max(best, last(fb))
		}
		if best == 0 {
			return -1
		}
		return float64(now-best) * TickPeriod.Seconds()
	}
	infos := map[uint32]shim6.ContextInfo{}
	preferred := map[uint32][2]netip.Addr{}
	// In parts, each one Query: the control core runs ND, signalling and
	// REAP between them, where one walk of a million contexts held it for
	// seconds.
	for next, done := uint32(0), c.sig == nil; !done; {
		c.Query(func() {
			var part []shim6.ContextInfo
			part, next, done = c.sig.ContextsFrom(next, contextsPerQuery)
			for _, ci := range part {
				infos[ci.Slot] = ci
				if l, p, ok := c.PreferredPair(&ci); ok && ci.State == shim6.Established {
					preferred[ci.Slot] = [2]netip.Addr{l, p}
				}
			}
		})
	}
	var out []admin.Context
	c.cfg.Contexts.Each(func(x *dataplane.Context) bool {
		ac := admin.Context{
			Slot:      x.Slot,
			LocalULID: netip.AddrFrom16(x.ULIDLocal), PeerULID: netip.AddrFrom16(x.ULIDPeer),
			LocalLocator: netip.AddrFrom16(x.LocLocal), PeerLocator: netip.AddrFrom16(x.LocPeer),
			LocalTag: fmt.Sprintf("%#x", x.LocalTag), PeerTag: fmt.Sprintf("%#x", x.PeerTag),
			Rewriting: x.Flags&dataplane.CtxRewrite != 0,
		}
		if ci, ok := infos[x.Slot]; ok {
			ac.State, ac.LocalLocators, ac.PeerLocators = ci.State.String(), ci.LocalLocators, ci.PeerLocators
			if pp, ok := preferred[x.Slot]; ok {
				ac.PreferredLocal, ac.PreferredPeer = &pp[0], &pp[1]
			}
		} else {
			ac.State = "STATIC"
		}
		if ac.Rewriting && int(x.EgressPort) < len(c.cfg.Setup) {
			ac.Uplink = c.cfg.Setup[x.EgressPort].Name
		}
		slot := x.Slot
		ac.LastSentSec = ago(func(fb *dataplane.Feedback) uint32 { return fb.Sent[slot].Load() })
		ac.LastRecvSec = ago(func(fb *dataplane.Feedback) uint32 { return fb.Recv[slot].Load() })
		out = append(out, ac)
		return len(out) < maxListed
	})
	return out
}

// Uplinks is each uplink's policy and condition, and the contexts on it.
// The count walks the context table (lock-free, off the core): a cost per
// request, none on the data path.
func (v adminView) Uplinks() []admin.Uplink {
	c := v.c
	var st []UplinkStatus
	c.Query(func() { st = c.Uplinks() })
	count := c.contextsPerPort()
	out := make([]admin.Uplink, 0, len(st))
	for _, u := range st {
		out = append(out, admin.Uplink{Name: u.Name, Prefix: u.Prefix, Priority: u.Priority, Weight: u.Weight,
			Backup: u.Backup, Down: u.Down, Drained: u.Drained, Withdrawn: u.Withdrawn, Contexts: count[u.Port]})
	}
	return out
}

// uplinkOf is the port of the uplink whose prefix holds spec's local
// locator, -1 for none: what contextsPerPort counts a context under. The
// prefixes are the configuration's, which only a restart changes.
func (c *Core) uplinkOf(spec *dataplane.ContextSpec) int {
	loc := netip.AddrFrom16(spec.LocLocal)
	for i, s := range c.cfg.Setup {
		if s.Role == dataplane.RoleUplink && s.Prefix.Contains(loc) {
			return i
		}
	}
	return -1
}

// contextsPerPort counts the contexts by the uplink whose prefix holds
// their current local locator, as the table files them at every write
// (uplinkOf), so a scrape of a ten-million-context table walks nothing.
func (c *Core) contextsPerPort() []int {
	count := make([]int, len(c.cfg.Ports))
	if c.cfg.Contexts == nil {
		return count
	}
	for p := range count {
		count[p] = c.cfg.Contexts.CountOnPort(uint16(p))
	}
	return count
}

func (v adminView) SetUplink(name string, p admin.UplinkPolicy) error {
	var err error
	v.c.Query(func() {
		err = v.c.SetUplinkPolicy(name, UplinkPolicy{Priority: p.Priority, Weight: p.Weight, Backup: p.Backup, Drained: p.Drained})
	})
	return err
}

// errNoSignalling answers what needs the Shim6 signalling on a core
// without it.
var errNoSignalling = errors.New("the Shim6 signalling is not running")

func (v adminView) Establish(local, peer netip.Addr) error {
	if v.c.sig == nil {
		return errNoSignalling
	}
	var err error
	v.c.Query(func() { err = v.c.sig.Establish(local, peer) })
	return err
}

func (v adminView) Synthesize(count, seed uint64, progress func(made int)) (int, error) {
	c := v.c
	if !c.cfg.AllowSynthetic {
		return 0, &admin.StatusError{Code: http.StatusForbidden, Err: errSyntheticRefused}
	}
	return c.synthesize(count, seed, progress)
}
