// Package grafana holds shim6d's Grafana dashboard (shim6d.json). Its
// tests hold the dashboard, and the alerting rules beside it in
// configs/prometheus, to the metrics the daemon really exports: the
// daemon is built and run on null devices, and its /metrics scraped.
package grafana

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"shim6d/configs/configtest"
)

// notYetExported are metric names that expressions may use although the
// daemon does not export them yet.
var notYetExported = map[string]string{
	// The HA standby-stale alert (configs/prometheus, marked there) is
	// written for the state-replication work, which adds this gauge; it
	// is the only exception, and goes once that work is merged.
	"shim6d_ha_replication_lag_seconds": "HA state replication, not merged yet",
}

// prometheusOwn are series Prometheus makes itself for every target, not
// the daemon.
var prometheusOwn = map[string]bool{"up": true}

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// expression is one PromQL expression and where it was found.
type expression struct{ where, expr string }

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile("shim6d.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("shim6d.json: %v", err)
	}
	return d
}

// dashboardExpressions lists every query of the dashboard: the panels'
// targets, and the metric a template variable's label_values reads (as a
// selector of that metric, which is what Grafana asks Prometheus).
func dashboardExpressions(t *testing.T, d dashboard) []expression {
	t.Helper()
	var out []expression
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %d has no expression", p.Title, i)
					continue
				}
				out = append(out, expression{fmt.Sprintf("panel %q target %d", p.Title, i), tg.Expr})
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\(\s*([^,]+?)\s*,\s*\w+\s*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(SELECTOR, LABEL)", v.Name, v.Definition)
			continue
		}
		out = append(out, expression{"variable " + v.Name, m[1]})
	}
	return out
}

// ruleExpressions lists the expr of every rule in configs/prometheus's
// rules file. The file is YAML; its rules write expr either on one line or
// as a literal block (expr: |), and nothing else, which is all this
// reads. The count is checked against the rules' names so that a form it
// does not read cannot pass unnoticed.
func ruleExpressions(t *testing.T) []expression {
	t.Helper()
	data, err := os.ReadFile("../prometheus/shim6d.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var out []expression
	names := 0
	lines := strings.Split(string(data), "\n")
	name := ""
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if n, ok := strings.CutPrefix(line, "- alert: "); ok {
			name, names = n, names+1
		} else if n, ok := strings.CutPrefix(line, "- record: "); ok {
			name, names = n, names+1
		}
		rest, ok := strings.CutPrefix(line, "expr:")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		if rest != "|" {
			out = append(out, expression{"rule " + name, rest})
			continue
		}
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		var block []string
		for i+1 < len(lines) {
			next := lines[i+1]
			if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
				break
			}
			block = append(block, next)
			i++
		}
		out = append(out, expression{"rule " + name, strings.Join(block, "\n")})
	}
	if len(out) != names || names == 0 {
		t.Fatalf("rules file: %d rules but %d expressions read", names, len(out))
	}
	return out
}

