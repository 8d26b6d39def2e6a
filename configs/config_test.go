package configs

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func boolp(b bool) *bool { return &b }

// TestDefault checks the embedded lab.toml, which Default must never fail to
// parse, against what lab/lab.sh builds.
func TestDefault(t *testing.T) {
	got := Default()
	want := &Config{
		EAL: EAL{Args: []string{"-l", "0-1", "--no-huge", "--no-pci", "-m", "512", "--file-prefix", "shim6d-lab"}},
		Daemon: Daemon{
			Workers:         1,
			Polling:         PollAdaptive,
			ControlRingSize: 4096,
			Mbufs:           16383,
			MbufCache:       256,
			MetricsListen:   "127.0.0.1:9640",
			AdminSocket:     "/run/shim6d/lab.sock",
			ICMPRateLimit:   100,
			NeighborTimeout: Duration{30 * time.Second},
			LogLevel:        "info",
		},
		Ports: []Port{
			{
				Name: "inside", Role: RoleInside, Device: "net_af_packet0", Devargs: "iface=s6in",
				Addresses: []netip.Addr{netip.MustParseAddr("2001:db8:1::1")},
				Prefixes:  []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/48")},
				MTU:       1500, RxDesc: 1024, TxDesc: 1024, Promiscuous: boolp(true),
			},
			{
				Name: "isp1", Role: RoleUplink, Device: "net_af_packet1", Devargs: "iface=s6up1",
				Addresses: []netip.Addr{netip.MustParseAddr("2001:db8:ffff:1::2")},
				Prefix:    netip.MustParsePrefix("2001:db8:1::/48"),
				NextHop:   netip.MustParseAddr("2001:db8:ffff:1::1"),
				MTU:       1500, RxDesc: 1024, TxDesc: 1024, Promiscuous: boolp(true),
				Priority: 1, Weight: 1,
			},
		},
		Shim: Shim{Contexts: 65536, EstablishRate: 1000, R1Rate: 1000, R1RatePerPrefix: 10, SendTimeout: Duration{15 * time.Second},
			Failback: "return", FailbackHold: Duration{30 * time.Second}, IdleTimeout: Duration{5 * time.Minute},
			ULPHold: Duration{200 * time.Millisecond}},
		HA:     HA{Replication: true, Lease: Duration{3 * time.Second}, AnnounceRefresh: Duration{time.Second}},
		Source: "lab.toml",
	}
	if diff := cmp.Diff(want, got, cmpAddrs); diff != "" {
		t.Errorf("Default() (-want +got):\n%s", diff)
	}
	if in := got.Inside(); in == nil || in.Name != "inside" {
		t.Errorf("Inside() = %v, want the port called inside", in)
	}
	if ups := got.Uplinks(); len(ups) != 1 || ups[0].Name != "isp1" {
		t.Errorf("Uplinks() = %v, want [isp1]", ups)
	}
	if n := got.LcoreCount(); n != 2 {
		t.Errorf("LcoreCount() = %d, want 2", n)
	}
	// Default returns a fresh copy each time: the daemon may change its copy.
	got.Ports[0].Name = "changed"
	if Default().Ports[0].Name != "inside" {
		t.Error("Default() shares state between calls")
	}
}

// cmpAddrs compares netip values by value, which cmp cannot see into.
var cmpAddrs = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

// TestLabFileOnDisk guards against the embedded copy and the file drifting:
// they are the same file, but Load must also accept it by path.
func TestLabFileOnDisk(t *testing.T) {
	c, err := Load("lab.toml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if diff := cmp.Diff(d, c, cmpAddrs); diff != "" {
		t.Errorf("Load(lab.toml) vs Default() (-want +got):\n%s", diff)
	}
}

