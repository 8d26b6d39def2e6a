package dpdk

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shim6d/ports"
)

// drain receives and frees whatever waits on every rx queue of the loop
// port, so one test's leftovers do not reach the next.
func drain(t *testing.T) {
	t.Helper()
	var pkts [ports.MaxBurst]ports.Packet
	for q := range ringPort.Config().RxQueues {
		for {
			n := ringPort.RxBurst(q, pkts[:])
			if n == 0 {
				break
			}
			ringPort.Free(pkts[:n])
		}
	}
}

// checkPool fails the test if the pool does not hold want free mbufs.
func checkPool(t *testing.T, want int) {
	t.Helper()
	if got := testPool.Avail(); got != want {
		t.Errorf("testPool.Avail() = %d, want %d (%+d mbufs leaked)", got, want, want-got)
	}
}

// pattern is the frame content the loopback tests send: distinct per
// packet and per byte, so a swapped or shifted packet shows.
func pattern(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j)
	}
	return b
}

func TestHeadroom(t *testing.T) {
	if mbufHeadroom != ports.Headroom {
		t.Fatalf("RTE_PKTMBUF_HEADROOM = %d, ports.Headroom = %d", mbufHeadroom, ports.Headroom)
	}
	var pkts [1]ports.Packet
	if ringPort.Alloc(pkts[:]) != 1 {
		t.Fatal("Alloc: no buffer")
	}
	defer ringPort.Free(pkts[:])
	if pkts[0].Off != ports.Headroom || pkts[0].Len != 0 {
		t.Errorf("Alloc gave Off=%d Len=%d, want Off=%d Len=0", pkts[0].Off, pkts[0].Len, ports.Headroom)
	}
	if want := DefaultDataRoom; int(pkts[0].BufLen) != want || len(pkts[0].Buffer()) != want {
		t.Errorf("BufLen = %d, len(Buffer()) = %d, want the data room %d", pkts[0].BufLen, len(pkts[0].Buffer()), want)
	}
}

func TestEALInitTwice(t *testing.T) {
	err := EALInit(testArgs)
	if err == nil || !strings.Contains(err.Error(), "already initialised") {
		t.Errorf("second EALInit: got %v, want an 'already initialised' error", err)
	}
	if n := LcoreCount(); n != 1 {
		t.Errorf("LcoreCount() = %d, want 1 (-l 0)", n)
	}
}

func TestEALInitError(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), ealChildEnv+"=child --no-such-option --no-huge")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := `dpdk: rte_eal_init: Invalid argument; EAL args ["--no-such-option" "--no-huge"]`
	if !strings.Contains(string(out), want) {
		t.Errorf("EALInit with a bad option printed\n%s\nwant it to contain\n%s", out, want)
	}
	// getopt's complaint goes to stderr, not to DPDK's log; EALInit
	// catches it there, and the error names the option.
	line := errorLine(out, "dpdk: rte_eal_init:")
	if !strings.Contains(line, "; DPDK: ") || !strings.Contains(line, "unrecognized option '--no-such-option'") {
		t.Errorf("EALInit with a bad option returned\n%s\nwant getopt's complaint about --no-such-option in it", line)
	}
}

// TestEALInitPrefixInUse: a second process with this process's
// --file-prefix fails at rte_eal_init, which leaves rte_errno unset; the
// error must still be one (a review found it read as success), with a
// hint at the prefix.
func TestEALInitPrefixInUse(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), ealChildEnv+"=child -l 0 --no-huge --no-pci -m 64 --file-prefix="+testPrefix+" --log-level=lib.eal:crit")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "dpdk: rte_eal_init:") || !strings.Contains(string(out), "same --file-prefix") {
		t.Errorf("EALInit with a prefix in use printed\n%s", out)
	}
}

// TestEALInitErrorCause: when rte_eal_init fails, the error carries what
// DPDK logged about it, not only the errno: here EAL's own complaint that
// another process holds the file prefix.
func TestEALInitErrorCause(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), ealChildEnv+"=child -l 0 --no-huge --no-pci -m 64 --file-prefix="+testPrefix)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	line := errorLine(out, "dpdk: rte_eal_init:")
	t.Log(line)
	if !strings.Contains(line, "; DPDK: EAL: ") || !strings.Contains(line, "another primary process") {
		t.Errorf("EALInit with a prefix in use returned\n%s\nwant DPDK's message (\"Is another primary process running?\") in it; child printed\n%s", line, out)
	}
}

