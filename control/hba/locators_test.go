package hba_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shim6d/control/hba"
	"shim6d/control/wire"
)

// foreign is a locator outside the HBA set, such as an address under a
// prefix the site got after the set was made (RFC 5535 §8.1).
var foreign = netip.MustParseAddr("2001:db8:d::1234")

// locatorList lists the set's addresses with HBA and extra with CGA.
func locatorList(set *hba.HBASet, extra ...netip.Addr) *wire.LocatorList {
	l := &wire.LocatorList{Generation: 0x01020304}
	for _, a := range set.Addresses {
		l.Locators = append(l.Locators, wire.Locator{Addr: a, Method: wire.VerifyHBA})
	}
	for _, a := range extra {
		l.Locators = append(l.Locators, wire.Locator{Addr: a, Method: wire.VerifyCGA})
	}
	return l
}

// verdicts summarises a Result as one string per locator.
func verdicts(r hba.Result) []string {
	var s []string
	for _, l := range r.Locators {
		s = append(s, l.Verdict.String()+"/"+l.Reason.String())
	}
	return s
}

// TestVerifyLocators covers the cases of the Locator List check (RFC 5533
// §7.2, §5.15.5) on a three-prefix CGA-compatible set with one foreign
// locator.
func TestVerifyLocators(t *testing.T) {
	set := cgaCompatibleSet(t)
	ulid := set.Addresses[0]
	own, other := testKey(t, "rsa2048").Private, testKey(t, "other2048").Private
	withForeign := locatorList(set, foreign)
	goodSig, err := hba.SignLocators(nil, own, withForeign)
	if err != nil {
		t.Fatal(err)
	}
	otherSig, err := hba.SignLocators(nil, other, withForeign)
	if err != nil {
		t.Fatal(err)
	}
	foreignAsHBA := locatorList(set)
	foreignAsHBA.Locators = append(foreignAsHBA.Locators, wire.Locator{Addr: foreign, Method: wire.VerifyHBA})
	hbaOK := []string{"hba/verified", "hba/verified", "hba/verified"}

	tests := []struct {
		name     string
		ulid     netip.Addr
		params   []byte
		list     *wire.LocatorList
		sig      []byte
		want     []string
		okay     bool
		listErr  hba.Reason // whole list refused
		errIndex int
	}{
		{name: "set only", list: locatorList(set), want: hbaOK, okay: true},
		{name: "set only, parameters of another address", params: set.ParametersFor(2), list: locatorList(set), want: hbaOK, okay: true},
		{name: "ULID is the second address", ulid: set.Addresses[1], list: locatorList(set), want: hbaOK, okay: true},
		{name: "foreign without signature", list: withForeign, want: append(hbaOK, "refused/no_signature")},
		{name: "foreign with CGA signature", list: withForeign, sig: goodSig, want: append(hbaOK, "cga/verified"), okay: true},
		{name: "foreign signed by another key", list: withForeign, sig: otherSig, want: append(hbaOK, "refused/bad_signature")},
		{name: "foreign listed as HBA", list: foreignAsHBA, sig: goodSig, want: append(hbaOK, "refused/not_in_set")},
		{name: "signature over another generation", list: &wire.LocatorList{Generation: 7, Locators: withForeign.Locators},
			sig: goodSig, want: append(hbaOK, "refused/bad_signature")},
		{name: "truncated signature", list: withForeign, sig: goodSig[:100], want: append(hbaOK, "refused/bad_signature")},
		{name: "ULID outside the set", ulid: foreign, list: locatorList(set),
			want:    []string{"refused/ulid_not_bound", "refused/ulid_not_bound", "refused/ulid_not_bound"},
			listErr: hba.ReasonULIDNotBound, errIndex: -1},
		{name: "ULID with a flipped bit", ulid: flip(ulid, 100), list: locatorList(set),
			want:    []string{"refused/ulid_not_bound", "refused/ulid_not_bound", "refused/ulid_not_bound"},
			listErr: hba.ReasonULIDNotBound, errIndex: -1},
		{name: "unknown method", list: &wire.LocatorList{Locators: []wire.Locator{{Addr: ulid, Method: 1}, {Addr: foreign, Method: 7}}},
			want:    []string{"refused/list_refused", "refused/unknown_method"},
			listErr: hba.ReasonUnknownMethod, errIndex: 1},
		{name: "collision count 3", params: append(append([]byte(nil), set.Params[:24]...), append([]byte{3}, set.Params[25:]...)...),
			list: locatorList(set), want: []string{"refused/collision_count", "refused/collision_count", "refused/collision_count"},
			listErr: hba.ReasonCollisionCount, errIndex: -1},
		{name: "malformed parameters", params: set.Params[:40], list: locatorList(set),
			want:    []string{"refused/malformed_parameters", "refused/malformed_parameters", "refused/malformed_parameters"},
			listErr: hba.ReasonMalformedParameters, errIndex: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, params := tc.ulid, tc.params
			if !u.IsValid() {
				u = ulid
			}
			if params == nil {
				params = set.Params
			}
			res, err := hba.VerifyLocators(u, params, tc.list, tc.sig)
			if diff := cmp.Diff(tc.want, verdicts(res)); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
			if res.OK() != tc.okay {
				t.Errorf("OK() = %v", res.OK())
			}
			if n := res.HBA + res.CGA + res.Refused; n != len(tc.list.Locators) {
				t.Errorf("counts %d+%d+%d for %d locators", res.HBA, res.CGA, res.Refused, len(tc.list.Locators))
			}
			for i, l := range res.Locators {
				if l.Addr != tc.list.Locators[i].Addr || l.Method != tc.list.Locators[i].Method {
					t.Errorf("locator %d is %v/%v", i, l.Addr, l.Method)
				}
			}
			if tc.listErr == hba.ReasonVerified {
				if err != nil || res.Params == nil {
					t.Fatalf("error %v, params %v", err, res.Params)
				}
				return
			}
			var le *hba.ListError
			if !errors.As(err, &le) || le.Reason != tc.listErr || le.Index != tc.errIndex || !errors.Is(err, tc.listErr) {
				t.Fatalf("error %v, want a ListError %v at %d", err, tc.listErr, tc.errIndex)
			}
			if le.ErrorCode2() != (tc.errIndex >= 0) {
				t.Errorf("ErrorCode2() = %v", le.ErrorCode2())
			}
		})
	}
}

