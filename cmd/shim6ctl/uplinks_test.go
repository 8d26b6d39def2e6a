package main

import (
	"io"
	"strings"
	"testing"
)

// Mistakes on the command line are caught before the daemon is asked.
func TestUplinkArguments(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "want the uplink's name first"},
		{[]string{"--weight", "3"}, "want the uplink's name first"},
		{[]string{"isp1"}, "nothing to change"},
		{[]string{"isp1", "--drain", "--undrain"}, "--drain or --undrain, not both"},
		{[]string{"isp1", "--priority", "255"}, "write 0 to 254"},
		{[]string{"isp1", "--weight", "256"}, "write 0 to 255"},
		{[]string{"isp1", "--backup=maybe"}, "write true or false"},
	} {
		err := runUplink(append(tt.args, "--socket", "/nonexistent/shim6d.sock"), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("shim6ctl uplink %v: %v, want %q", tt.args, err, tt.want)
		}
	}
	// A valid change goes to the daemon, which is not there.
	err := runUplink([]string{"isp1", "--weight", "3", "--socket", "/nonexistent/shim6d.sock"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "cannot reach shim6d") {
		t.Errorf("no daemon: %v", err)
	}
}
