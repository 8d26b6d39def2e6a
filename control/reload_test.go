package control

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"shim6d/configs"
	"shim6d/configs/configtest"
	"shim6d/control/admin"
	"shim6d/control/wire"
	"shim6d/dataplane"
	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// reloadBase is a site with two uplinks whose next hops are static (no ND
// to wait for) and one static context.
const reloadBase = `
[eal]
args = ["-l", "0-1", "--no-huge", "--no-pci"]

[daemon]
workers = 1

[[port]]
name = "inside"
role = "inside"
device = "net_null0"
devargs = "no-rx=1"
addresses = ["2001:db8:1::1"]

[[port]]
name = "isp1"
role = "uplink"
device = "net_null1"
devargs = "no-rx=1"
prefix = "2001:db8:1::/48"
next_hop = "2001:db8:ffff:1::1"
next_hop_mac = "02:00:00:00:00:21"

[[port]]
name = "isp2"
role = "uplink"
device = "net_null2"
devargs = "no-rx=1"
prefix = "2001:db8:2::/48"
next_hop = "2001:db8:ffff:2::1"
next_hop_mac = "02:00:00:00:00:22"

[shim]
contexts = 1024
`

const (
	contextA = `
[[context]]
local_ulid = "2001:db8:1::10"
peer_ulid = "2001:db8:9::20"
local_tag = 1
peer_tag = 2
`
	contextB = `
[[context]]
local_ulid = "2001:db8:1::11"
peer_ulid = "2001:db8:9::21"
local_tag = 3
peer_tag = 4
`
	// hbaSet is lab/configs/site-a.toml's host: two addresses, one per
	// uplink's /48.
	hbaSet = `
[[hba]]
prefixes = ["2001:db8:1::/64", "2001:db8:2::/64"]
parameters = "c0d081a7b7222369abf9a6e3725dafdf20010db80001000000304c300d06092a864886f70d0101010500033b003038023100cd29c76481faeeca38915a504d9d9762cb0c909fa9845747e524507329e95289f1443439e3075ad525a3403cc839fb190203010001001200140000000020010db80001000020010db800020000"
addresses = ["2001:db8:1:0:183b:cc4f:5e88:1b6e", "2001:db8:2:0:1873:d9ed:9dc8:9741"]
`
)

var (
	hbaULID1 = netip.MustParseAddr("2001:db8:1:0:183b:cc4f:5e88:1b6e")
	hbaULID2 = netip.MustParseAddr("2001:db8:2:0:1873:d9ed:9dc8:9741")
	farPeer  = netip.MustParseAddr("2001:db8:9::99")
)

// logBuffer collects the core's log lines, safe for the core's goroutine.
type logBuffer struct{ configtest.Log }

func (l *logBuffer) lines(substr string) int { return strings.Count(l.String(), substr) }

// reloadBed is a core built the daemon's way, from a configuration file
// (FromConfig), over in-memory ports, with one worker for its settings.
type reloadBed struct {
	path   string
	core   *Core
	table  *dataplane.ContextTable
	worker *dataplane.Worker
	inside *mem.Port
	events *dataplane.EventRing
	fwd    atomic.Pointer[dataplane.Forwarding]
	clock  *fakeClock
	level  *slog.LevelVar
	log    *logBuffer
}

func newReloadBed(t *testing.T, doc string) *reloadBed {
	t.Helper()
	b := &reloadBed{path: filepath.Join(t.TempDir(), "site.toml"), clock: &fakeClock{t: time.Unix(1000, 0)},
		level: new(slog.LevelVar), log: &logBuffer{}}
	cfg := b.write(t, doc)
	cc, err := FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := mem.NewPool(512, mem.DefaultBufSize)
	var pp []ports.Port
	for i, p := range cfg.Ports {
		mp := mem.NewPort(mem.Config{Name: p.Name, Index: uint16(i), MAC: [6]byte{2, 0, 0, 0, 1, byte(i)}, Pool: pool, TxQueues: 2})
		if i == 0 {
			b.inside = mp
		}
		pp = append(pp, mp)
	}
	b.table, _ = dataplane.NewContextTable(cfg.Shim.Contexts)
	b.events = dataplane.NewEventRing(64)
	ring := mem.NewRing(64)
	b.worker = dataplane.NewWorker(dataplane.WorkerConfig{Ports: pp, Control: ring, Fwd: &b.fwd,
		Shim: dataplane.ShimConfig{Contexts: b.table, Events: b.events, EstablishAfter: cfg.Shim.EstablishAfter}})
	b.level.Set(cfg.Daemon.LogLevel.Level())
	cc.Ports, cc.TxQueue, cc.Ring, cc.Fwd = pp, 1, ring, &b.fwd
	cc.Contexts, cc.Events, cc.Workers, cc.Now = b.table, b.events, []*dataplane.Worker{b.worker}, b.clock.now
	cc.Log = slog.New(slog.NewTextHandler(b.log, &slog.HandlerOptions{Level: b.level}))
	cc.LogLevel, cc.ConfigPath = b.level, b.path
	b.core = mustNew(t, cc)
	return b
}

