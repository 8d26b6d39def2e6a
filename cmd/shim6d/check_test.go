package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mainEnv makes the test binary run main with the arguments in the
// variable (space-separated), so tests see the daemon's exit status and
// output.
const mainEnv = "SHIM6D_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(mainEnv); args != "" {
		os.Args = append([]string{"shim6d"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs the daemon with args and returns its exit status, stdout
// and stderr.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), mainEnv+"="+strings.Join(args, " "))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

// testConfig writes a configuration with an inside port made from device
// and devargs and a net_null uplink; extra goes at the end of eal.args, or
// "cores:LIST" replaces -l's list.
func testConfig(t *testing.T, device, devargs, extra string) string {
	t.Helper()
	dir := t.TempDir()
	cores := "0-1"
	if c, ok := strings.CutPrefix(extra, "cores:"); ok {
		cores, extra = c, ""
	}
	doc := fmt.Sprintf(`[eal]
args = ["-l", "%s", "--no-huge", "--no-pci", "-m", "256", "--no-telemetry", "--file-prefix", "shim6d-cmdtest-%d"%s]

[daemon]
workers = 1
admin_socket = "%s/admin.sock"
metrics_listen = ""

[[port]]
name = "inside"
role = "inside"
device = "%s"
devargs = "%s"
addresses = ["2001:db8:1::1"]

[[port]]
name = "isp1"
role = "uplink"
device = "net_null1"
devargs = "size=64"
prefix = "2001:db8:1::/48"
addresses = ["2001:db8:ffff:1::2"]
next_hop = "2001:db8:ffff:1::1"
`, cores, os.Getpid(), extra, dir, device, devargs)
	path := filepath.Join(dir, "shim6d.toml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckRefuses: --check refuses what the start would fail on, with
// status 2 and one line naming the file, line and key.
func TestCheckRefuses(t *testing.T) {
	for _, tt := range []struct {
		name, device, devargs, extra string
		want                         string // after "shim6d: FILE:"
	}{
		{"missing af_packet interface", "net_af_packet0", "iface=shim6nosuch0", "",
			"13: port[0].devargs: iface=shim6nosuch0: this machine has no network interface shim6nosuch0"},
		{"missing rx pcap", "net_pcap0", "rx_pcap=/nonexistent/in.pcap,tx_pcap=/tmp/out.pcap", "",
			"13: port[0].devargs: rx_pcap=/nonexistent/in.pcap: cannot open it to replay: no such file or directory"},
		{"unknown EAL flag", "net_null0", "size=64", `, "--no-such-flag"`,
			"2: eal.args[9]: --no-such-flag is not an EAL option of DPDK 22.11"},
		{"lcore the machine lacks", "net_null0", "size=64", "cores:0-1,1000",
			"2: eal.args[0]: -l 0-1,1000: this machine has no CPU 1000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := testConfig(t, tt.device, tt.devargs, tt.extra)
			code, stdout, stderr := runMain(t, "--config", path, "--check")
			if code != 2 {
				t.Errorf("exit status %d, want 2; stdout %q stderr %q", code, stdout, stderr)
			}
			want := "shim6d: " + path + ":" + tt.want
			if lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
				t.Errorf("stderr\n%s\nwant one line starting\n%s", stderr, want)
			}
		})
	}
}

// TestStartRefuses: a device that passes --check but that DPDK cannot
// create (a file that is not a pcap) stops the start with status 2 and one
// line on stderr with the driver's own reason; DPDK's log stays out of
// stderr at log_level info.
func TestStartRefuses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start DPDK's EAL (/var/run/dpdk)")
	}
	bad := filepath.Join(t.TempDir(), "bad.pcap")
	if err := os.WriteFile(bad, []byte("not a pcap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := testConfig(t, "net_pcap0", "rx_pcap="+bad+",tx_pcap=/tmp/shim6d-cmdtest-out.pcap", "")
	defer os.RemoveAll(fmt.Sprintf("/var/run/dpdk/shim6d-cmdtest-%d", os.Getpid()))
	defer os.Remove("/tmp/shim6d-cmdtest-out.pcap")
	if code, _, stderr := runMain(t, "--config", path, "--check"); code != 0 {
		t.Fatalf("--check refused a file that only DPDK can tell is bad: %d %s", code, stderr)
	}
	code, _, stderr := runMain(t, "--config", path)
	if code != 2 {
		t.Errorf("exit status %d, want 2; stderr\n%s", code, stderr)
	}
	want := "shim6d: " + path + ":13: port[0].devargs: net_pcap0: not created by its driver: open_single_rx_pcap(): Couldn't open " + bad + ": unknown file format"
	var last string
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if !strings.Contains(l, `msg="starting EAL"`) {
			if last != "" {
				t.Errorf("more than one line besides the start-up log:\n%s", stderr)
			}
			last = l
		}
	}
	if last != want {
		t.Errorf("stderr\n%s\nwant the line\n%s", stderr, want)
	}
}
