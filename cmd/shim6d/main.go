// Command shim6d is the Shim6 multihoming middlebox: DPDK poll-mode workers
// forward between one inside port and the ISP uplinks; a control core runs
// the signalling.
//
// Usage:
//
//	shim6d [--config FILE] [--check]
//
// Without --config it runs the embedded lab default (configs/lab.toml).
// SIGHUP reloads the configuration file (control/reload.go says what
// changes live); SIGINT and SIGTERM stop the daemon.
//
// Exit status 2 means the configuration was refused, by --check or at
// start (the file, the machine's devices, or DPDK refused it), with one
// line on stderr naming the file, line and key; 1, that start-up failed
// for another reason (memory, a ring, the control core).
//
// main only wires: configs loads and checks the file, ports/dpdk opens the
// devices, dataplane builds the workers, control builds the control core
// with its machines and serves the admin API and metrics.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"shim6d/configs"
	"shim6d/control"
	"shim6d/control/admin"
	"shim6d/dataplane"
	"shim6d/ports"
	"shim6d/ports/dpdk"
)

// version is set by the Makefile (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	cfgPath := flag.String("config", "", "configuration file (default: the embedded lab configuration)")
	check := flag.Bool("check", false, "validate the configuration and exit")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile of the whole run to this file")
	flag.Parse()

	var cfg *configs.Config
	var err error
	if *cfgPath == "" {
		cfg = configs.Default()
	} else {
		cfg, err = configs.Load(*cfgPath)
	}
	if err != nil {
		refuse(err)
	}
	// What the start would fail on that only this machine can tell
	// (interfaces, pcap files, CPUs, hugepages), asked before EAL starts.
	warnings, err := cfg.CheckHost()
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "shim6d: warning:", w)
	}
	if err != nil {
		refuse(err)
	}
	if *check {
		fmt.Printf("%s: configuration OK (%d ports, %d workers)\n", cfg.Source, len(cfg.Ports), cfg.Daemon.Workers)
		return
	}
	// A LevelVar, so that a reload can change daemon.log_level.
	level := new(slog.LevelVar)
	level.Set(cfg.Daemon.LogLevel.Level())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// DPDK's own log is debug detail: shown with log_level = "debug",
	// and kept for the errors of failed DPDK calls otherwise.
	dpdk.SetLogger(log)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Error("cpu profile", "err", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	// SIGHUP reloads the configuration file, as `shim6ctl reload` does:
	// the control core applies it on its own goroutine and logs the one
	// line that says what changed or why nothing did. Caught before the
	// start, which announces the daemon running: a HUP sent at once upon
	// that (systemd's reload, a test) must not meet the default action,
	// which kills.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	d, err := start(cfg, *cfgPath, level, log)
	if err != nil {
		d.shutdown()
		pprof.StopCPUProfile()
		var ce *configs.Error
		if errors.As(err, &ce) {
			refuse(err)
		}
		log.Error("start-up failed", "err", err)
		os.Exit(1)
	}
	for s := range sig {
		if s == syscall.SIGHUP {
			d.core.ReloadFile("SIGHUP")
			continue
		}
		log.Info("shutting down", "signal", s.String())
		break
	}
	d.shutdown()
}

// refuse exits with status 2 and the configuration error as one line, as
// --check and a failed start both do.
func refuse(err error) {
	fmt.Fprintln(os.Stderr, "shim6d:", err)
	os.Exit(2)
}

// configError puts a failure DPDK reports about what key configures in
// the configuration's terms (file:line, key), with DPDK's own reason.
func configError(cfg *configs.Config, key, what string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "dpdk: ")
	var de *dpdk.Error
	if errors.As(err, &de) {
		msg = de.Reason()
		if de.Hint != "" && key != "eal.args" { // that hint lists eal.args
			msg += "; " + de.Hint
		}
	}
	e := cfg.ErrorAt(key, "%s: %s", what, msg)
	e.Err = err
	return e
}

// daemon holds everything start built, so shutdown can take it apart in
// reverse order, whatever stage start reached.
type daemon struct {
	log *slog.Logger

	pool    *dpdk.Mempool
	dports  []*dpdk.Port
	ports   []ports.Port
	ring    *dpdk.Ring
	handoff []*dataplane.Handoff

	tick    atomic.Uint32
	fwd     atomic.Pointer[dataplane.Forwarding]
	core    *control.Core
	workers []*dataplane.Worker
	wg      sync.WaitGroup
	admin   *admin.Server
	metrics *http.Server
	eal     bool
}

