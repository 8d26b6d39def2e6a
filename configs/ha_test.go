package configs

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// haTOML is an [ha] section for testBase. Appended to it, its lines are
// 32 ([ha]) to 36 (key_file).
const haTOML = `
[ha]
enabled = true
listen = "[fd00:aa::1]:7600"
peer = "[fd00:aa::2]:7600"
key_file = "ha.key"
`

// haKeyHex is a 32-byte key as `openssl rand -hex 32` writes it.
const haKeyHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"

// haDir makes a directory with a private hex key file in it and returns
// the configuration's path there.
func haDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ha.key"), []byte(haKeyHex), 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "test.toml")
}

func TestHAValid(t *testing.T) {
	src := haDir(t)
	doc := edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nmac = \"02:00:00:00:01:01\"\nvirtual_mac = \"00:00:5e:00:02:01\"",
		`devargs = "iface=up1"`, "devargs = \"iface=up1\"\nvirtual_mac = \"02:5e:00:00:00:02\"") + haTOML
	c, err := Parse(src, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(strings.TrimSpace(haKeyHex))
	h := c.HA
	switch {
	case !h.Enabled || !h.Replication || h.Lease.Duration != 3*time.Second || h.AnnounceRefresh.Duration != time.Second:
		t.Errorf("HA = %+v; want enabled, replication, lease 3s and announce_refresh 1s by default", h)
	case h.Listen != netip.MustParseAddrPort("[fd00:aa::1]:7600") || h.Peer != netip.MustParseAddrPort("[fd00:aa::2]:7600"):
		t.Errorf("listen %v peer %v", h.Listen, h.Peer)
	case !bytes.Equal(h.Key, want):
		t.Errorf("key %x, want the hex file decoded, %x", h.Key, want)
	}
	if p := c.Ports[0]; p.MAC != (MAC{2, 0, 0, 0, 1, 1}) || p.VirtualMAC != (MAC{0, 0, 0x5e, 0, 2, 1}) {
		t.Errorf("inside mac %v virtual %v", p.MAC, p.VirtualMAC)
	}

	// A raw key (not hex) is taken as it is.
	raw := bytes.Repeat([]byte{0xa5, '\n', 'z'}, 12)
	if err := os.WriteFile(filepath.Join(filepath.Dir(src), "ha.key"), raw, 0o400); err != nil {
		t.Fatal(err)
	}
	c, err = Parse(src, []byte(testBase+haTOML+"replication = false\nlease = \"0s\"\nannounce_refresh = \"0s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.HA.Key, raw) || c.HA.Replication || c.HA.Lease.Duration != 0 || c.HA.AnnounceRefresh.Duration != 0 {
		t.Errorf("raw key %x replication %v lease %v announce_refresh %v", c.HA.Key, c.HA.Replication, c.HA.Lease, c.HA.AnnounceRefresh)
	}

	// Without enabled, nothing is required and no key is read.
	c, err = Parse("test.toml", []byte(testBase+"\n[ha]\nlisten = \"[fd00:aa::1]:7600\"\n"))
	if err != nil || c.HA.Enabled || c.HA.Key != nil {
		t.Errorf("disabled [ha]: %v, %+v", err, c.HA)
	}
}

// TestHAErrors has one row per mistake in [ha] and the ports' MACs.
func TestHAErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  func(t *testing.T) string
		key  []byte      // the key file's contents, default haKeyHex
		mode os.FileMode // its mode, default 0600
		want string
	}{
		{"listen missing", func(t *testing.T) string {
			return testBase + strings.Replace(haTOML, "listen = \"[fd00:aa::1]:7600\"\n", "", 1)
		}, nil, 0,
			`test.toml:32: ha.listen: missing; write the management address and port in quotes, e.g. "[fd00:aa::1]:7600"`},
		{"peer without port", func(t *testing.T) string {
			return testBase + strings.Replace(haTOML, `"[fd00:aa::2]:7600"`, `"fd00:aa::2"`, 1)
		}, nil, 0,
			`test.toml:35: ha.peer: "fd00:aa::2" is not an address and port; write "[ADDRESS]:PORT", e.g. "[fd00:aa::1]:7600"`},
		{"peer port 0", func(t *testing.T) string {
			return testBase + strings.Replace(haTOML, `"[fd00:aa::2]:7600"`, `"[fd00:aa::2]:0"`, 1)
		}, nil, 0,
			`test.toml:35: ha.peer: [fd00:aa::2]:0 has port 0; write a port`},
		{"peer unspecified", func(t *testing.T) string {
			return testBase + strings.Replace(haTOML, `"[fd00:aa::2]:7600"`, `"[::]:7600"`, 1)
		}, nil, 0,
			`test.toml:35: ha.peer: [::]:7600 is the unspecified address; write the other box's management address`},
		{"peer link-local without zone", func(t *testing.T) string {
			return testBase + strings.Replace(haTOML, `"[fd00:aa::2]:7600"`, `"[fe80::2]:7600"`, 1)
		}, nil, 0,
			`test.toml:35: ha.peer: [fe80::2]:7600 is link-local without a zone; write the interface too, e.g. "[fe80::2%mgmt0]:7600"`},
		{"peer is listen", func(t *testing.T) string {
			return testBase + strings.Replace(haTOML, `"[fd00:aa::2]:7600"`, `"[fd00:aa::1]:7600"`, 1)
		}, nil, 0,
			`test.toml:35: ha.peer: [fd00:aa::1]:7600 is also ha.listen`},
		{"mixed families", func(t *testing.T) string {
			return testBase + strings.Replace(haTOML, `"[fd00:aa::2]:7600"`, `"192.0.2.2:7600"`, 1)
		}, nil, 0,
			`test.toml:35: ha.peer: 192.0.2.2:7600 and ha.listen [fd00:aa::1]:7600 are of different address families`},
		{"key_file missing", func(t *testing.T) string { return testBase + strings.Replace(haTOML, "key_file = \"ha.key\"\n", "", 1) }, nil, 0,
			`test.toml:32: ha.key_file: missing; write the file holding the pair's shared secret`},
		{"key file absent", func(t *testing.T) string { return testBase + strings.Replace(haTOML, `"ha.key"`, `"nope.key"`, 1) }, nil, 0,
			`nope.key: no such file or directory; write the file holding the pair's shared secret`},
		{"key file world-readable", func(t *testing.T) string { return testBase + haTOML }, nil, 0o644,
			`ha.key is accessible to every user (mode 0644)`},
		{"key too short", func(t *testing.T) string { return testBase + haTOML }, []byte("00112233445566778899aabbccddeeff\n"), 0,
			`holds 16 bytes of key, fewer than 32`},
		{"lease out of range", func(t *testing.T) string { return testBase + haTOML + "lease = \"10ms\"\n" }, nil, 0,
			`test.toml:37: ha.lease: 10ms is out of range; write "0s" (no lease) or 300ms to 1m0s`},
		{"announce_refresh out of range", func(t *testing.T) string { return testBase + haTOML + "announce_refresh = \"2m\"\n" }, nil, 0,
			`test.toml:37: ha.announce_refresh: 2m0s is out of range; write "0s" (announce on becoming active only) or 100ms to 1m0s`},
		{"unknown key in [ha]", func(t *testing.T) string { return testBase + haTOML + "keyfile = \"x\"\n" }, nil, 0,
			`test.toml:37: ha.keyfile: unknown key; did you mean key_file?`},

		{"mac multicast", func(t *testing.T) string {
			return edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nmac = \"03:00:00:00:00:01\"")
		}, nil, 0,
			`test.toml:13: port[0].mac: 03:00:00:00:00:01 is a multicast MAC; write a unicast one`},
		{"mac in VRRP range", func(t *testing.T) string {
			return edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nmac = \"00:00:5e:00:02:07\"")
		}, nil, 0,
			`test.toml:13: port[0].mac: 00:00:5e:00:02:07 is a VRRP virtual router MAC`},
		{"mac twice", func(t *testing.T) string {
			return edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nmac = \"02:00:00:00:00:01\"", `devargs = "iface=up1"`, "devargs = \"iface=up1\"\nmac = \"02:00:00:00:00:01\"")
		}, nil, 0, `test.toml:21: port[1].mac: 02:00:00:00:00:01 is also port[0]'s mac`},
		{"virtual_mac without [ha]", func(t *testing.T) string {
			return edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nvirtual_mac = \"00:00:5e:00:02:01\"")
		}, nil, 0, `test.toml:13: port[0].virtual_mac: a virtual MAC is what the active box of an HA pair answers from; enable the pair`},
		{"virtual_mac IPv4 VRRP", func(t *testing.T) string {
			return edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nvirtual_mac = \"00:00:5e:00:01:09\"") + haTOML
		}, nil, 0, `test.toml:13: port[0].virtual_mac: 00:00:5e:00:01:09 is VRRP's IPv4 form; shim6d's neighbours speak IPv6, write 00:00:5e:00:02:09`},
		{"virtual_mac VRID 0", func(t *testing.T) string {
			return edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nvirtual_mac = \"00:00:5e:00:02:00\"") + haTOML
		}, nil, 0, `names VRID 0`},
		{"virtual_mac universal", func(t *testing.T) string {
			return edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nvirtual_mac = \"00:1b:21:00:00:01\"") + haTOML
		}, nil, 0, `test.toml:13: port[0].virtual_mac: 00:1b:21:00:00:01 is a universally administered MAC`},
		{"virtual_mac twice", func(t *testing.T) string {
			return edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nvirtual_mac = \"00:00:5e:00:02:01\"",
				`devargs = "iface=up1"`, "devargs = \"iface=up1\"\nvirtual_mac = \"00:00:5e:00:02:01\"") + haTOML
		}, nil, 0, `test.toml:21: port[1].virtual_mac: 00:00:5e:00:02:01 is also port[0]'s virtual_mac`},
		{"virtual_mac is mac", func(t *testing.T) string {
			return edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nmac = \"02:00:00:00:00:01\"\nvirtual_mac = \"02:00:00:00:00:01\"") + haTOML
		}, nil, 0, `test.toml:14: port[0].virtual_mac: 02:00:00:00:00:01 is also this port's mac`},
		{"mac is an earlier virtual_mac", func(t *testing.T) string {
			return edit(t, `devargs = "iface=in0"`, "devargs = \"iface=in0\"\nvirtual_mac = \"02:00:00:00:00:01\"",
				`devargs = "iface=up1"`, "devargs = \"iface=up1\"\nmac = \"02:00:00:00:00:01\"") + haTOML
		}, nil, 0, `test.toml:21: port[1].mac: 02:00:00:00:00:01 is port[0]'s virtual_mac`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := haDir(t)
			key, mode := tt.key, tt.mode
			if key == nil {
				key = []byte(haKeyHex)
			}
			if mode == 0 {
				mode = 0o600
			}
			kf := filepath.Join(filepath.Dir(src), "ha.key")
			if err := os.WriteFile(kf, key, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(kf, mode); err != nil {
				t.Fatal(err)
			}
			_, err := Parse(src, []byte(tt.doc(t)))
			if err == nil {
				t.Fatalf("accepted; want %q", tt.want)
			}
			got := strings.TrimPrefix(err.Error(), filepath.Dir(src)+"/")
			if !strings.Contains(got, tt.want) {
				t.Fatalf("error %q\nwant it to contain %q", got, tt.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Errorf("%T is not *Error", err)
			}
			if strings.Contains(got, "\n") {
				t.Error("the error is more than one line")
			}
		})
	}
}
