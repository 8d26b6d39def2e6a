// Package lab holds the end-to-end tests: real Linux hosts in network
// namespaces, shim6d on DPDK af_packet ports between them.
package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"shim6d/configs/configtest"
	"shim6d/control/admin"
)

// needLab skips unless the machine can run the namespace lab.
func needLab(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end lab skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, DPDK)")
	}
	for _, tool := range []string{"ip", "ethtool", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian iproute2/ethtool/iputils-ping)", tool)
		}
	}
}

// buildAll compiles the daemon, the CLI and tcpcheck into a temporary
// directory, so the test exercises the code under test, not a stale bin/.
func buildAll(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "shim6d/cmd/shim6d", "shim6d/cmd/shim6ctl", "shim6d/lab/tcpcheck")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// labConfig is configs/lab.toml with this test's own socket and EAL file
// prefix, so a concurrent 'make run' cannot collide with it.
const labConfig = `
[eal]
args = ["-l", "0-1", "--no-huge", "--no-pci", "-m", "512", "--file-prefix", "shim6d-labtest"]
[daemon]
workers = 1
polling = "adaptive"
admin_socket = "%s"
metrics_listen = ""
[[port]]
name = "inside"
role = "inside"
device = "net_af_packet0"
devargs = "iface=s6in"
addresses = ["2001:db8:1::1"]
[[port]]
name = "isp1"
role = "uplink"
device = "net_af_packet1"
devargs = "iface=s6up1"
prefix = "2001:db8:1::/48"
addresses = ["2001:db8:ffff:1::2"]
next_hop = "2001:db8:ffff:1::1"
`

type daemonProc struct {
	cmd  *exec.Cmd
	log  lockedBuffer
	sock string
	ctl  string
}

// lockedBuffer collects a daemon's output while the test reads it.
type lockedBuffer = configtest.Log

func startDaemon(t *testing.T, bin, netns string) *daemonProc {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	return startDaemonWith(t, bin, netns, fmt.Sprintf(labConfig, sock), sock)
}

// startDaemonFile runs shim6d with a config file of the lab, its admin
// socket moved to a temporary one.
func startDaemonFile(t *testing.T, bin, netns, file string) *daemonProc {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "admin.sock")
	re := regexp.MustCompile(`(?m)^admin_socket = .*$`)
	return startDaemonWith(t, bin, netns, re.ReplaceAllString(string(data), fmt.Sprintf("admin_socket = %q", sock)), sock)
}

func startDaemonWith(t *testing.T, bin, netns, config, sock string) *daemonProc {
	t.Helper()
	d := &daemonProc{sock: sock, ctl: bin + "/shim6ctl"}
	cfg := filepath.Join(t.TempDir(), "shim6d.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command("ip", "netns", "exec", netns, bin+"/shim6d", "--config", cfg)
	d.cmd.Stdout, d.cmd.Stderr = &d.log, &d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- d.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-done
			t.Errorf("shim6d did not stop within 10 s of SIGINT")
		}
		if t.Failed() {
			t.Logf("shim6d log:\n%s", d.log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st admin.Status
		if err := admin.NewClient(d.sock).Get("/status", &st); err == nil {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("shim6d did not answer on its admin socket within 20 s\n%s", d.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemonProc) get(t *testing.T, route string, v any) {
	t.Helper()
	if err := admin.NewClient(d.sock).Get(route, v); err != nil {
		t.Fatal(err)
	}
}

// TestForwardingLab: the host finds shim6d by ND, pings through it, and
// moves 100 MB over TCP to a server behind the ISP router, every byte
// verified.
func TestForwardingLab(t *testing.T) {
	needLab(t)
	bin := buildAll(t)
	run(t, "./lab.sh", "up")
	t.Cleanup(func() { exec.Command("./lab.sh", "down").Run() })
	d := startDaemon(t, bin, "s6-mbox")

	out := run(t, "ip", "netns", "exec", "s6-host", "ping", "-6", "-c", "3", "-i", "0.2", "-W", "3", "2001:db8:ff::1")
	if !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping through shim6d lost packets:\n%s", out)
	}
	out = run(t, "ip", "netns", "exec", "s6-host", "ping", "-6", "-c", "2", "-i", "0.2", "-W", "3", "2001:db8:1::1")
	if !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping to shim6d's own address lost packets:\n%s", out)
	}
	// The host resolved the daemon by ND: its neighbour entry has the
	// inside port's MAC.
	var ports []admin.Port
	d.get(t, "/ports", &ports)
	neigh := run(t, "ip", "netns", "exec", "s6-host", "ip", "-6", "neigh", "show", "2001:db8:1::1")
	if !strings.Contains(neigh, ports[0].MAC) {
		t.Fatalf("host's neighbour entry for 2001:db8:1::1 is %q, want MAC %s", neigh, ports[0].MAC)
	}

	const n = 100 << 20
	srv := exec.Command("ip", "netns", "exec", "s6-isp1", bin+"/tcpcheck", "serve",
		"-listen", "[2001:db8:ff::1]:5001", "-bytes", fmt.Sprint(n), "-timeout", "120s")
	var srvOut bytes.Buffer
	srv.Stdout = &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	run(t, "ip", "netns", "exec", "s6-host", bin+"/tcpcheck", "send", "-to", "[2001:db8:ff::1]:5001",
		"-bytes", fmt.Sprint(n), "-timeout", "120s")
	srv.Wait()
	var res struct {
		Bytes    int64   `json:"bytes"`
		Verified bool    `json:"verified"`
		Mbps     float64 `json:"mbps"`
		Error    string  `json:"error"`
	}
	if err := json.Unmarshal(srvOut.Bytes(), &res); err != nil {
		t.Fatalf("tcpcheck output %q: %v", srvOut.String(), err)
	}
	if !res.Verified || res.Bytes != n {
		t.Fatalf("transfer: %+v", res)
	}
	t.Logf("100 MB verified at %.0f Mbit/s", res.Mbps)

	var st admin.Stats
	d.get(t, "/stats", &st)
	if st.Workers[0].RxPackets < n/1500 {
		t.Fatalf("worker received only %d packets for a 100 MB transfer", st.Workers[0].RxPackets)
	}
	// Prometheus sees the same traffic: the uplink sent at least the
	// transfer's bytes.
	body, err := admin.NewClient(d.sock).GetRaw("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var txBytes float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, `shim6d_port_bytes_total{direction="tx",port="isp1"}`) {
			fmt.Sscan(strings.Fields(line)[1], &txBytes)
		}
	}
	if txBytes < n {
		t.Fatalf("shim6d_port_bytes_total for isp1 tx = %v, want >= %d\n%s", txBytes, n, body)
	}
}
