package configs

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"time"
)

// HA is the [ha] section: an active/standby pair of shim6d boxes (issue
// #15). keepalived elects the active box over the management link and
// tells the daemon through `shim6ctl ha active|standby|fault`; shim6d never
// elects itself. With Enabled false (the default) the daemon is alone and
// always active, as before the section existed.
type HA struct {
	// Enabled makes the box one of a pair: it starts standby and forwards
	// nothing until told it is active. Needs Listen, Peer and KeyFile.
	Enabled bool `toml:"enabled"`
	// Listen is our replication endpoint on the management link,
	// "[fd00:aa::1]:7600"; Peer is the other box's.
	Listen netip.AddrPort `toml:"listen"`
	Peer   netip.AddrPort `toml:"peer"`
	// KeyFile holds the shared secret the replication stream is
	// authenticated with (an HMAC per message): hex, or raw bytes, at
	// least MinHAKey bytes once decoded. Relative to the configuration
	// file's directory unless absolute. It must not be readable or
	// writable by other users: a secret any local user can read
	// authenticates nothing, so such a file is refused.
	KeyFile string `toml:"key_file"`
	// Key is KeyFile's secret, decoded; validation reads it.
	Key []byte `toml:"-"`
	// Replication streams contexts to the standby (default true); false
	// keeps roles only, for the lab's protocol-only contrast run.
	Replication bool `toml:"replication"`
	// Lease is how long an active role lasts unless keepalived confirms
	// it again (`shim6ctl ha lease`, from a vrrp_script): a box whose
	// keepalived died tells nobody, so without confirmations the daemon
	// drops to standby itself. 0 turns the lease off (the role lasts until
	// told otherwise). Default 3s; otherwise 300ms to 1m.
	Lease Duration `toml:"lease"`
	// AnnounceRefresh is how often an active box repeats its unsolicited
	// Neighbor Advertisements after the three it sends on becoming active
	// (keepalived's garp_master_refresh, for the data ports): when both
	// boxes were active for a moment (a keepalived silent until its lease
	// ran out), the switches learnt the virtual MACs from whichever sent
	// last, and a box that then went standby sends nothing that would
	// teach them otherwise. 0 turns it off. Default 1s; otherwise 100ms to
	// 1m.
	AnnounceRefresh Duration `toml:"announce_refresh"`
}

// HA limits.
const (
	// MinHAKey is the shortest key the HMAC takes: 32 bytes, SHA-256's
	// output, below which the key is the weak part (RFC 2104 §3).
	MinHAKey = 32
	// maxHAKeyFile bounds what is read: a key file is a few dozen bytes,
	// and a large one is most likely the wrong file.
	maxHAKeyFile = 4096

	defaultHALease = 3 * time.Second
	minHALease     = 300 * time.Millisecond
	maxHALease     = time.Minute

	defaultHARefresh = time.Second
	minHARefresh     = 100 * time.Millisecond
	maxHARefresh     = time.Minute
)

// haDefaults fills in the [ha] keys absent from the file.
func (c *Config) haDefaults(raw map[string]any) {
	h, _ := lookup(raw, "ha")
	if !has(asTable(h), "replication") {
		c.HA.Replication = true
	}
	if !has(asTable(h), "lease") {
		c.HA.Lease = Duration{defaultHALease}
	}
	if !has(asTable(h), "announce_refresh") {
		c.HA.AnnounceRefresh = Duration{defaultHARefresh}
	}
}

