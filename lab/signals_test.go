package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"shim6d/control/admin"
)

// signalsConfig is a daemon on null devices: nothing to forward, only a
// process to signal.
const signalsConfig = `
[eal]
args = ["-l", "0-1", "--no-huge", "--no-pci", "-m", "512", "--file-prefix", "shim6d-signals-%[2]d"]
[daemon]
workers = 1
admin_socket = "%[1]s/admin.sock"
metrics_listen = ""
[[port]]
name = "inside"
role = "inside"
device = "net_null0"
devargs = "no-rx=1"
[[port]]
name = "isp1"
role = "uplink"
device = "net_null1"
devargs = "no-rx=1"
prefix = "2001:db8:1::/48"
next_hop = "2001:db8:ffff:1::1"
next_hop_mac = "02:00:00:00:00:20"
`

// TestSignals: SIGHUP, which operators and log rotation send expecting a
// reload, leaves the daemon running and says so in its log; SIGTERM and
// SIGINT each shut it down cleanly (exit 0, admin socket removed).
func TestSignals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (DPDK EAL)")
	}
	bin := buildAll(t)
	for i, stop := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(stop.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "signals.toml")
			os.WriteFile(cfg, []byte(fmt.Sprintf(signalsConfig, dir, i)), 0o644)
			cmd := exec.Command(bin+"/shim6d", "--config", cfg)
			var log lockedBuffer
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				cmd.Process.Kill()
				if t.Failed() {
					t.Logf("shim6d log:\n%s", log.String())
				}
			}()
			cl := admin.NewClient(dir + "/admin.sock")
			var st admin.Status
			deadline := time.Now().Add(20 * time.Second)
			for cl.Get("/status", &st) != nil {
				if time.Now().After(deadline) {
					t.Fatal("shim6d did not answer on its admin socket within 20 s")
				}
				time.Sleep(100 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGHUP)
			for !strings.Contains(log.String(), "SIGHUP ignored") {
				select {
				case err := <-done:
					t.Fatalf("SIGHUP ended the daemon: %v", err)
				case <-time.After(100 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatal("no log line for SIGHUP")
				}
			}
			if err := cl.Get("/status", &st); err != nil {
				t.Fatalf("after SIGHUP: %v", err)
			}
			cmd.Process.Signal(stop)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("after %v: %v", stop, err)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("shim6d did not stop within 15 s of %v", stop)
			}
			if _, err := os.Stat(dir + "/admin.sock"); !os.IsNotExist(err) {
				t.Errorf("admin socket left behind after %v: %v", stop, err)
			}
		})
	}
}
