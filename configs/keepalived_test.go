package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestKeepalivedExample has keepalived itself check the shipped example
// (keepalived --config-test), in a network namespace of its own with the
// management interface it names, and shim6ctl's path pointed at a stub.
func TestKeepalivedExample(t *testing.T) {
	for _, tool := range []string{"keepalived", "unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt install keepalived iproute2 util-linux): %v", tool, err)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace with a veth named mgmt0 for keepalived to check the interface against")
	}
	conf, err := os.ReadFile("keepalived/keepalived.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctl := filepath.Join(dir, "shim6ctl")
	if err := os.WriteFile(ctl, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), `script "/usr/bin/shim6ctl ha --quiet lease"`) {
		t.Fatal("the example's vrrp_script does not renew the lease with shim6ctl ha --quiet lease")
	}
	check := func(conf string) (string, error) {
		path := filepath.Join(dir, "keepalived.conf")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(conf, "/usr/bin/shim6ctl", ctl)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("unshare", "-n", "sh", "-c",
			"ip link add mgmt0 type veth peer name mgmt1 && ip link set mgmt0 up && exec keepalived --config-test -f "+path).CombinedOutput()
		return string(out), err
	}
	if out, err := check(string(conf)); err != nil || out != "" {
		t.Fatalf("keepalived --config-test: %v\n%s", err, out)
	}
	// The check can fail: a broken advert_int is refused.
	if out, err := check(strings.Replace(string(conf), "advert_int 0.1 ", "advert_int 0.1x ", 1)); err == nil || !strings.Contains(out, "0.1x") {
		t.Fatalf("keepalived --config-test accepted a bad advert_int: %v\n%s", err, out)
	}
}

// TestNotifyScript runs ha-notify.sh as keepalived does, with a stub
// shim6ctl that records its arguments, and checks the example calls it
// for every state.
func TestNotifyScript(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	ctl := filepath.Join(dir, "shim6ctl")
	if err := os.WriteFile(ctl, []byte("#!/bin/sh\necho \"$@\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"active", "standby", "fault"} {
		cmd := exec.Command("sh", "keepalived/ha-notify.sh", role)
		cmd.Env = append(os.Environ(), "SHIM6CTL="+ctl)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ha-notify.sh %s: %v\n%s", role, err, out)
		}
	}
	calls, _ := os.ReadFile(log)
	want := "ha --quiet --why keepalived: active active\nha --quiet --why keepalived: standby standby\nha --quiet --why keepalived: fault fault\n"
	if string(calls) != want {
		t.Fatalf("shim6ctl called with\n%s\nwant\n%s", calls, want)
	}
	cmd := exec.Command("sh", "keepalived/ha-notify.sh", "master")
	cmd.Env = append(os.Environ(), "SHIM6CTL="+ctl)
	if err := cmd.Run(); err == nil {
		t.Fatal("ha-notify.sh master succeeded")
	}
	conf, err := os.ReadFile("keepalived/keepalived.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	for state, role := range map[string]string{"master": "active", "backup": "standby", "fault": "fault", "stop": "standby"} {
		if !regexp.MustCompile(`(?m)^\s*notify_` + state + ` +"/etc/shim6d/ha-notify.sh ` + role + `"$`).Match(conf) {
			t.Errorf("the example has no notify_%s running ha-notify.sh %s", state, role)
		}
	}
}
