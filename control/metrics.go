package control

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"shim6d/control/reap"
	"shim6d/dataplane"
)

// Collectors are the Prometheus collectors of the daemon's counters: the
// ports', workers' and core's, the signalling's and REAP's, and the
// uplinks'. They sum the workers' published counters at scrape time, so
// the hot path never touches a shared counter.
func (c *Core) Collectors() []prometheus.Collector {
	return []prometheus.Collector{newCollector(c), signalCollector{c}, uplinkCollector{c}, newReloadCollector(c), roleCollector{c}, haCollector{c}}
}

// collector exports the ports', workers' and core's counters.
type collector struct {
	d *Core

	portPackets, portBytes, portDrops *prometheus.Desc
	devMissed, devErrors, devNoMbuf   *prometheus.Desc
	linkUp                            *prometheus.Desc
	workerPackets, workerPolls        *prometheus.Desc
	workerSlow                        *prometheus.Desc
	drops                             *prometheus.Desc
	ringEnqueued, ringDropped         *prometheus.Desc
	ringUsed, neighbors               *prometheus.Desc
	control                           *prometheus.Desc
	shimPackets, contexts             *prometheus.Desc
	poolAvail, poolInUse              *prometheus.Desc
}

func newCollector(d *Core) *collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("shim6d_"+name, help, labels, nil)
	}
	return &collector{
		d:             d,
		portPackets:   desc("port_packets_total", "Packets received (rx) and sent (tx) by the workers, per port.", "port", "direction"),
		portBytes:     desc("port_bytes_total", "Bytes received (rx) and sent (tx) by the workers, per port.", "port", "direction"),
		portDrops:     desc("port_dropped_packets_total", "Packets received on the port that the workers dropped.", "port"),
		devMissed:     desc("port_rx_missed_total", "Packets the device dropped for lack of rx descriptors (workers too slow).", "port"),
		devErrors:     desc("port_errors_total", "Device rx/tx errors.", "port", "direction"),
		devNoMbuf:     desc("port_rx_nombuf_total", "Device rx buffer allocation failures.", "port"),
		linkUp:        desc("port_link_up", "1 when the port's link is up.", "port"),
		workerPackets: desc("worker_packets_total", "Packets received (rx) and sent (tx) per worker.", "worker", "direction"),
		workerPolls:   desc("worker_polls_total", "Poll rounds per worker, and how many found nothing (idle).", "worker", "kind"),
		workerSlow:    desc("worker_slow_path_packets_total", "Received packets the fast paths left to the general path (extension headers, ICMPv6, SYNs to clamp, packets for the control core, drops).", "worker"),
		drops:         desc("drops_total", "Packets the fast path dropped, by reason.", "reason"),
		ringEnqueued:  desc("control_ring_enqueued_total", "Packets handed to the control core."),
		ringDropped:   desc("control_ring_dropped_total", "Packets dropped because the control ring was full."),
		ringUsed:      desc("control_ring_used", "Packets waiting in the control ring."),
		neighbors:     desc("neighbors", "Entries in the neighbor table."),
		control:       desc("control_events_total", "Control-core events by kind.", "event"),
		shimPackets:   desc("shim_packets_total", "Packets the shim changed: rewritten (locators + payload header), stripped (restored to ULIDs), mss_clamped, events (to the control core).", "action"),
		contexts:      desc("contexts", "Host-pair contexts in the fast-path table."),
		poolAvail:     desc("mempool_available", "Free packet buffers in the pool (rte_mempool_avail_count).", "pool"),
		poolInUse:     desc("mempool_in_use", "Packet buffers out of the pool: in queues, rings and packets being handled (rte_mempool_in_use_count). Growth under steady traffic is a leak.", "pool"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.portPackets, c.portBytes, c.portDrops, c.devMissed, c.devErrors,
		c.devNoMbuf, c.linkUp, c.workerPackets, c.workerPolls, c.workerSlow, c.drops, c.ringEnqueued, c.ringDropped,
		c.ringUsed, c.neighbors, c.control, c.shimPackets, c.contexts, c.poolAvail, c.poolInUse} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	d := c.d
	for pi, p := range d.cfg.Ports {
		name := p.Name()
		sum := func(k int) uint64 { return d.sumCounter(dataplane.PortCounter(pi, k)) }
		counter(c.portPackets, sum(dataplane.PortRxPackets), name, "rx")
		counter(c.portPackets, sum(dataplane.PortTxPackets), name, "tx")
		counter(c.portBytes, sum(dataplane.PortRxBytes), name, "rx")
		counter(c.portBytes, sum(dataplane.PortTxBytes), name, "tx")
		counter(c.portDrops, sum(dataplane.PortDrops), name)
		d.devices(func() {
			st := p.Stats()
			counter(c.devMissed, st.RxMissed, name)
			counter(c.devErrors, st.RxErrors, name, "rx")
			counter(c.devErrors, st.TxErrors, name, "tx")
			counter(c.devNoMbuf, st.RxNoMbuf, name)
			up := 0.0
			if p.Link().Up {
				up = 1
			}
			gauge(c.linkUp, up, name)
		})
	}
	for _, w := range d.cfg.Workers {
		id := strconv.Itoa(w.ID())
		counter(c.workerPackets, w.Counters.Load(dataplane.CounterRxPackets), id, "rx")
		counter(c.workerPackets, w.Counters.Load(dataplane.CounterTxPackets), id, "tx")
		counter(c.workerPolls, w.Counters.Load(dataplane.CounterPolls), id, "all")
		counter(c.workerPolls, w.Counters.Load(dataplane.CounterIdlePolls), id, "idle")
		counter(c.workerSlow, w.Counters.Load(dataplane.CounterSlowPath), id)
	}
	for _, r := range dataplane.DropReasons() {
		counter(c.drops, d.sumCounter(dataplane.DropCounter(r)), r.String())
	}
	counter(c.ringEnqueued, d.sumCounter(dataplane.CounterToControl))
	counter(c.ringDropped, d.sumCounter(dataplane.DropCounter(dataplane.DropControlRingFull)))
	d.devices(func() { gauge(c.ringUsed, float64(d.cfg.Ring.Count())) })
	gauge(c.neighbors, float64(d.Stats.NeighborEntries.Load()))
	d.Stats.Each(func(name, _ string, v uint64) { counter(c.control, v, name) })
	counter(c.shimPackets, d.sumCounter(dataplane.CounterRewritten), "rewritten")
	counter(c.shimPackets, d.sumCounter(dataplane.CounterStripped), "stripped")
	counter(c.shimPackets, d.sumCounter(dataplane.CounterMSSClamped), "mss_clamped")
	counter(c.shimPackets, d.sumCounter(dataplane.CounterEvents), "events")
	if d.cfg.Contexts != nil {
		gauge(c.contexts, float64(d.cfg.Contexts.Count()))
	}
	for _, p := range d.pools() {
		gauge(c.poolAvail, float64(p.Available), p.Name)
		gauge(c.poolInUse, float64(p.InUse), p.Name)
	}
}

