package configs

import (
	"errors"
	"strings"
	"testing"
)

// testBase is a valid configuration with one inside port and two uplinks.
// The error table edits it line by line, so its line numbers matter: they
// are in the comments on the right of each row's want.
const testBase = `[eal]
args = ["-l", "0-2", "--no-huge", "--no-pci"]

[daemon]
workers = 2
polling = "adaptive"

[[port]]
name = "inside"
role = "inside"
device = "net_tap0"
devargs = "iface=in0"
addresses = ["2001:db8:1::1"]

[[port]]
name = "isp1"
role = "uplink"
device = "net_tap1"
devargs = "iface=up1"
prefix = "2001:db8:1::/48"
addresses = ["2001:db8:ffff:1::2"]
next_hop = "2001:db8:ffff:1::1"

[[port]]
name = "isp2"
role = "uplink"
device = "net_tap2"
devargs = "iface=up2"
prefix = "2001:db8:2::/48"
next_hop = "fe80::1"
`

// Blocks of testBase, for rows that remove whole ports.
var (
	baseHead   = testBase[:strings.Index(testBase, "[[port]]")]
	baseInside = testBase[len(baseHead):strings.Index(testBase, "[[port]]\nname = \"isp1\"")]
	baseUplink = testBase[len(baseHead)+len(baseInside):]
)

const neighborTOML = `
[[neighbor]]
port = "inside"
address = "2001:db8:1::10"
mac = "02:00:00:00:00:10"
`

// edit applies old→new replacements to testBase; each old must occur.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	doc := testBase
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(doc, pairs[i]) {
			t.Fatalf("edit: %q not in the document", pairs[i])
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return doc
}

func TestBaseIsValid(t *testing.T) {
	if _, err := Parse("test.toml", []byte(testBase)); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("test.toml", []byte(testBase+neighborTOML)); err != nil {
		t.Fatal(err)
	}
}

