package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The management links of the Prometheus lab test: a veth pair from the
// root namespace into each box, with addresses from 198.18.0.0/15 (RFC
// 2544's benchmarking range, unlikely to be the host's). The daemons'
// metrics listeners bind the box end; Prometheus scrapes from the root.
var mgmtLinks = []struct{ netns, root, box, rootAddr, boxAddr string }{
	{"s6a-box", "s6pm-a", "mgmt0", "198.18.6.1/30", "198.18.6.2"},
	{"s6b-box", "s6pm-b", "mgmt0", "198.18.6.5/30", "198.18.6.6"},
}

// TestPrometheusAlerts runs Debian's prometheus with the shipped rules
// (configs/prometheus/shim6d.rules.yml) against both two-site daemons'
// metrics listeners, scraping and evaluating every second. Once site A's
// context has been on isp1 for a minute, ISP1 is cut silently (no link
// signal: REAP moves the context off it), and Shim6dUplinkAbandoned fires
// for site A's isp1 while Shim6dUplinkDown stays quiet; once isp1's link
// goes down too, Shim6dUplinkDown fires.
// Both are read from Prometheus's HTTP API, /api/v1/alerts.
func TestPrometheusAlerts(t *testing.T) {
	needLab(t)
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("needs prometheus (Debian prometheus)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (Debian nftables)")
	}
	rules, err := filepath.Abs("../configs/prometheus/shim6d.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildAll(t)
	run(t, "./twosite.sh", "up")
	t.Cleanup(func() { exec.Command("./twosite.sh", "down").Run() })
	var targets []string
	for _, m := range mgmtLinks {
		exec.Command("ip", "link", "del", m.root).Run() // left by a killed run
		run(t, "ip", "link", "add", m.root, "type", "veth", "peer", "name", "s6pmtmp")
		t.Cleanup(func() { exec.Command("ip", "link", "del", m.root).Run() })
		run(t, "ip", "link", "set", "s6pmtmp", "netns", m.netns)
		run(t, "ip", "netns", "exec", m.netns, "ip", "link", "set", "s6pmtmp", "name", m.box)
		run(t, "ip", "netns", "exec", m.netns, "ip", "addr", "add", m.boxAddr+"/30", "dev", m.box)
		run(t, "ip", "netns", "exec", m.netns, "ip", "link", "set", m.box, "up")
		run(t, "ip", "addr", "add", m.rootAddr, "dev", m.root)
		run(t, "ip", "link", "set", m.root, "up")
		targets = append(targets, m.boxAddr+":9640")
	}
	metrics := func(addr string) string { return `metrics_listen = "` + addr + `"` }
	a := startDaemonFile(t, bin, "s6a-box", editedConfig(t, "configs/site-a.toml", "", `metrics_listen = ""`, metrics(targets[0])))
	startDaemonFile(t, bin, "s6b-box", editedConfig(t, "configs/site-b.toml", "", `metrics_listen = ""`, metrics(targets[1])))

	api := startPrometheus(t, promBin, rules, targets)
	// Both targets scraped: up is 1 for each.
	waitFor(t, 30*time.Second, func() bool { return len(promQuery(t, api, `up{job="shim6d"} == 1`)) == 2 },
		func() string {
			return "Prometheus does not scrape both daemons:\n" + promGet(t, api, "/api/v1/targets")
		})

	// Host A's pings to B make the daemons establish a context over the
	// ULIDs, through isp1 and isp3. They go on in the background, so
	// REAP has traffic to miss once isp1 is cut.
	ping := exec.Command("ip", "netns", "exec", "s6a-host", "ping", "-6", "-q", "-c", "900", "-i", "0.2", "-I", hbaA, hbaB)
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ping.Process.Kill(); ping.Wait() })
	// The rule wants an uplink that carried contexts for at least a
	// minute (not one used in passing by an exploration): the cut waits
	// until Prometheus has seen that much of isp1.
	isp1 := fmt.Sprintf(`count_over_time((shim6d_uplink_contexts{instance=%q,uplink="isp1"} > 0)[30m:10s]) >= 6`, targets[0])
	waitFor(t, 90*time.Second, func() bool { return len(promQuery(t, api, isp1)) == 1 },
		func() string {
			return "Prometheus did not see site A's context on isp1 for a minute:\n" + run(t, bin+"/shim6ctl", "uplinks", "--socket", a.sock)
		})

	cutISP1(t)
	cutAt := time.Now()
	siteA := map[string]string{"instance": targets[0], "uplink": "isp1"}
	// The alert's for is 30 s; REAP moves the context within about 2 s
	// of the cut (Send Timeout 1 s).
	waitFor(t, 60*time.Second, func() bool { return alertState(t, api, "Shim6dUplinkAbandoned", siteA) == "firing" },
		func() string {
			return "Shim6dUplinkAbandoned not firing for site A's isp1 60 s after the cut:\n" + promGet(t, api, "/api/v1/alerts") +
				"\n" + run(t, bin+"/shim6ctl", "uplinks", "--socket", a.sock)
		})
	t.Logf("Shim6dUplinkAbandoned firing for site A's isp1 %.1f s after the silent cut", time.Since(cutAt).Seconds())
	if s := alertState(t, api, "Shim6dUplinkDown", siteA); s != "" {
		t.Fatalf("Shim6dUplinkDown is %s for isp1, whose link and next hop are up", s)
	}
	for _, al := range promAlerts(t, api) {
		t.Logf("alert %s %s %v", al.Labels["alertname"], al.State, al.Labels)
	}

	// Now isp1's link goes down as well: carrier lost on site A's port.
	run(t, "ip", "netns", "exec", "s6-inet", "ip", "link", "set", "i-a1", "down")
	downAt := time.Now()
	waitFor(t, 45*time.Second, func() bool { return alertState(t, api, "Shim6dUplinkDown", siteA) == "firing" },
		func() string {
			return "Shim6dUplinkDown not firing for site A's isp1 45 s after its link went down:\n" + promGet(t, api, "/api/v1/alerts")
		})
	t.Logf("Shim6dUplinkDown firing for site A's isp1 %.1f s after its link went down", time.Since(downAt).Seconds())
	for _, al := range promAlerts(t, api) {
		if al.Labels["alertname"] == "Shim6dUplinkDown" && al.Labels["severity"] != "page" {
			t.Errorf("Shim6dUplinkDown has severity %q, want page", al.Labels["severity"])
		}
	}
}