// write puts doc in the bed's file and returns it loaded.
func (b *reloadBed) write(t *testing.T, doc string) *configs.Config {
	t.Helper()
	if err := os.WriteFile(b.path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(b.path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// reload writes doc and reloads it on the test's goroutine, which is the
// core's: the test runs its rounds.
func (b *reloadBed) reload(t *testing.T, doc string) ([]configs.Change, error) {
	t.Helper()
	return b.core.Reload(b.write(t, doc), "test")
}

// slots lists the contexts in the table by ULID pair.
func (b *reloadBed) slots() map[[2]netip.Addr]uint32 {
	out := map[[2]netip.Addr]uint32{}
	b.table.Each(func(c *dataplane.Context) bool {
		out[[2]netip.Addr{netip.AddrFrom16(c.ULIDLocal), netip.AddrFrom16(c.ULIDPeer)}] = c.Slot
		return true
	})
	return out
}

// udpOut hands the worker packets from an inside host to a peer and runs
// its rounds; it returns how many establish events the worker raised.
func (b *reloadBed) udpOut(t *testing.T, host, peer netip.Addr, n int) int {
	t.Helper()
	for range n {
		f := pkttest.UDP(b.inside.MAC(), pkttest.MACHost, host, peer, 64, header.ProtoUDP, nil, "x", host, peer)
		if err := b.inside.Inject(0, f); err != nil {
			t.Fatal(err)
		}
		b.worker.Poll()
	}
	events := 0
	var e dataplane.Event
	for b.events.Pop(&e) {
		if e.Kind == dataplane.EventEstablish {
			events++
		}
	}
	return events
}

// r1s offers the signalling ten I1s from one /64 and returns how many R1s
// answered them.
func (b *reloadBed) r1s(t *testing.T, from string) uint64 {
	t.Helper()
	i1, err := wire.Marshal(&wire.I1{InitiatorContextTag: 7, InitiatorNonce: 9})
	if err != nil {
		t.Fatal(err)
	}
	sig := b.core.Signalling()
	before := sig.Stats.Out(wire.TypeR1)
	for i := range 10 {
		src := netip.MustParseAddr(from).As16()
		src[15] = byte(i + 1)
		sig.HandleMessage(netip.AddrFrom16(src), netip.MustParseAddr("2001:db8:1::10"), i1)
	}
	return sig.Stats.Out(wire.TypeR1) - before
}

// A reload applies every live key, and every context survives it: the
// static one kept in the same slot, one the signalling is making, and
// the new static one added.
func TestReloadAppliesLiveKeys(t *testing.T) {
	b := newReloadBed(t, reloadBase+contextA)
	host := netip.MustParseAddr("2001:db8:1::50")
	if err := b.core.Signalling().Establish(host, farPeer); err != nil {
		t.Fatal(err)
	}
	before := b.slots()
	if len(before) != 2 {
		t.Fatalf("before the reload: %d contexts, want the static one and the one being established", len(before))
	}
	if n := b.udpOut(t, host, netip.MustParseAddr("2001:db8:9::30"), 5); n != 0 {
		t.Fatalf("establish_after unset: %d establish events", n)
	}
	if got := b.r1s(t, "2001:db8:77:1::"); got != 10 {
		t.Fatalf("default per-/64 R1 limit answered %d of 10 I1s, want 10", got)
	}

	doc := strings.Replace(reloadBase, "workers = 1", "workers = 1\nlog_level = \"debug\"\nicmp_rate_limit = 40\nneighbor_timeout = \"5s\"", 1)
	doc = strings.Replace(doc, `next_hop_mac = "02:00:00:00:00:22"`, "next_hop_mac = \"02:00:00:00:00:22\"\nweight = 3\npriority = 2", 1)
	doc = strings.Replace(doc, "contexts = 1024", `contexts = 1024
establish_after = 2
establish_peers = ["2001:db8:9::/48"]
establish_rate = 7
r1_rate = 300
r1_rate_per_prefix = 4
ulp_advice = false`, 1)
	changes, err := b.reload(t, doc+contextA+contextB)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, ch := range changes {
		keys = append(keys, ch.Key)
	}
	want := "daemon.icmp_rate_limit daemon.neighbor_timeout daemon.log_level port[2].priority port[2].weight " +
		"shim.establish_after shim.establish_peers shim.establish_rate shim.r1_rate shim.r1_rate_per_prefix shim.ulp_advice context[1]"
	if strings.Join(keys, " ") != want {
		t.Errorf("changes %q\nwant     %q", strings.Join(keys, " "), want)
	}

	after := b.slots()
	for pair, slot := range before {
		if after[pair] != slot {
			t.Errorf("context %v: slot %d before, %d after the reload", pair, slot, after[pair])
		}
	}
	if _, ok := after[[2]netip.Addr{netip.MustParseAddr("2001:db8:1::11"), netip.MustParseAddr("2001:db8:9::21")}]; !ok || len(after) != 3 {
		t.Errorf("after the reload: %v; want the two before and the new static context", after)
	}
	var isp2 UplinkStatus
	for _, u := range b.core.Uplinks() {
		if u.Name == "isp2" {
			isp2 = u
		}
	}
	if isp2.Priority != 2 || isp2.Weight != 3 {
		t.Errorf("isp2 after the reload: priority %d weight %d, want 2 and 3", isp2.Priority, isp2.Weight)
	}
	if !b.core.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("log_level = \"debug\" not applied")
	}
	c := b.core
	if c.cfg.ICMPRate != 40 || c.cfg.ICMPRatePerPrefix != 4 || c.cfg.Reachable != 5*time.Second || c.cfg.EstablishRate != 7 ||
		len(c.cfg.EstablishPeers) != 1 {
		t.Errorf("icmp %d/%d, reachable %v, establish rate %d peers %v", c.cfg.ICMPRate, c.cfg.ICMPRatePerPrefix,
			c.cfg.Reachable, c.cfg.EstablishRate, c.cfg.EstablishPeers)
	}
	// The ICMPv6 limiter was rebuilt at the new rate: its burst is a
	// tenth of it.
	echoes := 0
	for c.echo.Take(b.clock.now()) {
		echoes++
	}
	if echoes != 4 {
		t.Errorf("echo bucket holds %d after icmp_rate_limit = 40, want its burst of 4", echoes)
	}
	if got := b.r1s(t, "2001:db8:77:2::"); got != 4 {
		t.Errorf("r1_rate_per_prefix = 4: %d R1s to one /64's 10 I1s, want 4", got)
	}
	if n := b.udpOut(t, host, netip.MustParseAddr("2001:db8:9::31"), 2); n != 1 {
		t.Errorf("establish_after = 2: %d establish events after 2 packets, want 1", n)
	}
	if c.reloads[reloadOK].Load() != 1 || c.lastReload.Load() != b.clock.now().UnixNano() {
		t.Errorf("ok reloads %d, last %d", c.reloads[reloadOK].Load(), c.lastReload.Load())
	}
	if n := b.log.lines("configuration reloaded"); n != 1 {
		t.Errorf("%d log lines for one reload, want 1:\n%s", n, b.log.String())
	}
	if n := b.log.lines("port[2].weight: 1 -> 3"); n != 1 {
		t.Errorf("the log line does not list the weight's change:\n%s", b.log.String())
	}
}

// A reload with a key that needs a restart changes nothing, not even the
// live keys beside it, and says which key in one line.
func TestReloadRefusedKeepsOldConfig(t *testing.T) {
	b := newReloadBed(t, reloadBase+contextA)
	old := b.core.cfg.File
	doc := strings.Replace(reloadBase, `device = "net_null2"`, "device = \"net_null7\"", 1)
	doc = strings.Replace(doc, `next_hop_mac = "02:00:00:00:00:22"`, "next_hop_mac = \"02:00:00:00:00:22\"\nweight = 5", 1)
	changes, err := b.reload(t, doc+contextA+contextB)
	if !errors.Is(err, configs.ErrNeedsRestart) || changes != nil {
		t.Fatalf("Reload = %v, %v; want a refusal", changes, err)
	}
	want := b.path + `:27: port[2].device: changed from "net_null2" to "net_null7" on [[port]] "isp2": restart shim6d to apply`
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("refusal %q\nwant it to start %q", err, want)
	}
	for _, u := range b.core.Uplinks() {
		if u.Weight != 1 {
			t.Errorf("%s: weight %d after a refused reload", u.Name, u.Weight)
		}
	}
	if len(b.slots()) != 1 || b.core.cfg.File != old {
		t.Errorf("a refused reload changed the contexts (%v) or the running file", b.slots())
	}
	if b.core.reloads[reloadRefused].Load() != 1 || b.core.lastReload.Load() != 0 {
		t.Errorf("refused %d, last success %d", b.core.reloads[reloadRefused].Load(), b.core.lastReload.Load())
	}
	if n := b.log.lines("configuration reload refused"); n != 1 || !strings.Contains(b.log.String(), "port[2].device") {
		t.Errorf("log:\n%s", b.log.String())
	}
}

// A static context gone from the file is removed, the others stay; one
// that cannot be added (its pair has a signalled context) fails the
// reload, and the removal is undone with it.
func TestReloadStaticContexts(t *testing.T) {
	b := newReloadBed(t, reloadBase+contextA+contextB)
	host := netip.MustParseAddr("2001:db8:1::50")
	if err := b.core.Signalling().Establish(host, farPeer); err != nil {
		t.Fatal(err)
	}
	before := b.slots()
	clash := `
[[context]]
local_ulid = "2001:db8:1::50"
peer_ulid = "2001:db8:9::99"
local_tag = 5
peer_tag = 6
`
	_, err := b.reload(t, reloadBase+contextB+clash)
	if err == nil || errors.Is(err, configs.ErrNeedsRestart) || !strings.Contains(err.Error(), "context[1]") {
		t.Fatalf("adding a context over a signalled one: %v", err)
	}
	after := b.slots()
	if len(after) != len(before) {
		t.Fatalf("a failed reload left %v, had %v", after, before)
	}
	if b.core.reloads[reloadError].Load() != 1 {
		t.Errorf("error reloads: %d", b.core.reloads[reloadError].Load())
	}

	changes, err := b.reload(t, reloadBase+contextB)
	if err != nil || len(changes) != 1 || changes[0].New != "" {
		t.Fatalf("context A removed: %v, %v", changes, err)
	}
	after = b.slots()
	a := [2]netip.Addr{netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:9::20")}
	if _, ok := after[a]; ok || len(after) != 2 {
		t.Fatalf("after removing A: %v", after)
	}
}

// New HBA sets serve hosts without contexts at once; a host with a
// context keeps the set it announced until that context is gone.
func TestReloadHBASets(t *testing.T) {
	b := newReloadBed(t, reloadBase)
	sig := b.core.Signalling()
	if err := sig.Establish(hbaULID1, farPeer); err != nil {
		t.Fatal(err)
	}
	if _, err := b.reload(t, reloadBase+hbaSet); err != nil {
		t.Fatal(err)
	}
	set, err := b.core.LocalLocators(hbaULID2)
	if err != nil || len(set.Locators) != 2 || len(set.Parameters) == 0 {
		t.Fatalf("a host without contexts: %v, %v; want the new set's two locators", set, err)
	}
	set, err = b.core.LocalLocators(hbaULID1)
	if err != nil || len(set.Locators) != 0 {
		t.Fatalf("a host with a context: %v, %v; want its ULID alone, as before the reload", set, err)
	}
	// The handshake gets no answer: the context fails and goes, and
	// with it the pin.
	for i := 0; i < 600 && sig.HasHost(hbaULID1); i++ {
		b.clock.advance(time.Second)
		b.core.Poll()
	}
	if sig.HasHost(hbaULID1) {
		t.Fatal("the unanswered context never went")
	}
	set, err = b.core.LocalLocators(hbaULID1)
	if err != nil || len(set.Locators) != 2 {
		t.Fatalf("the host after its context went: %v, %v; want the new set", set, err)
	}
}

// ReloadFile reads the file again through the running core's goroutine;
// a file that no longer loads is an error, and the core runs on.
func TestReloadFile(t *testing.T) {
	b := newReloadBed(t, reloadBase)
	go b.core.Run()
	defer b.core.Stop()
	b.write(t, strings.Replace(reloadBase, `next_hop_mac = "02:00:00:00:00:21"`, "next_hop_mac = \"02:00:00:00:00:21\"\nbackup = true", 1))
	changes, err := b.core.ReloadFile("test")
	if err != nil || len(changes) != 1 || changes[0].Key != "port[1].backup" {
		t.Fatalf("ReloadFile = %v, %v", changes, err)
	}
	var ups []UplinkStatus
	b.core.Query(func() { ups = b.core.Uplinks() })
	if !ups[0].Backup || ups[0].Priority != 255 {
		t.Errorf("isp1 after backup = true: %+v", ups[0])
	}
	if err := os.WriteFile(b.path, []byte(reloadBase+"\n[shim]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := b.core.ReloadFile("test"); err == nil || errors.Is(err, configs.ErrNeedsRestart) {
		t.Fatalf("a broken file: %v", err)
	}
	var ce *configs.Error
	_, err = b.core.ReloadFile("test")
	if !errors.As(err, &ce) || ce.File != b.path {
		t.Errorf("a broken file's error is not the configuration's: %v", err)
	}
	if b.core.reloads[reloadError].Load() != 2 || b.core.reloads[reloadOK].Load() != 1 {
		t.Errorf("counts: ok %d error %d", b.core.reloads[reloadOK].Load(), b.core.reloads[reloadError].Load())
	}
	b.core.Query(func() { b.core.cfg.ConfigPath = "" })
	if _, err := b.core.ReloadFile("test"); !errors.Is(err, errEmbedded) {
		t.Errorf("embedded configuration: %v", err)
	}
}

// The reload counters reach Prometheus by result, with the time of the
// last reload applied.
func TestReloadMetrics(t *testing.T) {
	b := newReloadBed(t, reloadBase)
	if _, err := b.reload(t, strings.Replace(reloadBase, "workers = 1", "workers = 1\nlog_level = \"warn\"", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.reload(t, strings.Replace(reloadBase, "contexts = 1024", "contexts = 2048", 1)); err == nil {
		t.Fatal("a new table size was not refused")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newReloadCollector(b.core))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"shim6d_config_reloads_total{result=ok}":              1,
		"shim6d_config_reloads_total{result=refused}":         1,
		"shim6d_config_reloads_total{result=error}":           0,
		"shim6d_config_last_reload_success_timestamp_seconds": 1000,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// POST /reload answers the changes, a refusal with 409 and its line, a
// file that does not load with 422.
func TestReloadThroughAdmin(t *testing.T) {
	b := newReloadBed(t, reloadBase)
	go b.core.Run()
	defer b.core.Stop()
	h := admin.Handler(b.core.Admin(), nil)
	post := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/reload", nil))
		return rec
	}
	b.write(t, strings.Replace(reloadBase, `next_hop_mac = "02:00:00:00:00:22"`, "next_hop_mac = \"02:00:00:00:00:22\"\nweight = 9", 1))
	if rec := post(); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"port[2].weight: 1 -\u003e 9"`) {
		t.Errorf("reload: %d %s", rec.Code, rec.Body)
	}
	b.write(t, strings.Replace(reloadBase, `device = "net_null1"`, `device = "net_null5"`, 1))
	if rec := post(); rec.Code != 409 || !strings.Contains(rec.Body.String(), ":18: port[1].device: changed") {
		t.Errorf("refused reload: %d %s", rec.Code, rec.Body)
	}
	if err := os.WriteFile(b.path, []byte("[daemon]\nworkers = \"two\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rec := post(); rec.Code != 422 || !strings.Contains(rec.Body.String(), "daemon.workers") {
		t.Errorf("broken file: %d %s", rec.Code, rec.Body)
	}
}