// TestErrors has one row per mistake: each must be refused with its own
// message, at the right line.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  func(t *testing.T) string
		want string // a substring of the one-line error
	}{
		// Syntax and unknown keys.
		{"syntax error", func(t *testing.T) string { return edit(t, "workers = 2", "workers = = 2") },
			`test.toml:5: daemon.workers: TOML syntax: `},
		{"unknown key, close to a known one", func(t *testing.T) string { return edit(t, `next_hop = "fe80::1"`, `nexthop = "fe80::1"`) },
			`test.toml:30: port[2].nexthop: unknown key; did you mean next_hop?`},
		{"unknown key in the first of several ports", func(t *testing.T) string { return edit(t, `devargs = "iface=in0"`, `devarg = "iface=in0"`) },
			`test.toml:12: port[0].devarg: unknown key; did you mean devargs?`},
		{"unknown key, nothing close", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `colour = "red"`) },
			`test.toml:6: daemon.colour: unknown key; the keys in [daemon] are workers, polling, control_ring_size, mbufs, mbuf_cache, metrics_listen, admin_socket, icmp_rate_limit, neighbor_timeout`},
		{"unknown table", func(t *testing.T) string { return edit(t, "[daemon]", "[deamon]") },
			`test.toml:4: deamon: unknown key; did you mean daemon?`},
		{"unknown array of tables", func(t *testing.T) string {
			return testBase + strings.Replace(neighborTOML, "[[neighbor]]", "[[neighbour]]", 1)
		},
			`test.toml:32: neighbour[0]: unknown key; did you mean neighbor?`},

		// Values of the wrong type or form.
		{"string for an integer", func(t *testing.T) string { return edit(t, "workers = 2", `workers = "two"`) },
			`test.toml:5: daemon.workers: "two" is not an integer; write a whole number without quotes`},
		{"integer too large for its field", func(t *testing.T) string {
			return edit(t, `next_hop = "fe80::1"`, "next_hop = \"fe80::1\"\nrx_desc = 70000")
		}, `test.toml:31: port[2].rx_desc: 70000 does not fit; write a number from 0 to 65535`},
		{"single address where a list goes", func(t *testing.T) string { return edit(t, `["2001:db8:1::1"]`, `"2001:db8:1::1"`) },
			`test.toml:13: port[0].addresses: "2001:db8:1::1" is not an array; write [ ... ], e.g. ["2001:db8:1::1"]`},
		{"[port] instead of [[port]]", func(t *testing.T) string { return baseHead + strings.Replace(baseInside, "[[port]]", "[port]", 1) },
			`test.toml:8: port: a table is not an array of tables; write one [[port]] table per entry`},
		{"EAL args as one string", func(t *testing.T) string {
			return edit(t, `args = ["-l", "0-2", "--no-huge", "--no-pci"]`, `args = "-l 0-2"`)
		},
			`test.toml:2: eal.args: "-l 0-2" is not an array; write [ ... ], e.g. ["-l", "0-1"]`},
		{"bad address", func(t *testing.T) string { return edit(t, `["2001:db8:1::1"]`, `["2001:db8:1::zz"]`) },
			`test.toml:13: port[0].addresses[0]: "2001:db8:1::zz" is not an IPv6 address; write e.g. 2001:db8:1::1`},
		{"bad address on its own line of an array", func(t *testing.T) string {
			return edit(t, `["2001:db8:1::1"]`, "[\n  \"2001:db8:1::1\",\n  \"2001:db8:1::x\",\n]")
		}, `test.toml:15: port[0].addresses[1]: "2001:db8:1::x" is not an IPv6 address`},
		{"address not in quotes", func(t *testing.T) string { return edit(t, `next_hop = "fe80::1"`, `next_hop = 1`) },
			`test.toml:30: port[2].next_hop: 1 is not an IPv6 address; write e.g. 2001:db8:1::1, in quotes`},
		{"bad prefix", func(t *testing.T) string { return edit(t, `prefix = "2001:db8:1::/48"`, `prefix = "2001:db8::/129"`) },
			// port[1], not port[2]: toml's own positions would say line 29.
			`test.toml:20: port[1].prefix: "2001:db8::/129" is not an IPv6 prefix; write ADDRESS/LEN, e.g. 2001:db8:1::/48`},
		{"prefix with host bits", func(t *testing.T) string { return edit(t, `prefix = "2001:db8:1::/48"`, `prefix = "2001:db8:1::1/48"`) },
			`test.toml:20: port[1].prefix: "2001:db8:1::1/48" has host bits set; write 2001:db8:1::/48`},
		{"IPv4 prefix", func(t *testing.T) string { return edit(t, `prefix = "2001:db8:1::/48"`, `prefix = "10.0.0.0/8"`) },
			`test.toml:20: port[1].prefix: "10.0.0.0/8" is an IPv4 prefix; write an IPv6 prefix, e.g. 2001:db8:1::/48`},
		{"default route as a prefix", func(t *testing.T) string { return edit(t, `prefix = "2001:db8:1::/48"`, `prefix = "::/0"`) },
			`test.toml:20: port[1].prefix: "::/0" covers every address`},
		{"bad MAC", func(t *testing.T) string { return testBase + `next_hop_mac = "02:00:zz:00:00:01"` + "\n" },
			`test.toml:31: port[2].next_hop_mac: "02:00:zz:00:00:01" is not a MAC address; write six hex bytes, e.g. 02:00:00:00:00:01`},
		{"multicast MAC", func(t *testing.T) string { return testBase + `next_hop_mac = "01:00:5e:00:00:01"` + "\n" },
			`test.toml:31: port[2].next_hop_mac: 01:00:5e:00:00:01 is a multicast MAC; write the router's unicast MAC`},
		{"bad log level", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `log_level = "verbose"`) },
			`test.toml:6: daemon.log_level: "verbose" is not a log level; write "debug", "info", "warn" or "error"`},
		{"idle timeout too short", func(t *testing.T) string { return testBase + "[shim]\nidle_timeout = \"1s\"\n" },
			`test.toml:32: shim.idle_timeout: 1s is out of range; write 10s to 24h (default 5m)`},
		{"priority out of range", func(t *testing.T) string { return testBase + "priority = 255\n" },
			`test.toml:31: port[2].priority: 255 is out of range; write 0 to 254, lower is preferred (255 is for backup = true)`},
		{"backup with a priority", func(t *testing.T) string { return testBase + "backup = true\npriority = 3\n" },
			`test.toml:32: port[2].priority: a backup uplink is announced with priority 255, after every other; delete priority, or backup = true`},
		{"weight out of range", func(t *testing.T) string { return testBase + "weight = 300\n" },
			`test.toml:31: port[2].weight: 300 is out of range; write 0 to 255`},
		{"weight on the inside port", func(t *testing.T) string {
			return edit(t, `addresses = ["2001:db8:1::1"]`, "addresses = [\"2001:db8:1::1\"]\nweight = 2")
		}, `test.toml:14: port[0].weight: weight ranks an uplink in the site's Locator Preferences; an inside port has none, delete it`},
		{"every uplink backup", func(t *testing.T) string {
			return edit(t, `prefix = "2001:db8:1::/48"`, "prefix = \"2001:db8:1::/48\"\nbackup = true") + "backup = true\n"
		}, `test.toml:21: port[1].backup: every uplink is backup; leave at least one without backup = true`},
		{"bad duration", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `neighbor_timeout = "30"`) },
			`test.toml:6: daemon.neighbor_timeout: "30" is not a duration; write a number with a unit, e.g. "30s" or "500ms"`},
		{"duration out of range", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `neighbor_timeout = "2h"`) },
			`test.toml:6: daemon.neighbor_timeout: 2h0m0s is out of range; write a duration from "100ms" to "1h", e.g. "30s"`},

		// Ports missing or clashing.
		{"no ports", func(t *testing.T) string { return baseHead },
			`test.toml: port: no [[port]] tables; write one with role = "inside"`},
		{"no inside port", func(t *testing.T) string { return baseHead + baseUplink },
			`test.toml: port: no port has role = "inside"; give the site-side port role = "inside"`},
		{"no uplink", func(t *testing.T) string { return baseHead + baseInside },
			`test.toml: port: no port has role = "uplink"; add a [[port]] with role = "uplink", prefix and next_hop for each ISP`},
		{"two inside ports", func(t *testing.T) string {
			return edit(t, "role = \"uplink\"\ndevice = \"net_tap2\"\ndevargs = \"iface=up2\"\nprefix = \"2001:db8:2::/48\"\nnext_hop = \"fe80::1\"",
				"role = \"inside\"\ndevice = \"net_tap2\"\ndevargs = \"iface=up2\"")
		}, `test.toml:26: port[2].role: a second inside port: port[0] "inside" is one already, and there is exactly one`},
		{"neighbor on an unknown port", func(t *testing.T) string { return testBase + strings.Replace(neighborTOML, `"inside"`, `"isp9"`, 1) },
			`test.toml:33: neighbor[0].port: "isp9" is not a port; write one of inside, isp1, isp2`},
		{"port without device", func(t *testing.T) string { return edit(t, `device = "net_tap1"`, "") },
			`test.toml:15: port[1].device: missing; write the DPDK device, e.g. device = "net_af_packet0" or a PCI address "0000:03:00.0"`},
		{"duplicate port name", func(t *testing.T) string { return edit(t, `name = "isp2"`, `name = "isp1"`) },
			`test.toml:25: port[2].name: "isp1" is already the name of port[1]; give each port its own name`},
		{"duplicate device", func(t *testing.T) string { return edit(t, `device = "net_tap2"`, `device = "net_tap1"`) },
			`test.toml:27: port[2].device: "net_tap1" is also port[1]'s device; give each port its own device`},
		{"duplicate PCI device in two spellings", func(t *testing.T) string {
			return edit(t, `"--no-pci"`, `"-m", "512"`,
				"device = \"net_tap1\"\ndevargs = \"iface=up1\"", "device = \"0000:03:00.0\"\n",
				"device = \"net_tap2\"\ndevargs = \"iface=up2\"", "device = \"03:00.0\"\n")
		}, `test.toml:27: port[2].device: "03:00.0" is also port[1]'s device`},
		{"uplink without prefix", func(t *testing.T) string { return edit(t, `prefix = "2001:db8:2::/48"`, "") },
			`test.toml:24: port[2].prefix: missing; an uplink needs the prefix its ISP assigned, e.g. prefix = "2001:db8:1::/48"`},
		{"uplink without next hop", func(t *testing.T) string { return edit(t, `next_hop = "fe80::1"`, "") },
			`test.toml:24: port[2].next_hop: missing; an uplink needs its ISP router's address`},
		{"inside port with prefix", func(t *testing.T) string {
			return edit(t, `addresses = ["2001:db8:1::1"]`, `prefix = "2001:db8:1::/48"`)
		},
			`test.toml:13: port[0].prefix: an inside port has no prefix (prefix is an uplink's ISP prefix); to choose the prefixes routed inside, write prefixes = ["2001:db8:1::/48"]`},
		{"inside port with next hop", func(t *testing.T) string { return edit(t, `addresses = ["2001:db8:1::1"]`, `next_hop = "fe80::1"`) },
			`test.toml:13: port[0].next_hop: an inside port has no next hop (next_hop is an uplink's ISP router); delete it`},
		{"inside port with next hop MAC", func(t *testing.T) string {
			return edit(t, `addresses = ["2001:db8:1::1"]`, `next_hop_mac = "02:00:00:00:00:01"`)
		},
			`test.toml:13: port[0].next_hop_mac: an inside port has no next hop`},
		{"uplink with prefixes", func(t *testing.T) string {
			return edit(t, `prefix = "2001:db8:2::/48"`, `prefixes = ["2001:db8:2::/48"]`)
		},
			`test.toml:29: port[2].prefixes: prefixes is for the inside port; an uplink's own prefix is prefix = "..."`},
		{"inside prefix outside every uplink's", func(t *testing.T) string {
			return edit(t, `addresses = ["2001:db8:1::1"]`, `prefixes = ["2001:db8:9::/48"]`)
		},
			`test.toml:13: port[0].prefixes[0]: 2001:db8:9::/48 is not within any uplink's prefix (isp1 2001:db8:1::/48, isp2 2001:db8:2::/48)`},
		{"inside prefixes empty", func(t *testing.T) string { return edit(t, `addresses = ["2001:db8:1::1"]`, `prefixes = []`) },
			`test.toml:13: port[0].prefixes: empty; list the site prefixes routed inside, or delete the key`},
		{"duplicate uplink prefix", func(t *testing.T) string { return edit(t, `prefix = "2001:db8:2::/48"`, `prefix = "2001:db8:1::/48"`) },
			`test.toml:29: port[2].prefix: 2001:db8:1::/48 is also port[1] isp1's prefix; each uplink has the prefix its own ISP assigned`},
		{"overlapping uplink prefixes", func(t *testing.T) string {
			return edit(t, `prefix = "2001:db8:2::/48"`, `prefix = "2001:db8:1:8000::/49"`)
		},
			`test.toml:29: port[2].prefix: 2001:db8:1:8000::/49 overlaps port[1] isp1's prefix 2001:db8:1::/48; uplink prefixes must not overlap`},

		// Names, roles, devices.
		{"bad port name", func(t *testing.T) string { return edit(t, `name = "isp2"`, `name = "ISP 2"`) },
			`test.toml:25: port[2].name: "ISP 2" is not a port name; write 1 to 15 characters from a-z, 0-9, _ and -`},
		{"bad role", func(t *testing.T) string {
			return edit(t, "role = \"uplink\"\ndevice = \"net_tap2\"", "role = \"wan\"\ndevice = \"net_tap2\"")
		},
			`test.toml:26: port[2].role: "wan" is not a role; write "inside" (the site side) or "uplink" (an ISP)`},
		{"role not in quotes", func(t *testing.T) string {
			return edit(t, "role = \"uplink\"\ndevice = \"net_tap2\"", "role = 2\ndevice = \"net_tap2\"")
		},
			`test.toml:26: port[2].role: 2 is not a role; write "inside" (the site side) or "uplink" (an ISP), in quotes`},
		{"role in capitals", func(t *testing.T) string { return edit(t, `role = "inside"`, `role = "Inside"`) },
			`test.toml:10: port[0].role: "Inside" is not a role; write "inside" (the site side) or "uplink" (an ISP)`},
		{"bad failback", func(t *testing.T) string { return testBase + "[shim]\nfailback = \"back\"\n" },
			`test.toml:32: shim.failback: "back" is not a failback policy; write "return" (back to the preferred pair after failback_hold) or "stay"`},
		{"ulp_hold too short", func(t *testing.T) string { return testBase + "[shim]\nulp_hold = \"1ms\"\n" },
			`test.toml:32: shim.ulp_hold: 1ms is out of range; write 10ms to 10s (default 200ms, the lowest TCP retransmission timeout Linux uses)`},
		{"ulp_advice not a boolean", func(t *testing.T) string { return testBase + "[shim]\nulp_advice = \"yes\"\n" },
			`test.toml:32: shim.ulp_advice: "yes" is not a boolean`},
		{"bad device name", func(t *testing.T) string { return edit(t, `device = "net_tap2"`, `device = "eth0"`) },
			`test.toml:27: port[2].device: "eth0" is not a DPDK device name`},
		{"virtual device nothing creates", func(t *testing.T) string { return edit(t, `devargs = "iface=up2"`, "") },
			`test.toml:27: port[2].device: nothing creates virtual device "net_tap2"; set devargs`},
		{"virtual device created twice", func(t *testing.T) string { return edit(t, `"--no-pci"]`, `"--no-pci", "--vdev=net_tap2,iface=x"]`) },
			`test.toml:28: port[2].devargs: eal.args already creates net_tap2 with --vdev`},
		{"PCI device with --no-pci", func(t *testing.T) string {
			return edit(t, "device = \"net_tap2\"\ndevargs = \"iface=up2\"", "device = \"0000:03:00.0\"\n")
		},
			`test.toml:27: port[2].device: "0000:03:00.0" is a PCI device, but eal.args has --no-pci; remove --no-pci`},
		{"PCI device not in the allow list", func(t *testing.T) string {
			return edit(t, `"--no-pci"`, `"-a", "0000:04:00.0"`, "device = \"net_tap2\"\ndevargs = \"iface=up2\"", "device = \"0000:03:00.0\"\n")
		}, `test.toml:27: port[2].device: "0000:03:00.0" is not in eal.args' -a allow list; add "-a", "0000:03:00.0"`},
		{"PCI device with devargs", func(t *testing.T) string { return edit(t, `device = "net_tap2"`, `device = "0000:03:00.0"`) },
			`test.toml:28: port[2].devargs: only a virtual (net_*) device takes devargs here`},

		// Addresses.
		{"IPv4 address", func(t *testing.T) string { return edit(t, `["2001:db8:1::1"]`, `["192.0.2.1"]`) },
			`test.toml:13: port[0].addresses[0]: "192.0.2.1" is an IPv4 address; write an IPv6 address, e.g. 2001:db8:1::1`},
		{"IPv4-mapped address", func(t *testing.T) string { return edit(t, `["2001:db8:1::1"]`, `["::ffff:192.0.2.1"]`) },
			`test.toml:13: port[0].addresses[0]: "::ffff:192.0.2.1" is an IPv4-mapped address`},
		{"multicast address", func(t *testing.T) string { return edit(t, `["2001:db8:1::1"]`, `["ff02::1"]`) },
			`test.toml:13: port[0].addresses[0]: "ff02::1" is a multicast address; write a unicast address`},
		{"unspecified address", func(t *testing.T) string { return edit(t, `["2001:db8:1::1"]`, `["::"]`) },
			`test.toml:13: port[0].addresses[0]: "::" is the unspecified address`},
		{"zoned address", func(t *testing.T) string { return edit(t, `["2001:db8:1::1"]`, `["fe80::1%eth0"]`) },
			`test.toml:13: port[0].addresses[0]: "fe80::1%eth0" has a zone; write fe80::1: the port is the zone`},
		{"IPv4 next hop", func(t *testing.T) string { return edit(t, `next_hop = "fe80::1"`, `next_hop = "192.0.2.1"`) },
			`test.toml:30: port[2].next_hop: "192.0.2.1" is an IPv4 address; write an IPv6 address`},
		{"multicast next hop", func(t *testing.T) string { return edit(t, `next_hop = "fe80::1"`, `next_hop = "ff02::2"`) },
			`test.toml:30: port[2].next_hop: "ff02::2" is a multicast address`},
		{"next hop is our own address", func(t *testing.T) string {
			return edit(t, `next_hop = "2001:db8:ffff:1::1"`, `next_hop = "2001:db8:ffff:1::2"`)
		},
			`test.toml:22: port[1].next_hop: 2001:db8:ffff:1::2 is our own address (port[1].addresses[0])`},
		{"address on two ports", func(t *testing.T) string { return edit(t, `["2001:db8:ffff:1::2"]`, `["2001:db8:1::1"]`) },
			`test.toml:21: port[1].addresses[0]: 2001:db8:1::1 is also port[0].addresses[0]; an address belongs to one port`},

		// Daemon.
		{"more workers than lcores", func(t *testing.T) string { return edit(t, "workers = 2", "workers = 3") },
			`test.toml:5: daemon.workers: 3 workers need 4 lcores (one more for the control core), but eal.args gives 3 (-l 0-2); write workers = 2 or give more lcores`},
		{"one lcore only", func(t *testing.T) string { return edit(t, `"0-2"`, `"0"`, "workers = 2", "workers = 1") },
			`test.toml:5: daemon.workers: eal.args gives 1 lcore (-l 0), but the control core needs one and each worker one more; give at least 2`},
		{"zero workers", func(t *testing.T) string { return edit(t, "workers = 2", "workers = 0") },
			`test.toml:5: daemon.workers: 0 workers; write at least 1`},
		{"bad polling", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `polling = "spin"`) },
			`test.toml:6: daemon.polling: "spin" is not a polling mode; write "busy" (spin on the queues: production) or "adaptive" (back off when idle)`},
		{"ring size not a power of two", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `control_ring_size = 5000`) },
			`test.toml:6: daemon.control_ring_size: 5000 is not a power of two from 64 to 1048576 (DPDK rings need one); write e.g. 4096`},
		{"ring size too small", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `control_ring_size = 32`) },
			`test.toml:6: daemon.control_ring_size: 32 is not a power of two from 64 to 1048576`},
		{"mbuf cache too large", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `mbuf_cache = 1024`) },
			`test.toml:6: daemon.mbuf_cache: 1024 is more than DPDK's per-lcore mempool cache limit; write at most 512`},
		{"too few mbufs", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `mbufs = 1023`) },
			// 3 ports × (1024 rx × 2 workers + 1024 tx × 3) + 3 lcores × 384.
			`test.toml:6: daemon.mbufs: 1023 cannot fill every rx and tx descriptor (15360 with 2 workers) and the 3 lcores' caches (1152); write at least 16512, e.g. 32767`},
		{"bad metrics address", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `metrics_listen = "9640"`) },
			`test.toml:6: daemon.metrics_listen: "9640" is not HOST:PORT; write e.g. "127.0.0.1:9640" or "[::1]:9640", or "" to disable metrics`},
		{"relative admin socket", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `admin_socket = "admin.sock"`) },
			`test.toml:6: daemon.admin_socket: "admin.sock" is not an absolute path`},
		{"no ICMP errors", func(t *testing.T) string { return edit(t, `polling = "adaptive"`, `icmp_rate_limit = 0`) },
			`test.toml:6: daemon.icmp_rate_limit: 0 errors per second; write at least 1`},

		// Ports' numbers.
		{"MTU too small", func(t *testing.T) string { return testBase + "mtu = 1000\n" },
			`test.toml:31: port[2].mtu: 1000 is out of range; write 1280 (the IPv6 minimum, RFC 8200 §5) to 9000, e.g. 1500`},
		{"MTU too large", func(t *testing.T) string { return testBase + "mtu = 9216\n" },
			`test.toml:31: port[2].mtu: 9216 is out of range`},
		{"descriptors not a power of two", func(t *testing.T) string { return testBase + "tx_desc = 1000\n" },
			`test.toml:31: port[2].tx_desc: 1000 is not a power of two from 64 to 32768; write e.g. 1024`},

		// EAL arguments.
		{"no lcores", func(t *testing.T) string { return edit(t, `"-l", "0-2", `, "") },
			`test.toml:2: eal.args: no -l, --lcores or -c; name the cores shim6d runs on, e.g. "-l", "0-1"`},
		{"two lcore options", func(t *testing.T) string { return edit(t, `"-l", "0-2", `, `"-l", "0-2", "-c", "0x7", `) },
			`test.toml:2: eal.args: both -l and -c name the cores; keep one`},
		{"bad core list", func(t *testing.T) string { return edit(t, `"0-2"`, `"0-x"`) },
			`test.toml:2: eal.args: -l "0-x" is not a core list; write cores and ranges, e.g. 0-3 or 0,2,4`},
		{"bad core mask", func(t *testing.T) string { return edit(t, `"-l", "0-2"`, `"-c", "0xg"`) },
			`test.toml:2: eal.args: -c "0xg" is not a hex core mask; write e.g. 0x3 for cores 0 and 1`},
		{"program name in EAL args", func(t *testing.T) string { return edit(t, `args = ["-l"`, `args = ["shim6d", "-l"`) },
			`test.toml:2: eal.args[0]: "shim6d" is not an EAL option; leave out the program name, the daemon adds it`},

		// Neighbors.
		{"neighbor with IPv4 address", func(t *testing.T) string {
			return testBase + strings.Replace(neighborTOML, "2001:db8:1::10", "192.0.2.10", 1)
		},
			`test.toml:34: neighbor[0].address: "192.0.2.10" is an IPv4 address`},
		{"neighbor without MAC", func(t *testing.T) string {
			return testBase + strings.Replace(neighborTOML, `mac = "02:00:00:00:00:10"`, "", 1)
		}, `test.toml:32: neighbor[0].mac: missing; write the neighbor's MAC`},
		{"neighbor twice", func(t *testing.T) string { return testBase + neighborTOML + neighborTOML },
			`test.toml:37: neighbor[1]: 2001:db8:1::10 on inside is also neighbor[0]; keep one`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.doc(t)
			c, err := Parse("test.toml", []byte(doc))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s\nconfig: %+v", doc, c)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %T is not an *Error", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error\n got: %s\nwant: %s", msg, tt.want)
			}
		})
	}
}

