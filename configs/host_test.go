package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHost builds a machine in a temporary directory: interfaces eth0 and
// lo, CPUs 0-3 all allowed, 512 MB of free 2 MB hugepages on a mounted
// hugetlbfs, and /dev/net/tun. Tests change the files to break it.
func fakeHost(t *testing.T) host {
	t.Helper()
	dir := t.TempDir()
	h := host{
		net:       filepath.Join(dir, "net"),
		hugepages: filepath.Join(dir, "hugepages"),
		mounts:    filepath.Join(dir, "mounts"),
		online:    filepath.Join(dir, "online"),
		status:    filepath.Join(dir, "status"),
		tun:       filepath.Join(dir, "tun"),
	}
	for _, ifc := range []string{"eth0", "lo"} {
		mkdir(t, filepath.Join(h.net, ifc))
	}
	pages := filepath.Join(h.hugepages, "hugepages-2048kB")
	mkdir(t, pages)
	write(t, filepath.Join(pages, "free_hugepages"), "256\n")
	write(t, filepath.Join(pages, "resv_hugepages"), "0\n")
	write(t, h.mounts, "proc /proc proc rw 0 0\nnodev /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n")
	write(t, h.online, "0-3\n")
	write(t, h.status, "Name:\tshim6d\nCpus_allowed_list:\t0-3\n")
	write(t, h.tun, "")
	return h
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckHost has one row per thing the start would fail on: each must
// be refused before EAL with an *Error naming the file, line and key.
func TestCheckHost(t *testing.T) {
	tmp := t.TempDir()
	rx := filepath.Join(tmp, "in.pcap")
	write(t, rx, "")
	tests := []struct {
		name    string
		doc     func(t *testing.T) string
		breakIt func(t *testing.T, h host)
		line    int
		key     string
		want    string // a substring of the one-line error; "" means no error
	}{
		{"the base config passes", func(t *testing.T) string { return testBase }, nil, 0, "", ""},

		// Virtual devices.
		{"missing rx pcap", func(t *testing.T) string {
			return edit(t, `device = "net_tap0"`+"\n"+`devargs = "iface=in0"`,
				`device = "net_pcap0"`+"\n"+`devargs = "rx_pcap=/nonexistent/in.pcap,tx_pcap=`+tmp+`/out.pcap"`)
		}, nil, 12, "port[0].devargs",
			"rx_pcap=/nonexistent/in.pcap: cannot open it to replay: no such file or directory; write the path of a readable pcap file"},
		{"rx pcap there, tx directory missing", func(t *testing.T) string {
			return edit(t, `device = "net_tap0"`+"\n"+`devargs = "iface=in0"`,
				`device = "net_pcap0"`+"\n"+`devargs = "rx_pcap=`+rx+`,tx_pcap=/nonexistent/out.pcap"`)
		}, nil, 12, "port[0].devargs",
			"tx_pcap=/nonexistent/out.pcap: cannot write there, its directory /nonexistent: no such file or directory"},
		{"pcap on a missing interface", func(t *testing.T) string {
			return edit(t, `device = "net_tap0"`+"\n"+`devargs = "iface=in0"`,
				`device = "net_pcap0"`+"\n"+`devargs = "rx_iface=eth0,tx_iface=eth9"`)
		}, nil, 12, "port[0].devargs", "tx_iface=eth9: this machine has no network interface eth9"},
		{"missing af_packet interface", func(t *testing.T) string {
			return edit(t, `device = "net_tap1"`+"\n"+`devargs = "iface=up1"`,
				`device = "net_af_packet1"`+"\n"+`devargs = "iface=nosuch0"`)
		}, nil, 19, "port[1].devargs",
			"iface=nosuch0: this machine has no network interface nosuch0 (no "},
		{"af_packet interface lists what there is", func(t *testing.T) string {
			return edit(t, `device = "net_tap1"`+"\n"+`devargs = "iface=up1"`,
				`device = "net_af_packet1"`+"\n"+`devargs = "iface=nosuch0,qpairs=2"`)
		}, nil, 19, "port[1].devargs", "write one ip link shows (eth0, lo), or create it first"},
		{"af_packet without iface", func(t *testing.T) string {
			return edit(t, `device = "net_tap1"`+"\n"+`devargs = "iface=up1"`,
				`device = "net_af_packet1"`+"\n"+`devargs = "qpairs=2"`)
		}, nil, 19, "port[1].devargs", `net_af_packet needs the kernel interface it opens; write iface=NAME`},
		{"af_packet key misspelt", func(t *testing.T) string {
			return edit(t, `device = "net_tap1"`+"\n"+`devargs = "iface=up1"`,
				`device = "net_af_packet1"`+"\n"+`devargs = "iface=eth0,qpair=2"`)
		}, nil, 19, "port[1].devargs", `net_af_packet has no key "qpair" (DPDK would refuse the device); did you mean qpairs?`},
		{"net_null key unknown", func(t *testing.T) string {
			return edit(t, `device = "net_tap1"`+"\n"+`devargs = "iface=up1"`,
				`device = "net_null1"`+"\n"+`devargs = "colour=red"`)
		}, nil, 19, "port[1].devargs", `net_null has no key "colour" (DPDK would refuse the device); its keys are size, copy, no-rx`},
		{"tap name too long", func(t *testing.T) string { return edit(t, `"iface=up2"`, `"iface=uplink-number-two"`) },
			nil, 28, "port[2].devargs", "iface=uplink-number-two: 17 characters, but Linux interface names have at most 15"},
		{"tap without /dev/net/tun", func(t *testing.T) string { return testBase },
			func(t *testing.T, h host) { os.Remove(h.tun) }, 12, "port[0].devargs", "net_tap creates its interface through"},
		{"--vdev in eal.args checked too", func(t *testing.T) string {
			return edit(t, `device = "net_tap2"`+"\n"+`devargs = "iface=up2"`, `device = "net_af_packet2"`,
				`"--no-pci"]`, `"--no-pci", "--vdev=net_af_packet2,iface=gone0"]`)
		}, nil, 2, "eal.args[4]", "iface=gone0: this machine has no network interface gone0"},

		// Cores.
		{"lcore beyond the machine", func(t *testing.T) string { return edit(t, `"-l", "0-2"`, `"-l", "0-1,7"`) },
			nil, 2, "eal.args[0]", "-l 0-1,7: this machine has no CPU 7 (its CPUs are 0-3); write cores from 0-3"},
		{"lcore outside the affinity", func(t *testing.T) string { return testBase },
			func(t *testing.T, h host) { write(t, h.status, "Cpus_allowed_list:\t0-1\n") },
			2, "eal.args[0]", "-l 0-2: CPU 2 is outside the CPUs this process may run on"},
		{"--lcores maps to a CPU that is not there", func(t *testing.T) string {
			return edit(t, `"-l", "0-2"`, `"--lcores", "0-2@(0,9)"`)
		}, nil, 2, "eal.args[0]", "--lcores 0-2@(0,9): this machine has no CPU 9"},
		{"core mask beyond the machine", func(t *testing.T) string { return edit(t, `"-l", "0-2"`, `"-c", "0x31"`) },
			nil, 2, "eal.args[0]", "-c 0x31: this machine has no CPU 4"},

		// Hugepages.
		{"hugepages asked for, none free", func(t *testing.T) string { return edit(t, `"--no-huge", `, "") },
			func(t *testing.T, h host) {
				write(t, filepath.Join(h.hugepages, "hugepages-2048kB", "free_hugepages"), "0\n")
			}, 2, "eal.args", "asks for hugepages (no --no-huge), but none is free"},
		{"hugepages reserved by others are not free", func(t *testing.T) string { return edit(t, `"--no-huge", `, "") },
			func(t *testing.T, h host) {
				write(t, filepath.Join(h.hugepages, "hugepages-2048kB", "resv_hugepages"), "256\n")
			}, 2, "eal.args", "none is free"},
		{"hugepages asked for, no hugetlbfs", func(t *testing.T) string { return edit(t, `"--no-huge", `, "") },
			func(t *testing.T, h host) { write(t, h.mounts, "proc /proc proc rw 0 0\n") },
			2, "eal.args", "no hugetlbfs is mounted"},
		{"no hugetlbfs is fine in memory", func(t *testing.T) string { return edit(t, `"--no-huge", `, `"--in-memory", `) },
			func(t *testing.T, h host) { write(t, h.mounts, "proc /proc proc rw 0 0\n") }, 0, "", ""},
		{"-m more than is free", func(t *testing.T) string { return edit(t, `"--no-huge", `, `"-m", "1024", `) },
			nil, 2, "eal.args[2]", "asks for 1024 MB of hugepages, but only 512 MB are free"},
		{"-m within what is free", func(t *testing.T) string { return edit(t, `"--no-huge", `, `"-m", "256", `) },
			nil, 0, "", ""},
		{"--huge-dir not a mount", func(t *testing.T) string { return edit(t, `"--no-huge", `, `"--huge-dir", "/mnt/huge", `) },
			nil, 2, "eal.args", "--huge-dir /mnt/huge is not a hugetlbfs mount (hugetlbfs is mounted on /dev/hugepages)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fakeHost(t)
			if tt.breakIt != nil {
				tt.breakIt(t, h)
			}
			doc := tt.doc(t)
			c, err := Parse("test.toml", []byte(doc))
			if err != nil {
				t.Fatalf("Parse refused:\n%s\n%v", doc, err)
			}
			_, err = c.checkHost(h)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("checkHost refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("checkHost returned %v (%T), want an *Error", err, err)
			}
			if e.Line != tt.line || e.Key != tt.key {
				t.Errorf("error at line %d key %q, want line %d key %q: %v", e.Line, e.Key, tt.line, tt.key, err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tt.want) {
				t.Errorf("error\n got: %s\nwant: %s", msg, tt.want)
			}
		})
	}
}

// TestCheckHostWarnings: memory that looks short is a warning, not an
// error; DPDK's own overheads are not ours to predict.
func TestCheckHostWarnings(t *testing.T) {
	for _, tt := range []struct{ name, old, new, want string }{
		{"pool larger than -m without hugepages", `"--no-pci"]`, `"--no-pci", "-m", "16"]`,
			`test.toml:2: eal.args[4]: 16 MB of memory without hugepages, but 32767 mbufs take about 74 MB; the packet pool may not fit: give more, e.g. "-m", "212"`},
		{"pool larger than free hugepages", `"--no-huge", `, `"-m", "20", `,
			`test.toml:2: eal.args[2]: 20 MB of hugepages for EAL, but 32767 mbufs take about 74 MB`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("test.toml", []byte(edit(t, tt.old, tt.new)))
			if err != nil {
				t.Fatal(err)
			}
			warn, err := c.checkHost(fakeHost(t))
			if err != nil {
				t.Fatalf("checkHost refused: %v", err)
			}
			if len(warn) != 1 || !strings.Contains(warn[0].Error(), tt.want) {
				t.Fatalf("warnings %v, want one containing %q", warn, tt.want)
			}
		})
	}
}