// TestDeviceNotCreated: a device EAL was given but whose driver failed
// is reported with the driver's own reason; only a device EAL was not
// given gets the advice to give it.
func TestDeviceNotCreated(t *testing.T) {
	prefix := testPrefix + "-probe"
	defer os.RemoveAll(filepath.Join("/var/run/dpdk", prefix))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		ealChildEnv+"=child -l 0 --no-huge --no-pci -m 64 --no-telemetry --file-prefix="+prefix+
			" --vdev=net_pcap0,rx_pcap=/nonexistent/in.pcap,tx_pcap=/tmp/out.pcap"+
			" --vdev=net_af_packet0,iface=shim6nosuch0 --vdev=net_null1,size=64",
		ealChildDevicesEnv+"=net_pcap0 net_af_packet0 net_null1 net_null7")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, tt := range []struct{ device, want string }{
		{"net_pcap0", "net_pcap0: dpdk: device net_pcap0: not created by its driver: open_single_rx_pcap(): Couldn't open /nonexistent/in.pcap"},
		{"net_af_packet0", "net_af_packet0: dpdk: device net_af_packet0: not created by its driver: rte_pmd_init_internals(): net_af_packet0: ioctl failed (SIOCGIFINDEX):No such device"},
		{"net_null1", "net_null1: <nil>"},
		{"net_null7", "net_null7: dpdk: device net_null7: rte_eth_dev_get_port_by_name: No such device; no such DPDK device: give it to EAL"},
	} {
		line := errorLine(out, tt.device+": ")
		if !strings.HasPrefix(line, tt.want) {
			t.Errorf("DeviceQueues(%s) printed\n%s\nwant\n%s...", tt.device, line, tt.want)
		}
		if tt.device != "net_null7" && strings.Contains(line, "give it to EAL") {
			t.Errorf("DeviceQueues(%s): %s\nadvises giving EAL a device it was given", tt.device, line)
		}
	}
}

// TestDPDKLogToSlog: with a logger set, DPDK's lines go to it at debug
// level with DPDK's own level, and not to stderr.
func TestDPDKLogToSlog(t *testing.T) {
	prefix := testPrefix + "-log"
	defer os.RemoveAll(filepath.Join("/var/run/dpdk", prefix))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), ealChildEnv+"=child -l 0 --no-huge --no-pci -m 64 --no-telemetry --file-prefix="+prefix)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr.String())
	}
	if want := `level=DEBUG msg="EAL: Detected CPU lcores: `; !strings.Contains(string(out), want) {
		t.Errorf("child's log\n%s\nhas no %s", out, want)
	}
	if !strings.Contains(string(out), "dpdk_level=info") {
		t.Errorf("child's log\n%s\nhas no dpdk_level", out)
	}
	if strings.Contains(stderr.String(), "EAL: Detected") {
		t.Errorf("DPDK still logged to stderr:\n%s", stderr.String())
	}
}

// errorLine returns the line of out that starts with prefix, or "".
func errorLine(out []byte, prefix string) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestCause: of what DPDK logged, the error lines say why; a device's
// lines are found by its whole name.
func TestCause(t *testing.T) {
	lines := []logLine{{1, 6, "EAL: Detected CPU lcores: 2"}, {2, 4, "EAL: invalid core list"}, {3, 7, "EAL: more"}, {4, 4, "EAL: Invalid 'command line' arguments."}}
	if got, want := cause(lines), "EAL: invalid core list / EAL: Invalid 'command line' arguments."; got != want {
		t.Errorf("cause = %q, want %q", got, want)
	}
	if got, want := cause(lines[:1]), "EAL: Detected CPU lcores: 2"; got != want {
		t.Errorf("cause with no error line = %q, want the last line %q", got, want)
	}
	if cause(nil) != "" {
		t.Error("cause of nothing is not empty")
	}
	if !mentions("vdev_probe(): failed to initialize net_null1 device", "net_null1") ||
		mentions("vdev_probe(): failed to initialize net_null10 device", "net_null1") ||
		!mentions("net_null10 and net_null1", "net_null1") {
		t.Error("mentions does not match whole device names")
	}
}