// startPrometheus runs prometheus on the loopback with a temporary
// configuration and database: scrape and rule evaluation every second,
// the rules file given, the targets as job shim6d. It returns the base
// URL of its HTTP API once it is ready.
func startPrometheus(t *testing.T, promBin, rules string, targets []string) string {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: shim6d
    static_configs:
      - targets: [%s]
`, rules, strings.Join(quoted, ", "))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+listen)
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})
	base := "http://" + listen
	waitFor(t, 30*time.Second, func() bool {
		select {
		case <-done:
			t.Fatalf("prometheus exited:\n%s", log.String())
		default:
		}
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func() string { return "prometheus not ready within 30 s:\n" + log.String() })
	return base
}

// promGet returns the body of one GET of the API, or the error.
func promGet(t *testing.T, base, path string) string {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return string(body)
}

// promDecode decodes an API answer's data, failing on an error status.
func promDecode(t *testing.T, body string, data any) {
	t.Helper()
	var r struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
		t.Fatalf("prometheus API: %v %s", err, body)
	}
	if err := json.Unmarshal(r.Data, data); err != nil {
		t.Fatalf("prometheus API data: %v %s", err, body)
	}
}

// promQuery returns the labels of each series of an instant query.
func promQuery(t *testing.T, base, q string) []map[string]string {
	t.Helper()
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
		} `json:"result"`
	}
	promDecode(t, promGet(t, base, "/api/v1/query?query="+url.QueryEscape(q)), &data)
	var out []map[string]string
	for _, r := range data.Result {
		out = append(out, r.Metric)
	}
	return out
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// promAlerts returns the pending and firing alerts.
func promAlerts(t *testing.T, base string) []promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	promDecode(t, promGet(t, base, "/api/v1/alerts"), &data)
	return data.Alerts
}

// alertState is the state ("pending", "firing") of the alert with that
// name whose labels include want, or "" if there is none.
func alertState(t *testing.T, base, name string, want map[string]string) string {
	t.Helper()
	for _, al := range promAlerts(t, base) {
		if al.Labels["alertname"] != name {
			continue
		}
		match := true
		for k, v := range want {
			match = match && al.Labels[k] == v
		}
		if match {
			return al.State
		}
	}
	return ""
}