// TestEALArgs: the EAL arguments are read as rte_eal_init's getopt_long
// reads them, and an option DPDK 22.11 does not know is refused with its
// position, at Parse (so by --check and by the start alike).
func TestEALOptions(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // "" for accepted; else the error's key and message
	}{
		{[]string{"-l", "0-1", "--no-huge", "-v"}, ""},
		{[]string{"-l", "0-1", "-vh"}, `eal.args[2]: "-vh": -h makes EAL print its usage and exit the program; remove it`},
		{[]string{"-l", "0-1", "--he"}, `eal.args[2]: --help makes EAL print its usage and exit the program`},
		{[]string{"-l", "0-1", "--log-level=help"}, `eal.args[2]: --log-level=help makes EAL print its log types and exit`},
		{[]string{"-l0-1", "--file-prefix=x", "--log-level", "lib.eal:debug"}, ""},
		{[]string{"-l", "0-1", "--no-hu", "--huge-unlink=always", "--syslog"}, ""},
		{[]string{"--lcores=0-1", "--main-l", "1"}, ""},
		{[]string{"-l", "0-1", "--no-such-flag"},
			`eal.args[2]: --no-such-flag is not an EAL option of DPDK 22.11; see the EAL options in dpdk-testpmd --help`},
		{[]string{"-l", "0-1", "--no-hugh"}, `eal.args[2]: --no-hugh is not an EAL option of DPDK 22.11; did you mean --no-huge?`},
		{[]string{"-l", "0-1", "--no"}, `eal.args[2]: --no is ambiguous: it abbreviates --no-hpet, --no-huge, --no-pci, --no-shconf, --no-telemetry`},
		{[]string{"-l", "0-1", "--master-lcore", "0"}, `eal.args[2]: DPDK 22.11 has no --master-lcore any more; write --main-lcore instead`},
		{[]string{"-l", "0-1", "-w", "0000:03:00.0"}, `eal.args[2]: DPDK 22.11 has no -w any more; write -a instead`},
		{[]string{"-l", "0-1", "-x"}, `eal.args[2]: "-x": -x is not an EAL option of DPDK 22.11`},
		{[]string{"-l", "0-1", "--no-huge=yes"}, `eal.args[2]: --no-huge takes no value; write "--no-huge" alone`},
		{[]string{"-l", "0-1", "--file-prefix"}, `eal.args[2]: --file-prefix needs a value`},
		{[]string{"-l", "0-1", "-m"}, `eal.args[2]: -m needs a value`},
		{[]string{"-l", "0-1", "512"}, `eal.args[2]: "512" is not an EAL option (EAL would pass it on to the program, which ignores it)`},
		{[]string{"-l", "0-1", "--", "--no-huge"}, `eal.args[2]: "--" ends EAL's options`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			doc := strings.Replace(testBase, `["-l", "0-2", "--no-huge", "--no-pci"]`, `["`+strings.Join(tt.args, `", "`)+`"]`, 1)
			doc = strings.Replace(doc, "workers = 2", "workers = 1", 1)
			_, err := Parse("test.toml", []byte(doc))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Line != 2 || !strings.HasPrefix(e.Key, "eal.args") {
				t.Fatalf("error %v, want an *Error at line 2 on eal.args", err)
			}
			if !strings.Contains(err.Error(), "test.toml:2: "+tt.want) {
				t.Errorf("error\n got: %s\nwant: test.toml:2: %s", err, tt.want)
			}
		})
	}
}

// TestErrorAt: errors built after Load, for failures found at start, carry
// the line of the key, as the configuration's own errors do.
func TestErrorAt(t *testing.T) {
	c, err := Parse("test.toml", []byte(testBase))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ErrorAt(c.DeviceKey(1), "DPDK could not create net_tap1: %s", "boom").Error(),
		"test.toml:19: port[1].devargs: DPDK could not create net_tap1: boom"; got != want {
		t.Errorf("ErrorAt = %q, want %q", got, want)
	}
	// A Config built in code has no lines; the key still names the place.
	c2 := &Config{Source: "x.toml", Ports: []Port{{Device: "0000:03:00.0"}}}
	if got, want := c2.ErrorAt(c2.DeviceKey(0), "gone").Error(), "x.toml: port[0].device: gone"; got != want {
		t.Errorf("ErrorAt = %q, want %q", got, want)
	}
}
