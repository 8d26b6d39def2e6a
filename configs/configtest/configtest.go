// Package configtest runs shim6d on DPDK's null devices for the tests of
// other packages (the systemd unit, the Debian package, the Grafana
// dashboard, the lab's signals), which each used to carry their own copy
// of the configuration and of the start-and-wait steps. It is test
// support: only _test.go files import it, never the daemon or the CLI.
package configtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Null describes a daemon on two net_null ports (inside and isp1, no-rx)
// without hugepages or PCI: a process that starts EAL, registers every
// collector and answers its admin socket, with nothing to forward. The
// fields are what the tests' copies differed in; a caller that needs more
// appends its own sections to Config's text.
type Null struct {
	// Dir holds the admin socket (Dir/admin.sock) and, by Write, the
	// configuration file: the test's temporary directory, so that
	// concurrent tests never share a socket.
	Dir string
	// FilePrefix is EAL's --file-prefix, unique per test and process so
	// that two daemons' runtime files cannot collide; empty leaves the
	// option out, for a daemon that never starts EAL (--check).
	FilePrefix string
	// MemoryMB is EAL's -m; zero means 256, enough for the null ports'
	// pools.
	MemoryMB int
	// Polling is [daemon] polling; empty leaves the daemon's default.
	Polling string
	// MetricsListen is [daemon] metrics_listen; empty turns the metrics
	// listener off, so that tests never fight over a TCP port.
	MetricsListen string
	// InsideAddresses and UplinkAddresses are the ports' own addresses;
	// the address collectors (ND, ICMP) have one to count for.
	InsideAddresses, UplinkAddresses []string
}

// AdminSocket returns the admin socket's path, the one Config writes.
func (n Null) AdminSocket() string { return filepath.Join(n.Dir, "admin.sock") }

// EALArgs returns the EAL arguments Config writes: two lcores, no
// hugepages, no PCI, -m, and --file-prefix when set.
func (n Null) EALArgs() []string {
	mem := n.MemoryMB
	if mem == 0 {
		mem = 256
	}
	args := []string{"-l", "0-1", "--no-huge", "--no-pci", "-m", strconv.Itoa(mem)}
	if n.FilePrefix != "" {
		args = append(args, "--file-prefix", n.FilePrefix)
	}
	return args
}

// Config returns the configuration's TOML text.
func (n Null) Config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[eal]\nargs = %s\n", tomlStrings(n.EALArgs()))
	b.WriteString("[daemon]\nworkers = 1\n")
	if n.Polling != "" {
		fmt.Fprintf(&b, "polling = %q\n", n.Polling)
	}
	fmt.Fprintf(&b, "admin_socket = %q\nmetrics_listen = %q\n", n.AdminSocket(), n.MetricsListen)
	ports := []struct {
		name, role string
		addresses  []string
		uplink     string // the uplink's prefix, next hop and its MAC
	}{
		{"inside", "inside", n.InsideAddresses, ""},
		{"isp1", "uplink", n.UplinkAddresses,
			"prefix = \"2001:db8:1::/48\"\nnext_hop = \"2001:db8:ffff:1::1\"\nnext_hop_mac = \"02:00:00:00:00:20\"\n"},
	}
	for i, p := range ports {
		fmt.Fprintf(&b, "[[port]]\nname = %q\nrole = %q\ndevice = \"net_null%d\"\ndevargs = \"no-rx=1\"\n", p.name, p.role, i)
		if len(p.addresses) > 0 {
			fmt.Fprintf(&b, "addresses = %s\n", tomlStrings(p.addresses))
		}
		b.WriteString(p.uplink)
	}
	return b.String()
}

// Write writes Config's text to Dir/name and returns its path, failing
// the test if it cannot: a daemon started on a missing file would fail
// for a reason the test does not name.
func (n Null) Write(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(n.Dir, name)
	if err := os.WriteFile(path, []byte(n.Config()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tomlStrings writes a TOML array of basic strings. Go's %q quoting is
// TOML's for the ASCII these tests use.
func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Daemon is a started process whose output is collected while it runs,
// and whose exit the test can wait on more than once: the tests both
// poll for readiness and, later, check how it stopped.
type Daemon struct {
	// Cmd is the started command (its Process for signals and /proc).
	Cmd    *exec.Cmd
	log    Log
	exited chan struct{}
	err    error
}

// Start starts cmd (shim6d, or a wrapper that execs it) with its output
// collected. A cleanup kills it if it still runs when the test ends and,
// if the test failed, logs its output: a test never leaves a daemon
// holding EAL's files behind, and a failure shows what the daemon said.
func Start(t testing.TB, cmd *exec.Cmd) *Daemon {
	t.Helper()
	d := &Daemon{Cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &d.log, &d.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("shim6d log:\n%s", d.log.String())
		}
	})
	return d
}

// StartDaemon starts the shim6d binary bin on the configuration file cfg,
// as Start does.
func StartDaemon(t testing.TB, bin, cfg string) *Daemon {
	t.Helper()
	return Start(t, exec.Command(bin, "--config", cfg))
}

// Exited is closed once the process has exited; Err then says how.
func (d *Daemon) Exited() <-chan struct{} { return d.exited }

// Err returns the process's exit status (nil for 0); it is meaningful
// only once Exited is closed.
func (d *Daemon) Err() error {
	<-d.exited
	return d.err
}

// Output returns the process's output so far.
func (d *Daemon) Output() string { return d.log.String() }

// WaitFor polls ready every 100 ms until it returns nil, failing the test
// if the process exits first or timeout passes; what names the awaited
// thing in the failure ("admin socket at start"). The daemon's start
// takes seconds (EAL, the ports), so every test waits for a sign that it
// is up before it acts.
func (d *Daemon) WaitFor(t testing.TB, what string, timeout time.Duration, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-d.exited:
			t.Fatalf("shim6d exited before %s: %v", what, d.err)
		default:
		}
		err := ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitSocket waits, as WaitFor does, until the unix socket path exists:
// the daemon creates its admin socket once its start has succeeded.
func (d *Daemon) WaitSocket(t testing.TB, path, what string, timeout time.Duration) {
	t.Helper()
	d.WaitFor(t, what, timeout, func() error {
		_, err := os.Stat(path)
		return err
	})
}

// Log collects a process's output while the test reads it: the process
// writes from its own goroutines. The lab's and the control core's tests
// collect their output in it too.
type Log struct {
	mu  sync.Mutex
	buf strings.Builder
}

// Write appends p; the process's stdout and stderr both write here.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns what was written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