// TestVerifyLocatorsHBAOnly: an HBA-only set has no key, so a locator listed
// with CGA is inconsistent with the parameters (RFC 5533 §7.2, Error Code
// 2), and parameters without Multi-Prefix cannot verify HBA locators.
func TestVerifyLocatorsHBAOnly(t *testing.T) {
	set := hbaOnlySet(t)
	res, err := hba.VerifyLocators(set.Addresses[2], set.Params, locatorList(set), nil)
	if err != nil || !res.OK() || res.HBA != 3 {
		t.Fatalf("set only: %v %v", verdicts(res), err)
	}
	res, err = hba.VerifyLocators(set.Addresses[2], set.Params, locatorList(set, foreign), []byte{1, 2, 3})
	var le *hba.ListError
	if !errors.As(err, &le) || le.Reason != hba.ReasonNoPublicKey || le.Index != 3 || res.Refused != 4 {
		t.Fatalf("CGA locator with an HBA-only set: %v %v", verdicts(res), err)
	}
	if p, _ := hba.ParseParameters(set.Params); p != nil {
		if _, err := p.PublicKey(); err != hba.ReasonNoPublicKey {
			t.Errorf("PublicKey of an HBA-only set: %v", err)
		}
	}

	// Plain CGA parameters (no Multi-Prefix): HBA locators are
	// inconsistent; CGA locators are verified by signature.
	key := testKey(t, "rsa1024")
	list := &wire.LocatorList{Generation: 9, Locators: []wire.Locator{{Addr: katAddr, Method: wire.VerifyCGA}, {Addr: foreign, Method: wire.VerifyCGA}}}
	sig, err := hba.SignLocators(nil, key.Private, list)
	if err != nil {
		t.Fatal(err)
	}
	res, err = hba.VerifyLocators(katAddr, katParams(t, 0), list, sig)
	if err != nil || !res.OK() || res.CGA != 2 {
		t.Fatalf("CGA-only: %v %v", verdicts(res), err)
	}
	list.Locators[1].Method = wire.VerifyHBA
	res, err = hba.VerifyLocators(katAddr, katParams(t, 0), list, sig)
	if !errors.As(err, &le) || le.Reason != hba.ReasonNoMultiPrefix || le.Index != 1 {
		t.Fatalf("HBA locator with CGA-only parameters: %v %v", verdicts(res), err)
	}
}

