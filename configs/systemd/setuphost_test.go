package systemd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHost is a stand-in sysfs and stand-ins for DPDK's tools, modprobe
// and systemctl that log their arguments. The devbind stand-in binds as
// the real one would, by pointing the device's driver link at vfio-pci,
// unless told to fail.
type fakeHost struct {
	dir, sysfs, systemd, log string
}

func newFakeHost(t *testing.T, bindWorks bool, pci ...string) *fakeHost {
	t.Helper()
	dir := t.TempDir()
	h := &fakeHost{dir: dir, sysfs: dir + "/sys", systemd: dir + "/systemd", log: dir + "/calls.log"}
	for _, d := range []string{
		"kernel/mm/hugepages/hugepages-1048576kB", "kernel/mm/hugepages/hugepages-2048kB",
		"kernel/iommu_groups/12", "devices/system/cpu", "bus/pci/drivers/ixgbe", "bus/pci/drivers/vfio-pci",
	} {
		if err := os.MkdirAll(filepath.Join(h.sysfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(h.sysfs+"/devices/system/cpu/online", []byte("0-7\n"), 0o644)
	for _, p := range pci {
		dev := filepath.Join(h.sysfs, "bus/pci/devices", p)
		os.MkdirAll(dev, 0o755)
		if err := os.Symlink(h.sysfs+"/bus/pci/drivers/ixgbe", dev+"/driver"); err != nil {
			t.Fatal(err)
		}
	}
	logger := "#!/bin/sh\necho \"$(basename \"$0\") $*\" >>" + h.log + "\n"
	bind := ""
	if bindWorks {
		bind = `case "$1" in --bind=vfio-pci) shift; for p in "$@"; do ln -sfn ` + h.sysfs + `/bus/pci/drivers/vfio-pci ` +
			h.sysfs + `/bus/pci/devices/$p/driver; done;; esac` + "\n"
	}
	for name, body := range map[string]string{
		"dpdk-hugepages.py": logger, "dpdk-devbind.py": logger + bind, "modprobe": logger, "systemctl": logger,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// run runs setup-host.sh with the stand-ins.
func (h *fakeHost) run(t *testing.T, config string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("../setup-host.sh", append([]string{"--config", config}, args...)...)
	cmd.Env = append(os.Environ(), "SYSFS="+h.sysfs, "SYSTEMD_DIR="+h.systemd,
		"HUGEPAGES="+h.dir+"/dpdk-hugepages.py", "DEVBIND="+h.dir+"/dpdk-devbind.py",
		"MODPROBE="+h.dir+"/modprobe", "SYSTEMCTL="+h.dir+"/systemctl")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (h *fakeHost) calls(t *testing.T) string {
	t.Helper()
	b, _ := os.ReadFile(h.log)
	return string(b)
}

var examplePCI = []string{"0000:03:00.0", "0000:03:00.1", "0000:04:00.0"}

// TestSetupHostProduction: for example-production.toml (lcores 2-6, 4096
// MB on socket 0, three PCI ports) the script reserves 4G of 1G pages on
// node 0 and mounts them, binds the three ports to vfio-pci and checks
// they are, and with --pin writes the drop-in: the lcores and CPU 7 for
// the runtime, GOMAXPROCS=6, then reloads systemd.
func TestSetupHostProduction(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the script refuses to prepare a host as another user")
	}
	h := newFakeHost(t, true, examplePCI...)
	out, err := h.run(t, "../example-production.toml", "--pin")
	if err != nil {
		t.Fatalf("setup-host.sh: %v\n%s", err, out)
	}
	want := "dpdk-hugepages.py --pagesize 1G --clear --unmount\n" +
		"dpdk-hugepages.py --pagesize 1G --node 0 --reserve 4G\n" +
		"dpdk-hugepages.py --pagesize 1G --mount\n" +
		"dpdk-hugepages.py --show\n" +
		"modprobe vfio-pci\n" +
		"dpdk-devbind.py --bind=vfio-pci 0000:03:00.0 0000:03:00.1 0000:04:00.0\n" +
		"dpdk-devbind.py --status-dev net\n" +
		"systemctl daemon-reload\n"
	if got := h.calls(t); got != want {
		t.Errorf("calls:\n%s\nwant:\n%s\noutput:\n%s", got, want, out)
	}
	dropin, err := os.ReadFile(h.systemd + "/shim6d.service.d/cpus.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"[Service]\n", "\nCPUAffinity=\n", "\nCPUAffinity=2 3 4 5 6 7\n", "\nEnvironment=GOMAXPROCS=6\n"} {
		if !strings.Contains(string(dropin), line) {
			t.Errorf("drop-in lacks %q:\n%s", line, dropin)
		}
	}
	// The drop-in gives the same cores as the unit's own default, which
	// is written for this example.
	svc := unitService(t, "shim6d.service")
	if got, want := cpuList(t, "2 3 4 5 6 7"), cpuList(t, svc["CPUAffinity"][0]); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("drop-in CPUs %v, unit's %v", got, want)
	}
}

// TestSetupHostRefusals: a port the binding left on its kernel driver, and
// --pin for cores given by --lcores or not online, stop the script with a
// message naming the problem, and --pin changes nothing then.
func TestSetupHostRefusals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the script refuses to prepare a host as another user")
	}
	h := newFakeHost(t, false, examplePCI...)
	out, err := h.run(t, "../example-production.toml")
	if err == nil || !strings.Contains(out, "0000:03:00.0 is on driver 'ixgbe', not vfio-pci") {
		t.Errorf("unbound port: err %v, output:\n%s", err, out)
	}

	for name, tc := range map[string]struct{ args, want string }{
		"lcores map":     {`"--lcores", "(0-1)@2,3@4", "--no-huge"`, "uses --lcores"},
		"offline lcores": {`"-l", "6-9", "--no-huge"`, "lcores [8, 9] are not online CPUs"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newFakeHost(t, true)
			cfg := filepath.Join(t.TempDir(), "shim6d.toml")
			os.WriteFile(cfg, []byte("[eal]\nargs = ["+tc.args+"]\n"), 0o644)
			out, err := h.run(t, cfg, "--pin")
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("err %v, want a refusal with %q; output:\n%s", err, tc.want, out)
			}
			if _, err := os.Stat(h.systemd + "/shim6d.service.d/cpus.conf"); err == nil {
				t.Error("the drop-in was written anyway")
			}
		})
	}
}