// ha checks the [ha] section and reads the key. Keys written while
// enabled is false are checked only for their form (by decode), so an
// operator can switch a pair off and on by one line.
func (v *validator) ha() error {
	h := &v.c.HA
	h.Key = nil
	if d := h.Lease.Duration; d != 0 && (d < minHALease || d > maxHALease) {
		return v.errorf("ha.lease", "%s is out of range; write \"0s\" (no lease) or %s to %s, longer than keepalived's vrrp_script interval (default %s)", d, minHALease, maxHALease, defaultHALease)
	}
	if d := h.AnnounceRefresh.Duration; d != 0 && (d < minHARefresh || d > maxHARefresh) {
		return v.errorf("ha.announce_refresh", "%s is out of range; write \"0s\" (announce on becoming active only) or %s to %s (default %s)", d, minHARefresh, maxHARefresh, defaultHARefresh)
	}
	if !h.Enabled {
		return nil
	}
	for _, e := range []struct {
		key string
		ap  netip.AddrPort
	}{{"ha.listen", h.Listen}, {"ha.peer", h.Peer}} {
		if msg := endpointProblem(e.ap, e.key == "ha.listen"); msg != "" {
			return v.errorf(e.key, "%s", msg)
		}
	}
	if h.Listen == h.Peer {
		return v.errorf("ha.peer", "%s is also ha.listen; write the other box's management address and port", h.Peer)
	}
	if h.Listen.Addr().Is4() != h.Peer.Addr().Is4() && !h.Listen.Addr().IsUnspecified() {
		return v.errorf("ha.peer", "%s and ha.listen %s are of different address families; the management link carries one, write both as IPv6 (or both IPv4)", h.Peer, h.Listen)
	}
	key, msg := readHAKey(v.c.File(h.KeyFile), h.KeyFile)
	if msg != "" {
		return v.errorf("ha.key_file", "%s", msg)
	}
	h.Key = key
	return nil
}

// endpointProblem says what is wrong with ap as a replication endpoint, or
// "". Only our own (listen) may be the unspecified address, to listen on
// every interface.
func endpointProblem(ap netip.AddrPort, listen bool) string {
	example := `"[fd00:aa::1]:7600"`
	switch a := ap.Addr(); {
	case !ap.IsValid():
		return "missing; write the management address and port in quotes, e.g. " + example
	case ap.Port() == 0:
		return fmt.Sprintf("%s has port 0; write a port, e.g. %s", ap, example)
	case a.IsMulticast():
		return fmt.Sprintf("%s is a multicast address; write a unicast management address, e.g. %s", ap, example)
	case a.IsUnspecified() && !listen:
		return fmt.Sprintf("%s is the unspecified address; write the other box's management address, e.g. \"[fd00:aa::2]:7600\"", ap)
	case a.IsLinkLocalUnicast() && a.Zone() == "":
		return fmt.Sprintf("%s is link-local without a zone; write the interface too, e.g. \"[%s%%mgmt0]:%d\", or use a global or ULA address", ap, a, ap.Port())
	}
	return ""
}

// readHAKey reads and decodes the key file at path (written as name),
// returning the key or what is wrong with it.
func readHAKey(path, name string) ([]byte, string) {
	if name == "" {
		return nil, "missing; write the file holding the pair's shared secret, e.g. key_file = \"/etc/shim6d/ha.key\" (create it with: umask 077; openssl rand -hex 32 > /etc/shim6d/ha.key)"
	}
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Sprintf("cannot read %s: %v; write the file holding the pair's shared secret (create it with: umask 077; openssl rand -hex 32 > %s)", path, err, path)
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, fmt.Sprintf("cannot stat %s: %v", path, err)
	case !st.Mode().IsRegular():
		return nil, fmt.Sprintf("%s is not a regular file; write the file holding the shared secret", path)
	case st.Mode().Perm()&0o006 != 0:
		return nil, fmt.Sprintf("%s is accessible to every user (mode %04o), and a secret anyone can read authenticates nothing; run chmod 600 %s (and make a new key if it was shared)", path, st.Mode().Perm(), path)
	case st.Size() > maxHAKeyFile:
		return nil, fmt.Sprintf("%s is %d bytes, more than a key file's %d; is it the right file?", path, st.Size(), maxHAKeyFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxHAKeyFile))
	if err != nil {
		return nil, fmt.Sprintf("cannot read %s: %v", path, err)
	}
	key := decodeHAKey(data)
	if len(key) < MinHAKey {
		return nil, fmt.Sprintf("%s holds %d bytes of key, fewer than %d; write a longer secret, e.g. openssl rand -hex 32 > %s", path, len(key), MinHAKey, path)
	}
	return key, ""
}

// decodeHAKey reads a key file's contents: hex digits (surrounding space
// and a final newline ignored), as `openssl rand -hex 32` writes, decode
// to their bytes; anything else is the key as it is, raw bytes.
func decodeHAKey(data []byte) []byte {
	t := bytes.TrimSpace(data)
	if len(t) > 0 && len(t)%2 == 0 {
		if k, err := hex.DecodeString(string(t)); err == nil {
			return k
		}
	}
	return data
}

