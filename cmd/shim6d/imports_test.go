package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoBenchInTheDaemon: the production daemon does not link benchmark
// code; synthetic contexts come from control/synth, and only when the
// config allows them.
func TestNoBenchInTheDaemon(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool on PATH to list the daemon's imports")
	}
	out, err := exec.Command(gotool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "shim6d/bench") || strings.HasPrefix(pkg, "shim6d/lab") {
			t.Errorf("shim6d links %s", pkg)
		}
	}
}
