package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"shim6d/control/admin"
)

// haFake is a daemon's admin API with HA roles, in memory.
type haFake struct {
	admin.Source // nil: only the HA routes are called
	h            admin.HA
	leases       int
}

func (f *haFake) HA() admin.HA { return f.h }
func (f *haFake) SetRole(role, why string) error {
	if role != "active" && role != "standby" && role != "fault" {
		return &admin.StatusError{Code: http.StatusBadRequest, Err: errors.New("not a role")}
	}
	f.h.Role, f.h.Reason = role, why
	return nil
}
func (f *haFake) RenewLease() error { f.leases++; return nil }

// serveHA serves f's API on a unix socket and returns its path.
func serveHA(t *testing.T, f *haFake) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: admin.Handler(f, nil), ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// TestHACommand runs shim6ctl ha as keepalived's scripts and an operator
// do.
func TestHACommand(t *testing.T) {
	f := &haFake{h: admin.HA{Enabled: true, Role: "standby", Reason: "started: waiting for keepalived", Peer: "[fd00:aa::2]:7600",
		Listen: "[fd00:aa::1]:7600", LeaseSec: 3, Replication: true,
		ReplicationState: map[string]any{"state": "connected", "lag_s": 0.002, "records_sent": 12},
		VirtualMACs:      []admin.HAPort{{Port: "inside", MAC: "00:00:5e:00:02:01"}}}}
	sock := serveHA(t, f)
	run := func(args ...string) (string, error) {
		var b strings.Builder
		err := haCmd(append([]string{"--socket", sock}, args...), &b)
		return b.String(), err
	}
	out, err := run()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`(?m)^role +standby$`, `(?m)^peer +\[fd00:aa::2\]:7600 \(we listen on \[fd00:aa::1\]:7600\)$`,
		`(?m)^lease +3s while active$`, `(?m)^virtual mac inside +00:00:5e:00:02:01$`,
		`(?m)^replication lag s +0.002$`, `(?m)^replication records sent +12$`, `(?m)^replication state +connected$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("shim6ctl ha: no %s in\n%s", want, out)
		}
	}

	if out, err := run("--why", "keepalived MASTER", "active"); err != nil || !strings.Contains(out, "role") || f.h.Role != "active" || f.h.Reason != "keepalived MASTER" {
		t.Fatalf("ha active: %v, %+v\n%s", err, f.h, out)
	}
	if out, err := run("--quiet", "lease"); err != nil || out != "" || f.leases != 1 {
		t.Fatalf("ha --quiet lease: %v, %d leases, printed %q", err, f.leases, out)
	}
	if _, err := run("fault"); err != nil || f.h.Role != "fault" || f.h.Reason != "" {
		t.Fatalf("ha fault: %v %+v", err, f.h)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"master"}, `"master" is not a verb`},
		{[]string{"active", "--why", "x"}, "one verb at a time"},
	} {
		if _, err := run(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ha %v: %v, want %q", tt.args, err, tt.want)
		}
	}
	// No daemon: the script fails, which is what tells keepalived.
	if err := haCmd([]string{"--socket", "/nonexistent/shim6d.sock", "lease"}, io.Discard); err == nil || !strings.Contains(err.Error(), "cannot reach shim6d") {
		t.Errorf("no daemon: %v", err)
	}

	// A box without [ha] says so.
	var b strings.Builder
	show(&b, &admin.HA{Role: "active"}, false, printHA)
	if !strings.Contains(b.String(), "active (no [ha] section") {
		t.Errorf("no [ha]: %q", b.String())
	}
}