// TestLoopback sends packets built with Alloc through net_ring0, which
// hands each tx queue's mbufs to the rx queue of the same number, and
// checks that they come back byte-identical, with Prepend's 8 bytes.
func TestLoopback(t *testing.T) {
	drain(t)
	avail := testPool.Avail()
	before := ringPort.Stats()
	for q := range uint16(2) {
		t.Run(fmt.Sprintf("queue%d", q), func(t *testing.T) {
			const n = 20
			var pkts [n]ports.Packet
			if got := ringPort.Alloc(pkts[:]); got != n {
				t.Fatalf("Alloc = %d, want %d", got, n)
			}
			want := make([]ports.Packet, n)
			wantBytes := make([][]byte, n)
			for i := range pkts {
				size := 60 + i*50
				if !pkts[i].SetLen(size) {
					t.Fatalf("SetLen(%d) refused", size)
				}
				copy(pkts[i].Frame(), pattern(i, size))
				if i%2 == 1 {
					// Odd packets grow at the front, as the shim's
					// payload header insertion does.
					f, ok := pkts[i].Prepend(8)
					if !ok {
						t.Fatal("Prepend(8) refused")
					}
					copy(f, "SHIM6HDR")
				}
				want[i] = pkts[i]
				want[i].Port = ringIndex
				wantBytes[i] = append([]byte(nil), pkts[i].Frame()...)
			}
			if sent := ringPort.TxBurst(q, pkts[:]); sent != n {
				ringPort.Free(pkts[sent:])
				t.Fatalf("TxBurst = %d, want %d", sent, n)
			}
			var got [ports.MaxBurst]ports.Packet
			m := ringPort.RxBurst(q, got[:])
			defer ringPort.Free(got[:m])
			if diff := cmp.Diff(want, got[:m]); diff != "" {
				t.Errorf("received packets differ (-want +got):\n%s", diff)
			}
			for i := range min(m, n) {
				if diff := cmp.Diff(wantBytes[i], got[i].Frame()); diff != "" {
					t.Errorf("packet %d frame (-want +got):\n%s", i, diff)
				}
				wantLen := 60 + i*50
				if i%2 == 1 {
					wantLen += 8
					if got[i].Off != ports.Headroom-8 {
						t.Errorf("packet %d: Off = %d after Prepend(8), want %d", i, got[i].Off, ports.Headroom-8)
					}
				}
				if int(got[i].Len) != wantLen {
					t.Errorf("packet %d: Len = %d, want %d", i, got[i].Len, wantLen)
				}
			}
		})
	}
	checkPool(t, avail)
	after := ringPort.Stats()
	if d := after.TxPackets - before.TxPackets; d != 40 {
		t.Errorf("Stats: TxPackets went up by %d, want 40", d)
	}
	if d := after.RxPackets - before.RxPackets; d != 40 {
		t.Errorf("Stats: RxPackets went up by %d, want 40", d)
	}
}

// TestTxBurstPartial fills net_ring0's queue (an rte_ring of 1023 mbufs)
// and checks that TxBurst reports what it took and leaves the rest to us.
func TestTxBurstPartial(t *testing.T) {
	drain(t)
	avail := testPool.Avail()
	pkts := make([]ports.Packet, 1100)
	if got := ringPort.Alloc(pkts); got != len(pkts) {
		ringPort.Free(pkts[:got])
		t.Fatalf("Alloc = %d, want %d", got, len(pkts))
	}
	for i := range pkts {
		pkts[i].SetLen(64)
	}
	sent := ringPort.TxBurst(0, pkts)
	ringPort.Free(pkts[sent:])
	if sent != 1023 {
		t.Errorf("TxBurst of %d into a 1023-slot ring took %d", len(pkts), sent)
	}
	if again := ringPort.TxBurst(0, pkts[:0]); again != 0 {
		t.Errorf("TxBurst of nothing = %d", again)
	}
	drain(t)
	checkPool(t, avail)
}

func TestRxBurstLimits(t *testing.T) {
	drain(t)
	var none []ports.Packet
	if n := ringPort.RxBurst(0, none); n != 0 {
		t.Errorf("RxBurst into an empty slice = %d", n)
	}
	big := make([]ports.Packet, 3*ports.MaxBurst)
	sent := 0
	if got := ringPort.Alloc(big); got != len(big) {
		t.Fatalf("Alloc = %d", got)
	}
	sent = ringPort.TxBurst(1, big)
	if sent != len(big) {
		t.Fatalf("TxBurst = %d, want %d", sent, len(big))
	}
	if n := ringPort.RxBurst(1, big); n != ports.MaxBurst {
		t.Errorf("RxBurst with room for %d = %d, want ports.MaxBurst", len(big), n)
	}
	ringPort.Free(big[:ports.MaxBurst])
	drain(t)
}