// contextTOML appends one static context (from line 32 of the document).
const contextTOML = `
[[context]]
local_ulid = "2001:db8:1::10"
peer_ulid = "2001:db8:3::20"
local_locator = "2001:db8:2::10"
peer_locator = "2001:db8:4::20"
local_tag = 0x1001
peer_tag = 0x2002
`

func TestContextErrors(t *testing.T) {
	ok, err := Parse("test.toml", []byte(testBase+contextTOML))
	if err != nil {
		t.Fatalf("valid static context refused: %v", err)
	}
	if x := ok.Contexts[0]; x.LocalLocator.String() != "2001:db8:2::10" || x.PeerTag != 0x2002 || ok.Shim.Contexts != 1<<20 || !ok.Shim.MSSClampOn() {
		t.Fatalf("parsed context %+v, shim %+v", x, ok.Shim)
	}
	noLoc := strings.Replace(strings.Replace(contextTOML, "local_locator = \"2001:db8:2::10\"\n", "", 1), "peer_locator = \"2001:db8:4::20\"\n", "", 1)
	c, err := Parse("test.toml", []byte(testBase+noLoc))
	if err != nil || c.Contexts[0].LocalLocator != c.Contexts[0].LocalULID || c.Contexts[0].PeerLocator != c.Contexts[0].PeerULID {
		t.Fatalf("locators do not default to the ULIDs: %v %+v", err, c)
	}
	for _, tt := range []struct {
		name, doc, want string
	}{
		{"local ULID outside the site", strings.Replace(contextTOML, `local_ulid = "2001:db8:1::10"`, `local_ulid = "2001:db8:9::10"`, 1),
			"test.toml:33: context[0].local_ulid: 2001:db8:9::10 is under none of the site's prefixes"},
		{"local locator under no uplink", strings.Replace(contextTOML, `local_locator = "2001:db8:2::10"`, `local_locator = "2001:db8:7::10"`, 1),
			"test.toml:35: context[0].local_locator: 2001:db8:7::10 is under no uplink's prefix"},
		{"tag of 48 bits", strings.Replace(contextTOML, "peer_tag = 0x2002", "peer_tag = 0x800000000000", 1),
			"test.toml:38: context[0].peer_tag: 0x800000000000 is not a context tag; write a number from 1 to 0x7fffffffffff"},
		{"zero tag", strings.Replace(contextTOML, "local_tag = 0x1001", "local_tag = 0", 1),
			"context[0].local_tag: 0x0 is not a context tag"},
		{"missing peer ULID", strings.Replace(contextTOML, "peer_ulid = \"2001:db8:3::20\"\n", "", 1),
			"context[0].peer_ulid: missing; write an IPv6 address"},
		{"duplicate pair", contextTOML + strings.Replace(contextTOML, "0x1001", "0x1002", 1),
			"context[1]: the ULID pair 2001:db8:1::10, 2001:db8:3::20 is also context[0]; keep one"},
		{"two tags, one slot", contextTOML + strings.Replace(contextTOML, "2001:db8:3::20", "2001:db8:3::21", 1),
			"context[1].local_tag: 0x1001 names table slot 4097 (its low bits), as context[0]'s tag does"},
		{"tag slot beyond the table", "\n[shim]\ncontexts = 1000\n" + strings.Replace(contextTOML, "0x1001", "0x3ff", 1),
			"context[0].local_tag: 0x3ff names table slot 1023 (its low bits), beyond shim.contexts = 1000"},
		{"capacity out of range", "\n[shim]\ncontexts = 0\n",
			"test.toml:33: shim.contexts: 0 is out of range; write 1 to 16777216"},
		{"R1 rate out of range", "\n[shim]\ncontexts = 64\nr1_rate = 0\n",
			"test.toml:34: shim.r1_rate: 0 is out of range; write 1 to 1000000 R1s a second (default 1000)"},
		{"R1 rate per prefix above the total", "\n[shim]\nr1_rate = 100\nr1_rate_per_prefix = 200\n",
			"test.toml:34: shim.r1_rate_per_prefix: 200 is out of range; write 1 to r1_rate (100) R1s a second to one source /64 (default 10)"},
		{"R1 rate per prefix above the default total", "\n[shim]\nr1_rate_per_prefix = 5000\n",
			"test.toml:33: shim.r1_rate_per_prefix: 5000 is out of range; write 1 to r1_rate (1000)"},
		{"unknown shim key", "\n[shim]\nmss_clamp = true\nestablish = 3\n", "shim.establish"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.toml", []byte(testBase+tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestHBAErrors(t *testing.T) {
	const set = `
[[hba]]
prefixes = ["2001:db8:1::/64", "2001:db8:2::/64"]
parameters = "c0d081a7b7222369abf9a6e3725dafdf20010db80001000000304c300d06092a864886f70d0101010500033b003038023100cd29c76481faeeca38915a504d9d9762cb0c909fa9845747e524507329e95289f1443439e3075ad525a3403cc839fb190203010001001200140000000020010db80001000020010db800020000"
addresses = ["2001:db8:1:0:183b:cc4f:5e88:1b6e", "2001:db8:2:0:1873:d9ed:9dc8:9741"]
`
	c, err := Parse("test.toml", []byte(testBase+set))
	if err != nil {
		t.Fatalf("valid HBA set refused: %v", err)
	}
	if h := c.HBA[0]; h.Params == nil || h.Params.VerifyHBA(h.Addresses[1]) != nil || h.PrivateKey != nil {
		t.Errorf("parsed set: Params %v, PrivateKey %v; want the parameters and no key", h.Params, h.PrivateKey)
	}
	for _, tt := range []struct{ name, doc, want string }{
		{"address not in the set", strings.Replace(set, "9741", "9742", 1), "hba[0].addresses[1]: 2001:db8:2:0:1873:d9ed:9dc8:9742 is not in the set"},
		{"parameters not hex", strings.Replace(set, `parameters = "c0`, `parameters = "zz`, 1), "hba[0].parameters: not hex"},
		{"address under the wrong prefix", strings.Replace(set, `"2001:db8:2::/64"]`, `"2001:db8:5::/64"]`, 1), "hba[0].addresses[1]: 2001:db8:2:0:1873:d9ed:9dc8:9741 is not under prefixes[1] 2001:db8:5::/64"},
		{"one address short", strings.Replace(set, `, "2001:db8:2:0:1873:d9ed:9dc8:9741"]`, `]`, 1), "hba[0].addresses: 1 addresses for 2 prefixes"},
		{"same host twice", set + set, "hba[1].addresses[0]: 2001:db8:1:0:183b:cc4f:5e88:1b6e is also in hba[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.toml", []byte(testBase+tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}