// signalCollector exports the Shim6 state machine's counters and gauges
// under their own names (shim6d_shim6_handshakes_started_total, ...). It
// describes nothing up front, which makes it an unchecked collector: the
// machine's list of counters is its own to grow.
type signalCollector struct{ c *Core }

// Describe implements prometheus.Collector.
func (signalCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (s signalCollector) Collect(ch chan<- prometheus.Metric) {
	if s.c.sig == nil {
		return
	}
	st := &s.c.sig.Stats
	st.Each(func(name, help string, v uint64) {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("shim6d_"+name+"_total", help, nil, nil), prometheus.CounterValue, float64(v))
	})
	st.EachGauge(func(name, help string, v int64) {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("shim6d_"+name, help, nil, nil), prometheus.GaugeValue, float64(v))
	})
	if s.c.reap != nil {
		reapCollector{s.c.reap.Stats()}.Collect(ch)
	}
}

// explorationDuration is the one REAP metric with a fixed shape, so it is
// described once.
var explorationDuration = prometheus.NewDesc("shim6d_reap_exploration_duration_seconds",
	"Time from a context starting to explore (RFC 5534 §4.2) to its return to Operational over a working pair (§6.8, §6.9). Explorations given up on (§4.3) are counted in shim6d_reap_explorations_failed_total instead.",
	nil, nil)

// reapCollector exports REAP's counters and gauges (RFC 5534) as untyped
// counters and gauges under shim6d_reap_, and its exploration durations as a real
// histogram, so that quantiles come from histogram_quantile. Like
// signalCollector it describes nothing up front.
type reapCollector struct{ stats *reap.Stats }

