package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// reloadDaemon serves answer on a unix socket as the daemon's POST /reload.
func reloadDaemon(t *testing.T, code int, answer string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/reload" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		w.Write([]byte(answer))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// The changes are printed; a refusal is the daemon's line with exit
// status 2; an unreachable daemon is an ordinary failure (status 1).
func TestReloadCommand(t *testing.T) {
	var out bytes.Buffer
	sock := reloadDaemon(t, 200, `{"changed": ["port[1].weight: 1 -> 3", "shim.r1_rate: 1000 -> 500"]}`)
	if err := runReload([]string{"--socket", sock}, &out); err != nil {
		t.Fatal(err)
	}
	want := "configuration reloaded: 2 changed\n  port[1].weight: 1 -> 3\n  shim.r1_rate: 1000 -> 500\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}

	out.Reset()
	if err := runReload([]string{"--socket", reloadDaemon(t, 200, `{"changed": []}`)}, &out); err != nil || out.String() != "configuration reloaded: nothing changed\n" {
		t.Errorf("nothing changed: %v %q", err, out.String())
	}

	line := `site.toml:12: port[1].device: changed from "a" to "b" on [[port]] "isp1": restart shim6d to apply (live reload cannot change ports: they are opened once, at start)`
	for _, code := range []int{http.StatusConflict, http.StatusUnprocessableEntity} {
		err := runReload([]string{"--socket", reloadDaemon(t, code, line+"\n")}, &out)
		var coded interface{ ExitCode() int }
		if !errors.As(err, &coded) || coded.ExitCode() != 2 || !strings.HasPrefix(err.Error(), line+"; shim6d runs on") {
			t.Errorf("answer %d: %v; want the line and exit status 2", code, err)
		}
	}

	err := runReload([]string{"--socket", filepath.Join(t.TempDir(), "none.sock")}, &out)
	var coded interface{ ExitCode() int }
	if err == nil || errors.As(err, &coded) || !strings.Contains(err.Error(), "cannot reach shim6d") {
		t.Errorf("no daemon: %v", err)
	}
	if err := runReload([]string{"--socket", sock, "extra"}, &out); err == nil || !strings.Contains(err.Error(), "takes no arguments") {
		t.Errorf("an argument: %v", err)
	}
}
