package hba_test

import (
	"errors"
	"net/netip"
	"testing"

	"shim6d/control/hba"
	"shim6d/control/wire"
)

// fuzzLocators turns octets into a Locator List: each 17 octets are a
// verification method and a locator.
func fuzzLocators(b []byte) *wire.LocatorList {
	l := &wire.LocatorList{Generation: 1}
	for ; len(b) >= 17 && len(l.Locators) < 255; b = b[17:] {
		l.Locators = append(l.Locators, wire.Locator{Method: wire.VerificationMethod(b[0]), Addr: netip.AddrFrom16([16]byte(b[1:17]))})
	}
	return l
}

// FuzzVerifyLocators feeds arbitrary CGA Parameters, ULID, locators and
// signature to the verifier: it must not panic, must account for every
// locator, and must agree with the single-address checks.
//
// Seeds: the known-answer structures (via f.Add below) and the files under
// testdata/fuzz/FuzzVerifyLocators, described in testdata/fuzz/README.md.
func FuzzVerifyLocators(f *testing.F) {
	ulid := katAddr.As16()
	kat := katParams(f, 0)
	// A plain CGA and its own address listed for CGA, with a signature
	// that does not verify.
	f.Add(kat, ulid[:], cat([]byte{2}, ulid[:]), make([]byte, 128))
	// The same address listed for HBA: inconsistent (no Multi-Prefix).
	f.Add(kat, ulid[:], cat([]byte{1}, ulid[:]), []byte(nil))
	// The HBA-only known-answer set (RFC 5535 §6) with its three addresses
	// and a foreign one.
	set := hexBytes("000102030405060708090a0b0c0d0e0f 20010db8000a0000 00" +
		"304c 300d 0609 2a864886f70d010101 0500 033b 00 3038 0231 00 80 0102030405060708090a0b0c0d0e0f" +
		"101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f 0203 010001" +
		"0012 001c 00000000 20010db8000a0000 20010db8000b0000 20010db8000c0000")
	a1 := netip.MustParseAddr("2001:db8:a:0:f2:1888:adea:3d7d").As16()
	a2 := netip.MustParseAddr("2001:db8:b:0:1057:6062:a5f8:6761").As16()
	a4 := netip.MustParseAddr("2001:db8:d::1").As16()
	f.Add(set, a1[:], cat([]byte{1}, a1[:], []byte{1}, a2[:], []byte{1}, a4[:]), []byte(nil))
	f.Add(set, a2[:], cat([]byte{1}, a1[:], []byte{2}, a4[:]), []byte{0})
	f.Add([]byte(nil), []byte(nil), []byte(nil), []byte(nil))

	f.Fuzz(func(t *testing.T, params, ulidB, locs, sig []byte) {
		var u netip.Addr
		if len(ulidB) >= 16 {
			u = netip.AddrFrom16([16]byte(ulidB[:16]))
		} else if len(ulidB) >= 4 {
			u = netip.AddrFrom4([4]byte(ulidB[:4])) // not IPv6: refused
		}
		list := fuzzLocators(locs)
		res, err := hba.VerifyLocators(u, params, list, sig)
		if len(res.Locators) != len(list.Locators) || res.HBA+res.CGA+res.Refused != len(list.Locators) {
			t.Fatalf("%d results, counts %d+%d+%d, for %d locators", len(res.Locators), res.HBA, res.CGA, res.Refused, len(list.Locators))
		}
		if err != nil {
			var le *hba.ListError
			if !errors.As(err, &le) || le.Index >= len(list.Locators) || res.Refused != len(list.Locators) {
				t.Fatalf("error %v (%T) with %d refused", err, err, res.Refused)
			}
			_ = err.Error()
			return
		}
		p := res.Params
		if p == nil {
			t.Fatal("no parameters kept")
		}
		for i, r := range res.Locators {
			if r.Addr != list.Locators[i].Addr || (r.Verdict == hba.Refused) != (r.Reason != hba.ReasonVerified) {
				t.Fatalf("locator %d: %+v", i, r)
			}
			if r.Method == wire.VerifyHBA && (r.Verdict == hba.VerifiedHBA) != p.Contains(r.Addr) {
				t.Fatalf("locator %v: verdict %v, Contains %v", r.Addr, r.Verdict, p.Contains(r.Addr))
			}
		}
		// The single-address checks never panic either.
		for _, a := range []netip.Addr{u, netip.AddrFrom16(u.As16())} {
			_ = p.VerifyCGA(a)
			_ = p.VerifyHBA(a)
		}
	})
}