func TestNullRxTx(t *testing.T) {
	avail := testPool.Avail()
	before := nullSink.Stats()
	var pkts [ports.MaxBurst]ports.Packet
	n := nullSrc.RxBurst(0, pkts[:])
	if n != ports.MaxBurst {
		t.Fatalf("RxBurst from net_null = %d, want %d", n, ports.MaxBurst)
	}
	for i, p := range pkts[:n] {
		if p.Port != 1 || p.Off != ports.Headroom || p.Len != 64 || p.Handle == 0 || p.Addr == 0 {
			t.Errorf("packet %d: Port=%d Off=%d Len=%d Handle=%#x Addr=%#x, want 1 %d 64 non-zero non-zero",
				i, p.Port, p.Off, p.Len, p.Handle, p.Addr, ports.Headroom)
		}
	}
	if sent := nullSink.TxBurst(0, pkts[:n]); sent != n {
		nullSink.Free(pkts[sent:n])
		t.Errorf("TxBurst to net_null = %d, want %d", sent, n)
	}
	checkPool(t, avail)
	after := nullSink.Stats()
	if d := after.TxPackets - before.TxPackets; d != uint64(n) {
		t.Errorf("sink Stats: TxPackets went up by %d, want %d", d, n)
	}
	// net_null counts packets, not bytes.
}

func TestStats(t *testing.T) {
	drain(t)
	if err := ringPort.ResetStats(); err != nil {
		t.Fatal(err)
	}
	var pkts [10]ports.Packet
	if ringPort.Alloc(pkts[:]) != len(pkts) {
		t.Fatal("Alloc failed")
	}
	for i := range pkts {
		pkts[i].SetLen(100)
	}
	if ringPort.TxBurst(0, pkts[:]) != len(pkts) {
		t.Fatal("TxBurst failed")
	}
	drain(t)
	// net_ring counts packets but not bytes.
	want := ports.Stats{RxPackets: 10, TxPackets: 10}
	if diff := cmp.Diff(want, ringPort.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestPortInfo(t *testing.T) {
	if got := ringPort.Name(); got != "loop" {
		t.Errorf("Name() = %q", got)
	}
	if l := ringPort.Link(); !l.Up {
		t.Errorf("Link() = %+v, want up (net_ring is up once started)", l)
	}
	// net_ring cannot set its MTU: OpenPort tolerated the ENOTSUP from
	// the fixture's MTU 1400, and MTU reports the device's own.
	if mtu := ringPort.MTU(); mtu != 1500 {
		t.Errorf("MTU() = %d, want the device's 1500", mtu)
	}
	if ringPort.RSS() != 0 {
		t.Errorf("RSS() = %#x: net_ring has no RSS", ringPort.RSS())
	}
	c := ringPort.Config()
	if c.RxDesc == 0 || c.TxDesc == 0 {
		t.Errorf("Config() left descriptors unset: %+v", c)
	}
	if ringPort.MAC() == ([6]byte{}) && nullSrc.MAC() == ([6]byte{}) {
		t.Log("MAC(): both virtual devices report 00:00:00:00:00:00")
	}
	if ringPort.DPDKPortID() == nullSrc.DPDKPortID() {
		t.Errorf("two ports share DPDK port id %d", ringPort.DPDKPortID())
	}
}

func TestAllocFree(t *testing.T) {
	small, err := NewPktmbufPool("small", 63, 0, 0, SocketAny)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Free()
	if small.Avail() != 63 || small.InUse() != 0 {
		t.Fatalf("fresh pool: Avail=%d InUse=%d, want 63 0", small.Avail(), small.InUse())
	}
	pkts := make([]ports.Packet, 100)
	n := small.Alloc(pkts, 5)
	if n != 63 {
		t.Errorf("Alloc of 100 from a 63-mbuf pool = %d, want 63", n)
	}
	if small.Avail() != 0 || small.InUse() != 63 {
		t.Errorf("after Alloc: Avail=%d InUse=%d, want 0 63", small.Avail(), small.InUse())
	}
	if more := small.Alloc(pkts[n:], 5); more != 0 {
		t.Errorf("Alloc from an empty pool = %d", more)
	}
	seen := map[uintptr]bool{}
	for _, p := range pkts[:n] {
		if seen[p.Handle] || p.Port != 5 || p.Off != ports.Headroom || p.Len != 0 {
			t.Fatalf("bad packet from Alloc: %+v (duplicate handle: %v)", p, seen[p.Handle])
		}
		seen[p.Handle] = true
	}
	Free(pkts[:n])
	if small.Avail() != 63 {
		t.Errorf("after Free: Avail=%d, want 63", small.Avail())
	}
}

// TestAllocFreeConcurrent runs Alloc and Free from several goroutines at
// once, as workers and the control core do; run it with -race too.
func TestAllocFreeConcurrent(t *testing.T) {
	avail := testPool.Avail()
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pkts [ports.MaxBurst]ports.Packet
			for i := range 1000 {
				n := ringPort.Alloc(pkts[:1+(g+i)%ports.MaxBurst])
				ringPort.Free(pkts[:n])
			}
		}()
	}
	wg.Wait()
	checkPool(t, avail)
}

