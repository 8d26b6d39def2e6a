package control

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"shim6d/control/admin"
	"shim6d/dataplane"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// synthCore is a running core with a context table and isp1 holding the
// synthetic plan's local locators; stop it with Stop.
func synthCore(t testing.TB, allow bool) *Core {
	return synthCoreSized(t, allow, 64)
}

// synthCoreSized is synthCore with a table of capacity contexts.
func synthCoreSized(t testing.TB, allow bool, capacity int) *Core {
	c := stoppedSynthCore(t, allow, capacity)
	go c.Run()
	t.Cleanup(c.Stop)
	return c
}

// stoppedSynthCore is synthCoreSized not yet running.
func stoppedSynthCore(t testing.TB, allow bool, capacity int) *Core {
	return stoppedSynthCoreWith(t, allow, capacity, nil)
}

// stoppedSynthCoreWith is stoppedSynthCore with its configuration changed
// by edit (when not nil) before the core is made.
func stoppedSynthCoreWith(t testing.TB, allow bool, capacity int, edit func(c *Config)) *Core {
	pool := mem.NewPool(128, mem.DefaultBufSize)
	table, err := dataplane.NewContextTable(capacity)
	if err != nil {
		t.Fatal(err)
	}
	fwd := new(atomic.Pointer[dataplane.Forwarding])
	cfg := Config{
		Ports: []ports.Port{
			mem.NewPort(mem.Config{Name: "inside", Index: 0, MAC: macInside, Pool: pool, TxQueues: 2}),
			mem.NewPort(mem.Config{Name: "isp1", Index: 1, MAC: macUplink, Pool: pool, TxQueues: 2}),
		},
		Setup: []PortSetup{
			{Name: "inside", Role: dataplane.RoleInside, Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/48")}, MTU: 1500},
			{Name: "isp1", Role: dataplane.RoleUplink, Addresses: []netip.Addr{uplinkAddr},
				Prefix: netip.MustParsePrefix("2001:db8:1::/48"), NextHop: routerAddr, MTU: 1500},
		},
		TxQueue: 1, Ring: mem.NewRing(64), Fwd: fwd, Log: slog.New(slog.DiscardHandler),
		Contexts: table, AllowSynthetic: allow, Pools: []PoolView{pool},
	}
	if edit != nil {
		edit(&cfg)
	}
	return mustNew(t, cfg)
}

// A daemon whose config does not allow synthetic contexts refuses them
// with 403 and makes none; one that allows them makes them all, and a
// table too small says how many it made.
func TestSyntheticContextsOnlyWhenAllowed(t *testing.T) {
	c := synthCore(t, false)
	n, err := c.Admin().Synthesize(10, 1, nil)
	var se *admin.StatusError
	if n != 0 || !errors.As(err, &se) || se.Code != http.StatusForbidden || c.cfg.Contexts.Count() != 0 {
		t.Fatalf("refused: made %d, err %v, table holds %d", n, err, c.cfg.Contexts.Count())
	}
	c = synthCore(t, true)
	if n, err := c.Admin().Synthesize(10, 1, nil); n != 10 || err != nil || c.cfg.Contexts.Count() != 10 {
		t.Fatalf("allowed: made %d, err %v, table holds %d", n, err, c.cfg.Contexts.Count())
	}
	n, err = c.Admin().Synthesize(100, 2, nil)
	if n >= 100 || !errors.As(err, &se) || se.Code != http.StatusInsufficientStorage {
		t.Fatalf("over capacity: made %d, err %v", n, err)
	}
}

// A large load runs in parts: the core answers queries between them (the
// admin API and metrics stay up), and the load reports its progress.
func TestSyntheticLoadLeavesCoreAnswering(t *testing.T) {
	const n = 300000
	c := synthCoreSized(t, true, n)
	var reports []int
	done := make(chan error, 1)
	go func() {
		made, err := c.Admin().Synthesize(n, 1, func(made int) { reports = append(reports, made) })
		if err == nil && made != n {
			err = fmt.Errorf("made %d of %d", made, n)
		}
		done <- err
	}()
	for c.cfg.Contexts.Count() == 0 {
		time.Sleep(time.Millisecond)
	}
	t0 := time.Now()
	c.Admin().Neighbors() // a Query
	wait, during := time.Since(t0), c.cfg.Contexts.Count()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if during >= n {
		t.Errorf("a query waited %v, until the load of %d had ended", wait, n)
	}
	for i, m := range reports {
		if m <= 0 || m >= n || i > 0 && m <= reports[i-1] {
			t.Fatalf("progress reports %v: want rising counts below %d", reports, n)
		}
	}
	if len(c.peers) != n || len(c.peerKeys) != n {
		t.Errorf("ICMPv6 error index holds %d keys (%d slots) for %d contexts", len(c.peers), len(c.peerKeys), n)
	}
}

// The buffer pools' counts are in GET /status and in the metrics, so a
// leak is seen; once the devices are released they are read no more.
func TestPoolCountsShown(t *testing.T) {
	c := stoppedSynthCore(t, false, 64) // so that only the test takes buffers
	before := c.Admin().Status().Pools
	if len(before) != 1 || before[0].Available+before[0].InUse != 128 {
		t.Fatalf("status pools %+v, want one of 128 buffers", before)
	}
	inside := c.cfg.Ports[0].(*mem.Port)
	for range 3 {
		inside.Inject(0, make([]byte, 64)) // held in the rx queue
	}
	want := []admin.Pool{{Name: "mem", Available: before[0].Available - 3, InUse: before[0].InUse + 3}}
	if got := c.Admin().Status().Pools; !slices.Equal(got, want) {
		t.Errorf("status pools %+v, want %+v", got, want)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(c))
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range []string{fmt.Sprintf(`shim6d_mempool_available{pool="mem"} %d`, want[0].Available),
		fmt.Sprintf(`shim6d_mempool_in_use{pool="mem"} %d`, want[0].InUse)} {
		if !strings.Contains(rec.Body.String(), line+"\n") {
			t.Errorf("metrics lack %q:\n%s", line, rec.Body)
		}
	}
	c.ReleaseDevices()
	if got := c.Admin().Status().Pools; got != nil {
		t.Errorf("pools read after release: %+v", got)
	}
}

// TestContextsPerPortByLocalLocator: the spread counts a context under the
// uplink whose prefix holds its local locator, whether it is rewritten or
// still on its ULIDs (whose EgressPort no path reads), follows a locator
// switch to another uplink, and forgets a deleted context.
func TestContextsPerPortByLocalLocator(t *testing.T) {
	tbl, err := dataplane.NewContextTable(16)
	if err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, Config{
		Setup: []PortSetup{
			{Name: "inside", Role: dataplane.RoleInside},
			{Name: "isp1", Role: dataplane.RoleUplink, Prefix: netip.MustParsePrefix("2001:db8:1::/48")},
			{Name: "isp2", Role: dataplane.RoleUplink, Prefix: netip.MustParsePrefix("2001:db8:2::/48")},
		},
		Contexts: tbl, Fwd: new(atomic.Pointer[dataplane.Forwarding]), Log: slog.New(slog.DiscardHandler),
	})
	c.cfg.Ports = make([]ports.Port, 3) // contextsPerPort sizes its answer by the ports
	ulid := netip.MustParseAddr("2001:db8:1::10").As16()
	peer := netip.MustParseAddr("2001:db8:3::20").As16()
	slot, _, err := c.AddContext(dataplane.ContextSpec{ULIDLocal: ulid, ULIDPeer: peer, LocLocal: ulid, LocPeer: peer})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.contextsPerPort(); !slices.Equal(got, []int{0, 1, 0}) {
		t.Fatalf("on its ULIDs: %v, want [0 1 0]", got)
	}
	loc := netip.MustParseAddr("2001:db8:2::10").As16()
	if err := c.SetContextLocators(slot, &loc, &peer, 2); err != nil {
		t.Fatal(err)
	}
	if got := c.contextsPerPort(); !slices.Equal(got, []int{0, 0, 1}) {
		t.Fatalf("switched to isp2: %v, want [0 0 1]", got)
	}
	if err := c.DeleteContext(slot); err != nil {
		t.Fatal(err)
	}
	if got := c.contextsPerPort(); !slices.Equal(got, []int{0, 0, 0}) {
		t.Fatalf("deleted: %v, want [0 0 0]", got)
	}
}
