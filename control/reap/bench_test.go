package reap

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"shim6d/control/wire"
)

// arrayTraffic is feedback as the workers keep it: per-slot stamps in two
// flat arrays (dataplane.Feedback), converted to time at the edge.
type arrayTraffic struct {
	base       time.Time
	sent, recv []int64
}

func (a *arrayTraffic) Last(id ID) (time.Time, time.Time) {
	s, r := a.sent[id], a.recv[id]
	var ts, tr time.Time
	if s != 0 {
		ts = a.base.Add(time.Duration(s))
	}
	if r != 0 {
		tr = a.base.Add(time.Duration(r))
	}
	return ts, tr
}

type nopOutput struct{ probes, keepalives int }

func (o *nopOutput) SendProbe(ID, netip.Addr, netip.Addr, *wire.Probe)         { o.probes++ }
func (o *nopOutput) SendKeepalive(ID, netip.Addr, netip.Addr, *wire.Keepalive) { o.keepalives++ }
func (o *nopOutput) OnSwitch(ID, netip.Addr, netip.Addr)                       {}

// BenchmarkTickIdle measures the control core's cost of REAP for 1,000,000
// idle-but-healthy contexts: one op is one second of Ticks every 10 ms,
// so ns/op is control-core nanoseconds per second.
func BenchmarkTickIdle(b *testing.B) {
	for _, every := range []time.Duration{DefaultCheckInterval, 5 * time.Second} {
		b.Run(fmt.Sprintf("contexts=1M/check=%v", every), func(b *testing.B) {
			const n = 1_000_000
			clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			tr := &arrayTraffic{base: clock.t, sent: make([]int64, n), recv: make([]int64, n)}
			out := &nopOutput{}
			m, err := New(Config{Clock: clock, Traffic: tr, Output: out, Capacity: n, CheckInterval: every})
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if err := m.Add(ID(i), Context{PeerTag: uint64(i), Local: locs(a1, a2), Peer: locs(b1, b2),
					CurrentLocal: a1, CurrentPeer: b1}); err != nil {
					b.Fatal(err)
				}
			}
			// Settle: one full check period so the checks are spread.
			for range int(every / DefaultGranularity) {
				clock.Advance(DefaultGranularity)
				m.Tick()
			}
			b.ResetTimer()
			for range b.N {
				for range 100 {
					clock.Advance(DefaultGranularity)
					m.Tick()
				}
			}
			b.StopTimer()
			if out.probes+out.keepalives != 0 || m.stats.states[Operational].Load() != n {
				b.Fatalf("idle contexts sent %d probes, %d keepalives", out.probes, out.keepalives)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e7, "%core")
		})
	}
}

// BenchmarkLinkDownUplink: an uplink with 1,000 hosts fails, at a million
// contexts (a quarter in use): one op is the one LinkDown call the core
// makes, and the LinkUp that undoes it.
func BenchmarkLinkDownUplink(b *testing.B) {
	const capacity, hosts = 1 << 20, 1000
	m, err := New(Config{Capacity: capacity, Clock: &fakeClock{t: time.Unix(1000, 0)}, Output: &nopOutput{}, Traffic: &arrayTraffic{sent: make([]int64, capacity), recv: make([]int64, capacity)}})
	if err != nil {
		b.Fatal(err)
	}
	down := make([]netip.Addr, hosts)
	for i := range down {
		down[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xa1, 14: byte(i >> 8), 15: byte(i)})
	}
	peer := netip.MustParseAddr("2001:db8:b1::1")
	for i := 0; i < capacity; i += 4 {
		l := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xa2, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		if err := m.Add(ID(i), Context{Local: []Locator{{Addr: l}, {Addr: down[i%hosts]}}, Peer: []Locator{{Addr: peer}}, CurrentLocal: l, CurrentPeer: peer}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		m.LinkDown(down...)
		m.LinkUp(down...)
	}
}