// start builds and starts the daemon; path is the file a reload reads
// ("" for the embedded configuration), level the log's level, which a
// reload may change.
func start(cfg *configs.Config, path string, level *slog.LevelVar, log *slog.Logger) (*daemon, error) {
	d := &daemon{log: log}
	started := time.Now()
	// The file's part of the control core's configuration first: it may
	// still be refused, and then no device has been touched.
	cc, err := control.FromConfig(cfg)
	if err != nil {
		return d, err
	}
	args := cfg.EALArgs("shim6d")
	log.Info("starting EAL", "args", args)
	if err := dpdk.EALInit(args); err != nil {
		return d, configError(cfg, "eal.args", "EAL did not start", err)
	}
	d.eal = true
	if err := d.openPorts(cfg); err != nil {
		return d, err
	}
	nw := cfg.Daemon.Workers
	if d.ring, err = dpdk.NewRing("shim6d_ctl", cfg.Daemon.ControlRingSize); err != nil {
		return d, err
	}
	contexts, err := dataplane.NewContextTable(cfg.Shim.Contexts)
	if err != nil {
		return d, err
	}
	events := dataplane.NewEventRing(4096)
	clamp := uint16(0)
	if cfg.Shim.MSSClampOn() {
		mtu := 0
		for _, up := range cfg.Uplinks() {
			if mtu == 0 || up.MTU < mtu {
				mtu = up.MTU
			}
		}
		clamp = dataplane.MSSClampFor(mtu)
	}
	polling := dataplane.PollAdaptive
	if cfg.Daemon.Polling == configs.PollBusy {
		polling = dataplane.PollBusy
	}
	for i := 0; i < nw; i++ {
		wc := dataplane.WorkerConfig{
			ID: i, Ports: d.ports, RxQueue: uint16(i), TxQueue: uint16(i),
			Control: d.ring, Fwd: &d.fwd, Polling: polling,
			Shim: dataplane.ShimConfig{
				Contexts: contexts, Feedback: dataplane.NewFeedback(cfg.Shim.Contexts),
				Tick: &d.tick, Events: events, MSSClamp: clamp, EstablishAfter: cfg.Shim.EstablishAfter,
			},
		}
		if i == 0 {
			wc.Handoff = d.handoff
		}
		d.workers = append(d.workers, dataplane.NewWorker(wc))
	}
	cc.Ports, cc.TxQueue, cc.TxHandoff, cc.Ring, cc.Fwd = d.ports, uint16(nw), d.handoff, d.ring, &d.fwd
	cc.Contexts, cc.Tick, cc.Events, cc.Workers, cc.Log = contexts, &d.tick, events, d.workers, log
	cc.Daemon.Version, cc.Daemon.Started = version, started
	cc.ConfigPath, cc.LogLevel = path, level
	cc.Pools = []control.PoolView{d.pool}
	if d.core, err = control.New(cc); err != nil {
		return d, fmt.Errorf("%s: %w", cfg.Source, err)
	}
	cpus := cfg.LcoreCPUs()
	for i, w := range d.workers {
		d.runPinned(fmt.Sprintf("worker %d", i), cpus[1+i], w.Run)
	}
	d.runPinned("control core", cpus[0], d.core.Run)

	reg := prometheus.NewRegistry()
	reg.MustRegister(d.core.Collectors()...)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if d.admin, err = admin.Listen(cfg.Daemon.AdminSocket, d.core.Admin(), metrics); err != nil {
		return d, cfg.ErrorAt("daemon.admin_socket", "%v", err)
	}
	if cfg.Daemon.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics)
		ln, err := net.Listen("tcp", cfg.Daemon.MetricsListen)
		if err != nil {
			return d, cfg.ErrorAt("daemon.metrics_listen", "%v", err)
		}
		d.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go d.metrics.Serve(ln)
	}
	log.Info("shim6d running", "workers", nw, "polling", cfg.Daemon.Polling,
		"admin", cfg.Daemon.AdminSocket, "metrics", cfg.Daemon.MetricsListen)
	if cfg.HA.Enabled {
		log.Info("HA: standby until keepalived says otherwise (shim6ctl ha active)", "peer", cfg.HA.Peer.String(),
			"lease", cfg.HA.Lease.String(), "replication", cfg.HA.Replication)
	}
	return d, nil
}

