package control

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/netip"
	"os"
	"sync"
	"testing"

	"shim6d/control/hba"
	"shim6d/control/shim6"
	"shim6d/control/wire"
)

// TestHBAVerifier: a peer's HBA set verifies; a locator outside it, or
// another set's parameters, is refused, naming the locator (RFC 5535 §7.2,
// RFC 5533 §7.2).
func TestHBAVerifier(t *testing.T) {
	set, err := hba.GenerateHBASet(context.Background(), []netip.Prefix{
		netip.MustParsePrefix("2001:db8:3::/64"), netip.MustParsePrefix("2001:db8:4::/64")}, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ulid := set.Addresses[0]
	params := set.ParametersFor(0)
	list := &wire.LocatorList{Generation: 1, Locators: []wire.Locator{
		{Addr: set.Addresses[0], Method: wire.VerifyHBA}, {Addr: set.Addresses[1], Method: wire.VerifyHBA}}}
	v := HBAVerifier{}
	if err := v.VerifyLocators(ulid, params, list, nil); err != nil {
		t.Fatalf("the host's own set refused: %v", err)
	}
	if err := v.VerifyLocators(ulid, params, nil, nil); err != nil {
		t.Fatalf("the parameters' binding to the ULID refused: %v", err)
	}
	if err := v.VerifyLocators(ulid, params, &wire.LocatorList{Generation: 2}, nil); err != nil {
		t.Fatalf("the parameters' binding to the ULID, empty list, refused: %v", err)
	}
	foreign := &wire.LocatorList{Generation: 1, Locators: append(list.Locators[:1:1],
		wire.Locator{Addr: netip.MustParseAddr("2001:db8:9::1"), Method: wire.VerifyHBA})}
	var le *shim6.LocatorError
	if err := v.VerifyLocators(ulid, params, foreign, nil); !errors.As(err, &le) || le.Index != 1 {
		t.Fatalf("foreign locator: %v", err)
	}
	other, _ := hba.GenerateHBASet(context.Background(), []netip.Prefix{netip.MustParsePrefix("2001:db8:3::/64")}, 0, nil, nil)
	if err := v.VerifyLocators(ulid, other.ParametersFor(0), list, nil); err == nil {
		t.Fatal("another host's parameters accepted for this ULID")
	}
}

var (
	testKeysOnce sync.Once
	testKeys     map[string]*hba.Key
)

// testKey loads one of hba's test keys (testdata, made with `openssl
// genrsa`): rsa2048 or other2048. Generating 2048-bit keys would cost
// the test seconds on a loaded machine.
func testKey(t testing.TB, name string) *hba.Key {
	t.Helper()
	testKeysOnce.Do(func() {
		testKeys = map[string]*hba.Key{}
		for _, n := range []string{"rsa2048", "other2048"} {
			b, err := os.ReadFile("hba/testdata/" + n + ".pem")
			if err != nil {
				panic(err)
			}
			k, err := hba.ParseKeyPEM(b)
			if err != nil {
				panic(n + ": " + err.Error())
			}
			testKeys[n] = k
		}
	})
	return testKeys[name]
}

// signList signs list as a proxy's Config.Sign would.
func signList(t *testing.T, priv *rsa.PrivateKey, list *wire.LocatorList) []byte {
	t.Helper()
	sig, err := CGASigner(func(netip.Addr) *rsa.PrivateKey { return priv })(netip.Addr{}, list)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestHBAVerifierCGA: locators outside the HBA set are accepted only under
// a valid CGA Signature (RFC 5533 §5.15.5, §7.2; RFC 3972 §5, §6) from the
// key of the parameters, over the list's own Generation and CGA locators;
// otherwise the error names the locator and the cause.
func TestHBAVerifierCGA(t *testing.T) {
	own, other := testKey(t, "rsa2048"), testKey(t, "other2048")
	ctx := context.Background()
	set, err := hba.GenerateHBASet(ctx, []netip.Prefix{
		netip.MustParsePrefix("2001:db8:3::/64"), netip.MustParsePrefix("2001:db8:4::/64")}, 0, own.Public, nil)
	if err != nil {
		t.Fatal(err)
	}
	hbaOnly, err := hba.GenerateHBASet(ctx, set.Prefixes, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cga, cgaParams, err := hba.GenerateCGA(ctx, netip.MustParsePrefix("2001:db8:5::/64"), own.Public, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, otherParams, err := hba.GenerateCGA(ctx, netip.MustParsePrefix("2001:db8:5::/64"), other.Public, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Locators a site got after its set was made (RFC 5535 §8.1).
	extra1, extra2 := netip.MustParseAddr("2001:db8:d::1"), netip.MustParseAddr("2001:db8:e::2")
	hbaLoc := func(a netip.Addr) wire.Locator { return wire.Locator{Addr: a, Method: wire.VerifyHBA} }
	cgaLoc := func(a netip.Addr) wire.Locator { return wire.Locator{Addr: a, Method: wire.VerifyCGA} }
	mk := func(gen uint32, locs ...wire.Locator) *wire.LocatorList {
		return &wire.LocatorList{Generation: gen, Locators: locs}
	}

	// A plain CGA as ULID, every locator signed for.
	cgaList := mk(7, cgaLoc(cga), cgaLoc(extra1), cgaLoc(extra2))
	cgaSig := signList(t, own.Private, cgaList)
	// An HBA set and one locator outside it.
	mixed := mk(0x01020304, hbaLoc(set.Addresses[0]), hbaLoc(set.Addresses[1]), cgaLoc(extra1))
	mixedSig := signList(t, own.Private, mixed)
	mixedOther := signList(t, other.Private, mixed)
	// The same locators under a newer Generation, and a list that
	// differs in one CGA locator, both signed by the right key.
	newer := mk(0x01020305, mixed.Locators...)
	newerSig := signList(t, own.Private, newer)
	moved := mk(7, cgaLoc(cga), cgaLoc(extra1), cgaLoc(netip.MustParseAddr("2001:db8:f::3")))
	movedSig := signList(t, own.Private, moved)
	// Tampered copies; the verifier rebuilds the signed octets from the
	// list it is given, as the signer did.
	tamperedAddr := mk(7, cgaLoc(cga), cgaLoc(extra1), cgaLoc(netip.MustParseAddr("2001:db8:e::3")))
	tamperedCGA := mk(mixed.Generation, hbaLoc(set.Addresses[0]), hbaLoc(set.Addresses[1]), cgaLoc(extra2))
	tamperedMethod := mk(mixed.Generation, hbaLoc(set.Addresses[0]), cgaLoc(set.Addresses[1]), cgaLoc(extra1))
	tamperedAdded := mk(mixed.Generation, append(mixed.Locators[:3:3], cgaLoc(extra2))...)
	asHBA := mk(mixed.Generation, hbaLoc(set.Addresses[0]), hbaLoc(set.Addresses[1]), hbaLoc(extra1))

	const ok, listErr = -1, -2
	tests := []struct {
		name   string
		ulid   netip.Addr
		params []byte
		list   *wire.LocatorList
		sig    []byte
		index  int // the locator refused; ok; listErr: no locator named
		cause  error
	}{
		{name: "CGA ULID, every locator signed", ulid: cga, params: cgaParams, list: cgaList, sig: cgaSig, index: ok},
		{name: "HBA set plus one CGA-signed locator", ulid: set.Addresses[0], params: set.ParametersFor(0), list: mixed, sig: mixedSig, index: ok},
		{name: "HBA set, second address as ULID", ulid: set.Addresses[1], params: set.ParametersFor(1), list: mixed, sig: mixedSig, index: ok},
		{name: "tampered CGA locator", ulid: set.Addresses[0], params: set.ParametersFor(0), list: tamperedCGA, sig: mixedSig, index: 2, cause: hba.ReasonBadSignature},
		// One signature covers every CGA locator (RFC 5533 §5.15.5), so
		// the first of them is named whichever was changed.
		{name: "tampered locator after the first CGA one", ulid: cga, params: cgaParams, list: tamperedAddr, sig: cgaSig, index: 0, cause: hba.ReasonBadSignature},
		{name: "tampered method", ulid: set.Addresses[0], params: set.ParametersFor(0), list: tamperedMethod, sig: mixedSig, index: 1, cause: hba.ReasonBadSignature},
		{name: "locator added", ulid: set.Addresses[0], params: set.ParametersFor(0), list: tamperedAdded, sig: mixedSig, index: 2, cause: hba.ReasonBadSignature},
		{name: "older Generation replayed", ulid: set.Addresses[0], params: set.ParametersFor(0), list: newer, sig: mixedSig, index: 2, cause: hba.ReasonBadSignature},
		{name: "newer Generation's signature", ulid: set.Addresses[0], params: set.ParametersFor(0), list: mixed, sig: newerSig, index: 2, cause: hba.ReasonBadSignature},
		{name: "signed by another key", ulid: set.Addresses[0], params: set.ParametersFor(0), list: mixed, sig: mixedOther, index: 2, cause: hba.ReasonBadSignature},
		{name: "another key's parameters", ulid: cga, params: otherParams, list: cgaList, sig: cgaSig, index: listErr, cause: hba.ReasonULIDNotBound},
		{name: "missing signature", ulid: set.Addresses[0], params: set.ParametersFor(0), list: mixed, index: 2, cause: hba.ReasonNoSignature},
		{name: "empty signature", ulid: cga, params: cgaParams, list: cgaList, sig: []byte{}, index: 0, cause: hba.ReasonNoSignature},
		{name: "signature over another list", ulid: cga, params: cgaParams, list: cgaList, sig: movedSig, index: 0, cause: hba.ReasonBadSignature},
		{name: "foreign locator as HBA", ulid: set.Addresses[0], params: set.ParametersFor(0), list: asHBA, sig: mixedSig, index: 2, cause: hba.ReasonNotInSet},
		{name: "HBA-only set has no key to sign with", ulid: hbaOnly.Addresses[0], params: hbaOnly.ParametersFor(0), list: mixed, sig: mixedSig, index: 2, cause: hba.ReasonNoPublicKey},
		// HBA binds the second address to the first one's parameters (RFC
		// 5535 §7.2), but it is no CGA of them (RFC 3972 §6).
		{name: "ULID bound by HBA only", ulid: set.Addresses[1], params: set.ParametersFor(0), list: mixed, sig: mixedSig, index: 2, cause: errULIDNotCGA},
		{name: "ULID bound by HBA, no CGA locator", ulid: set.Addresses[1], params: set.ParametersFor(0), list: mk(3, hbaLoc(set.Addresses[0]), hbaLoc(set.Addresses[1])), index: ok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := HBAVerifier{}.VerifyLocators(tc.ulid, tc.params, tc.list, tc.sig)
			var le *shim6.LocatorError
			switch {
			case tc.index == ok:
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			case err == nil:
				t.Fatal("accepted")
			case tc.index == listErr:
				if errors.As(err, &le) {
					t.Fatalf("%v names locator %d; want the whole list refused", err, le.Index)
				}
			case !errors.As(err, &le):
				t.Fatalf("%v (%T) names no locator; want locator %d", err, err, tc.index)
			case le.Index != tc.index:
				t.Fatalf("%v: locator %d refused, want %d", err, le.Index, tc.index)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Fatalf("%v: want cause %v", err, tc.cause)
			}
		})
	}
}

// TestHBAVerifierParametersAlone: parameters without a Locator List (an
// I2 or Update that only binds the key) are checked against the ULID
// alone, which a plain CGA binds as well as an HBA set does (a review
// found plain CGA parameters refused here, as an HBA list of one, so a
// CGA peer could never add a locator by Update).
func TestHBAVerifierParametersAlone(t *testing.T) {
	own, other := testKey(t, "rsa2048"), testKey(t, "other2048")
	ctx := context.Background()
	cga, cgaParams, err := hba.GenerateCGA(ctx, netip.MustParsePrefix("2001:db8:5::/64"), own.Public, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, otherParams, err := hba.GenerateCGA(ctx, netip.MustParsePrefix("2001:db8:5::/64"), other.Public, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := hba.GenerateHBASet(ctx, []netip.Prefix{
		netip.MustParsePrefix("2001:db8:3::/64"), netip.MustParsePrefix("2001:db8:4::/64")}, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var v HBAVerifier
	for _, tc := range []struct {
		name   string
		ulid   netip.Addr
		params []byte
		ok     bool
	}{
		{"plain CGA", cga, cgaParams, true},
		{"HBA set member, its own parameters", set.Addresses[1], set.ParametersFor(1), true},
		{"HBA set member, the set's parameters", set.Addresses[1], set.Params, true},
		{"someone else's CGA parameters", cga, otherParams, false},
		{"not a member of the set", netip.MustParseAddr("2001:db8:6::1"), set.Params, false},
	} {
		if err := v.VerifyLocators(tc.ulid, tc.params, nil, nil); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
