package dpdk

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The test process's EAL: one lcore (the main thread, which EALInit
// retires), no hugepages, no PCI, and the virtual devices the tests use.
// net_ring0 loops tx queue i back to rx queue i; net_null0 is a source of
// 64-byte packets and net_null1 a sink; net_null2 is for the test that
// closes a port, which takes the device away for good; net_null3, 4 and
// net_ring1, 2 are TestPortMACs' (a port that fails to open after its
// device was configured takes the device away too).
var (
	testPrefix = fmt.Sprintf("shim6d-dpdktest-%d", os.Getpid())
	testArgs   = []string{"dpdk.test",
		"-l", "0", "--no-huge", "--no-pci", "-m", "512",
		"--file-prefix=" + testPrefix, "--no-telemetry", "--log-level=lib.eal:error",
		"--vdev=net_ring0", "--vdev=net_null0", "--vdev=net_null1", "--vdev=net_null2",
		"--vdev=net_null3", "--vdev=net_null4", "--vdev=net_ring1", "--vdev=net_ring2",
	}
)

// Shared fixtures, opened once in TestMain. Tests do not run in parallel,
// so they may compare pool and port counters before and after.
var (
	testPool *Mempool
	ringPort *Port // net_ring0, 2 rx and 2 tx queues, Index 7
	nullSrc  *Port // net_null0, Index 1
	nullSink *Port // net_null1, Index 2
)

const (
	ringIndex    = 7
	testPoolSize = 8191
)

// ealChildEnv, when set, makes the test binary a child that only tries
// EALInit with the arguments in the variable (space-separated) and prints
// the error: EAL starts once per process, so the failure path needs its
// own process (TestEALInitError).
const ealChildEnv = "SHIM6D_DPDK_EAL_CHILD"

// ealChildDevicesEnv, with ealChildEnv, names devices (space-separated)
// the child looks up with DeviceQueues once EAL is up, printing
// "DEVICE: ERROR" for each (TestDeviceNotCreated).
const ealChildDevicesEnv = "SHIM6D_DPDK_EAL_CHILD_DEVICES"

func TestMain(m *testing.M) {
	if args := os.Getenv(ealChildEnv); args != "" {
		// DPDK's log through slog, as the daemon has it at log_level
		// "debug" (TestDPDKLogToSlog).
		SetLogger(slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug})))
		err := EALInit(strings.Fields(args))
		fmt.Println(err)
		if err == nil {
			for _, dev := range strings.Fields(os.Getenv(ealChildDevicesEnv)) {
				_, _, err := DeviceQueues(dev)
				fmt.Printf("%s: %v\n", dev, err)
			}
			EALCleanup()
		}
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "SKIP: package dpdk tests need root (DPDK EAL: /var/run/dpdk)")
		os.Exit(0)
	}
	if err := EALInit(testArgs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := openFixtures(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	for _, p := range []*Port{ringPort, nullSrc, nullSink} {
		if p != nil {
			if err := p.Close(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
			}
		}
	}
	if testPool != nil {
		testPool.Free()
	}
	if err := EALCleanup(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	// EAL leaves its run-time directory behind; the prefix is ours alone.
	os.RemoveAll(filepath.Join("/var/run/dpdk", testPrefix))
	os.Exit(code)
}

func openFixtures() error {
	var err error
	if testPool, err = NewPktmbufPool("test", testPoolSize, 256, 0, SocketAny); err != nil {
		return err
	}
	if ringPort, err = OpenPort(PortConfig{Index: ringIndex, Name: "loop", Device: "net_ring0",
		RxQueues: 2, TxQueues: 2, MTU: 1400, Pool: testPool}); err != nil {
		return err
	}
	if nullSrc, err = OpenPort(PortConfig{Index: 1, Name: "src", Device: "net_null0", Pool: testPool}); err != nil {
		return err
	}
	nullSink, err = OpenPort(PortConfig{Index: 2, Name: "sink", Device: "net_null1", Pool: testPool})
	return err
}
