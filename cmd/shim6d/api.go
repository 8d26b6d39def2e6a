package main

import (
	"net/http"
	"strconv"

	"fmt"
	"net/netip"
	"shim6d/bench/synth"
	"shim6d/control/shim6"
	"time"

	"shim6d/configs"
	"shim6d/control"
	"shim6d/control/admin"
	"shim6d/dataplane"
	"shim6d/ports"
)

// sumCounter adds counter i over every worker.
func (d *daemon) sumCounter(i dataplane.Counter) uint64 {
	var s uint64
	for _, w := range d.workers {
		s += w.Counters.Load(i)
	}
	return s
}

// Status implements admin.Source.
func (d *daemon) Status() admin.Status {
	s := admin.Status{
		Version: version, Config: d.cfg.Source, Started: d.started,
		UptimeSec: time.Since(d.started).Seconds(),
		Workers:   len(d.workers), Polling: d.cfg.Daemon.Polling.String(), Ports: len(d.ports),
		Neighbors: int(d.core.Stats.NeighborEntries.Load()),
	}
	d.devices(func() { s.RingUsed, s.RingCap = d.ring.Count(), d.ring.Cap() })
	return s
}

// Ports implements admin.Source.
func (d *daemon) Ports() []admin.Port {
	var out []admin.Port
	for i, p := range d.ports {
		pc := &d.cfg.Ports[i]
		var st ports.Stats
		var link ports.LinkStatus
		var mac [6]byte
		d.devices(func() { st, link, mac = p.Stats(), p.Link(), p.MAC() })
		ap := admin.Port{
			Name: pc.Name, Role: pc.Role.String(), Device: pc.Device, MAC: configs.MAC(mac).String(),
			MTU: p.MTU(), LinkUp: link.Up, SpeedMbps: link.SpeedMbps, Addresses: pc.Addresses,
			RxPackets: st.RxPackets, TxPackets: st.TxPackets, RxBytes: st.RxBytes, TxBytes: st.TxBytes,
			RxMissed: st.RxMissed, RxErrors: st.RxErrors, TxErrors: st.TxErrors,
			Drops: d.sumCounter(dataplane.PortCounter(i, dataplane.PortDrops)),
		}
		if pc.Role == "uplink" {
			ap.Prefix, ap.NextHop = pc.Prefix.String(), pc.NextHop.String()
		}
		out = append(out, ap)
	}
	return out
}

// Stats implements admin.Source.
func (d *daemon) Stats() admin.Stats {
	s := admin.Stats{Drops: map[string]uint64{}, Control: map[string]uint64{}}
	for _, w := range d.workers {
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
		s.Drops[r.String()] = d.sumCounter(dataplane.DropCounter(r))
	}
	d.core.Stats.Each(func(name, _ string, v uint64) { s.Control[name] = v })
	d.sig.Stats.Each(func(name, _ string, v uint64) { s.Control[name] = v })
	return s
}

