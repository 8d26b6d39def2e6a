package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"shim6d/control/hba"
)

// runHBACapture runs `shim6ctl hba ARGS` and returns stdout, stderr and the
// error.
func runHBACapture(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	old := hbaStderr
	hbaStderr = &errOut
	defer func() { hbaStderr = old }()
	err := commands["hba"].run(args, &out)
	return out.String(), errOut.String(), err
}

var hbaTestPrefixes = []string{"2001:db8:1::/64", "2001:db8:2::/64", "2001:db8:3::/64"}

func prefixArgs() []string {
	var a []string
	for _, p := range hbaTestPrefixes {
		a = append(a, "--prefix", p)
	}
	return a
}

// hbaConfig is the [[hba]] shape the daemon's configuration will read.
type hbaConfig struct {
	HBA []struct {
		Prefixes   []string `toml:"prefixes"`
		Parameters string   `toml:"parameters"`
		Addresses  []string `toml:"addresses"`
		Key        string   `toml:"key"`
	} `toml:"hba"`
}

// checkSet verifies that params (hex) define an HBA set over
// hbaTestPrefixes that holds addrs, one under each prefix in order.
func checkSet(t *testing.T, params string, addrs []string, withKey bool) {
	t.Helper()
	raw, err := hex.DecodeString(params)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hba.ParseParameters(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.PublicKeyIncluded() != withKey {
		t.Errorf("P flag %v, want %v", p.PublicKeyIncluded(), withKey)
	}
	if len(addrs) != len(hbaTestPrefixes) {
		t.Fatalf("%d addresses", len(addrs))
	}
	for i, s := range addrs {
		a := netip.MustParseAddr(s)
		if !netip.MustParsePrefix(hbaTestPrefixes[i]).Contains(a) || !p.Contains(a) {
			t.Errorf("address %v: under %s %v, in set %v", a, hbaTestPrefixes[i],
				netip.MustParsePrefix(hbaTestPrefixes[i]).Contains(a), p.Contains(a))
		}
	}
}

func TestHBAGenerateTOML(t *testing.T) {
	out, _, err := runHBACapture(t, append([]string{"generate", "--toml", "--count", "2", "--sec", "1"}, prefixArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	var cfg hbaConfig
	md, err := toml.Decode(out, &cfg)
	if err != nil {
		t.Fatalf("output is not TOML: %v\n%s", err, out)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Errorf("keys outside the [[hba]] shape: %v", u)
	}
	if len(cfg.HBA) != 2 || cfg.HBA[0].Parameters == cfg.HBA[1].Parameters {
		t.Fatalf("want two different sets:\n%s", out)
	}
	for _, s := range cfg.HBA {
		if strings.Join(s.Prefixes, " ") != strings.Join(hbaTestPrefixes, " ") || s.Key != "" {
			t.Errorf("prefixes %v, key %q", s.Prefixes, s.Key)
		}
		checkSet(t, s.Parameters, s.Addresses, false)
		for _, a := range s.Addresses {
			if hba.SecOf(netip.MustParseAddr(a)) != 1 {
				t.Errorf("%s: Sec %d", a, hba.SecOf(netip.MustParseAddr(a)))
			}
		}
	}
}

func TestHBAGenerateKeyJSON(t *testing.T) {
	const key = "../../control/hba/testdata/rsa2048.pem"
	out, _, err := runHBACapture(t, append([]string{"generate", "--json", "--sec", "0", "--key", key}, prefixArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	var o hbaSetOut
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if o.Key != key || !o.PublicKey || o.Sec != 0 || o.Hashes != 0 {
		t.Errorf("%+v", o)
	}
	checkSet(t, o.Parameters, o.Addresses, true)

	// The TOML form names the key file for the daemon, quoted.
	out, _, err = runHBACapture(t, append([]string{"generate", "--toml", "--sec", "0", "--key", key}, prefixArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	var cfg hbaConfig
	if _, err := toml.Decode(out, &cfg); err != nil || len(cfg.HBA) != 1 || cfg.HBA[0].Key != key {
		t.Fatalf("%v %+v\n%s", err, cfg, out)
	}
}

func TestHBAGenerateText(t *testing.T) {
	out, _, err := runHBACapture(t, append([]string{"generate", "--sec", "0"}, prefixArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	var params string
	var addrs []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "parameters":
			params = f[1]
		case len(f) == 2 && strings.Contains(f[0], "/64"):
			addrs = append(addrs, f[1])
		}
	}
	if !strings.HasPrefix(out, "HBA set 1 of 1: Sec 0, HBA-only") {
		t.Errorf("header: %q", out)
	}
	checkSet(t, params, addrs, false)
}

func TestHBAVerify(t *testing.T) {
	out, _, err := runHBACapture(t, append([]string{"generate", "--json", "--sec", "0"}, prefixArgs()...)...)
	if err != nil {
		t.Fatal(err)
	}
	var o hbaSetOut
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatal(err)
	}
	fourth := "2001:db8:4:" + strings.SplitN(o.Addresses[0], ":", 4)[3]
	flipped := []byte(o.Addresses[1])
	if flipped[len(flipped)-1] == '1' {
		flipped[len(flipped)-1] = '0'
	} else {
		flipped[len(flipped)-1] = '1'
	}

	// Every address of the set is in it; flags may come after addresses.
	out, _, err = runHBACapture(t, "verify", o.Addresses[0], o.Addresses[1], "--params", o.Parameters, o.Addresses[2])
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := strings.Count(out, "in set (RFC 5535 §7.2)"); n != 3 {
		t.Errorf("%d in set:\n%s", n, out)
	}

	out, _, err = runHBACapture(t, "verify", "--params", o.Parameters, o.Addresses[0], fourth, string(flipped))
	if err == nil || !strings.Contains(err.Error(), "2 of 3") {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{
		o.Addresses[0] + "\tin set",
		fourth + "\tnot in set: prefix is not in the Multi-Prefix extension",
		string(flipped) + "\tnot in set: interface identifier differs from Hash1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}

	out, _, _ = runHBACapture(t, "verify", "--json", "--params", o.Parameters, fourth)
	var v hbaVerifyOut
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Verified || v.Reason != "not_in_set" || v.Method != "hba" {
		t.Errorf("%v %+v", err, v)
	}
}

func TestHBAErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"generate"},
		{"generate", "--prefix", "2001:db8::/48"},
		{"generate", "--prefix", "2001:db8::1/64"},
		{"generate", "--prefix", "192.0.2.0/24"},
		{"generate", "--prefix", "2001:db8::/64", "--sec", "3"},
		{"generate", "--prefix", "2001:db8::/64", "--count", "0"},
		{"generate", "--prefix", "2001:db8::/64", "--json", "--toml"},
		{"generate", "--prefix", "2001:db8::/64", "--prefix", "2001:db8::/64", "--sec", "0"},
		{"generate", "--prefix", "2001:db8::/64", "--key", "/nonexistent"},
		{"generate", "--prefix", "2001:db8::/64", "stray"},
		{"verify", "2001:db8::1"},
		{"verify", "--params", "zz", "2001:db8::1"},
		{"verify", "--params", "0011"},
		{"verify", "--params", "00112233445566778899aabbccddeeff0011223344556677003000", "2001:db8::1"},
		{"verify", "--params", "00112233445566778899aabbccddeeff0011223344556677003000", "not-an-address"},
	} {
		if out, _, err := runHBACapture(t, args...); err == nil {
			t.Errorf("%q: no error\n%s", args, out)
		}
	}
}