func TestRing(t *testing.T) {
	avail := testPool.Avail()
	r, err := NewRing("ctl", 40)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	if r.Cap() != 40 || r.Count() != 0 {
		t.Fatalf("new ring: Cap=%d Count=%d, want 40 0", r.Cap(), r.Count())
	}
	var in [ports.MaxBurst]ports.Packet
	if ringPort.Alloc(in[:]) != len(in) {
		t.Fatal("Alloc failed")
	}
	for i := range in {
		in[i].SetLen(70 + i)
		if i%3 == 0 {
			in[i].Prepend(8)
		}
		copy(in[i].Frame(), pattern(i, int(in[i].Len)))
		in[i].Port = uint16(i % 4)
	}
	if n := r.MpEnqueueBurst(in[:]); n != ports.MaxBurst {
		t.Fatalf("first MpEnqueueBurst = %d, want %d", n, ports.MaxBurst)
	}
	var more [ports.MaxBurst]ports.Packet
	if ringPort.Alloc(more[:]) != len(more) {
		t.Fatal("Alloc failed")
	}
	n := r.MpEnqueueBurst(more[:])
	if n != 8 {
		t.Errorf("MpEnqueueBurst into a ring with 8 free slots took %d", n)
	}
	ringPort.Free(more[n:])
	if r.Count() != 40 {
		t.Errorf("full ring: Count() = %d, want 40", r.Count())
	}
	if full := r.MpEnqueueBurst(more[n:]); full != 0 {
		t.Errorf("MpEnqueueBurst into a full ring took %d", full)
	}

	var out [ports.MaxBurst]ports.Packet
	got := r.ScDequeueBurst(out[:])
	want := in
	if diff := cmp.Diff(want[:], out[:got]); diff != "" {
		t.Errorf("dequeued packets (-want +got):\n%s", diff)
	}
	for i := range out[:got] {
		if diff := cmp.Diff(pattern(i, int(out[i].Len)), out[i].Frame()); diff != "" {
			t.Errorf("packet %d frame (-want +got):\n%s", i, diff)
		}
	}
	Free(out[:got])
	if r.Count() != 8 {
		t.Errorf("after one dequeue: Count() = %d, want 8", r.Count())
	}
	// Free must hand the 8 left in the ring back to the pool.
	r.Free()
	checkPool(t, avail)
}

// TestRingMPSC has several producers enqueue at once while one consumer
// dequeues; run it with -race too.
func TestRingMPSC(t *testing.T) {
	avail := testPool.Avail()
	r, err := NewRing("mpsc", 256)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	const producers, perProducer = 3, 3000
	var wg sync.WaitGroup
	for g := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pkts [8]ports.Packet
			for left := perProducer; left > 0; {
				n := ringPort.Alloc(pkts[:min(left, len(pkts))])
				for i := range pkts[:n] {
					pkts[i].Port = uint16(g)
					pkts[i].SetLen(60)
				}
				k := r.MpEnqueueBurst(pkts[:n])
				ringPort.Free(pkts[k:n])
				left -= k
				if k == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	var perPort [producers]int
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var out [ports.MaxBurst]ports.Packet
	for finished := false; ; {
		n := r.ScDequeueBurst(out[:])
		for _, p := range out[:n] {
			if int(p.Port) < producers && p.Len == 60 {
				perPort[p.Port]++
			}
		}
		Free(out[:n])
		if n == 0 {
			if finished {
				break
			}
			select {
			case <-done:
				finished = true // one more pass for the last bursts
			default:
				runtime.Gosched()
			}
		}
	}
	for g, n := range perPort {
		if n != perProducer {
			t.Errorf("producer %d: %d packets dequeued, want %d", g, n, perProducer)
		}
	}
	checkPool(t, avail)
}

func TestOpenPortErrors(t *testing.T) {
	tests := []struct {
		name  string
		cfg   PortConfig
		want  []string
		errno syscall.Errno
	}{{
		name:  "unknown device",
		cfg:   PortConfig{Name: "isp9", Device: "net_nope0", Pool: testPool},
		want:  []string{`dpdk: port "isp9" (net_nope0): rte_eth_dev_get_port_by_name: No such device`, "--vdev"},
		errno: syscall.ENODEV,
	}, {
		name: "no pool",
		cfg:  PortConfig{Name: "isp9", Device: "net_null2"},
		want: []string{`port "isp9" (net_null2): no mempool`},
	}, {
		name: "too many queues",
		cfg:  PortConfig{Name: "isp9", Device: "net_null2", RxQueues: 5000, Pool: testPool},
		want: []string{`port "isp9" (net_null2): 5000 rx and 1 tx queues asked for`},
	}, {
		name: "MTU larger than an mbuf",
		cfg:  PortConfig{Name: "isp9", Device: "net_null2", MTU: 9000, Pool: testPool},
		want: []string{"MTU 9000 does not fit", "without scatter"},
	}}
	// Every case must fail before rte_eth_dev_configure: a port that opens
	// and is closed again takes its vdev with it, and TestClose needs it.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := OpenPort(tt.cfg)
			if err == nil {
				p.Close()
				t.Fatal("OpenPort succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.errno != 0 && !errors.Is(err, tt.errno) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.errno)
			}
		})
	}
}

