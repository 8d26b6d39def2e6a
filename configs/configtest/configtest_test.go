package configtest

import (
	"errors"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"shim6d/configs"
)

// TestNullParses: every variant the tests use is a configuration the
// daemon's own parser accepts, with the EAL arguments, socket, metrics,
// polling and addresses asked for, and nothing else left to chance.
func TestNullParses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		n    Null
		eal  []string
	}{
		{"check", Null{Dir: dir},
			[]string{"-l", "0-1", "--no-huge", "--no-pci", "-m", "256"}},
		{"signals", Null{Dir: dir, FilePrefix: "shim6d-signals-0", MemoryMB: 512},
			[]string{"-l", "0-1", "--no-huge", "--no-pci", "-m", "512", "--file-prefix", "shim6d-signals-0"}},
		{"dashboard", Null{Dir: dir, FilePrefix: "p", Polling: "busy", MetricsListen: "127.0.0.1:9999",
			InsideAddresses: []string{"2001:db8:1::1"}, UplinkAddresses: []string{"2001:db8:ffff:1::2", "2001:db8:ffff:1::3"}},
			[]string{"-l", "0-1", "--no-huge", "--no-pci", "-m", "256", "--file-prefix", "p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := configs.Load(tc.n.Write(t, tc.name+".toml"))
			if err != nil {
				t.Fatalf("%v\n%s", err, tc.n.Config())
			}
			if !slices.Equal(cfg.EAL.Args, tc.eal) {
				t.Errorf("EAL args %q, want %q", cfg.EAL.Args, tc.eal)
			}
			d := cfg.Daemon
			if d.AdminSocket != filepath.Join(dir, "admin.sock") || d.MetricsListen != tc.n.MetricsListen || d.Workers != 1 {
				t.Errorf("daemon %+v: want the socket in %s, metrics_listen %q, one worker", d, dir, tc.n.MetricsListen)
			}
			if tc.n.Polling != "" && string(d.Polling) != tc.n.Polling {
				t.Errorf("polling %q, want %q", d.Polling, tc.n.Polling)
			}
			if len(cfg.Ports) != 2 {
				t.Fatalf("%d ports, want inside and isp1", len(cfg.Ports))
			}
			for i, want := range [][]string{tc.n.InsideAddresses, tc.n.UplinkAddresses} {
				p := cfg.Ports[i]
				if p.Device != "net_null"+string(rune('0'+i)) || p.Devargs != "no-rx=1" {
					t.Errorf("port %s: %s %q, want a null device without rx", p.Name, p.Device, p.Devargs)
				}
				var got []string
				for _, a := range p.Addresses {
					got = append(got, a.String())
				}
				if !slices.Equal(got, want) {
					t.Errorf("port %s addresses %v, want %v", p.Name, got, want)
				}
			}
			up := cfg.Ports[1]
			if up.Name != "isp1" || up.NextHop != netip.MustParseAddr("2001:db8:ffff:1::1") || up.NextHopMAC.String() != "02:00:00:00:00:20" {
				t.Errorf("uplink %s: next hop %v at %v, want 2001:db8:ffff:1::1 at a static MAC", up.Name, up.NextHop, up.NextHopMAC)
			}
		})
	}
}

// TestDaemonWaits: WaitFor returns once the process shows the awaited
// sign, the log holds the process's output, and Exited and Err give the
// exit status however many times they are asked. A shell stands in for
// shim6d, which needs root and DPDK.
func TestDaemonWaits(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	d := Start(t, exec.Command("sh", "-c", "echo starting; sleep 0.3; : > "+sock+"; sleep 2; exit 3"))
	d.WaitSocket(t, sock, "socket", 10*time.Second)
	select {
	case <-d.Exited():
		t.Fatal("Exited closed while the process still ran")
	default:
	}
	if d.Output() != "starting\n" {
		t.Errorf("log %q, want the process's output", d.Output())
	}
	<-d.Exited()
	<-d.Exited()
	for range 2 {
		var ee *exec.ExitError
		if err := d.Err(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("Err() = %v, want exit status 3", err)
		}
	}
}
