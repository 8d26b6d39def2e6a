// Package systemd holds shim6d's systemd units. Its tests hold the
// daemon's unit to the example production configuration, run the daemon
// as the unit would (its command, capabilities, environment, reload and
// stop), and run the host preparation script against stand-ins for
// DPDK's tools.
package systemd

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"shim6d/configs"
	"shim6d/configs/configtest"
)

// unitService returns the [Service] settings of a unit file, each key's
// values in order (a key may repeat).
func unitService(t *testing.T, file string) map[string][]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: %q is not KEY=VALUE", file, line)
			}
			out[k] = append(out[k], v)
		}
	}
	return out
}

// cpuList reads systemd's CPUAffinity= syntax: numbers and ranges, by
// spaces or commas.
func cpuList(t *testing.T, s string) []int {
	t.Helper()
	var cpus []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || b < a {
			t.Fatalf("CPUAffinity %q: bad element %q", s, f)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus)
}

// TestUnitCoversExampleCores: the unit's CPUAffinity holds every lcore of
// example-production.toml (the daemon refuses an lcore outside its
// affinity) and one CPU more for the Go runtime, and GOMAXPROCS covers the
// lcores and that CPU, as README.md's "Running it" asks.
func TestUnitCoversExampleCores(t *testing.T) {
	svc := unitService(t, "shim6d.service")
	cfg, err := configs.Load("../example-production.toml")
	if err != nil {
		t.Fatal(err)
	}
	lcores := cfg.Lcores()
	if len(lcores) == 0 {
		t.Fatal("example-production.toml names no lcores")
	}
	aff := svc["CPUAffinity"]
	if len(aff) != 1 {
		t.Fatalf("CPUAffinity set %d times, want once", len(aff))
	}
	cpus := cpuList(t, aff[0])
	for _, l := range lcores {
		if !slices.Contains(cpus, l) {
			t.Errorf("lcore %d of example-production.toml is outside CPUAffinity=%s", l, aff[0])
		}
	}
	if len(cpus) != len(lcores)+1 {
		t.Errorf("CPUAffinity=%s has %d CPUs for %d lcores; want the lcores and one for the Go runtime", aff[0], len(cpus), len(lcores))
	}
	want := fmt.Sprintf("GOMAXPROCS=%d", len(lcores)+1)
	if !slices.Contains(svc["Environment"], want) {
		t.Errorf("Environment %v lacks %s", svc["Environment"], want)
	}
}

// capabilityBits are the capabilities' numbers (linux/capability.h) the
// tests use to read /proc/PID/status.
var capabilityBits = map[string]uint{
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_SYS_RAWIO": 17, "CAP_SYS_ADMIN": 21,
}

// TestUnitRunsDaemon starts the daemon as the unit's [Service] says, with
// no systemd: its ExecStart (the binary and the config path pointed at
// the test's), its Environment, and its CapabilityBoundingSet applied by
// setpriv to a root process, as systemd applies it. The daemon runs with
// exactly those capabilities; the unit's ExecReload, $MAINPID filled in,
// delivers SIGHUP and the daemon lives on; SIGTERM (systemd's stop) ends
// it with status 0 within TimeoutStopSec.
func TestUnitRunsDaemon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (DPDK EAL, and the capabilities a root service keeps)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (Debian util-linux)")
	}
	if err := exec.Command("pkg-config", "--exists", "libdpdk").Run(); err != nil {
		t.Skip("needs DPDK's development files to build shim6d (Debian libdpdk-dev, pkg-config)")
	}
	svc := unitService(t, "shim6d.service")
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", dir+"/", "shim6d/cmd/shim6d").CombinedOutput(); err != nil {
		t.Fatalf("building shim6d: %v\n%s", err, out)
	}
	null := configtest.Null{Dir: dir, FilePrefix: fmt.Sprintf("shim6d-unit-%d", os.Getpid()), Polling: "adaptive"}
	cfg := null.Write(t, "shim6d.toml")

	start := strings.Fields(svc["ExecStart"][0])
	if start[0] != "/usr/sbin/shim6d" || !slices.Contains(start, "/etc/shim6d/shim6d.toml") {
		t.Fatalf("ExecStart=%s: want /usr/sbin/shim6d with /etc/shim6d/shim6d.toml", svc["ExecStart"][0])
	}
	start[0] = dir + "/shim6d"
	start[slices.Index(start, "/etc/shim6d/shim6d.toml")] = cfg

	caps := strings.Fields(svc["CapabilityBoundingSet"][0])
	if !slices.Equal(caps, strings.Fields(svc["AmbientCapabilities"][0])) {
		t.Errorf("AmbientCapabilities %v differ from CapabilityBoundingSet %v", svc["AmbientCapabilities"], caps)
	}
	bounding := "-all"
	var want uint64
	for _, c := range caps {
		bit, ok := capabilityBits[c]
		if !ok {
			t.Fatalf("CapabilityBoundingSet names %s, which this test does not know", c)
		}
		want |= 1 << bit
		bounding += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}

	cmd := exec.Command(setpriv, append([]string{"--bounding-set=" + bounding, "--"}, start...)...)
	cmd.Env = append(os.Environ(), svc["Environment"]...)
	d := configtest.Start(t, cmd)
	waitRunning := func(what string) {
		t.Helper()
		d.WaitSocket(t, null.AdminSocket(), "admin socket "+what, 30*time.Second)
	}
	waitRunning("at start")

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"CapEff", "CapBnd"} {
		var got uint64
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				got, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			}
		}
		if got != want {
			t.Errorf("%s = %#x, want %#x (%v)", field, got, want, caps)
		}
	}

	// ExecReload as systemd runs it: no shell, $MAINPID replaced.
	reload := strings.Fields(strings.ReplaceAll(svc["ExecReload"][0], "$MAINPID", strconv.Itoa(cmd.Process.Pid)))
	if out, err := exec.Command(reload[0], reload[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("ExecReload %v: %v\n%s", reload, err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.Output(), "SIGHUP") {
		if time.Now().After(deadline) {
			t.Fatal("the daemon logged nothing about the SIGHUP of ExecReload within 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	waitRunning("after ExecReload")

	stop, err := time.ParseDuration(strings.TrimSuffix(svc["TimeoutStopSec"][0], "ec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", svc["TimeoutStopSec"][0], err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.Exited():
		if err := d.Err(); err != nil {
			t.Fatalf("after SIGTERM: %v (systemd would count the stop a failure)", err)
		}
	case <-time.After(stop):
		t.Fatalf("shim6d did not stop within TimeoutStopSec=%v of SIGTERM", stop)
	}
}
