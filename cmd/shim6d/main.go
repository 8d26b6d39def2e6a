// Command shim6d is the Shim6 multihoming middlebox: DPDK poll-mode workers
// forward between one inside port and the ISP uplinks; a control core runs
// the signalling.
//
// Usage:
//
//	shim6d [--config FILE] [--check]
//
// Without --config it runs the embedded lab default (configs/lab.toml).
// Exit status 2 means the configuration was refused; 1, that start-up failed.
package main

import (
	"crypto/rsa"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
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
	"shim6d/control/hba"
	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
	"shim6d/dataplane/header"
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
		fmt.Fprintln(os.Stderr, "shim6d:", err)
		os.Exit(2)
	}
	if *check {
		fmt.Printf("%s: configuration OK (%d ports, %d workers)\n", cfg.Source, len(cfg.Ports), cfg.Daemon.Workers)
		return
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Daemon.LogLevel)) // validated: debug, info, warn, error
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
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
	d, err := start(cfg, log)
	if err != nil {
		log.Error("start-up failed", "err", err)
		if d != nil {
			d.shutdown()
		}
		pprof.StopCPUProfile()
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("shutting down", "signal", s.String())
	d.shutdown()
}

// daemon holds everything start built, so shutdown can take it apart in
// reverse order, whatever stage start reached.
type daemon struct {
	cfg     *configs.Config
	log     *slog.Logger
	started time.Time

	pool    *dpdk.Mempool
	dports  []*dpdk.Port
	ports   []ports.Port
	ring    *dpdk.Ring
	handoff []*dataplane.Handoff

	contexts *dataplane.ContextTable
	events   *dataplane.EventRing
	tick     atomic.Uint32
	sig      *shim6.Machine
	reap     *reap.Machine
	fwd      atomic.Pointer[dataplane.Forwarding]
	core     *control.Core
	workers  []*dataplane.Worker
	wg       sync.WaitGroup
	admin    *admin.Server
	metrics  *http.Server
	eal      bool
	// live guards the DPDK objects (ports, ring) against shutdown: the
	// admin and metrics handlers read them under RLock while closed is
	// false, and shutdown sets closed under Lock before freeing them, so a
	// scrape that is still running cannot touch freed C memory.
	live   sync.RWMutex
	closed bool
}

// devices runs f, which reads the DPDK ports or ring, unless shutdown has
// begun to free them; it reports whether f ran.
func (d *daemon) devices(f func()) bool {
	d.live.RLock()
	defer d.live.RUnlock()
	if d.closed {
		return false
	}
	f()
	return true
}

