package reap

import (
	"sync/atomic"
	"time"
)

// durationBounds are the upper bounds of the exploration duration
// histogram's buckets (RFC 5534 §4.3: Send Timeout 15 s, probes backing
// off to 60 s); a last bucket, not listed, counts the rest (+Inf).
var durationBounds = [...]time.Duration{
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
	10 * time.Second, 30 * time.Second, 60 * time.Second, 5 * time.Minute,
}

// counter names one of the Machine's event counters.
type counter uint8

// The event counters. Each has its metric name and help in counterInfo,
// which Each walks: a counter added here is exported with no more code.
const (
	probesSent counter = iota
	probesReceived
	keepalivesSent
	keepalivesReceived
	explorationsStarted
	explorationsSucceeded
	explorationsFailed
	switches
	ulpHints
	ulpHintsLimited
	explorationsULP
	numCounters
)

// counterInfo is every counter's metric name and help text: Prometheus
// series and admin JSON keys, so a name never changes.
var counterInfo = [numCounters]struct{ name, help string }{
	probesSent:            {"reap_probes_sent_total", "REAP Probe messages sent (RFC 5534 §5.2)."},
	probesReceived:        {"reap_probes_received_total", "REAP Probe messages received (RFC 5534 §5.2)."},
	keepalivesSent:        {"reap_keepalives_sent_total", "REAP Keepalive messages sent (RFC 5534 §5.1)."},
	keepalivesReceived:    {"reap_keepalives_received_total", "REAP Keepalive messages received (RFC 5534 §5.1)."},
	explorationsStarted:   {"reap_explorations_started_total", "Explorations started (RFC 5534 §4.2)."},
	explorationsSucceeded: {"reap_explorations_succeeded_total", "Explorations ended back in Operational (RFC 5534 §6.8, §6.9)."},
	explorationsFailed:    {"reap_explorations_failed_total", "Explorations whose probe interval reached Max Probe Timeout (RFC 5534 §4.3)."},
	switches:              {"reap_switches_total", "Current address pair changes proven by a probe round trip (RFC 5534 §6.8)."},
	ulpHints:              {"reap_ulp_hints_total", "Negative advice from the upper layer: TCP retransmissions the workers saw on a watched context (seed draft §8.2)."},
	ulpHintsLimited:       {"reap_ulp_hints_limited_total", "Hints ignored because one started an exploration of the context less than ulp_every (the Send Timeout) ago."},
	explorationsULP:       {"reap_explorations_ulp_total", "Explorations started by a hint: TCP retransmitting while nothing came back for the hold (also in reap_explorations_started_total)."},
}

// Stats are the Machine's counters. The Machine alone writes them; any
// goroutine may read them through Each.
type Stats struct {
	counts      [numCounters]atomic.Uint64
	states      [numStates]atomic.Uint64
	duration    [len(durationBounds) + 1]atomic.Uint64 // not cumulative
	durationSum atomic.Uint64                          // nanoseconds: 584 years fit
}

// Stats returns the Machine's counters.
func (m *Machine) Stats() *Stats { return &m.stats }

func (s *Stats) observe(d int64) {
	i := 0
	for i < len(durationBounds) && time.Duration(d) > durationBounds[i] {
		i++
	}
	s.duration[i].Add(1)
	s.durationSum.Add(uint64(max(d, 0)))
}

// ExplorationDurations returns the histogram of how long explorations took,
// from entering Exploring or InboundOk to the return to Operational over a
// working pair (RFC 5534 §4.2, §6.8, §6.9), in the form of Prometheus's
// const histograms: buckets maps each upper bound in seconds to the
// explorations that ended within it (cumulative, +Inf left out), count is
// every ended exploration and sum their total in seconds. Explorations
// still running, or given up on (§4.3), are not in it. A reader racing the
// Machine may see one exploration in count but not yet in sum.
func (s *Stats) ExplorationDurations() (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(durationBounds))
	for i := range s.duration {
		count += s.duration[i].Load()
		if i < len(durationBounds) {
			buckets[durationBounds[i].Seconds()] = count
		}
	}
	return count, time.Duration(s.durationSum.Load()).Seconds(), buckets
}

// Each calls f for every counter and gauge: name, help text and value.
// The exploration duration histogram is apart, in ExplorationDurations.
func (s *Stats) Each(f func(name, help string, v uint64)) {
	for c := range numCounters {
		f(counterInfo[c].name, counterInfo[c].help, s.counts[c].Load())
	}
	for st := range numStates {
		f("reap_contexts_"+State(st).String(), "Contexts in this REAP state (RFC 5534 §6).", s.states[st].Load())
	}
}
