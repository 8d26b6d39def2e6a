package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"shim6d/configs/configtest"
	"shim6d/control/admin"
)

// TestSignals: SIGHUP reloads the configuration (here unchanged: the log
// says nothing changed) and leaves the daemon running; SIGTERM and SIGINT
// each shut it down cleanly (exit 0, admin socket removed).
func TestSignals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (DPDK EAL)")
	}
	bin := buildAll(t)
	for i, stop := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(stop.String(), func(t *testing.T) {
			// A daemon on null devices: nothing to forward, only a
			// process to signal.
			null := configtest.Null{Dir: t.TempDir(), FilePrefix: fmt.Sprintf("shim6d-signals-%d", i), MemoryMB: 512}
			cfg := null.Write(t, "signals.toml")
			d := configtest.StartDaemon(t, bin+"/shim6d", cfg)
			cl := admin.NewClient(null.AdminSocket())
			var st admin.Status
			// The reload below is logged within the same 20 s as the start.
			deadline := time.Now().Add(20 * time.Second)
			d.WaitFor(t, "answer on its admin socket", 20*time.Second, func() error { return cl.Get("/status", &st) })
			d.Cmd.Process.Signal(syscall.SIGHUP)
			for !strings.Contains(d.Output(), `msg="configuration reloaded" by=SIGHUP file=`+cfg+" changed=nothing") {
				select {
				case <-d.Exited():
					t.Fatalf("SIGHUP ended the daemon: %v", d.Err())
				case <-time.After(100 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatal("no reload logged for SIGHUP")
				}
			}
			if err := cl.Get("/status", &st); err != nil {
				t.Fatalf("after SIGHUP: %v", err)
			}
			d.Cmd.Process.Signal(stop)
			select {
			case <-d.Exited():
				if err := d.Err(); err != nil {
					t.Fatalf("after %v: %v", stop, err)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("shim6d did not stop within 15 s of %v", stop)
			}
			if _, err := os.Stat(null.AdminSocket()); !os.IsNotExist(err) {
				t.Errorf("admin socket left behind after %v: %v", stop, err)
			}
		})
	}
}

// TestReloadOnSIGHUP: in the forwarding lab, a weight changed in the file
// is live after SIGHUP (shim6ctl uplinks shows it); a device changed is
// refused, by SIGHUP and by shim6ctl reload (exit status 2, the line names
// the key), and the daemon forwards on with the configuration it had.
func TestReloadOnSIGHUP(t *testing.T) {
	needLab(t)
	bin := buildAll(t)
	run(t, "./lab.sh", "up")
	t.Cleanup(func() { exec.Command("./lab.sh", "down").Run() })
	sock := filepath.Join(t.TempDir(), "admin.sock")
	doc := fmt.Sprintf(labConfig, sock)
	d := startDaemonWith(t, bin, "s6-mbox", doc, sock)
	cfg := d.cmd.Args[len(d.cmd.Args)-1] // ip netns exec execs shim6d: the signal reaches it
	ping := func(when string) {
		t.Helper()
		out := run(t, "ip", "netns", "exec", "s6-host", "ping", "-6", "-c", "3", "-i", "0.2", "-W", "3", "2001:db8:ff::1")
		if !strings.Contains(out, " 0% packet loss") {
			t.Fatalf("ping through shim6d %s lost packets:\n%s", when, out)
		}
	}
	ping("before the reloads")
	hup := func(doc, logged string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		before := strings.Count(d.log.String(), logged)
		d.cmd.Process.Signal(syscall.SIGHUP)
		for deadline := time.Now().Add(10 * time.Second); strings.Count(d.log.String(), logged) == before; {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log within 10 s of SIGHUP", logged)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	uplinks := func() []admin.Uplink {
		t.Helper()
		var ups []admin.Uplink
		if err := json.Unmarshal([]byte(run(t, d.ctl, "uplinks", "--json", "--socket", sock)), &ups); err != nil {
			t.Fatal(err)
		}
		return ups
	}

	weighted := strings.Replace(doc, `next_hop = "2001:db8:ffff:1::1"`, "next_hop = \"2001:db8:ffff:1::1\"\nweight = 3", 1)
	hup(weighted, "changed=\"port[1].weight: 1 -> 3\"")
	if ups := uplinks(); len(ups) != 1 || ups[0].Weight != 3 {
		t.Fatalf("shim6ctl uplinks after the reload: %+v; want isp1 with weight 3", ups)
	}

	moved := strings.Replace(weighted, `device = "net_af_packet1"`, `device = "net_af_packet9"`, 1)
	hup(moved, "configuration reload refused")
	if !strings.Contains(d.log.String(), `port[1].device: changed from \"net_af_packet1\" to \"net_af_packet9\" on [[port]] \"isp1\": restart shim6d to apply`) {
		t.Errorf("the refusal does not name the key:\n%s", d.log.String())
	}
	out, err := exec.Command(d.ctl, "reload", "--socket", sock).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), cfg+":") || !strings.Contains(string(out), "port[1].device") {
		t.Errorf("shim6ctl reload of a refused change: %v\n%s", err, out)
	}
	ping("after the refused reloads")
	var ports []admin.Port
	d.get(t, "/ports", &ports)
	if ports[1].Device != "net_af_packet1" || uplinks()[0].Weight != 3 {
		t.Errorf("after the refusal: isp1 is %s, weight %d; want the old configuration", ports[1].Device, uplinks()[0].Weight)
	}
	metrics, err := admin.NewClient(sock).GetRaw("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`shim6d_config_reloads_total{result="ok"} 1`, `shim6d_config_reloads_total{result="refused"} 2`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