func start(cfg *configs.Config, log *slog.Logger) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log, started: time.Now()}
	args := cfg.EALArgs("shim6d")
	log.Info("starting EAL", "args", args)
	if err := dpdk.EALInit(args); err != nil {
		return d, err
	}
	d.eal = true
	nw := cfg.Daemon.Workers
	var err error
	d.pool, err = dpdk.NewPktmbufPool("shim6d_pool", cfg.Daemon.Mbufs, cfg.Daemon.MbufCache, 2048+ports.Headroom, -1)
	if err != nil {
		return d, err
	}
	d.handoff = make([]*dataplane.Handoff, len(cfg.Ports))
	for i := range cfg.Ports {
		pc := &cfg.Ports[i]
		maxRx, maxTx, err := dpdk.DeviceQueues(pc.Device)
		if err != nil {
			return d, err
		}
		if int(maxRx) < nw || int(maxTx) < nw {
			return d, fmt.Errorf("port %q (%s) has %d rx and %d tx queues, %d workers need %d of each; lower daemon.workers or give the device more queues (af_packet: qpairs=N in devargs)",
				pc.Name, pc.Device, maxRx, maxTx, nw, nw)
		}
		// One rx queue per worker; one tx queue per worker plus the control
		// core's own, so no tx queue is ever shared. A device without the
		// spare tx queue gets the control core's packets through worker 0.
		txq := nw + 1
		if int(maxTx) < txq {
			txq = nw
			d.handoff[i] = &dataplane.Handoff{}
			log.Info("no spare tx queue: the control core transmits through worker 0", "port", pc.Name)
		}
		p, err := dpdk.OpenPort(dpdk.PortConfig{
			Index: uint16(i), Name: pc.Name, Device: pc.Device,
			RxQueues: uint16(nw), TxQueues: uint16(txq),
			RxDesc: pc.RxDesc, TxDesc: pc.TxDesc, MTU: pc.MTU,
			Promiscuous: pc.IsPromiscuous(), Pool: d.pool,
		})
		if err != nil {
			return d, err
		}
		d.dports = append(d.dports, p)
		d.ports = append(d.ports, p)
		log.Info("port up", "port", pc.Name, "device", pc.Device, "mac", configs.MAC(p.MAC()).String(), "mtu", p.MTU())
	}
	d.ring, err = dpdk.NewRing("shim6d_ctl", cfg.Daemon.ControlRingSize)
	if err != nil {
		return d, err
	}
	if d.contexts, err = dataplane.NewContextTable(cfg.Shim.Contexts); err != nil {
		return d, err
	}
	d.events = dataplane.NewEventRing(4096)
	// The Shim6 signalling (RFC 5533) runs on the control core. A host
	// with an [[hba]] set announces all its addresses as locators; any
	// other inside host has its ULID alone. Peers' lists are verified by
	// HBA (RFC 5535).
	hosts, err := hbaHosts(cfg)
	if err != nil {
		return d, err
	}
	d.core = control.New(control.Config{
		Ports: d.ports, Setup: portSetups(cfg), Static: staticNeighbors(cfg),
		TxQueue: uint16(nw), TxHandoff: d.handoff, Ring: d.ring, Fwd: &d.fwd,
		ICMPRate: cfg.Daemon.ICMPRateLimit, Reachable: cfg.Daemon.NeighborTimeout.Duration, Log: log,
		Contexts: d.contexts, Tick: &d.tick, Events: d.events,
		EstablishPeers: cfg.Shim.EstablishPeers, EstablishRate: cfg.Shim.EstablishRate,
		Failback: string(cfg.Shim.Failback), FailbackHold: cfg.Shim.FailbackHold.Duration,
		Spread: cfg.Shim.Spread, HostLocators: hosts.locators,
	})
	feedback := make([]*dataplane.Feedback, nw)
	for i := range feedback {
		feedback[i] = dataplane.NewFeedback(cfg.Shim.Contexts)
	}
	d.core.SetFeedback(feedback)
	// The workers are not running yet, so the core's writer methods may
	// be called from here.
	if err := addStaticContexts(cfg, d.core); err != nil {
		return d, err
	}
	// REAP (RFC 5534) watches every established context. Its traffic
	// checks run ten times per Send Timeout (at most every 2 s): a failure
	// is then seen within a tenth of the timeout, which with a 1 s timeout
	// lets the switch beat TCP's third retransmission (1.4 s after the
	// loss) instead of waiting for the fourth (3 s).
	send := cfg.Shim.SendTimeout.Duration
	if d.reap, err = reap.New(reap.Config{
		Clock: wallClock{}, Traffic: d.core.REAPTraffic(), Output: d.core.REAPOutput(),
		Capacity: cfg.Shim.Contexts, SendTimeout: send,
		CheckInterval: min(reap.DefaultCheckInterval, send/10),
	}); err != nil {
		return d, err
	}
	d.core.AttachREAP(d.reap)
	if d.sig, err = shim6.New(shim6.Config{
		Table: d.contexts, Send: d.core.SendControl, LastData: d.core.LastData,
		Verifier: control.HBAVerifier{}, LocalLocators: d.core.LocalLocators, LocalUsable: d.core.LocalUsable,
		OnEstablished: d.core.OnEstablished, OnClosed: d.core.OnClosed, OnREAP: d.core.OnREAPMessage,
		OnLocators: d.core.OnLocators, IdleTimeout: cfg.Shim.IdleTimeout.Duration,
		Sign: hosts.signer(), KeepaliveTimeout: d.reap.KeepaliveTimeoutOption(),
	}); err != nil {
		return d, err
	}
	d.core.AttachSignalling(d.sig)
	clamp := uint16(0)
	if cfg.Shim.MSSClampOn() {
		clamp = mssClamp(cfg)
	}
	cpus := cfg.Lcores()
	polling := dataplane.PollAdaptive
	if cfg.Daemon.Polling == "busy" {
		polling = dataplane.PollBusy
	}
	for i := 0; i < nw; i++ {
		wc := dataplane.WorkerConfig{
			ID: i, Ports: d.ports, RxQueue: uint16(i), TxQueue: uint16(i),
			Control: d.ring, Fwd: &d.fwd, Polling: polling,
			Shim: dataplane.ShimConfig{
				Contexts: d.contexts, Feedback: feedback[i],
				Tick: &d.tick, Events: d.events, MSSClamp: clamp, EstablishAfter: cfg.Shim.EstablishAfter,
			},
		}
		if i == 0 {
			wc.Handoff = d.handoff
		}
		w := dataplane.NewWorker(wc)
		d.workers = append(d.workers, w)
		d.runPinned(fmt.Sprintf("worker %d", i), cpus[1+i], w.Run)
	}
	d.runPinned("control core", cpus[0], d.core.Run)

	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(d), signalCollector{d}, uplinkCollector{d})
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	// /metrics is on the admin socket too, so shim6ctl and the tests can
	// read it wherever the TCP listener is (or is not).
	extra := map[string]http.Handler{
		"GET /metrics":         metrics,
		"POST /contexts/synth": http.HandlerFunc(d.synthContexts),
		"POST /establish":      http.HandlerFunc(d.establish),
		"GET /uplinks":         http.HandlerFunc(d.getUplinks),
		"POST /uplinks/{name}": http.HandlerFunc(d.setUplink),
	}
	if d.admin, err = admin.Listen(cfg.Daemon.AdminSocket, d, extra); err != nil {
		return d, err
	}
	if cfg.Daemon.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics)
		ln, err := net.Listen("tcp", cfg.Daemon.MetricsListen)
		if err != nil {
			return d, fmt.Errorf("metrics_listen %s: %w", cfg.Daemon.MetricsListen, err)
		}
		d.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go d.metrics.Serve(ln)
	}
	log.Info("shim6d running", "workers", nw, "polling", cfg.Daemon.Polling,
		"admin", cfg.Daemon.AdminSocket, "metrics", cfg.Daemon.MetricsListen)
	return d, nil
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
	d.live.Lock() // waits for handlers reading the devices
	d.closed = true
	d.live.Unlock()
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