// TestDashboardShape: the dashboard is Grafana JSON with a title and uid,
// its queries take the instance variable, and its panels do not overlap.
func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Fatalf("title %q, uid %q: Grafana needs both", d.Title, d.UID)
	}
	exprs := dashboardExpressions(t, d)
	if len(exprs) < 10 {
		t.Fatalf("only %d queries", len(exprs))
	}
	for _, e := range exprs {
		if strings.HasPrefix(e.where, "panel") && !strings.Contains(e.expr, `instance=~"$instance"`) {
			t.Errorf("%s does not select instance=~\"$instance\": %s", e.where, e.expr)
		}
	}
	var raw struct {
		Panels []struct {
			Title   string                   `json:"title"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		} `json:"panels"`
	}
	data, _ := os.ReadFile("shim6d.json")
	json.Unmarshal(data, &raw)
	cells := map[[2]int]string{}
	for _, p := range raw.Panels {
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside Grafana's 24 columns", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Fatalf("panels %q and %q overlap at (%d, %d)", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
	}
}

// grafanaVariables are the dashboard's variables with a value Prometheus
// would accept in their place, for promtool.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "1m", "$instance", ".+")

// TestExpressionsParse: promtool parses every dashboard query, variables
// replaced as Grafana would, with Prometheus's own PromQL parser (as
// recording rules of a scratch rules file).
func TestExpressionsParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("needs promtool (Debian prometheus)")
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	exprs := dashboardExpressions(t, loadDashboard(t))
	for i, e := range exprs {
		q, _ := json.Marshal(grafanaVariables.Replace(e.expr)) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(exprs)); !strings.Contains(string(out), want) {
		t.Fatalf("promtool: want %q\n%s", want, out)
	}
}

// TestExpressionsUseExportedMetrics: every metric name in the dashboard's
// queries and in the alerting rules is one the daemon exports, as read
// from its own /metrics: a renamed or removed metric fails here instead
// of leaving an empty graph or an alert that can never fire.
func TestExpressionsUseExportedMetrics(t *testing.T) {
	exported := scrapeDaemon(t)
	exprs := append(dashboardExpressions(t, loadDashboard(t)), ruleExpressions(t)...)
	used := map[string]bool{}
	for _, e := range exprs {
		names, err := metricNames(e.expr)
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s names no metric: %s", e.where, e.expr)
		}
		for _, n := range names {
			used[n] = true
			switch {
			case exported[n], prometheusOwn[n]:
			case notYetExported[n] != "":
				t.Logf("%s: %s not checked (%s)", e.where, n, notYetExported[n])
			default:
				t.Errorf("%s uses %s, which the daemon does not export", e.where, n)
			}
		}
	}
	var unused []string
	for n := range exported {
		if !used[n] {
			unused = append(unused, n)
		}
	}
	slices.Sort(unused)
	t.Logf("%d expressions, %d metric names used; %d exported names used by none (fine: the dashboard shows a selection): %s",
		len(exprs), len(used), len(unused), strings.Join(unused, " "))
}

// scrapeDaemon builds shim6d, runs it on null devices with its metrics
// listener on a free loopback port, and returns the metric names of one
// scrape of /metrics: each family's name, and for histograms and
// summaries the series names PromQL sees (_bucket, _sum, _count).
func scrapeDaemon(t *testing.T) map[string]bool {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (DPDK EAL, to run the daemon whose metrics are checked)")
	}
	if err := exec.Command("pkg-config", "--exists", "libdpdk").Run(); err != nil {
		t.Skip("needs DPDK's development files to build shim6d (Debian libdpdk-dev, pkg-config)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", dir+"/", "shim6d/cmd/shim6d").CombinedOutput(); err != nil {
		t.Fatalf("building shim6d: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// Every collector registered, with an inside port and an uplink,
	// each with an address.
	cfg := configtest.Null{
		Dir: dir, FilePrefix: fmt.Sprintf("shim6d-grafana-%d", os.Getpid()), Polling: "adaptive", MetricsListen: addr,
		InsideAddresses: []string{"2001:db8:1::1"}, UplinkAddresses: []string{"2001:db8:ffff:1::2"},
	}.Write(t, "null.toml")
	d := configtest.StartDaemon(t, dir+"/shim6d", cfg)
	defer func() {
		d.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.Exited():
		case <-time.After(10 * time.Second):
			d.Cmd.Process.Kill()
			<-d.Exited()
			t.Error("shim6d did not stop within 10 s of SIGTERM")
		}
	}()
	var resp *http.Response
	d.WaitFor(t, "/metrics on "+addr, 30*time.Second, func() (err error) {
		resp, err = http.Get("http://" + addr + "/metrics")
		return err
	})
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	return exportedNames(t, bufio.NewScanner(resp.Body))
}

// exportedNames reads the text exposition format's TYPE lines.
func exportedNames(t *testing.T, sc *bufio.Scanner) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		switch f[3] {
		case "histogram":
			names[f[2]+"_bucket"], names[f[2]+"_sum"], names[f[2]+"_count"] = true, true, true
		case "summary":
			names[f[2]], names[f[2]+"_sum"], names[f[2]+"_count"] = true, true, true
		default:
			names[f[2]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) < 20 {
		t.Fatalf("only %d metric families in the scrape: %v", len(names), names)
	}
	return names
}