// TestSignLocatorsIndependent checks the signed octets of RFC 5533 §5.15.5
// against a computation written out here: the Shim6 tag as the RFC prints
// it, the generation, then only the CGA locators in list order, signed with
// RSASSA-PKCS1-v1_5 and SHA-1 (RFC 3972 §6).
func TestSignLocatorsIndependent(t *testing.T) {
	set := cgaCompatibleSet(t)
	f2 := netip.MustParseAddr("2001:db8:e::99")
	list := locatorList(set, foreign)
	// A CGA locator between HBA ones: order is the list's.
	list.Locators = append([]wire.Locator{{Addr: f2, Method: wire.VerifyCGA}}, list.Locators...)
	tag := hexBytes("4A 30 5662 4858 574B 3655 416F 506A 6D48") // RFC 5533 §5.15.5
	f2b, fb := f2.As16(), foreign.As16()
	signed := cat(tag, binary.BigEndian.AppendUint32(nil, list.Generation), f2b[:], fb[:])
	if got := wire.AppendCGASigned(nil, list); string(got) != string(signed) {
		t.Fatalf("signed octets %x\nwant %x", got, signed)
	}
	priv := testKey(t, "rsa2048").Private
	sig, err := hba.SignLocators(nil, priv, list)
	if err != nil {
		t.Fatal(err)
	}
	h := sha1.Sum(signed)
	if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA1, h[:], sig); err != nil {
		t.Fatalf("crypto/rsa rejects the signature: %v", err)
	}
	res, err := hba.VerifyLocators(set.Addresses[0], set.Params, list, sig)
	if err != nil || !res.OK() || res.CGA != 2 || res.HBA != 3 {
		t.Fatalf("%v %v", verdicts(res), err)
	}

	// The generic RFC 3972 §6 signature, with the CGA checked first.
	p, _ := hba.ParseParameters(set.ParametersFor(1))
	msg := []byte("any message")
	gsig, err := hba.Sign(nil, priv, wire.CGAMessageTag, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.VerifySignature(set.Addresses[1], wire.CGAMessageTag, msg, gsig); err != nil {
		t.Errorf("VerifySignature: %v", err)
	}
	if err := p.VerifySignature(set.Addresses[1], [16]byte{}, msg, gsig); err != hba.ReasonBadSignature {
		t.Errorf("another tag: %v", err)
	}
	if err := p.VerifySignature(set.Addresses[0], wire.CGAMessageTag, msg, gsig); err != hba.ReasonSubnetPrefix {
		t.Errorf("not the CGA of these parameters: %v", err)
	}
}

