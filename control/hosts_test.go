package control

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"shim6d/configs"
	"shim6d/control/hba"
	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
)

const hbaTestConfig = `[eal]
args = ["-l", "0-1", "--no-huge", "--no-pci"]
[[port]]
name = "inside"
role = "inside"
device = "net_null0"
devargs = "no-rx=1"
[[port]]
name = "isp1"
role = "uplink"
device = "net_null1"
devargs = "no-rx=1"
prefix = "2001:db8:1::/48"
next_hop = "fe80::1"
[[port]]
name = "isp2"
role = "uplink"
device = "net_null2"
devargs = "no-rx=1"
prefix = "2001:db8:2::/48"
next_hop = "fe80::2"
[[hba]]
prefixes = ["2001:db8:1::/64", "2001:db8:2::/64"]
parameters = "%x"
addresses = ["%s", "%s"]
key = "host.pem"
cga_locators = ["2001:db8:2:5::10"]
`

// A CGA-compatible set from the config (RFC 5535 §4) with a locator
// outside the set: the daemon's host sets announce it with method CGA, the
// machine signs the list with the set's key, and a peer running the real
// HBAVerifier takes all three locators.
func TestCGALocatorsAnnouncedAndVerified(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := hba.MarshalPublicKey(&priv.PublicKey)
	set, err := hba.GenerateHBASet(context.Background(),
		[]netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("2001:db8:2::/64")}, 0, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "host.pem"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}), 0o600)
	doc := fmt.Sprintf(hbaTestConfig, set.Params, set.Addresses[0], set.Addresses[1])
	cfg, err := configs.Parse(filepath.Join(dir, "a.toml"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hosts := cc.Shim.Hosts
	ulid, cgaLoc := set.Addresses[0], netip.MustParseAddr("2001:db8:2:5::10")
	locs, _, _ := hosts.Locators(ulid)
	if len(locs) != 3 || locs[2] != (wire.Locator{Addr: cgaLoc, Method: wire.VerifyCGA}) {
		t.Fatalf("host set %+v", locs)
	}

	ci, ok, fails := handshake(t, hosts, ulid)
	if !ok || ci.State != shim6.Established || !slices.Contains(ci.PeerLocators, cgaLoc) || len(ci.PeerLocators) != 3 {
		t.Fatalf("peer's context %+v (verification failures %d)", ci, fails)
	}
	// Signed with another key, the list is refused and no context made.
	other, _ := rsa.GenerateKey(rand.Reader, 1024)
	hosts[ulid].Key = other
	if ci, ok, fails = handshake(t, hosts, ulid); ok && ci.State == shim6.Established || fails == 0 {
		t.Fatalf("a list signed with the wrong key: context %+v, %d verification failures", ci, fails)
	}
}

// handshake runs an exchange between a machine acting for hosts and one
// acting for a peer whose set is its ULID alone, and returns the peer's
// view of the context and its verification failures.
func handshake(t *testing.T, hosts hba.HostSet, ulid netip.Addr) (shim6.ContextInfo, bool, uint64) {
	t.Helper()
	peer := netip.MustParseAddr("2001:db8:3::20")
	type msg struct {
		src, dst netip.Addr
		b        []byte
	}
	var queue []msg
	mk := func(local func(netip.Addr) (shim6.LocatorSet, error), sign func(netip.Addr, *wire.LocatorList) ([]byte, error)) *shim6.Machine {
		tab, _ := dataplane.NewContextTable(16)
		m, err := shim6.New(shim6.Config{Table: tab, LocalLocators: local, Sign: sign, Verifier: HBAVerifier{},
			Send: func(src, dst netip.Addr, m wire.Message) {
				buf, err := wire.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				queue = append(queue, msg{src, dst, buf})
			}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	locators := func(ulid netip.Addr) (shim6.LocatorSet, error) {
		locs, params, err := hosts.Locators(ulid)
		return shim6.LocatorSet{Locators: locs, Parameters: params}, err
	}
	a, b := mk(locators, CGASigner(hosts.Key)), mk(nil, nil)
	if err := a.Establish(ulid, peer); err != nil {
		t.Fatal(err)
	}
	for i := 0; len(queue) > 0; i++ {
		if i > 100 {
			t.Fatal("the exchange does not settle")
		}
		m := queue[0]
		queue = queue[1:]
		if m.dst == peer {
			b.HandleMessage(m.src, m.dst, m.b)
		} else {
			a.HandleMessage(m.src, m.dst, m.b)
		}
	}
	ci, ok := b.Context(peer, ulid)
	return ci, ok, b.Stats.VerificationFailures.Load()
}
