package reap

import (
	"strconv"
	"sync/atomic"
	"time"
)

// durationBounds are the upper bounds of the exploration duration
// histogram's buckets (RFC 5534 §4.3: Send Timeout 15 s, probes backing
// off to 60 s); the last bucket is +Inf.
var durationBounds = [...]time.Duration{
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
	10 * time.Second, 30 * time.Second, 60 * time.Second, 5 * time.Minute,
}

// Stats are the Machine's counters. The Machine alone writes them; any
// goroutine may read them through Each.
type Stats struct {
	probesSent, probesReceived         atomic.Uint64
	keepalivesSent, keepalivesReceived atomic.Uint64
	explorationsStarted                atomic.Uint64
	explorationsSucceeded              atomic.Uint64
	explorationsFailed                 atomic.Uint64
	switches                           atomic.Uint64
	states                             [numStates]atomic.Uint64
	duration                           [len(durationBounds) + 1]atomic.Uint64
	durationSum                        atomic.Uint64 // milliseconds
}

// Stats returns the Machine's counters.
func (m *Machine) Stats() *Stats { return &m.stats }

func (s *Stats) observe(d int64) {
	i := 0
	for i < len(durationBounds) && time.Duration(d) > durationBounds[i] {
		i++
	}
	s.duration[i].Add(1)
	s.durationSum.Add(uint64(max(d, 0) / int64(time.Millisecond)))
}

// Each calls f for every counter and gauge: name, help text and value.
// Histogram buckets are cumulative, named
// reap_exploration_duration_seconds_bucket_le_<bound>.
func (s *Stats) Each(f func(name, help string, v uint64)) {
	f("reap_probes_sent_total", "REAP Probe messages sent (RFC 5534 §5.2).", s.probesSent.Load())
	f("reap_probes_received_total", "REAP Probe messages received (RFC 5534 §5.2).", s.probesReceived.Load())
	f("reap_keepalives_sent_total", "REAP Keepalive messages sent (RFC 5534 §5.1).", s.keepalivesSent.Load())
	f("reap_keepalives_received_total", "REAP Keepalive messages received (RFC 5534 §5.1).", s.keepalivesReceived.Load())
	f("reap_explorations_started_total", "Explorations started (RFC 5534 §4.2).", s.explorationsStarted.Load())
	f("reap_explorations_succeeded_total", "Explorations ended back in Operational (RFC 5534 §6.8, §6.9).", s.explorationsSucceeded.Load())
	f("reap_explorations_failed_total", "Explorations whose probe interval reached Max Probe Timeout (RFC 5534 §4.3).", s.explorationsFailed.Load())
	f("reap_switches_total", "Current address pair changes proven by a probe round trip (RFC 5534 §6.8).", s.switches.Load())
	for st := range numStates {
		f("reap_contexts_"+State(st).String(), "Contexts in this REAP state (RFC 5534 §6).", s.states[st].Load())
	}
	var cum uint64
	for i := range s.duration {
		cum += s.duration[i].Load()
		le := "inf"
		if i < len(durationBounds) {
			le = strconv.FormatFloat(durationBounds[i].Seconds(), 'g', -1, 64)
		}
		f("reap_exploration_duration_seconds_bucket_le_"+le, "Explorations that ended within this duration (cumulative).", cum)
	}
	f("reap_exploration_duration_milliseconds_sum", "Total duration of ended explorations.", s.durationSum.Load())
}