func TestDeviceQueues(t *testing.T) {
	rx, tx, err := DeviceQueues("net_ring0")
	if err != nil || rx < 2 || tx < 2 {
		t.Errorf("DeviceQueues(net_ring0) = %d, %d, %v; want at least the 2 and 2 the fixture uses", rx, tx, err)
	}
	if _, _, err := DeviceQueues("net_nope0"); !errors.Is(err, syscall.ENODEV) ||
		!strings.Contains(err.Error(), "dpdk: device net_nope0: rte_eth_dev_get_port_by_name") {
		t.Errorf("DeviceQueues(net_nope0): got %v", err)
	}
}

func TestCreateErrors(t *testing.T) {
	if _, err := NewPktmbufPool("test", 63, 0, 0, SocketAny); err == nil ||
		!strings.Contains(err.Error(), `dpdk: mempool "test": rte_pktmbuf_pool_create: File exists`) {
		t.Errorf("pool with a taken name: got %v", err)
	}
	if _, err := NewPktmbufPool("tiny", 63, 0, 100, SocketAny); err == nil {
		t.Error("pool with a 100-byte data room: no error")
	}
	if _, err := NewPktmbufPool("huge", 1<<28, 0, 0, SocketAny); !errors.Is(err, syscall.ENOMEM) {
		t.Errorf("pool larger than EAL's memory: got %v, want ENOMEM", err)
	}
	r, err := NewRing("dup", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	if _, err := NewRing("dup", 16); !errors.Is(err, syscall.EEXIST) ||
		!strings.Contains(err.Error(), `dpdk: ring "dup": rte_ring_create`) {
		t.Errorf("ring with a taken name: got %v", err)
	}
}

// TestClose opens and closes net_null2; closing releases the vdev, so it
// cannot be opened again, and the test checks that this is reported.
func TestClose(t *testing.T) {
	avail := testPool.Avail()
	p, err := OpenPort(PortConfig{Index: 3, Name: "spare", Device: "net_null2",
		RxQueues: 2, TxQueues: 2, RxDesc: 64, TxDesc: 64, MTU: 1400, Promiscuous: true, Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	if mtu := p.MTU(); mtu != 1400 {
		t.Errorf("MTU() = %d, want 1400 (net_null can set it)", mtu)
	}
	// net_null offers RSS on every IPv6 hash we ask for.
	if p.RSS() != rssIPv6 {
		t.Errorf("RSS() = %#x with 2 rx queues, want %#x", p.RSS(), uint64(rssIPv6))
	}
	if _, err := OpenPort(PortConfig{Name: "again", Device: "net_null2", Pool: testPool}); err == nil ||
		!strings.Contains(err.Error(), `port "again" (net_null2): device already opened as port "spare"`) {
		t.Errorf("opening an open device again: got %v", err)
	}
	var pkts [4]ports.Packet
	n := p.RxBurst(1, pkts[:])
	p.Free(pkts[:n])
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checkPool(t, avail)
	if _, err := OpenPort(PortConfig{Name: "spare", Device: "net_null2", Pool: testPool}); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("reopening a closed vdev: got %v, want ENODEV", err)
	}
}

// TestRegisterThread runs on a goroutine that locks its thread and never
// unlocks it, so the pinned thread ends with the goroutine instead of
// going back to the Go scheduler.
func TestRegisterThread(t *testing.T) {
	type result struct {
		before, lcore, during, after int
		errs                         []error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread()
		var r result
		r.before = LcoreID()
		if err := SetThreadAffinity(0); err != nil {
			r.errs = append(r.errs, err)
		}
		if err := SetThreadAffinity(1 << 20); err == nil {
			r.errs = append(r.errs, errors.New("SetThreadAffinity(1<<20) succeeded"))
		}
		lcore, err := RegisterThread()
		if err != nil {
			r.errs = append(r.errs, err)
		}
		r.lcore, r.during = lcore, LcoreID()
		// Alloc and Free now go through this lcore's mempool cache.
		var pkts [ports.MaxBurst]ports.Packet
		n := ringPort.Alloc(pkts[:])
		ringPort.Free(pkts[:n])
		UnregisterThread()
		r.after = LcoreID()
		ch <- r
	}()
	r := <-ch
	for _, err := range r.errs {
		t.Error(err)
	}
	if r.before != -1 || r.after != -1 {
		t.Errorf("LcoreID before/after registration = %d/%d, want -1/-1", r.before, r.after)
	}
	// Lcore 0 is the main lcore (-l 0); a registered thread gets another.
	if r.lcore < 1 || r.during != r.lcore {
		t.Errorf("RegisterThread = %d, LcoreID() = %d; want the same id, not 0", r.lcore, r.during)
	}
}

func TestErrorFormat(t *testing.T) {
	err := error(&Error{Object: `port "isp1" (net_af_packet1)`, Op: "rte_eth_dev_configure", Errno: int(syscall.EINVAL)})
	if got, want := err.Error(), `dpdk: port "isp1" (net_af_packet1): rte_eth_dev_configure: Invalid argument`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, syscall.EINVAL) {
		t.Error("errors.Is(err, EINVAL) = false")
	}
	dpdkOwn := &Error{Op: "x", Errno: 1001}
	if dpdkOwn.Unwrap() != nil || !strings.Contains(dpdkOwn.Error(), "x: ") {
		t.Errorf("DPDK's own errno: Unwrap=%v Error=%q", dpdkOwn.Unwrap(), dpdkOwn.Error())
	}
}

// TestNoAllocs is the per-packet allocation gate: none of the burst calls
// may allocate.
func TestNoAllocs(t *testing.T) {
	drain(t)
	r, err := NewRing("noallocs", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	var pkts, back [ports.MaxBurst]ports.Packet
	tests := []struct {
		name string
		fn   func()
	}{
		{"Alloc+Free", func() {
			n := ringPort.Alloc(pkts[:])
			ringPort.Free(pkts[:n])
		}},
		{"RxBurst empty", func() { ringPort.RxBurst(1, pkts[:]) }},
		{"Alloc+TxBurst+RxBurst+Free", func() {
			n := ringPort.Alloc(pkts[:])
			n = ringPort.TxBurst(0, pkts[:n])
			m := ringPort.RxBurst(0, back[:])
			ringPort.Free(back[:m])
			_ = n
		}},
		{"RxBurst+TxBurst net_null", func() {
			n := nullSrc.RxBurst(0, pkts[:])
			k := nullSink.TxBurst(0, pkts[:n])
			nullSink.Free(pkts[k:n])
		}},
		{"Alloc+MpEnqueueBurst+ScDequeueBurst+Free", func() {
			n := ringPort.Alloc(pkts[:])
			k := r.MpEnqueueBurst(pkts[:n])
			ringPort.Free(pkts[k:n])
			m := r.ScDequeueBurst(back[:])
			Free(back[:m])
		}},
	}
	for _, tt := range tests {
		if a := testing.AllocsPerRun(200, tt.fn); a != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tt.name, a)
		}
	}
}