func TestExampleProduction(t *testing.T) {
	c, err := Load("example-production.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Daemon.Workers != 4 || c.Daemon.Polling != PollBusy {
		t.Errorf("workers %d polling %q, want 4 busy", c.Daemon.Workers, c.Daemon.Polling)
	}
	if ups := c.Uplinks(); len(ups) != 2 {
		t.Errorf("%d uplinks, want 2", len(ups))
	}
	if got, want := c.Lcores(), []int{2, 3, 4, 5, 6}; !cmp.Equal(got, want) {
		t.Errorf("Lcores() = %v, want %v", got, want)
	}
	for _, p := range c.Ports {
		if pciName(p.Device) == "" {
			t.Errorf("port %s device %q is not PCI", p.Name, p.Device)
		}
	}
	// No --vdev: every port is a PCI device.
	if args := c.EALArgs("shim6d"); strings.Contains(strings.Join(args, " "), "--vdev") {
		t.Errorf("EALArgs() = %v, want no --vdev", args)
	}

	// The configuration does not depend on the machine it is checked on;
	// with too few lcores for its 4 workers it must be refused.
	c.EAL.Args = append([]string{"-l", "0-3"}, c.EAL.Args[2:]...)
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "daemon.workers: 4 workers need 5 lcores (one more for the control core), but eal.args gives 4 (-l 0-3)") {
		t.Errorf("Validate() with -l 0-3 = %v, want the workers error", err)
	}
}

// TestDefaultsApplied parses the smallest valid file and checks every
// default.
func TestDefaultsApplied(t *testing.T) {
	const minimal = `
[eal]
args = ["-l", "0-1"]

[[port]]
name = "in"
role = "inside"
device = "net_tap0"
devargs = "iface=in0"

[[port]]
name = "up1"
role = "uplink"
device = "net_tap1"
devargs = "iface=up1"
prefix = "2001:db8:1::/48"
next_hop = "fe80::1"

[[port]]
name = "up2"
role = "uplink"
device = "net_tap2"
devargs = "iface=up2"
prefix = "2001:db8:2::/48"
next_hop = "fe80::1"
`
	c, err := Parse("min.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(defaultDaemon(), c.Daemon); diff != "" {
		t.Errorf("daemon defaults (-want +got):\n%s", diff)
	}
	for _, p := range c.Ports {
		if p.MTU != 1500 || p.RxDesc != 1024 || p.TxDesc != 1024 || p.Promiscuous == nil || !*p.Promiscuous {
			t.Errorf("port %s: mtu %d rx %d tx %d promiscuous %v, want 1500 1024 1024 true",
				p.Name, p.MTU, p.RxDesc, p.TxDesc, p.Promiscuous)
		}
	}
	want := []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/48"), netip.MustParsePrefix("2001:db8:2::/48")}
	if diff := cmp.Diff(want, c.Inside().Prefixes, cmpAddrs); diff != "" {
		t.Errorf("inside prefixes default to the uplinks' (-want +got):\n%s", diff)
	}
	if c.Source != "min.toml" {
		t.Errorf("Source = %q", c.Source)
	}
}

// TestWrittenValuesKept checks that a key that is written is not replaced by
// its default, even where the value is the zero value.
func TestWrittenValuesKept(t *testing.T) {
	doc := strings.Replace(testBase, "polling = \"adaptive\"", "metrics_listen = \"\"", 1)
	doc = strings.Replace(doc, "next_hop = \"fe80::1\"", "next_hop = \"fe80::1\"\nmtu = 9000\npromiscuous = false", 1)
	doc = strings.Replace(doc, `addresses = ["2001:db8:1::1"]`, `prefixes = ["2001:db8:1:1::/64"]`, 1)
	c, err := Parse("test.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.Daemon.MetricsListen != "" {
		t.Errorf("metrics_listen = %q, want \"\" (disabled)", c.Daemon.MetricsListen)
	}
	p := c.Ports[2]
	if p.MTU != 9000 || *p.Promiscuous {
		t.Errorf("port %s: mtu %d promiscuous %v, want 9000 false", p.Name, p.MTU, *p.Promiscuous)
	}
	if got := c.Inside().Prefixes; len(got) != 1 || got[0].String() != "2001:db8:1:1::/64" {
		t.Errorf("inside prefixes = %v, want only the one written", got)
	}
}

