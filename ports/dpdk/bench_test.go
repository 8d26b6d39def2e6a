package dpdk

import (
	"runtime"
	"testing"

	"shim6d/ports"
)

// Benchmarks keep to the shared fixtures and one lcore; run them short on
// the 2-core lab machine, e.g.
//
//	go test ./ports/dpdk/ -run '^$' -bench . -benchtime 200000x -count 3

// onLcore runs fn the way a worker runs: on a goroutine locked to its
// thread and registered with DPDK, so mempool operations go through the
// per-lcore cache. With lcore false it runs unregistered, as the control
// core or a stray goroutine would, and every mbuf goes to the pool's ring.
func onLcore(b *testing.B, lcore bool, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if lcore {
			if _, err := RegisterThread(); err != nil {
				b.Error(err)
				return
			}
			defer UnregisterThread()
		}
		fn()
	}()
	<-done
}

var lcoreCases = []struct {
	name  string
	lcore bool
}{{"lcore", true}, {"nolcore", false}}

// BenchmarkRxTxNull receives bursts from net_null0 and transmits them to
// net_null1 (which frees them): the binding's whole per-packet cost, with
// net_null allocating and freeing the mbufs. One op is one packet.
func BenchmarkRxTxNull(b *testing.B) {
	for _, c := range lcoreCases {
		b.Run(c.name, func(b *testing.B) {
			var pkts [ports.MaxBurst]ports.Packet
			onLcore(b, c.lcore, func() {
				b.ResetTimer()
				for done := 0; done < b.N; {
					n := nullSrc.RxBurst(0, pkts[:])
					k := nullSink.TxBurst(0, pkts[:n])
					if k < n {
						nullSink.Free(pkts[k:n])
					}
					done += n
				}
			})
		})
	}
}

// BenchmarkRxBurstEmpty polls an idle rx queue: the floor of one cgo
// crossing plus the PMD's empty poll. One op is one RxBurst call.
func BenchmarkRxBurstEmpty(b *testing.B) {
	var pkts [ports.MaxBurst]ports.Packet
	for b.Loop() {
		if ringPort.RxBurst(1, pkts[:]) != 0 {
			b.Fatal("queue 1 of net_ring0 is not idle")
		}
	}
}

// BenchmarkRingMPSC enqueues a burst of 32 and dequeues it again. One op is
// one burst each way.
func BenchmarkRingMPSC(b *testing.B) {
	r, err := NewRing("bench", 1024)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Free()
	var pkts, out [ports.MaxBurst]ports.Packet
	if ringPort.Alloc(pkts[:]) != ports.MaxBurst {
		b.Fatal("Alloc failed")
	}
	defer Free(pkts[:])
	for b.Loop() {
		r.MpEnqueueBurst(pkts[:])
		r.ScDequeueBurst(out[:])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*ports.MaxBurst), "ns/pkt")
}

// BenchmarkAllocFree allocates a burst of 32 and frees it. One op is one
// burst each way.
func BenchmarkAllocFree(b *testing.B) {
	for _, c := range lcoreCases {
		b.Run(c.name, func(b *testing.B) {
			var pkts [ports.MaxBurst]ports.Packet
			onLcore(b, c.lcore, func() {
				b.ResetTimer()
				for range b.N {
					n := ringPort.Alloc(pkts[:])
					ringPort.Free(pkts[:n])
				}
			})
		})
	}
}

// BenchmarkTxRxRing transmits a burst of 32 on net_ring0 and receives it
// back, writing and then viewing every mbuf. One op is one burst each way.
func BenchmarkTxRxRing(b *testing.B) {
	var pkts [ports.MaxBurst]ports.Packet
	if ringPort.Alloc(pkts[:]) != ports.MaxBurst {
		b.Fatal("Alloc failed")
	}
	for i := range pkts {
		pkts[i].SetLen(64)
	}
	for b.Loop() {
		n := ringPort.TxBurst(0, pkts[:])
		if ringPort.RxBurst(0, pkts[:]) != n || n != ports.MaxBurst {
			b.Fatal("net_ring0 lost packets")
		}
	}
	Free(pkts[:])
}
