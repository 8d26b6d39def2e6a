package control

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time the process has used, user and system: on a
// shared box a load's wall time says as much about the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSynthesize loads 1M and 10M synthetic contexts into a running
// core's table (sized 2^24, as a daemon holding 10M is configured) and
// reports per load its wall time (s/load) and CPU time (cpu-s/load: the
// one to compare on a shared box), and per context the memory: the
// table's own (table-B/slot, the fast path, allocated before the load)
// and the heap's growth over the load (heap-B/ctx: the control state, the
// ICMPv6 error index). 10M needs about 4 GB of memory and a minute or
// more: skipped under -short.
func BenchmarkSynthesize(b *testing.B) {
	for _, n := range []struct {
		name  string
		count uint64
	}{{"1M", 1_000_000}, {"10M", 10_000_000}} {
		b.Run(n.name, func(b *testing.B) {
			if testing.Short() && n.count > 1_000_000 {
				b.Skip("10M contexts need about 4 GB of memory and a minute or more: not under -short")
			}
			for range b.N {
				b.StopTimer()
				c := synthCoreSized(b, true, 1<<24)
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				b.StartTimer()
				t0, cpu0 := time.Now(), cpuTime()
				made, err := c.Admin().Synthesize(n.count, 1, nil)
				el, cpu := time.Since(t0), cpuTime()-cpu0
				b.StopTimer()
				if err != nil || uint64(made) != n.count {
					b.Fatalf("made %d of %d: %v", made, n.count, err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(el.Seconds(), "s/load")
				b.ReportMetric(cpu.Seconds(), "cpu-s/load")
				b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(n.count), "heap-B/ctx")
				b.ReportMetric(float64(after.Sys-before.Sys)/float64(n.count), "sys-B/ctx")
				b.ReportMetric(c.cfg.Contexts.BytesPerContext(), "table-B/slot")
				c.Stop()
				b.StartTimer()
			}
		})
	}
}