func TestEALArgs(t *testing.T) {
	c := Default()
	want := []string{
		"shim6d", "-l", "0-1", "--no-huge", "--no-pci", "-m", "512", "--file-prefix", "shim6d-lab",
		"--vdev=net_af_packet0,iface=s6in",
		"--vdev=net_af_packet1,iface=s6up1",
	}
	got := c.EALArgs("shim6d")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EALArgs (-want +got):\n%s", diff)
	}
	// The result must not alias the config's own slice.
	got[1] = "changed"
	if c.EAL.Args[0] != "-l" {
		t.Error("EALArgs aliases EAL.Args")
	}
}

func TestLcores(t *testing.T) {
	tests := []struct {
		args []string
		want []int
	}{
		{[]string{"-l", "0-3"}, []int{0, 1, 2, 3}},
		{[]string{"-l", "0,2,4"}, []int{0, 2, 4}},
		{[]string{"--lcores", "0-1"}, []int{0, 1}},
		{[]string{"-c", "0xf"}, []int{0, 1, 2, 3}},
		{[]string{"-l0-3", "--no-huge"}, []int{0, 1, 2, 3}},
		{[]string{"-l", "0-1,8", "-m", "512"}, []int{0, 1, 8}},
		{[]string{"-l", "2,0,1,2"}, []int{0, 1, 2}},
		{[]string{"--lcores=(0-1)@0,2@(1,3)"}, []int{0, 1, 2}},
		{[]string{"--lcores", "1@3,4"}, []int{1, 4}},
		{[]string{"-c", "F0"}, []int{4, 5, 6, 7}},
		{[]string{"-c", "0x10000000000000001"}, []int{0, 64}},
		{[]string{"--main-lcore", "2", "-l", "0-3"}, []int{2, 0, 1, 3}},
		{[]string{"-l", "1-3", "--main-lcore=3"}, []int{3, 1, 2}},
		// Nothing given, or nothing parseable: 0, and Validate says why.
		{[]string{"--no-huge"}, nil},
		{[]string{"-l", "0-x"}, nil},
		{[]string{"-l", "3-1"}, nil},
		{[]string{"-c", "0x0"}, nil},
		{[]string{"-c", "0xg"}, nil},
		{[]string{"-l", "0-1", "-c", "0x3"}, nil},
		{[]string{"-l"}, nil},
		{[]string{"--main-lcore", "5", "-l", "0-3"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := &Config{EAL: EAL{Args: tt.args}}
			if diff := cmp.Diff(tt.want, c.Lcores()); diff != "" {
				t.Errorf("Lcores() (-want +got):\n%s", diff)
			}
			if got := c.LcoreCount(); got != len(tt.want) {
				t.Errorf("LcoreCount() = %d, want %d", got, len(tt.want))
			}
		})
	}
}

