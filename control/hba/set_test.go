package hba_test

import (
	"context"
	"crypto/sha1"
	"errors"
	"net/netip"
	"sync"
	"testing"

	"shim6d/control/hba"
)

var (
	setPrefixes = []netip.Prefix{
		netip.MustParsePrefix("2001:db8:a::/64"),
		netip.MustParsePrefix("2001:db8:b::/64"),
		netip.MustParsePrefix("2001:db8:c::/64"),
	}
	fourthPrefix = netip.MustParsePrefix("2001:db8:d::/64")
)

// TestKnownAnswerHBASet builds an HBA-only set of three prefixes with Sec 0
// (RFC 5535 §6) from a fixed modifier and a fixed Extended Modifier, and
// checks it against the concatenations written out here; the addresses were
// also computed with Python's hashlib.
func TestKnownAnswerHBASet(t *testing.T) {
	modifier := [16]byte(hexBytes("000102030405060708090a0b0c0d0e0f"))
	nonce := make([]byte, 48)
	for i := range nonce {
		nonce[i] = byte(i) // the top bit is forced: 0x80 01 02 ... 2f
	}
	set, err := hba.GenerateHBASet(context.Background(), setPrefixes, 0, nil,
		&hba.Options{Modifier: &modifier, Rand: bytesReader(nonce)})
	if err != nil {
		t.Fatal(err)
	}
	extMod := cat(hexBytes("304c 300d 0609 2a864886f70d010101 0500 033b 00 3038 0231 00 80"), nonce[1:], hexBytes("0203 010001"))
	// Multi-Prefix extension (RFC 5535 §5): type 0x0012, Ext Len 4 + 3·8,
	// P = 0 (no public key), three prefixes.
	multiPrefix := hexBytes("0012 001c 00000000 20010db8000a0000 20010db8000b0000 20010db8000c0000")
	wantParams := cat(modifier[:], hexBytes("20010db8000a0000 00"), extMod, multiPrefix)
	if string(set.Params) != string(wantParams) {
		t.Fatalf("Params = %x\nwant     %x", set.Params, wantParams)
	}
	want := []netip.Addr{
		netip.MustParseAddr("2001:db8:a:0:f2:1888:adea:3d7d"),
		netip.MustParseAddr("2001:db8:b:0:1057:6062:a5f8:6761"),
		netip.MustParseAddr("2001:db8:c:0:49d:ae8e:9930:6de0"),
	}
	for i, p := range []string{"20010db8000a0000", "20010db8000b0000", "20010db8000c0000"} {
		// RFC 5535 §6 step 6.1: SHA-1(modifier, Prefix[i], collision
		// count, Extended Modifier, Multi-Prefix extension).
		h := sha1.Sum(cat(modifier[:], hexBytes(p), []byte{0}, extMod, multiPrefix))
		iid := [8]byte(h[:8])
		iid[0] &= 0x1c // Sec 0, u = g = 0
		if a := netip.AddrFrom16([16]byte(cat(hexBytes(p), iid[:]))); a != want[i] || set.Addresses[i] != want[i] {
			t.Errorf("address %d: package %v, hand %v, want %v", i, set.Addresses[i], a, want[i])
		}
		pi := set.ParametersFor(i)
		if string(pi[16:24]) != string(hexBytes(p)) || string(pi[24:]) != string(wantParams[24:]) {
			t.Errorf("ParametersFor(%d) = %x", i, pi)
		}
		// §7.1: each address is a plain CGA of its own parameters.
		if err := hba.VerifyCGA(want[i], pi); err != nil {
			t.Errorf("VerifyCGA(%v, its own parameters) = %v", want[i], err)
		}
	}
}

var (
	cgaSetOnce sync.Once
	cgaSet     *hba.HBASet
	hbaSetOnce sync.Once
	hbaSet     *hba.HBASet
)

// cgaCompatibleSet is a CGA-compatible HBA set of setPrefixes with Sec 1 and
// the key of testdata/rsa2048.pem (RFC 5535 §4), made once (about 65536
// hashes).
func cgaCompatibleSet(t testing.TB) *hba.HBASet {
	cgaSetOnce.Do(func() {
		var err error
		cgaSet, err = hba.GenerateHBASet(context.Background(), setPrefixes, 1, testKey(t, "rsa2048").Public, nil)
		if err != nil {
			panic(err)
		}
	})
	return cgaSet
}

// hbaOnlySet is an HBA-only set of setPrefixes with Sec 1.
func hbaOnlySet(t testing.TB) *hba.HBASet {
	hbaSetOnce.Do(func() {
		var err error
		hbaSet, err = hba.GenerateHBASet(context.Background(), setPrefixes, 1, nil, nil)
		if err != nil {
			panic(err)
		}
	})
	return hbaSet
}