// TestVerifyLocatorsRSA1024 checks a 1024-bit key, the smallest accepted.
func TestVerifyLocatorsRSA1024(t *testing.T) {
	list := &wire.LocatorList{Generation: 1, Locators: []wire.Locator{{Addr: foreign, Method: wire.VerifyCGA}}}
	sig, err := hba.SignLocators(nil, testKey(t, "rsa1024").Private, list)
	if err != nil {
		t.Fatal(err)
	}
	res, err := hba.VerifyLocators(katAddr, katParams(t, 0), list, sig)
	if err != nil || !res.OK() {
		t.Fatalf("%v %v", verdicts(res), err)
	}
}

// TestVerifyLocatorsWire runs the check on options that went through the
// codec: an Update Request carrying a new locator (RFC 5533 §10.1).
func TestVerifyLocatorsWire(t *testing.T) {
	set := cgaCompatibleSet(t)
	list := locatorList(set, foreign)
	sig, err := hba.SignLocators(nil, testKey(t, "rsa2048").Private, list)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.Marshal(&wire.UpdateRequest{ReceiverContextTag: 0x1234, RequestNonce: 5, Options: wire.Options{
		LocatorList: list, CGAParameterDataStructure: set.Params, CGASignature: sig}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	o := m.(*wire.UpdateRequest).Options
	res, err := hba.VerifyLocators(set.Addresses[0], o.CGAParameterDataStructure, o.LocatorList, o.CGASignature)
	if err != nil || !res.OK() || res.HBA != 3 || res.CGA != 1 {
		t.Fatalf("%v %v", verdicts(res), err)
	}
}

// TestVerifyHBANoAllocs: the per-locator check allocates nothing (RFC 5535
// §7.2 is one SHA-1).
func TestVerifyHBANoAllocs(t *testing.T) {
	set := cgaCompatibleSet(t)
	p, err := hba.ParseParameters(set.Params)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if p.VerifyHBA(set.Addresses[2]) != nil || p.VerifyHBA(foreign) == nil || p.VerifyHBA(flip(set.Addresses[1], 99)) == nil {
			t.Fatal("wrong verdict")
		}
	}); n != 0 {
		t.Fatalf("VerifyHBA allocates %v times", n)
	}
}

func TestReasons(t *testing.T) {
	seen := map[string]bool{}
	for r := range hba.Reason(hba.NumReasons) {
		if r.String() == "unknown" || seen[r.String()] || r.Error() == "" {
			t.Errorf("reason %d: %q %q", r, r.String(), r.Error())
		}
		seen[r.String()] = true
	}
	if hba.Reason(hba.NumReasons).String() != "unknown" {
		t.Error("out-of-range reason has a name")
	}
}

// TestLocatorListFor builds our own lists: set addresses get HBA, others CGA
// (and a signature), and an HBA-only set cannot vouch for a foreign one.
func TestLocatorListFor(t *testing.T) {
	set := cgaCompatibleSet(t)
	p, err := hba.ParseParameters(set.Params)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Covers(set.Addresses) || p.Covers(append(set.Addresses[:2:2], foreign)) {
		t.Fatal("Covers")
	}
	l, err := p.LocatorList(42, append(set.Addresses[:2:2], foreign))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&wire.LocatorList{Generation: 42, Locators: []wire.Locator{
		{Addr: set.Addresses[0], Method: wire.VerifyHBA}, {Addr: set.Addresses[1], Method: wire.VerifyHBA},
		{Addr: foreign, Method: wire.VerifyCGA}}}, l, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	sig, err := hba.SignLocators(nil, testKey(t, "rsa2048").Private, l)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := p.VerifyLocators(set.Addresses[1], l, sig); err != nil || !res.OK() {
		t.Fatalf("%v %v", verdicts(res), err)
	}

	only, _ := hba.ParseParameters(hbaOnlySet(t).Params)
	if _, err := only.LocatorList(1, []netip.Addr{hbaOnlySet(t).Addresses[0], foreign}); !errors.Is(err, hba.ReasonNoPublicKey) {
		t.Fatalf("foreign locator with an HBA-only set: %v", err)
	}
}