// TestSetupHostDryRun: --dry-run prints the commands and runs none.
func TestSetupHostDryRun(t *testing.T) {
	h := newFakeHost(t, true, examplePCI...)
	out, err := h.run(t, "../example-production.toml", "--dry-run", "--pin")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if c := h.calls(t); c != "" {
		t.Errorf("--dry-run ran: %s", c)
	}
	for _, want := range []string{"--node 0 --reserve 4G", "--bind=vfio-pci 0000:03:00.0 0000:03:00.1 0000:04:00.0", "CPUAffinity=2 3 4 5 6 7, GOMAXPROCS=6"} {
		if !strings.Contains(out, want) {
			t.Errorf("--dry-run output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(h.systemd); err == nil {
		t.Error("--dry-run wrote the drop-in")
	}
}

// TestSetupHostKeepsBootPages: 1G pages reserved at boot (hugepages= on
// the kernel command line), as many as --socket-mem asks of node 0, are
// kept and only mounted: clearing them to reserve again at run time might
// find no contiguous gigabyte. With one page short, the script reserves.
func TestSetupHostKeepsBootPages(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the script refuses to prepare a host as another user")
	}
	for pages, want := range map[string]string{
		"4": "dpdk-hugepages.py --pagesize 1G --mount\ndpdk-hugepages.py --show\n",
		"3": "dpdk-hugepages.py --pagesize 1G --clear --unmount\ndpdk-hugepages.py --pagesize 1G --node 0 --reserve 4G\n" +
			"dpdk-hugepages.py --pagesize 1G --mount\ndpdk-hugepages.py --show\n",
	} {
		h := newFakeHost(t, true, examplePCI...)
		node := h.sysfs + "/devices/system/node/node0/hugepages/hugepages-1048576kB"
		os.MkdirAll(node, 0o755)
		os.WriteFile(node+"/nr_hugepages", []byte(pages+"\n"), 0o644)
		out, err := h.run(t, "../example-production.toml")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got := h.calls(t); !strings.HasPrefix(got, want) {
			t.Errorf("%s pages on node 0: calls\n%s\nwant them to start with\n%s", pages, got, want)
		}
	}
}