// TestHBASetMembership: every address of a three-prefix set verifies
// against the set's parameters, and against the parameters of every other
// address (RFC 5535 §7.2); an address under a fourth prefix, or with one
// compared bit flipped, does not.
func TestHBASetMembership(t *testing.T) {
	for name, set := range map[string]*hba.HBASet{"CGA-compatible": cgaCompatibleSet(t), "HBA-only": hbaOnlySet(t)} {
		t.Run(name, func(t *testing.T) {
			if set.Sec != 1 || len(set.Addresses) != 3 {
				t.Fatalf("set %+v", set)
			}
			for i := range set.Prefixes {
				p, err := hba.ParseParameters(set.ParametersFor(i))
				if err != nil {
					t.Fatal(err)
				}
				if p.PublicKeyIncluded() != (name == "CGA-compatible") {
					t.Errorf("P flag %v", p.PublicKeyIncluded())
				}
				if got := p.Prefixes(); len(got) != 3 || got[2] != setPrefixes[2] {
					t.Errorf("Prefixes = %v", got)
				}
				for j, a := range set.Addresses {
					if !set.Prefixes[j].Contains(a) || hba.SecOf(a) != 1 {
						t.Errorf("address %v under %v with Sec %d", a, set.Prefixes[j], hba.SecOf(a))
					}
					if err := p.VerifyHBA(a); err != nil {
						t.Errorf("parameters %d: VerifyHBA(%v) = %v", i, a, err)
					}
					// Plain CGA verification only for the address the
					// parameters were made for (§7.1).
					if err, want := p.VerifyCGA(a), i == j; (err == nil) != want {
						t.Errorf("parameters %d: VerifyCGA(%v) = %v", i, a, err)
					}
				}
				a := set.Addresses[i]
				if err := p.VerifyHBA(withPrefix(a, fourthPrefix)); err != hba.ReasonNotInSet {
					t.Errorf("fourth prefix: %v", err)
				}
				for bit := 64; bit < 128; bit++ {
					err := p.VerifyHBA(flip(a, bit))
					switch bit - 64 {
					case 2, 6, 7: // Sec 1 → 0, u, g: not compared
						if err != nil {
							t.Errorf("IID bit %d flipped: %v", bit-64, err)
						}
					case 0, 1: // Sec 5 or 3: no HBA procedure
						if err != hba.ReasonUnsupportedSec {
							t.Errorf("IID bit %d flipped: %v", bit-64, err)
						}
					default:
						if err != hba.ReasonHash1 {
							t.Errorf("IID bit %d flipped: %v", bit-64, err)
						}
					}
				}
				// A prefix bit flipped moves the address out of the set.
				if p.Contains(flip(a, 40)) || p.Contains(flip(a, 63)) {
					t.Errorf("prefix bit flipped: still in the set")
				}
			}
		})
	}
}

func TestHBASetCollisions(t *testing.T) {
	modifier := [16]byte{1}
	first, err := hba.GenerateHBASet(context.Background(), setPrefixes, 0, nil, &hba.Options{Modifier: &modifier, Rand: bytesReader(make([]byte, 48))})
	if err != nil {
		t.Fatal(err)
	}
	// The second address is taken: the whole set moves to collision
	// count 1, so one structure still covers every address.
	taken := first.Addresses[1]
	set, err := hba.GenerateHBASet(context.Background(), setPrefixes, 0, nil,
		&hba.Options{Modifier: &modifier, Rand: bytesReader(make([]byte, 48)), InUse: func(a netip.Addr) bool { return a == taken }})
	if err != nil {
		t.Fatal(err)
	}
	if set.Params[24] != 1 {
		t.Fatalf("collision count %d, want 1", set.Params[24])
	}
	p, err := hba.ParseParameters(set.Params)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range set.Addresses {
		if a == first.Addresses[i] || !p.Contains(a) {
			t.Errorf("address %d: %v (first try %v), in set %v", i, a, first.Addresses[i], p.Contains(a))
		}
	}
	_, err = hba.GenerateHBASet(context.Background(), setPrefixes, 0, nil, &hba.Options{InUse: func(netip.Addr) bool { return true }})
	if !errors.Is(err, hba.ErrCollisions) {
		t.Fatalf("always taken: %v", err)
	}
}

func TestGenerateHBASetErrors(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct {
		prefixes []netip.Prefix
		sec      hba.Sec
		key      []byte
	}{
		"Sec 3":     {setPrefixes, 3, nil},
		"none":      {nil, 0, nil},
		"duplicate": {[]netip.Prefix{setPrefixes[0], setPrefixes[1], setPrefixes[0]}, 0, nil},
		"/48":       {[]netip.Prefix{netip.MustParsePrefix("2001:db8::/48")}, 0, nil},
		"unmasked":  {[]netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")}, 0, nil},
		"IPv4":      {[]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, 0, nil},
		"bad key":   {setPrefixes, 0, []byte{0x30, 0x00}},
	} {
		if _, err := hba.GenerateHBASet(ctx, c.prefixes, c.sec, c.key, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	many := make([]netip.Prefix, 256)
	for i := range many {
		many[i] = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 6: byte(i >> 8), 7: byte(i)}), 64)
	}
	if _, err := hba.GenerateHBASet(ctx, many, 0, nil, nil); err == nil {
		t.Error("256 prefixes accepted")
	}
	set, err := hba.GenerateHBASet(ctx, many[:255], 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := hba.ParseParameters(set.Params)
	if err != nil || !p.Contains(set.Addresses[254]) {
		t.Fatalf("255 prefixes: %v", err)
	}
}

// TestParametersForAddress derives each address's own structure from the
// set's (what a daemon sends for its ULID, RFC 5535 §8).
func TestParametersForAddress(t *testing.T) {
	set := cgaCompatibleSet(t)
	p, err := hba.ParseParameters(set.Params)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range set.Addresses {
		b, err := p.ParametersFor(a)
		if err != nil || string(b) != string(set.ParametersFor(i)) {
			t.Fatalf("ParametersFor(%v) = %x, %v", a, b, err)
		}
		if err := hba.VerifyCGA(a, b); err != nil {
			t.Fatalf("VerifyCGA(%v) = %v", a, err)
		}
	}
	if _, err := p.ParametersFor(withPrefix(set.Addresses[0], fourthPrefix)); err != hba.ReasonNotInSet {
		t.Fatalf("outside the set: %v", err)
	}
}
