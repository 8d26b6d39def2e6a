package lab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTwoSitesCapture: shim6ctl capture on shim6d A while host A's first
// pings to host B establish a context. The pcapng file opens in tshark,
// with site A's ports as its interfaces; it holds the handshake as A saw
// it on isp1 (I1 and I2 sent by its control core, R1 and R2 received for
// it, RFC 5533 §7) and the pings forwarded both ways. A second capture
// while the first runs is refused, and the first ends by itself.
func TestTwoSitesCapture(t *testing.T) {
	needLab(t)
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("needs tshark (Debian tshark)")
	}
	bin, a, _ := twoSites(t, "configs/site-a.toml", "configs/site-b.toml")

	file := filepath.Join(t.TempDir(), "a.pcapng")
	capture := exec.Command(bin+"/shim6ctl", "capture", "--socket", a.sock, "--seconds", "5", "--count", "100000", "-w", file)
	var out bytes.Buffer
	capture.Stdout, capture.Stderr = &out, &out
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	// The file appears with its header, once the workers have their rings.
	waitFor(t, 5*time.Second, func() bool { _, err := os.Stat(file); return err == nil },
		func() string { return "no capture file: " + out.String() })

	second, err := exec.Command(bin+"/shim6ctl", "capture", "--socket", a.sock, "-w", file+".2").CombinedOutput()
	if err == nil || !strings.Contains(string(second), "already running") {
		t.Errorf("a second capture while one runs: %v\n%s", err, second)
	}
	ping := run(t, "ip", "netns", "exec", "s6a-host", "ping", "-6", "-c", "5", "-i", "0.2", "-W", "3", "-I", hbaA, hbaB)
	if !strings.Contains(ping, " 0% packet loss") {
		t.Fatalf("site A's host cannot reach site B's:\n%s", ping)
	}
	start := time.Now()
	if err := capture.Wait(); err != nil {
		t.Fatalf("shim6ctl capture: %v\n%s", err, out.String())
	}
	if time.Since(start) > 6*time.Second {
		t.Errorf("the capture ended %v after the pings, past its 5 s", time.Since(start))
	}
	m := regexp.MustCompile(`^(\d+) packets to .* \(ended by seconds\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("shim6ctl capture says %q", out.String())
	}

	// stdout alone: tshark warns on stderr when run as root.
	raw, err := exec.Command(tshark, "-r", file, "-T", "fields", "-E", "separator=|",
		"-e", "frame.interface_name", "-e", "shim6.type", "-e", "frame.comment", "-e", "icmpv6.type").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	lines := string(raw)
	seen := map[string]int{}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		seen[l]++
		n++
	}
	if want := m[1]; want != strconv.Itoa(n) {
		t.Errorf("tshark reads %d packets, shim6ctl wrote %s", n, want)
	}
	for _, want := range []struct{ line, what string }{
		{"isp1|1|sent by control core|", "I1 sent on isp1"},
		{"isp1|2|to control core|", "R1 received on isp1"},
		{"isp1|3|sent by control core|", "I2 sent on isp1"},
		{"isp1|4|to control core|", "R2 received on isp1"},
		{"isp1|||128", "echo requests forwarded out isp1"},
		{"inside|||129", "echo replies forwarded to inside"},
	} {
		if seen[want.line] == 0 {
			t.Errorf("no %s (%q) in the capture; tshark reads:\n%s", want.what, want.line, lines)
		}
	}
	// The same file through the project's own dissector
	// (configs/wireshark/shim6.lua, which reads the control messages
	// right where tshark's built-in one does not): the same messages,
	// every checksum verified, and no expert info above a note (the
	// packet comments are expert infos too, of the lowest severity).
	raw, err = exec.Command(tshark, "-X", "lua_script:../configs/wireshark/shim6.lua", "-r", file, "-Y", "shim6rfc",
		"-T", "fields", "-E", "separator=|", "-e", "frame.interface_name", "-e", "shim6.type", "-e", "shim6.checksum_ok",
		"-e", "_ws.expert.severity").Output()
	if err != nil {
		t.Fatalf("tshark -X lua_script: %v", err)
	}
	lua := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 4 || f[1] != "" && f[2] != "1" && f[2] != "True" {
			t.Errorf("the Lua dissector reads %q (interface|type|checksum verifies|expert severities)", l)
			continue
		}
		for _, sev := range strings.Split(f[3], ",") {
			// epan's PI_WARN is 0x00600000: warnings and errors fail.
			if v, err := strconv.ParseUint(sev, 0, 32); sev != "" && (err != nil || v >= 0x00600000) {
				t.Errorf("the Lua dissector raised expert info (severity %s) on %q", sev, l)
			}
		}
		lua[f[0]+"|"+f[1]]++
	}
	for _, typ := range []string{"1", "2", "3", "4"} {
		if lua["isp1|"+typ] != seen["isp1|"+typ+"|sent by control core|"]+seen["isp1|"+typ+"|to control core|"] {
			t.Errorf("the Lua dissector reads %d messages of type %s on isp1, the built-in one %v", lua["isp1|"+typ], typ, seen)
		}
	}
	t.Logf("the Lua dissector reads, by interface|type: %v", lua)
	if c := controlCounters(t, a)["capture_packets"]; c != uint64(n) {
		t.Errorf("capture_packets = %d, the file holds %d", c, n)
	}
	t.Logf("%s; by interface|shim6 type|comment|icmpv6 type: %v", strings.TrimSpace(out.String()), seen)
}