// mssClamp is the largest MSS that still fits every uplink once a context
// adds its payload header: the smallest uplink MTU less the IPv6 and TCP
// headers and the 8 shim bytes.
func mssClamp(cfg *configs.Config) uint16 {
	mtu := 0
	for _, up := range cfg.Uplinks() {
		if mtu == 0 || up.MTU < mtu {
			mtu = up.MTU
		}
	}
	return uint16(mtu - header.IPv6MinimumSize - 20 - header.Shim6PayloadSize)
}

// addStaticContexts puts the configured [[context]] entries in the table.
func addStaticContexts(cfg *configs.Config, core *control.Core) error {
	for i, x := range cfg.Contexts {
		egress := -1
		for pi := range cfg.Ports {
			if p := &cfg.Ports[pi]; p.Role == configs.RoleUplink && p.Prefix.Contains(x.LocalLocator) {
				egress = pi
			}
		}
		spec := dataplane.ContextSpec{
			LocalTag: x.LocalTag, PeerTag: x.PeerTag, EgressPort: uint16(egress),
			ULIDLocal: x.LocalULID.As16(), ULIDPeer: x.PeerULID.As16(),
			LocLocal: x.LocalLocator.As16(), LocPeer: x.PeerLocator.As16(),
		}
		if _, _, err := core.AddContext(spec); err != nil {
			return fmt.Errorf("%s: context[%d] (%s, %s): %w", cfg.Source, i, x.LocalULID, x.PeerULID, err)
		}
	}
	return nil
}

func portSetups(cfg *configs.Config) []control.PortSetup {
	var out []control.PortSetup
	for i := range cfg.Ports {
		pc := &cfg.Ports[i]
		s := control.PortSetup{Name: pc.Name, Addresses: pc.Addresses, MTU: pc.MTU}
		if pc.Role == "inside" {
			s.Role = dataplane.RoleInside
			s.Prefixes = pc.Prefixes
		} else {
			s.Role = dataplane.RoleUplink
			s.Prefix, s.NextHop = pc.Prefix, pc.NextHop
			s.Priority, s.Weight, s.Backup = uint8(pc.Priority), uint8(pc.Weight), pc.Backup
			s.Carrier = kernelCarrier(pc)
			if pc.NextHopMAC != (configs.MAC{}) {
				m := [6]byte(pc.NextHopMAC)
				s.NextHopMAC = &m
			}
		}
		out = append(out, s)
	}
	return out
}