// VRRP's virtual router MACs (RFC 5798 §7.3): 00:00:5e:00:01:XX for IPv4,
// 00:00:5e:00:02:XX for IPv6, XX the virtual router's ID.
var (
	vrrpIPv4 = [5]byte{0x00, 0x00, 0x5e, 0x00, 0x01}
	vrrpIPv6 = [5]byte{0x00, 0x00, 0x5e, 0x00, 0x02}
)

// isVRRP reports whether m is in one of VRRP's two ranges.
func (m MAC) isVRRP() bool {
	head := [5]byte(m[:5])
	return head == vrrpIPv4 || head == vrrpIPv6
}

// IsLocal reports whether m is locally administered (the U/L bit, the
// second least significant of the first byte, IEEE 802 §8.2).
func (m MAC) IsLocal() bool { return m[0]&2 != 0 }

// portMACs checks port i's mac and virtual_mac, against each other and
// the ports before it.
func (v *validator) portMACs(i int, key func(string) string) error {
	p := &v.c.Ports[i]
	if m := p.MAC; m != (MAC{}) {
		switch {
		case !m.IsUnicast():
			return v.errorf(key("mac"), "%s is a multicast MAC; write a unicast one, e.g. \"02:00:00:00:01:01\" (locally administered), or delete the key to keep the device's", m)
		case m.isVRRP():
			return v.errorf(key("mac"), "%s is a VRRP virtual router MAC, which belongs to whichever box is active; write it as virtual_mac, and give mac the box's own address (e.g. \"02:00:00:00:01:01\")", m)
		}
		for j := range i {
			if v.c.Ports[j].MAC == m {
				return v.errorf(key("mac"), "%s is also port[%d]'s mac; give each port its own", m, j)
			}
			if v.c.Ports[j].VirtualMAC == m {
				return v.errorf(key("mac"), "%s is port[%d]'s virtual_mac; a port's own MAC is no virtual one", m, j)
			}
		}
	}
	vm := p.VirtualMAC
	if vm == (MAC{}) {
		return nil
	}
	switch {
	case !v.c.HA.Enabled:
		return v.errorf(key("virtual_mac"), "a virtual MAC is what the active box of an HA pair answers from; enable the pair with [ha] enabled = true, or delete the key")
	case !vm.IsUnicast():
		return v.errorf(key("virtual_mac"), "%s is a multicast MAC; write VRRP's IPv6 form \"00:00:5e:00:02:XX\" (XX the VRID) or a locally administered unicast MAC", vm)
	case [5]byte(vm[:5]) == vrrpIPv4:
		return v.errorf(key("virtual_mac"), "%s is VRRP's IPv4 form; shim6d's neighbours speak IPv6, write 00:00:5e:00:02:%02x", vm, vm[5])
	case [5]byte(vm[:5]) == vrrpIPv6 && vm[5] == 0:
		return v.errorf(key("virtual_mac"), "%s names VRID 0, which VRRP does not use (RFC 5798 §5.2.3); write 00:00:5e:00:02:01 to 00:00:5e:00:02:ff", vm)
	case !vm.isVRRP() && !vm.IsLocal():
		return v.errorf(key("virtual_mac"), "%s is a universally administered MAC, some device's own; write VRRP's IPv6 form \"00:00:5e:00:02:XX\" or a locally administered MAC (02:...)", vm)
	case vm == p.MAC:
		return v.errorf(key("virtual_mac"), "%s is also this port's mac; the virtual MAC is shared by both boxes, the mac is this box's own: make them differ", vm)
	}
	for j := range i {
		q := &v.c.Ports[j]
		if q.VirtualMAC == vm {
			return v.errorf(key("virtual_mac"), "%s is also port[%d]'s virtual_mac; give each port its own (e.g. another VRID)", vm, j)
		}
		if q.MAC == vm {
			return v.errorf(key("virtual_mac"), "%s is port[%d]'s mac; a virtual MAC is no port's own", vm, j)
		}
	}
	return nil
}
