package main

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket/pcapgo"

	"shim6d/control/synth"
)

// TestRulesMatchPackets reads back a pcap and the rules written with it:
// rule i must be packet i's 5-tuple in l3fwd's field order (destination
// first), sending it to port 1.
func TestRulesMatchPackets(t *testing.T) {
	dir := t.TempDir()
	pcap, rules := filepath.Join(dir, "p.pcap"), filepath.Join(dir, "p.rules")
	if err := run(pcap, 5, 78, "2001:db8:1::/48", "2001:db8:ff::/48", 1000, synth.DefaultPlan, rules); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d rules, want 5", len(lines))
	}
	for i, line := range lines {
		data, _, err := r.ReadPacketData()
		if err != nil {
			t.Fatal(err)
		}
		src, _ := netip.AddrFromSlice(data[14+8 : 14+24])
		dst, _ := netip.AddrFromSlice(data[14+24 : 14+40])
		sport, dport := binary.BigEndian.Uint16(data[54:]), binary.BigEndian.Uint16(data[56:])
		want := "R" + dst.String() + " " + src.String() + " " + itoa(dport) + " " + itoa(sport) + " 17 1"
		if line != want {
			t.Errorf("rule %d = %q, want %q", i, line, want)
		}
	}
}

// TestGenRules checks the generator's rules against control/synth: context
// k's pair, source port GenSourcePort (shim6gen.c's GEN_SPORT).
func TestGenRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.rules")
	plan := synth.DefaultPlan
	plan.Seed = 7
	if err := genRules(path, 3, plan); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d rules, want 3", len(lines))
	}
	for k, line := range lines {
		c := plan.At(uint64(k))
		want := "R" + c.PeerULID.String() + " " + c.LocalULID.String() + " 9 1000 17 1"
		if line != want {
			t.Errorf("rule %d = %q, want %q", k, line, want)
		}
	}
	if err := genRules("", 3, plan); err == nil {
		t.Error("genRules without a file: no error")
	}
}

func itoa(v uint16) string { return strconv.Itoa(int(v)) }
