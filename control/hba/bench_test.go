package hba_test

import (
	"context"
	"crypto/rand"
	"net/netip"
	"testing"

	"shim6d/control/hba"
	"shim6d/control/wire"
)

// benchSets are the HBA sets the benchmarks verify against: HBA-only (a
// 78-octet Extended Modifier) and CGA-compatible with an RSA-2048 key (294
// octets), three prefixes each. The structure's length is what one SHA-1
// per locator runs over.
func benchSets(b *testing.B) []struct {
	name string
	set  *hba.HBASet
} {
	return []struct {
		name string
		set  *hba.HBASet
	}{{"HBA-only", hbaOnlySet(b)}, {"RSA-2048", cgaCompatibleSet(b)}}
}

// BenchmarkVerifyHBA measures the per-locator check of a handshake (RFC 5535
// §7.2) on parameters parsed beforehand: one SHA-1 over the structure.
func BenchmarkVerifyHBA(b *testing.B) {
	for _, s := range benchSets(b) {
		p, err := hba.ParseParameters(s.set.Params)
		if err != nil {
			b.Fatal(err)
		}
		a := s.set.Addresses[2]
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s.set.Params)))
			for b.Loop() {
				if p.VerifyHBA(a) != nil {
					b.Fatal("not in set")
				}
			}
		})
	}
}

// BenchmarkParseParameters measures parsing a received CGA Parameter Data
// Structure option, Hash2 included (RFC 3972 §5 step 6, done once).
func BenchmarkParseParameters(b *testing.B) {
	for _, s := range benchSets(b) {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := hba.ParseParameters(s.set.Params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyLocatorsHandshake measures what an I2 or R2 costs the
// control core when every locator is in the HBA set (RFC 5533 §7.13): parse
// the parameters, bind the ULID and check three HBA locators.
func BenchmarkVerifyLocatorsHandshake(b *testing.B) {
	for _, s := range benchSets(b) {
		list := locatorList(s.set)
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := hba.VerifyLocators(s.set.Addresses[0], s.set.Params, list, nil)
				if err != nil || !res.OK() {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyCGASignature measures a Locator List with one locator
// outside the set, covered by a CGA Signature (RFC 5533 §5.15.5, RFC 3972
// §6), on parameters parsed beforehand: ULID binding, the RSA verification
// and the digest of the signed locators.
func BenchmarkVerifyCGASignature(b *testing.B) {
	list := &wire.LocatorList{Generation: 3, Locators: []wire.Locator{{Addr: foreign, Method: wire.VerifyCGA}}}
	cases := []struct {
		name   string
		key    string
		ulid   netip.Addr
		params []byte
	}{
		{"RSA-1024", "rsa1024", katAddr, katParams(b, 0)},
		{"RSA-2048", "rsa2048", cgaCompatibleSet(b).Addresses[0], cgaCompatibleSet(b).Params},
	}
	for _, c := range cases {
		p, err := hba.ParseParameters(c.params)
		if err != nil {
			b.Fatal(err)
		}
		sig, err := hba.SignLocators(nil, testKey(b, c.key).Private, list)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.PublicKey(); err != nil { // decoded once per context
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := p.VerifyLocators(c.ulid, list, sig)
				if err != nil || res.CGA != 1 {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignLocators measures making a CGA Signature (RFC 3972 §6).
func BenchmarkSignLocators(b *testing.B) {
	list := &wire.LocatorList{Generation: 3, Locators: []wire.Locator{{Addr: foreign, Method: wire.VerifyCGA}}}
	for _, k := range []string{"rsa1024", "rsa2048"} {
		priv := testKey(b, k).Private
		b.Run(k, func(b *testing.B) {
			for b.Loop() {
				if _, err := hba.SignLocators(nil, priv, list); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSearchModifier measures the modifier search (RFC 3972 §4 steps
// 2–3) as hashes per second: one op is a Sec 1 search from a random
// modifier (about 65536 hashes). Sec 2 takes 65536 times as many hashes.
func BenchmarkSearchModifier(b *testing.B) {
	for _, s := range benchSets(b) {
		for _, workers := range []int{1, 2} {
			params := append([]byte(nil), s.set.Params...)
			b.Run(s.name+"/workers="+string(rune('0'+workers)), func(b *testing.B) {
				var total uint64
				for b.Loop() {
					rand.Read(params[:16])
					_, n, err := hba.SearchModifier(context.Background(), params, 1, &hba.Options{Workers: workers})
					if err != nil {
						b.Fatal(err)
					}
					total += n
				}
				b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "hashes/s")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/hash")
			})
		}
	}
}
