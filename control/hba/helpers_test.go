package hba_test

import (
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"shim6d/control/hba"
)

// hexBytes decodes hex with spaces allowed between groups.
func hexBytes(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

var (
	keysOnce sync.Once
	keys     map[string]*hba.Key
)

// testKey loads one of the RSA keys in testdata (made with `openssl genrsa`,
// for tests only): rsa1024, rsa2048 or other2048.
func testKey(t testing.TB, name string) *hba.Key {
	t.Helper()
	keysOnce.Do(func() {
		keys = map[string]*hba.Key{}
		for _, n := range []string{"rsa1024", "rsa2048", "other2048"} {
			b, err := os.ReadFile("testdata/" + n + ".pem")
			if err != nil {
				panic(err)
			}
			k, err := hba.ParseKeyPEM(b)
			if err != nil {
				panic(n + ": " + err.Error())
			}
			keys[n] = k
		}
	})
	return keys[name]
}

// flip returns a with bit i (0 = leftmost) inverted.
func flip(a netip.Addr, i int) netip.Addr {
	b := a.As16()
	b[i/8] ^= 0x80 >> (i % 8)
	return netip.AddrFrom16(b)
}

// withPrefix returns a with its 64 leftmost bits taken from p.
func withPrefix(a netip.Addr, p netip.Prefix) netip.Addr {
	b, q := a.As16(), p.Addr().As16()
	copy(b[:8], q[:8])
	return netip.AddrFrom16(b)
}