// kernelCarrier gives an af_packet uplink the carrier of its kernel
// interface: DPDK's af_packet PMD reports its link up whatever the
// interface does, so a pulled cable (or a veth whose peer went down) would
// otherwise go unseen until REAP's timers. Other devices report their own
// link status; nil for them.
func kernelCarrier(pc *configs.Port) func() bool {
	if !strings.HasPrefix(pc.Device, "net_af_packet") {
		return nil
	}
	iface := ""
	for _, kv := range strings.Split(pc.Devargs, ",") {
		if v, ok := strings.CutPrefix(kv, "iface="); ok {
			iface = v
		}
	}
	if iface == "" || strings.ContainsAny(iface, "/.") {
		return nil
	}
	path := "/sys/class/net/" + iface + "/carrier"
	var buf [4]byte
	return func() bool {
		f, err := os.Open(path)
		if err != nil {
			return true // no sysfs view: trust the device, as without
		}
		defer f.Close()
		n, err := f.Read(buf[:])
		// "0\n" without carrier; reading fails with EINVAL while the
		// interface is administratively down.
		return err == nil && n > 0 && buf[0] == '1'
	}
}

func staticNeighbors(cfg *configs.Config) []control.StaticNeighbor {
	var out []control.StaticNeighbor
	for _, n := range cfg.Neighbors {
		for i := range cfg.Ports {
			if cfg.Ports[i].Name == n.Port {
				out = append(out, control.StaticNeighbor{Port: i, Address: n.Address, MAC: [6]byte(n.MAC)})
			}
		}
	}
	return out
}

// hbaHostSet maps each configured HBA address to its set, so the state
// machine can ask for a proxied host's locators by its ULID.
type hbaHostSet map[netip.Addr]*hbaHost

type hbaHost struct {
	params    *hba.Parameters
	addresses []netip.Addr
	// cga are locators outside the set, signed for with key (a
	// CGA-compatible set, RFC 5535 §4).
	cga []netip.Addr
	key *rsa.PrivateKey
}

func hbaHosts(cfg *configs.Config) (hbaHostSet, error) {
	m := hbaHostSet{}
	for i := range cfg.HBA {
		c := &cfg.HBA[i]
		raw, err := hex.DecodeString(c.Parameters)
		if err != nil {
			return nil, err
		}
		p, err := hba.ParseParameters(raw)
		if err != nil {
			return nil, fmt.Errorf("hba[%d]: %w", i, err)
		}
		h := &hbaHost{params: p, addresses: c.Addresses, cga: c.CGALocators}
		if c.Key != "" {
			// configs checked the file; it is read again here, once.
			data, err := os.ReadFile(cfg.File(c.Key))
			if err != nil {
				return nil, fmt.Errorf("hba[%d].key: %w", i, err)
			}
			k, err := hba.ParseKeyPEM(data)
			if err != nil || k.Private == nil {
				return nil, fmt.Errorf("hba[%d].key: no private key: %v", i, err)
			}
			h.key = k.Private
		}
		for _, a := range h.addresses {
			m[a] = h
		}
	}
	return m, nil
}

// locators is the hosts' own locator sets (control.Config.HostLocators):
// a host's HBA set and its CGA locators, or its ULID alone.
func (m hbaHostSet) locators(ulid netip.Addr) (shim6.LocatorSet, error) {
	h := m[ulid]
	if h == nil {
		return shim6.LocatorSet{}, nil
	}
	params, err := h.params.ParametersFor(ulid)
	if err != nil {
		return shim6.LocatorSet{}, err
	}
	set := shim6.LocatorSet{Parameters: params}
	// The ULID first: it is the locator in use until REAP moves.
	set.Locators = append(set.Locators, wire.Locator{Addr: ulid, Method: wire.VerifyHBA})
	for _, a := range h.addresses {
		if a != ulid {
			set.Locators = append(set.Locators, wire.Locator{Addr: a, Method: wire.VerifyHBA})
		}
	}
	for _, a := range h.cga {
		set.Locators = append(set.Locators, wire.Locator{Addr: a, Method: wire.VerifyCGA})
	}
	return set, nil
}

// signer is the state machine's Sign: the CGA Signature over a host's
// Locator List with its set's key (RFC 5533 §5.15.5).
func (m hbaHostSet) signer() func(netip.Addr, *wire.LocatorList) ([]byte, error) {
	return control.CGASigner(func(ulid netip.Addr) *rsa.PrivateKey {
		if h := m[ulid]; h != nil {
			return h.key
		}
		return nil
	})
}

// wallClock is REAP's clock in the daemon.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
