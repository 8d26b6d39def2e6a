package control

import (
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"shim6d/control/shim6"
)

var (
	benchHostsOnce sync.Once
	benchHostsA    []netip.Addr
	benchHostsB    []netip.Addr
	benchSetsA     map[netip.Addr]shim6.LocatorSet
	benchSetsB     map[netip.Addr]shim6.LocatorSet
)

// benchHosts makes, once per test binary, 1024 hosts behind each proxy,
// each with its own HBA-only set (Sec 0, two prefixes): a million ULID
// pairs, so no handshake of a run repeats one.
func benchHosts(tb testing.TB) {
	benchHostsOnce.Do(func() {
		const n = 1024
		benchSetsA, benchSetsB = map[netip.Addr]shim6.LocatorSet{}, map[netip.Addr]shim6.LocatorSet{}
		for range n {
			u, s := hbaHost(tb, nil, prefixA1, prefixA2)
			benchHostsA, benchSetsA[u] = append(benchHostsA, u), s
			u, s = hbaHost(tb, nil, prefixB1, prefixB2)
			benchHostsB, benchSetsB[u] = append(benchHostsB, u), s
		}
	})
}

// BenchmarkHandshakeHBA: full I1/R1/I2/R2 exchanges (RFC 5533 §7) per
// second between two machines on one goroutine, so one core does the work
// of both ends: every message encoded and decoded, both Locator Lists
// verified by HBAVerifier against real HBA sets (RFC 5535 §7.2). It also
// reports the heap that established contexts keep, per context and both
// ends counted (B/context), and the fast-path table's share, allocated
// before (table_B/context). The targets: 50,000 handshakes/s and
// 1 KiB per context besides the table.
func BenchmarkHandshakeHBA(b *testing.B) {
	benchHosts(b)
	nA, nB := len(benchHostsA), len(benchHostsB)
	if b.N > nA*nB {
		b.Fatalf("%d handshakes, only %d ULID pairs", b.N, nA*nB)
	}
	n := newHSNet(b)
	pa := n.addSite(b.N+64, benchSetsA, nil, prefixA1, prefixA2)
	pb := n.addSite(b.N+64, benchSetsB, nil, prefixB1, prefixB2)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := pa.m.Establish(benchHostsA[i%nA], benchHostsB[i/nA]); err != nil {
			b.Fatal(err)
		}
		n.run()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
	if got := pb.m.Stats.Contexts(shim6.Established); pa.m.Stats.HandshakesCompleted.Load() != uint64(b.N) || got != int64(b.N) {
		b.Fatalf("%d of %d handshakes completed, %d contexts established at the responder (%d lists refused)",
			pa.m.Stats.HandshakesCompleted.Load(), b.N, got, pa.m.Stats.VerificationFailures.Load()+pb.m.Stats.VerificationFailures.Load())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(2*b.N), "B/context")
	b.ReportMetric(pa.table.BytesPerContext(), "table_B/context")
	runtime.KeepAlive(pa)
	runtime.KeepAlive(pb)
}