// Describe implements prometheus.Collector.
func (reapCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (r reapCollector) Collect(ch chan<- prometheus.Metric) {
	// REAP names its samples reap_*: counters end in _total, the rest
	// (contexts per state) are gauges.
	r.stats.Each(func(name, help string, v uint64) {
		typ := prometheus.GaugeValue
		if strings.HasSuffix(name, "_total") {
			typ = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("shim6d_"+name, help, nil, nil), typ, float64(v))
	})
	count, sum, buckets := r.stats.ExplorationDurations()
	ch <- prometheus.MustNewConstHistogram(explorationDuration, count, sum, buckets)
}

// uplinkCollector exports the spread and the policy per uplink.
type uplinkCollector struct{ c *Core }

var (
	uplinkContextsDesc = prometheus.NewDesc("shim6d_uplink_contexts",
		"contexts whose current local locator is under the uplink's prefix (the spread)", []string{"uplink"}, nil)
	uplinkPriorityDesc = prometheus.NewDesc("shim6d_uplink_priority",
		"the uplink's announced Locator Preferences priority (lower preferred, 255 backup)", []string{"uplink"}, nil)
	uplinkWeightDesc = prometheus.NewDesc("shim6d_uplink_weight",
		"the uplink's announced Locator Preferences weight", []string{"uplink"}, nil)
	uplinkUsableDesc = prometheus.NewDesc("shim6d_uplink_usable",
		"1 while the uplink is up, its next hop reachable and it is not drained", []string{"uplink"}, nil)
	// uplinkDrainedDesc lets an alert on shim6d_uplink_usable == 0 tell an
	// operator's drain from a failure.
	uplinkDrainedDesc = prometheus.NewDesc("shim6d_uplink_drained",
		"1 while the operator has the uplink drained (shim6ctl uplink NAME --drain)", []string{"uplink"}, nil)
)

func (c uplinkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- uplinkContextsDesc
	ch <- uplinkPriorityDesc
	ch <- uplinkWeightDesc
	ch <- uplinkUsableDesc
	ch <- uplinkDrainedDesc
}

func (c uplinkCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range (adminView{c.c}).Uplinks() {
		usable := 1.0
		if u.Down || u.Drained {
			usable = 0
		}
		ch <- prometheus.MustNewConstMetric(uplinkContextsDesc, prometheus.GaugeValue, float64(u.Contexts), u.Name)
		ch <- prometheus.MustNewConstMetric(uplinkPriorityDesc, prometheus.GaugeValue, float64(u.Priority), u.Name)
		ch <- prometheus.MustNewConstMetric(uplinkWeightDesc, prometheus.GaugeValue, float64(u.Weight), u.Name)
		ch <- prometheus.MustNewConstMetric(uplinkUsableDesc, prometheus.GaugeValue, usable, u.Name)
		drained := 0.0
		if u.Drained {
			drained = 1
		}
		ch <- prometheus.MustNewConstMetric(uplinkDrainedDesc, prometheus.GaugeValue, drained, u.Name)
	}
}

// haCollector exports the context replication's state (control/ha), on
// a box configured for it; on others it exports nothing. shim6d_ha_role
// is role.go's.
type haCollector struct{ c *Core }

var (
	haLagDesc = prometheus.NewDesc("shim6d_ha_replication_lag_seconds",
		"On the active, the age of the oldest batch of context changes the standby has not acknowledged (0: all applied); on the standby, the time since it last applied a batch or heartbeat, which bounds how old its copy of the table may be.", nil, nil)
	haRecordsDesc = prometheus.NewDesc("shim6d_ha_records_total",
		"Context records written to the standby (sent) or applied to this box's table from the active (applied).", []string{"direction"}, nil)
	haResyncsDesc = prometheus.NewDesc("shim6d_ha_resyncs_total",
		"Full snapshots of the context table: begun by the active (a standby connected, or its queue overflowed), received by the standby.", nil, nil)
	haOverflowsDesc = prometheus.NewDesc("shim6d_ha_queue_overflows_total",
		"Times the active's replication queue was full and a change was lost, each repaired by a resync; the control core never waits for the standby.", nil, nil)
	haRefusedDesc = prometheus.NewDesc("shim6d_ha_frames_refused_total",
		"Replication frames refused, by reason (bad_mac, sequence_gap, malformed); each ends the connection and starts a resync.", []string{"reason"}, nil)
	haReplicasDesc = prometheus.NewDesc("shim6d_ha_replicas",
		"Contexts this standby holds from the active.", nil, nil)
	haAdoptedDesc = prometheus.NewDesc("shim6d_ha_adopted_contexts",
		"Replicated contexts the signalling took over at the last takeover, without a handshake.", nil, nil)
	haRecoveredDesc = prometheus.NewDesc("shim6d_ha_recovered_after_takeover",
		"Contexts re-made by R1bis/I2bis since the last takeover: those the replication had not carried to this box.", nil, nil)
	haCoreDesc = prometheus.NewDesc("shim6d_ha_core_seconds_total",
		"Control-core time spent on the replication: making records on the active, applying them on the standby.", nil, nil)
)

// Describe implements prometheus.Collector.
func (h haCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{haLagDesc, haRecordsDesc, haResyncsDesc, haOverflowsDesc, haRefusedDesc, haReplicasDesc, haAdoptedDesc, haRecoveredDesc, haCoreDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (h haCollector) Collect(ch chan<- prometheus.Metric) {
	if h.c.repl == nil {
		return
	}
	s := h.c.ReplicationStatus()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(haLagDesc, s.LagSeconds)
	counter(haRecordsDesc, s.RecordsSent, "sent")
	counter(haRecordsDesc, s.RecordsApplied, "applied")
	counter(haResyncsDesc, s.Resyncs)
	counter(haOverflowsDesc, s.Overflows)
	counter(haRefusedDesc, s.BadMACs, "bad_mac")
	counter(haRefusedDesc, s.SequenceGaps, "sequence_gap")
	counter(haRefusedDesc, s.Malformed, "malformed")
	gauge(haReplicasDesc, float64(s.Replicas))
	gauge(haAdoptedDesc, float64(s.Adopted))
	gauge(haRecoveredDesc, float64(s.RecoveredAfterTakeover))
	ch <- prometheus.MustNewConstMetric(haCoreDesc, prometheus.CounterValue, s.CoreSeconds)
}
