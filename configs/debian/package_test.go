// Package debian holds the Debian packaging of shim6d (build-deb.sh, the
// control template, copyright, man pages). Its test builds the package
// with `make deb` and checks it with dpkg-deb, Debian's lintian and
// systemd-analyze.
package debian

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"shim6d/configs/configtest"
)

// lintianOverrides are the lintian tags of warning or error level this
// package accepts, each with why. None: the package is built to pass
// cleanly, so any warning fails the test.
var lintianOverrides = map[string]string{}

// TestPackage builds the .deb as `make deb` does, into a temporary
// directory, and checks its control fields, its contents against the
// repository's files, lintian's verdict, and its systemd units with
// systemd-analyze verify over the package's own files.
func TestPackage(t *testing.T) {
	for _, tool := range []string{"dpkg-deb", "dpkg-shlibdeps", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian dpkg-dev, make)", tool)
		}
	}
	if err := exec.Command("pkg-config", "--exists", "libdpdk").Run(); err != nil {
		t.Skip("needs DPDK's development files to build shim6d (Debian libdpdk-dev, pkg-config)")
	}
	out := t.TempDir()
	// DEBS= keeps make's deps step from installing anything: a test
	// must not change the machine.
	build := exec.Command("make", "-C", "../..", "deb", "BIN="+out, "DEBS=")
	log, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, log)
	}
	debs, _ := filepath.Glob(out + "/shim6d_*_amd64.deb")
	if len(debs) != 1 {
		t.Fatalf("make deb made %v\n%s", debs, log)
	}
	deb := debs[0]
	t.Logf("built %s", filepath.Base(deb))

	t.Run("control", func(t *testing.T) {
		info := dpkgDeb(t, "-I", deb)
		for _, re := range []string{
			`(?m)^ Package: shim6d$`,
			`(?m)^ Architecture: amd64$`,
			`(?m)^ Version: 0~git\d{14}\.[0-9a-f]{7}(\+dirty)?$`,
			`(?m)^ Depends: .*libc6 \(>= [\d.]+\)`,
			`(?m)^ Depends: .*librte-ethdev23 \(>= 22\.11\)`,
			`(?m)^ Depends: .*librte-eal23`,
			`(?m)^ Depends: .*librte-mempool-ring23`,
			`(?m)^ Recommends: .*\bdpdk\b`,
		} {
			if !regexp.MustCompile(re).MatchString(info) {
				t.Errorf("dpkg-deb -I lacks %s:\n%s", re, info)
			}
		}
	})

	t.Run("contents", func(t *testing.T) {
		list := dpkgDeb(t, "-c", deb)
		want := map[string]string{ // path: mode and owner
			"./usr/sbin/shim6d":                                      "-rwxr-xr-x root/root",
			"./usr/bin/shim6ctl":                                     "-rwxr-xr-x root/root",
			"./usr/sbin/shim6d-setup-host":                           "-rwxr-xr-x root/root",
			"./lib/systemd/system/shim6d.service":                    "-rw-r--r-- root/root",
			"./lib/systemd/system/shim6d-setup-host.service":         "-rw-r--r-- root/root",
			"./usr/share/shim6d/prometheus/shim6d.rules.yml":         "-rw-r--r-- root/root",
			"./usr/share/shim6d/prometheus/shim6d.rules.test.yml":    "-rw-r--r-- root/root",
			"./usr/share/shim6d/grafana/shim6d.json":                 "-rw-r--r-- root/root",
			"./usr/share/doc/shim6d/examples/shim6d-production.toml": "-rw-r--r-- root/root",
			"./usr/share/doc/shim6d/examples/shim6d-reference.toml":  "-rw-r--r-- root/root",
			"./usr/share/doc/shim6d/copyright":                       "-rw-r--r-- root/root",
			"./usr/share/doc/shim6d/changelog.gz":                    "-rw-r--r-- root/root",
			"./usr/share/doc/shim6d/README.md.gz":                    "-rw-r--r-- root/root",
			"./usr/share/man/man8/shim6d.8.gz":                       "-rw-r--r-- root/root",
			"./usr/share/man/man1/shim6ctl.1.gz":                     "-rw-r--r-- root/root",
			"./usr/share/man/man8/shim6d-setup-host.8.gz":            "-rw-r--r-- root/root",
		}
		const lua = "./usr/lib/x86_64-linux-gnu/wireshark/plugins/shim6.lua"
		_, err := os.Stat("../wireshark/shim6.lua")
		hasLua := err == nil
		if hasLua {
			want[lua] = "-rw-r--r-- root/root"
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
			f := strings.Fields(line)
			if len(f) >= 6 && !strings.HasSuffix(f[5], "/") {
				got[f[5]] = f[0] + " " + f[1]
			}
		}
		for p, mode := range want {
			if got[p] == "" {
				t.Errorf("%s missing from the package", p)
			} else if got[p] != mode {
				t.Errorf("%s is %s, want %s", p, got[p], mode)
			}
		}
		if _, ok := got[lua]; ok != hasLua {
			t.Errorf("dissector packaged %v, in the tree %v", ok, hasLua)
		}
		for p := range got {
			if _, ok := want[p]; !ok {
				t.Errorf("unexpected file in the package: %s", p)
			}
		}
	})

	root := filepath.Join(t.TempDir(), "root")
	dpkgDeb(t, "-x", deb, root)
	t.Run("files as in the tree", func(t *testing.T) {
		for pkg, src := range map[string]string{
			"lib/systemd/system/shim6d.service":                    "../systemd/shim6d.service",
			"lib/systemd/system/shim6d-setup-host.service":         "../systemd/shim6d-setup-host.service",
			"usr/sbin/shim6d-setup-host":                           "../setup-host.sh",
			"usr/share/shim6d/prometheus/shim6d.rules.yml":         "../prometheus/shim6d.rules.yml",
			"usr/share/shim6d/grafana/shim6d.json":                 "../grafana/shim6d.json",
			"usr/share/doc/shim6d/examples/shim6d-production.toml": "../example-production.toml",
		} {
			a, err1 := os.ReadFile(filepath.Join(root, pkg))
			b, err2 := os.ReadFile(src)
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Errorf("packaged %s differs from %s (%v, %v)", pkg, src, err1, err2)
			}
		}
		// The packaged daemon runs (its shared libraries resolve) and
		// accepts a configuration of null devices.
		cfg := configtest.Null{Dir: t.TempDir()}.Write(t, "null.toml")
		out, err := exec.Command(filepath.Join(root, "usr/sbin/shim6d"), "--config", cfg, "--check").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "configuration OK") {
			t.Errorf("packaged shim6d --check: %v\n%s", err, out)
		}
	})

	t.Run("lintian", func(t *testing.T) {
		if _, err := exec.LookPath("lintian"); err != nil {
			t.Skip("needs lintian (Debian lintian)")
		}
		// lintian exits non-zero on an error tag (or on failing to run);
		// warnings are caught below.
		out, err := exec.Command("lintian", "--info", "--display-info", "--pedantic", "--no-tag-display-limit", deb).CombinedOutput()
		if err != nil {
			t.Errorf("lintian: %v", err)
		}
		tag := regexp.MustCompile(`^([EWIP]): shim6d(?: [a-z]+)?: ([a-z0-9-]+)(.*)$`)
		for _, line := range strings.Split(string(out), "\n") {
			m := tag.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			switch {
			case m[1] == "I" || m[1] == "P":
				t.Logf("lintian %s", line)
			case lintianOverrides[m[2]] != "":
				t.Logf("lintian %s (accepted: %s)", line, lintianOverrides[m[2]])
			default:
				t.Errorf("lintian %s", line)
			}
		}
	})

	t.Run("systemd-analyze verify", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("needs systemd-analyze (Debian systemd)")
		}
		// The units the package's units name (targets, mounts) and
		// /bin/kill come from this machine; the package's own files
		// are not overwritten.
		units := filepath.Join(root, "lib/systemd/system")
		hostUnits, _ := filepath.Glob("/lib/systemd/system/*")
		for _, u := range hostUnits {
			dst := filepath.Join(units, filepath.Base(u))
			if _, err := os.Lstat(dst); err == nil {
				continue
			}
			if err := exec.Command("cp", "-a", u, dst).Run(); err != nil {
				t.Fatalf("copying %s: %v", u, err)
			}
		}
		os.MkdirAll(filepath.Join(root, "bin"), 0o755)
		if err := exec.Command("cp", "/bin/kill", filepath.Join(root, "bin/kill")).Run(); err != nil {
			t.Fatal(err)
		}
		for _, unit := range []string{"shim6d.service", "shim6d-setup-host.service"} {
			// verify exits 0 on warnings it prints (an unknown key is
			// "ignoring"), so any output is a failure.
			out, err := exec.Command(analyze, "verify", "--man=no", "--root="+root, filepath.Join(units, unit)).CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
			}
		}
	})
}

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
