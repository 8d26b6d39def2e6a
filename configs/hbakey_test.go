package configs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shim6d/control/hba"
)

// cgaSet makes a CGA-compatible HBA set over the test config's two site
// /64s with a fresh 1024-bit key, writes the key to dir/name, and returns
// the [[hba]] table for it (key written relative).
func cgaSet(t *testing.T, dir, name string) (string, *rsa.PrivateKey) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := hba.MarshalPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	set, err := hba.GenerateHBASet(context.Background(),
		[]netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("2001:db8:2::/64")}, 0, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	if err := os.WriteFile(filepath.Join(dir, name), pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("\n[[hba]]\nprefixes = [\"2001:db8:1::/64\", \"2001:db8:2::/64\"]\nparameters = %q\naddresses = [%q, %q]\nkey = %q\n",
		hex.EncodeToString(set.Params), set.Addresses[0], set.Addresses[1], name), priv
}

func TestHBAKeyAndCGALocators(t *testing.T) {
	dir := t.TempDir()
	set, priv := cgaSet(t, dir, "host.pem")
	other, _ := cgaSet(t, dir, "other.pem")
	src := filepath.Join(dir, "test.toml")
	withLocs := set + "cga_locators = [\"2001:db8:2:5::10\"]\n"
	cfg, err := Parse(src, []byte(testBase+withLocs))
	if err != nil {
		t.Fatalf("valid CGA-compatible set refused: %v", err)
	}
	if got := cfg.File(cfg.HBA[0].Key); got != filepath.Join(dir, "host.pem") {
		t.Fatalf("key resolved to %s", got)
	}
	// The checked key and parameters are kept for the daemon.
	if h := cfg.HBA[0]; h.PrivateKey == nil || !h.PrivateKey.Equal(priv) {
		t.Errorf("PrivateKey is not the key in host.pem")
	}
	if h := cfg.HBA[0]; h.Params == nil || !bytes.Equal(h.Params.Decoded().PublicKey, mustMarshalPublic(t, &priv.PublicKey)) {
		t.Errorf("Params do not hold the set's public key")
	}
	// Validate in code reads the key again: without one, none is kept.
	cfg.HBA[0].Key, cfg.HBA[0].CGALocators = "", nil
	if err := cfg.Validate(); err != nil || cfg.HBA[0].PrivateKey != nil {
		t.Errorf("Validate() without key = %v, PrivateKey %v", err, cfg.HBA[0].PrivateKey != nil)
	}
	pubOnly := filepath.Join(dir, "pub.pem")
	der, _ := os.ReadFile(filepath.Join(dir, "host.pem"))
	blk, _ := pem.Decode(der)
	k, _ := x509.ParsePKCS1PrivateKey(blk.Bytes)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	os.WriteFile(pubOnly, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600)

	for _, tt := range []struct{ name, doc, want string }{
		{"CGA locators without a key", strings.Replace(withLocs, "key = \"host.pem\"\n", "", 1),
			"hba[0].cga_locators: locators outside the HBA set need a CGA Signature; add key"},
		{"key file missing", strings.Replace(set, "host.pem", "nope.pem", 1), "hba[0].key: cannot read " + filepath.Join(dir, "nope.pem")},
		{"public key only", strings.Replace(set, "host.pem", "pub.pem", 1), "hba[0].key: pub.pem holds only a public key"},
		{"another set's key", strings.Replace(set, "host.pem", "other.pem", 1), "hba[0].key: other.pem is not the key in the set's parameters"},
		{"CGA locator under no uplink", set + "cga_locators = [\"2001:db8:9::10\"]\n", "hba[0].cga_locators[0]: 2001:db8:9::10 is under no uplink's prefix"},
		{"CGA locator of another host", withLocs + strings.Replace(other, "]\nkey", "]\ncga_locators = [\"2001:db8:2:5::10\"]\nkey", 1),
			"hba[1].cga_locators[0]: 2001:db8:2:5::10 is already hba[0]'s"},
		{"multicast CGA locator", set + "cga_locators = [\"ff02::1\"]\n", "hba[0].cga_locators[0]: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(src, []byte(testBase+tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func mustMarshalPublic(t *testing.T, k *rsa.PublicKey) []byte {
	t.Helper()
	b, err := hba.MarshalPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