// Neighbors implements admin.Source. The table belongs to the control core,
// so it is read on the core's goroutine.
func (d *daemon) Neighbors() []admin.Neighbor {
	var ns []control.NeighborInfo
	d.core.Query(func() { ns = d.core.Neighbors() })
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

// Contexts implements admin.Source. It scans the table from the admin
// goroutine: readers are lock-free, so this costs the workers nothing.
func (d *daemon) Contexts() []admin.Context {
	now := d.tick.Load()
	ago := func(fb func(w *dataplane.Worker) uint32) float64 {
		best := uint32(0)
		for _, w := range d.workers {
			if t := fb(w); t > best {
				best = t
			}
		}
		if best == 0 {
			return -1
		}
		return float64(now-best) * control.TickPeriod.Seconds()
	}
	infos := map[uint32]shim6.ContextInfo{}
	preferred := map[uint32][2]netip.Addr{}
	// In parts, each one Query: the control core runs ND, signalling and
	// REAP between them, where one walk of a million contexts held it for
	// seconds.
	for next, done := uint32(0), false; !done; {
		d.core.Query(func() {
			var part []shim6.ContextInfo
			part, next, done = d.sig.ContextsFrom(next, contextsPerQuery)
			for _, ci := range part {
				infos[ci.Slot] = ci
				if l, p, ok := d.core.PreferredPair(&ci); ok && ci.State == shim6.Established {
					preferred[ci.Slot] = [2]netip.Addr{l, p}
				}
			}
		})
	}
	var out []admin.Context
	d.contexts.Each(func(c *dataplane.Context) bool {
		ac := admin.Context{
			Slot:      c.Slot,
			LocalULID: netip.AddrFrom16(c.ULIDLocal), PeerULID: netip.AddrFrom16(c.ULIDPeer),
			LocalLocator: netip.AddrFrom16(c.LocLocal), PeerLocator: netip.AddrFrom16(c.LocPeer),
			LocalTag: fmt.Sprintf("%#x", c.LocalTag), PeerTag: fmt.Sprintf("%#x", c.PeerTag),
			Rewriting: c.Flags&dataplane.CtxRewrite != 0,
		}
		if ci, ok := infos[c.Slot]; ok {
			ac.State, ac.LocalLocators, ac.PeerLocators = ci.State.String(), ci.LocalLocators, ci.PeerLocators
			if pp, ok := preferred[c.Slot]; ok {
				ac.PreferredLocal, ac.PreferredPeer = &pp[0], &pp[1]
			}
		} else {
			ac.State = "STATIC"
		}
		if ac.Rewriting && int(c.EgressPort) < len(d.cfg.Ports) {
			ac.Uplink = d.cfg.Ports[c.EgressPort].Name
		}
		slot := c.Slot
		ac.LastSentSec = ago(func(w *dataplane.Worker) uint32 { return w.Feedback().Sent[slot].Load() })
		ac.LastRecvSec = ago(func(w *dataplane.Worker) uint32 { return w.Feedback().Recv[slot].Load() })
		out = append(out, ac)
		return len(out) < 100000
	})
	return out
}

// synthContexts loads synthetic contexts (bench/synth's plan) for
// benchmarks and capacity tests: POST /contexts/synth?count=N&seed=S. The
// control core, the table's single writer, creates them.
func (d *daemon) synthContexts(w http.ResponseWriter, r *http.Request) {
	plan := synth.DefaultPlan
	count, err := strconv.ParseUint(r.URL.Query().Get("count"), 10, 32)
	if s := r.URL.Query().Get("seed"); err == nil && s != "" {
		plan.Seed, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		http.Error(w, "want ?count=N[&seed=S] with whole numbers", http.StatusBadRequest)
		return
	}
	egress := -1
	for i := range d.cfg.Ports {
		if p := &d.cfg.Ports[i]; p.Role == configs.RoleUplink && p.Prefix.Contains(plan.At(0).LocalLocator) {
			egress = i
		}
	}
	if egress < 0 {
		http.Error(w, "no uplink holds the synthetic local locators "+plan.LocalLocators.String(), http.StatusConflict)
		return
	}
	var made uint64
	d.core.Query(func() {
		for i := uint64(0); i < count; i++ {
			c := plan.At(i)
			_, _, err = d.core.AddContext(dataplane.ContextSpec{
				PeerTag: c.PeerTag, EgressPort: uint16(egress),
				ULIDLocal: c.LocalULID.As16(), ULIDPeer: c.PeerULID.As16(),
				LocLocal: c.LocalLocator.As16(), LocPeer: c.PeerLocator.As16(),
			})
			if err != nil {
				return
			}
			made++
		}
	})
	if err != nil {
		http.Error(w, fmt.Sprintf("created %d, then: %v", made, err), http.StatusInsufficientStorage)
		return
	}
	fmt.Fprintf(w, "{\"created\": %d}\n", made)
}

// establish starts a Shim6 context for a ULID pair (RFC 5533 §7):
// POST /establish?local=ULID&peer=ULID.
func (d *daemon) establish(w http.ResponseWriter, r *http.Request) {
	local, err1 := netip.ParseAddr(r.URL.Query().Get("local"))
	peer, err2 := netip.ParseAddr(r.URL.Query().Get("peer"))
	if err1 != nil || err2 != nil {
		http.Error(w, "want ?local=ULID&peer=ULID (IPv6 addresses)", http.StatusBadRequest)
		return
	}
	var err error
	d.core.Query(func() { err = d.sig.Establish(local, peer) })
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	fmt.Fprintf(w, "{\"establishing\": [%q, %q]}\n", local, peer)
}