// openPorts makes the packet buffer pool and opens every configured port
// with one rx queue per worker and one tx queue per worker plus the
// control core's own, so no tx queue is ever shared. A device without the
// spare tx queue gets the control core's packets through worker 0.
func (d *daemon) openPorts(cfg *configs.Config) error {
	nw := cfg.Daemon.Workers
	var err error
	d.pool, err = dpdk.NewPktmbufPool("shim6d_pool", cfg.Daemon.Mbufs, cfg.Daemon.MbufCache, 2048+ports.Headroom, -1)
	if err != nil {
		return err
	}
	d.handoff = make([]*dataplane.Handoff, len(cfg.Ports))
	for i := range cfg.Ports {
		pc := &cfg.Ports[i]
		key := cfg.DeviceKey(i)
		maxRx, maxTx, err := dpdk.DeviceQueues(pc.Device)
		if err != nil {
			return configError(cfg, key, pc.Device, err)
		}
		if int(maxRx) < nw || int(maxTx) < nw {
			return cfg.ErrorAt(key, "%s has %d rx and %d tx queues, %d workers need %d of each; lower daemon.workers or give the device more queues (af_packet: qpairs=N in devargs)",
				pc.Device, maxRx, maxTx, nw, nw)
		}
		txq := nw + 1
		if int(maxTx) < txq {
			txq = nw
			d.handoff[i] = &dataplane.Handoff{}
			d.log.Info("no spare tx queue: the control core transmits through worker 0", "port", pc.Name)
		}
		p, err := dpdk.OpenPort(dpdk.PortConfig{
			Index: uint16(i), Name: pc.Name, Device: pc.Device, Devargs: pc.Devargs,
			RxQueues: uint16(nw), TxQueues: uint16(txq),
			RxDesc: pc.RxDesc, TxDesc: pc.TxDesc, MTU: pc.MTU,
			Promiscuous: pc.IsPromiscuous(), Pool: d.pool,
			MAC: [6]byte(pc.MAC), VirtualMAC: [6]byte(pc.VirtualMAC),
		})
		if err != nil {
			return configError(cfg, key, pc.Device, err)
		}
		d.dports = append(d.dports, p)
		d.ports = append(d.ports, p)
		// mtu is what forwarding uses: the configured MTU, or the
		// device's when that is smaller (control.Core.forwardMTU).
		mtu := pc.MTU
		if dev := p.MTU(); dev > 0 && dev < mtu {
			mtu = dev
		}
		attrs := []any{"port", pc.Name, "device", pc.Device, "mac", configs.MAC(p.MAC()).String(), "mtu", mtu, "device_mtu", p.MTU()}
		if pc.VirtualMAC != (configs.MAC{}) {
			attrs = append(attrs, "virtual_mac", pc.VirtualMAC.String())
		}
		d.log.Info("port up", attrs...)
	}
	return nil
}

// runPinned runs f on its own OS thread, registered with EAL and pinned to
// cpu, so the worker keeps its core and its lcore id (for mempool caches).
func (d *daemon) runPinned(name string, cpu int, f func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		// Locked for good: the goroutine exits still locked, so the
		// pinned thread dies with it instead of going back to the Go
		// scheduler with a worker's affinity.
		runtime.LockOSThread()
		if _, err := dpdk.RegisterThread(); err != nil {
			d.log.Warn("rte_thread_register failed; mempool caches unused on this thread", "thread", name, "err", err)
		} else {
			defer dpdk.UnregisterThread()
		}
		if err := dpdk.SetThreadAffinity(cpu); err != nil {
			d.log.Warn("cannot pin thread", "thread", name, "cpu", cpu, "err", err)
		}
		f()
	}()
}

// shutdown stops the threads, then frees the devices once no admin or
// metrics handler can read them any more.
func (d *daemon) shutdown() {
	if d.admin != nil {
		d.admin.Close()
	}
	if d.metrics != nil {
		d.metrics.Close()
	}
	for _, w := range d.workers {
		w.Stop()
	}
	if d.core != nil {
		d.core.Stop()
	}
	d.wg.Wait()
	if d.core != nil {
		d.core.ReleaseDevices()
	}
	for _, p := range d.dports {
		if err := p.Close(); err != nil {
			d.log.Warn("closing port", "port", p.Name(), "err", err)
		}
	}
	if d.ring != nil {
		d.ring.Free()
	}
	if d.pool != nil {
		d.pool.Free()
	}
	if d.eal {
		if err := dpdk.EALCleanup(); err != nil {
			d.log.Warn("rte_eal_cleanup", "err", err)
		}
	}
}