func TestLcoreCPUs(t *testing.T) {
	tests := []struct {
		args []string
		want []int
	}{
		{[]string{"-l", "0-2"}, []int{0, 1, 2}},
		// Two workers and the control core on two CPUs.
		{[]string{"--lcores", "0@0,1@1,2@0"}, []int{0, 1, 0}},
		{[]string{"--lcores=(0-1)@0,2@(1,3)"}, []int{0, 0, 1}},
		{[]string{"--lcores", "1@3,4"}, []int{3, 4}},
		{[]string{"--main-lcore", "2", "--lcores", "0-1,2@1"}, []int{1, 0, 1}},
		{[]string{"-l", "0-x"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := &Config{EAL: EAL{Args: tt.args}}
			if diff := cmp.Diff(tt.want, c.LcoreCPUs()); diff != "" {
				t.Errorf("LcoreCPUs() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want an *Error wrapping fs.ErrNotExist", err)
	}
	if want := path + ": cannot read the configuration: no such file or directory"; err.Error() != want {
		t.Errorf("Load(missing) = %q, want %q", err, want)
	}
}

func TestLoadFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.toml")
	bad := strings.Replace(testBase, `prefix = "2001:db8:1::/48"`, `prefix = "2001:db8::/129"`, 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `:20: port[1].prefix: "2001:db8::/129" is not an IPv6 prefix; write ADDRESS/LEN, e.g. 2001:db8:1::/48`
	if err == nil || err.Error() != want {
		t.Errorf("Load = %v\nwant   %s", err, want)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.toml", Line: 3, Key: "daemon.workers", Msg: "bad; fix"}, "a.toml:3: daemon.workers: bad; fix"},
		{Error{File: "a.toml", Key: "port", Msg: "none"}, "a.toml: port: none"},
		{Error{File: "a.toml", Msg: "unreadable"}, "a.toml: unreadable"},
		{Error{File: "a.toml", Line: 1, Msg: "two\nlines"}, "a.toml:1: two lines"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestMAC(t *testing.T) {
	var m MAC
	if err := m.UnmarshalText([]byte("02:00:00:AB:cd:01")); err != nil {
		t.Fatal(err)
	}
	if got := m.String(); got != "02:00:00:ab:cd:01" {
		t.Errorf("String() = %q", got)
	}
	if !m.IsUnicast() || (MAC{1}).IsUnicast() || (MAC{}).IsUnicast() {
		t.Error("IsUnicast wrong")
	}
	for _, bad := range []string{"", "02:00:00:00:00", "02:00:00:00:00:00:00:01", "zz:00:00:00:00:01"} {
		if err := m.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted", bad)
		}
	}
}

func TestCloseKeys(t *testing.T) {
	tests := []struct {
		word string
		want string
	}{
		{"nexthop", "next_hop"},
		{"next_hp", "next_hop"},
		{"Prefx", "prefix"},
		{"adresses", "addresses"},
		{"colour", ""},
	}
	keys := knownKeys([]string{"port"})
	for _, tt := range tests {
		got, _ := closest(tt.word, keys)
		if got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

// TestMbufsDefaultGrows: when mbufs is left out, the pool is made large
// enough for the ports and workers; testBase needs 3 ports × (1024 rx × 2
// workers + 1024 tx × 3 queues) + 3 lcores × 384 = 16512, more than 16383.
func TestMbufsDefaultGrows(t *testing.T) {
	c, err := Parse("test.toml", []byte(testBase))
	if err != nil {
		t.Fatal(err)
	}
	if c.Daemon.Mbufs != 32767 {
		t.Errorf("mbufs = %d, want 32767", c.Daemon.Mbufs)
	}
	// The lab's small pool stays at the default.
	if got := Default().Daemon.Mbufs; got != 16383 {
		t.Errorf("lab mbufs = %d, want 16383", got)
	}
}

// TestValidateInCode checks a Config changed in code, as the daemon may do
// with command-line overrides: Validate sees the change, and its errors carry
// no line.
func TestValidateInCode(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate(Default()) = %v", err)
	}
	c.Daemon.Polling = "fast"
	want := `lab.toml: daemon.polling: "fast" is not a polling mode`
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Validate() = %v, want %s...", err, want)
	}
	// The word settings are checked in code too, with the decoder's words.
	for _, tt := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.Daemon.LogLevel = "trace" }, `lab.toml: daemon.log_level: "trace" is not a log level; write "debug", "info", "warn" or "error"`},
		{func(c *Config) { c.Shim.Failback = "maybe" }, `lab.toml: shim.failback: "maybe" is not a failback policy; write "return"`},
		{func(c *Config) { c.Ports[1].Role = "wan" }, `lab.toml: port[1].role: "wan" is not a role; write "inside" (the site side) or "uplink" (an ISP)`},
	} {
		c := Default()
		tt.set(c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Validate() = %v, want %s...", err, tt.want)
		}
	}
}

// The R1 limits: defaults when left out, the file's values when written.
func TestR1Rates(t *testing.T) {
	c, err := Parse("test.toml", []byte(testBase))
	if err != nil {
		t.Fatal(err)
	}
	if c.Shim.R1Rate != 1000 || c.Shim.R1RatePerPrefix != 10 {
		t.Errorf("defaults: r1_rate %d, r1_rate_per_prefix %d; want 1000, 10", c.Shim.R1Rate, c.Shim.R1RatePerPrefix)
	}
	c, err = Parse("test.toml", []byte(testBase+"\n[shim]\nr1_rate = 5000\nr1_rate_per_prefix = 5000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Shim.R1Rate != 5000 || c.Shim.R1RatePerPrefix != 5000 {
		t.Errorf("r1_rate %d, r1_rate_per_prefix %d; want 5000, 5000", c.Shim.R1Rate, c.Shim.R1RatePerPrefix)
	}
}
