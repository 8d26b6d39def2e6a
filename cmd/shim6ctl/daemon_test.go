package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"shim6d/control/admin"
)

func TestThousands(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 3000000: "3,000,000", 16777216: "16,777,216"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// Off a terminal, progress is a line per report, as the operator reads it.
func TestProgressLine(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "progress")
	if err != nil {
		t.Fatal(err)
	}
	show := progressLine(f)
	show(3000000, 10000000, 2100*time.Millisecond)
	show(-1, 0, 0)
	f.Seek(0, 0)
	b := make([]byte, 200)
	n, _ := f.Read(b)
	if got, want := string(b[:n]), "loaded 3,000,000 of 10,000,000 (30%), 2.1 s\n"; got != want {
		t.Errorf("progress %q, want %q", got, want)
	}
	if strings.Contains(string(b[:n]), "\r") {
		t.Error("carriage return off a terminal")
	}
}

// shim6ctl ports shows the pools under the ports.
func TestPortsShowPools(t *testing.T) {
	var b strings.Builder
	show(&b, &portsAndPools{[]admin.Port{{Name: "isp1", Role: "uplink"}}, []admin.Pool{{Name: "shim6d_pool", Available: 16000, InUse: 383}}}, false, printPortsAndPools)
	if !regexp.MustCompile(`(?m)^POOL +AVAILABLE +IN USE\nshim6d_pool +16000 +383$`).MatchString(b.String()) {
		t.Errorf("ports without the pools:\n%s", b.String())
	}
}