// TestRound runs a worker's round over net_ring0 and net_null0 in one C
// call each: a burst received from net_null0 is handed, by swapping
// buffers, to net_ring0, whose next round sends it and, since net_ring
// loops tx to rx, receives it back in the same call, byte for byte.
func TestRound(t *testing.T) {
	drain(t)
	avail := testPool.Avail()
	rd, ok := ringPort.OpenRound([]ports.Port{ringPort, nullSrc}, 0, 0)
	if !ok {
		t.Fatal("OpenRound refused two started ports of this backend")
	}
	r := new(ports.Round)
	r.Init()
	if got := rd.Round(r, true); got != ports.MaxBurst || r.NRx[0] != 0 || r.NRx[1] != ports.MaxBurst {
		t.Fatalf("first Round = %d, NRx = %v; want a burst from net_null only", got, r.NRx[:2])
	}
	if r.RxBytes[1] != 64*ports.MaxBurst {
		t.Errorf("RxBytes = %v, want %d from net_null's 64-byte packets", r.RxBytes[:2], 64*ports.MaxBurst)
	}
	// Lengths that differ, so that a byte count that is off shows.
	for i := range r.Rx(1) {
		r.Rx(1)[i].SetLen(60 + i)
	}
	wantBytes := uint32(ports.MaxBurst*60 + ports.MaxBurst*(ports.MaxBurst-1)/2)
	want := make([][]byte, ports.MaxBurst)
	for i, p := range r.Rx(1) {
		if p.Port != 1 {
			t.Errorf("packet %d: Port = %d, want 1", i, p.Port)
		}
		copy(p.Frame(), pattern(i, int(p.Len)))
		want[i] = pattern(i, int(p.Len))
	}
	r.RxBuf[1], r.TxBuf[0] = r.TxBuf[0], r.RxBuf[1]
	r.NTx[0] = ports.MaxBurst
	got := rd.Round(r, true)
	if r.Sent[0] != ports.MaxBurst || r.Sent[1] != 0 {
		t.Errorf("Sent = %v, want all %d on net_ring0", r.Sent[:2], ports.MaxBurst)
	}
	if r.TxBytes[0] != wantBytes || r.RxBytes[0] != wantBytes {
		t.Errorf("TxBytes[0] = %d, RxBytes[0] = %d; want both %d", r.TxBytes[0], r.RxBytes[0], wantBytes)
	}
	if got != 2*ports.MaxBurst || r.NRx[0] != ports.MaxBurst || r.NRx[1] != ports.MaxBurst {
		t.Fatalf("second Round = %d, NRx = %v; want the looped burst back and a new one", got, r.NRx[:2])
	}
	for i, p := range r.Rx(0) {
		if p.Port != ringIndex || !cmp.Equal(p.Frame(), want[i]) {
			t.Errorf("looped packet %d: Port %d, frame %x; want %d, %x", i, p.Port, p.Frame(), ringIndex, want[i])
		}
	}
	// A round without rx sends and leaves the received bursts alone.
	ringPort.Free(r.Rx(0))
	r.RxBuf[1], r.TxBuf[1] = r.TxBuf[1], r.RxBuf[1]
	r.NTx[1] = ports.MaxBurst
	if got := rd.Round(r, false); got != 0 || r.Sent[1] != ports.MaxBurst || r.NRx[0] != ports.MaxBurst || r.NRx[1] != ports.MaxBurst {
		t.Errorf("Round(rx=false) = %d, Sent = %v, NRx = %v; want net_null0 to send all, NRx kept", got, r.Sent[:2], r.NRx[:2])
	}
	checkPool(t, avail)
}

func TestOpenRoundRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ps       []ports.Port
		rxq, txq uint16
	}{
		{"queue beyond the port's", []ports.Port{ringPort, nullSrc}, 1, 0},
		{"another backend's port", []ports.Port{ringPort, otherPort{}}, 0, 0},
		{"too many ports", make([]ports.Port, ports.MaxPorts+1), 0, 0},
	} {
		if _, ok := ringPort.OpenRound(tc.ps, tc.rxq, tc.txq); ok {
			t.Errorf("%s: OpenRound accepted", tc.name)
		}
	}
}

// otherPort stands for a port of another backend.
type otherPort struct{ ports.Port }

// TestRoundPartialTx: a queue with room for part of a burst takes the
// first packets; Sent and TxBytes count those alone.
func TestRoundPartialTx(t *testing.T) {
	drain(t)
	avail := testPool.Avail()
	fill := make([]ports.Packet, 1023-9)
	if ringPort.Alloc(fill) != len(fill) {
		t.Fatal("Alloc")
	}
	if sent := ringPort.TxBurst(0, fill); sent != len(fill) {
		ringPort.Free(fill[sent:])
		t.Fatalf("TxBurst = %d, want %d", sent, len(fill))
	}
	rd, _ := ringPort.OpenRound([]ports.Port{ringPort}, 0, 0)
	r := new(ports.Round)
	r.Init()
	burst := r.Bufs[r.TxBuf[0]][:ports.MaxBurst]
	if ringPort.Alloc(burst) != len(burst) {
		t.Fatal("Alloc")
	}
	for i := range burst {
		burst[i].SetLen(100 + i)
	}
	r.NTx[0] = ports.MaxBurst
	rd.Round(r, false)
	want := uint32(9*100 + 9*8/2)
	if r.Sent[0] != 9 || r.TxBytes[0] != want {
		t.Errorf("Sent = %d, TxBytes = %d into a ring with 9 free slots; want 9, %d", r.Sent[0], r.TxBytes[0], want)
	}
	ringPort.Free(burst[r.Sent[0]:])
	drain(t)
	checkPool(t, avail)
}
