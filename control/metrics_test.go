package control

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"shim6d/control/reap"
	"shim6d/control/wire"
)

type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { return c.t }

type noTraffic struct{}

func (noTraffic) Last(reap.ID) (time.Time, time.Time) { return time.Time{}, time.Time{} }

type noOutput struct{}

func (noOutput) SendProbe(reap.ID, netip.Addr, netip.Addr, *wire.Probe)         {}
func (noOutput) SendKeepalive(reap.ID, netip.Addr, netip.Addr, *wire.Keepalive) {}
func (noOutput) OnSwitch(reap.ID, netip.Addr, netip.Addr)                       {}

// TestExplorationHistogram: after one exploration of 1.5 s (the link of
// the current local locator goes down, RFC 5534 §4.2; the peer's probe
// says Operational, §6.8), /metrics has
// shim6d_reap_exploration_duration_seconds as a histogram: its TYPE line,
// cumulative _bucket lines up to +Inf, _sum and _count.
func TestExplorationHistogram(t *testing.T) {
	clock := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m, err := reap.New(reap.Config{Clock: clock, Traffic: noTraffic{}, Output: noOutput{}, Capacity: 4})
	if err != nil {
		t.Fatal(err)
	}
	a1, a2 := netip.MustParseAddr("2001:db8:a1::1"), netip.MustParseAddr("2001:db8:a2::1")
	b1, b2 := netip.MustParseAddr("2001:db8:b1::1"), netip.MustParseAddr("2001:db8:b2::1")
	if err := m.Add(0, reap.Context{PeerTag: 1, Local: []reap.Locator{{Addr: a1}, {Addr: a2}},
		Peer: []reap.Locator{{Addr: b1}, {Addr: b2}}, CurrentLocal: a1, CurrentPeer: b1}); err != nil {
		t.Fatal(err)
	}
	m.LinkDown(a1)
	if s := m.State(0); s != reap.Exploring {
		t.Fatalf("after the link went down: %v, want exploring", s)
	}
	clock.t = clock.t.Add(1500 * time.Millisecond)
	m.HandleProbe(0, b2, a2, &wire.Probe{State: wire.ReapOperational,
		Sent: []wire.ProbeReport{{Source: b2, Destination: a2, Nonce: 7}}})
	if s := m.State(0); s != reap.Operational {
		t.Fatalf("after the peer's probe: %v, want operational", s)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(reapCollector{m.Stats()})
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"# TYPE shim6d_reap_exploration_duration_seconds histogram\n",
		`shim6d_reap_exploration_duration_seconds_bucket{le="1"} 0` + "\n",
		`shim6d_reap_exploration_duration_seconds_bucket{le="2"} 1` + "\n",
		`shim6d_reap_exploration_duration_seconds_bucket{le="300"} 1` + "\n",
		`shim6d_reap_exploration_duration_seconds_bucket{le="+Inf"} 1` + "\n",
		"shim6d_reap_exploration_duration_seconds_sum 1.5\n",
		"shim6d_reap_exploration_duration_seconds_count 1\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "_bucket_le_") {
		t.Error("/metrics still has the plain-counter buckets")
	}
	if t.Failed() {
		t.Log(body)
	}
}
