package hba_test

import (
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"math/big"
	"net/netip"
	"testing"

	"shim6d/control/hba"
	"shim6d/control/wire"
)

// The CGA of the known-answer tests (RFC 3972 §4), traceable by hand:
//
//   - public key: testdata/rsa1024.pem's SubjectPublicKeyInfo, 162 octets,
//     SHA-1 5a92e5ca...c366c8 (`openssl rsa -pubout -outform DER | sha1sum`);
//   - modifier: found by an independent search (Python's hashlib, adding one
//     at a time from katStart) so that Hash2 = SHA-1(modifier, 9 zero octets,
//     key) = 0000 80bf 282b ... starts with 16 zero bits: Sec 1 holds, Sec 2
//     does not. It is the 226257th modifier tried;
//   - subnet prefix 2001:db8:1:2::/64, collision count 0;
//   - Hash1 = SHA-1(modifier, prefix, 0x00, key) = 9cbe5cb2 290577f1 ...;
//     the first IID octet 0x9c keeps bits 3–5 (0x9c & 0x1c = 0x1c) and gets
//     Sec 1 in bits 0–2 (0x20) and zero u and g bits: 0x3c.
var (
	katStart      = [16]byte(hexBytes("00112233445566778899aabbccddeeff"))
	katModifier   = [16]byte(hexBytes("00112233445566778899aabbcce162cf"))
	katSearchLen  = uint64(226257)
	katKeySHA1    = hexBytes("5a92e5cacbe3ccc9819821b45f45abd2f7c366c8")
	katHash2      = hexBytes("000080bf282bbb72d64e2cd9718edb70d14a2327")
	katPrefix     = netip.MustParsePrefix("2001:db8:1:2::/64")
	katPrefixWire = hexBytes("20010db800010002")
	katHash1      = hexBytes("9cbe5cb2290577f1")
	katAddr       = netip.MustParseAddr("2001:db8:1:2:3cbe:5cb2:2905:77f1")
	katAddrCC1    = netip.MustParseAddr("2001:db8:1:2:24db:a978:eec7:18cc") // Hash1 07dba978 eec718cc
)

// katParams writes the CGA Parameters of the known answer out field by field
// (RFC 3972 §3), without the package or the codec.
func katParams(t testing.TB, cc byte) []byte {
	key := testKey(t, "rsa1024").Public
	return cat(katModifier[:], katPrefixWire, []byte{cc}, key)
}

func TestKnownAnswerCGA(t *testing.T) {
	key := testKey(t, "rsa1024").Public
	if h := sha1.Sum(key); string(h[:]) != string(katKeySHA1) {
		t.Fatalf("testdata/rsa1024.pem changed: key SHA-1 %x", h)
	}

	// The hashes, computed here from the concatenations of RFC 3972 §3.
	h2 := sha1.Sum(cat(katModifier[:], make([]byte, 9), key))
	if string(h2[:]) != string(katHash2) {
		t.Fatalf("Hash2 input: SHA-1 %x, want %x", h2, katHash2)
	}
	h1 := sha1.Sum(cat(katModifier[:], katPrefixWire, []byte{0}, key))
	if string(h1[:8]) != string(katHash1) {
		t.Fatalf("Hash1 input: SHA-1 %x, want %x...", h1, katHash1)
	}
	iid := [8]byte(h1[:8])
	iid[0] = iid[0]&^0xe0&^0x03 | 1<<5 // Sec 1 in bits 0-2, u = g = 0 (bits 6, 7)
	if iid[0] != 0x3c {
		t.Fatalf("first IID octet %#x, want 0x3c", iid[0])
	}
	want := netip.AddrFrom16([16]byte(cat(katPrefixWire, iid[:])))
	if want != katAddr {
		t.Fatalf("hand-made address %v, want %v", want, katAddr)
	}

	// The package's pieces agree.
	params := katParams(t, 0)
	if got := hba.Hash1(params); got != [8]byte(katHash1) {
		t.Errorf("Hash1 = %x, want %x", got, katHash1)
	}
	if got := hba.Hash2(params); got != [14]byte(katHash2[:14]) {
		t.Errorf("Hash2 = %x, want %x", got, katHash2[:14])
	}
	if got := hba.InterfaceID([8]byte(katHash1), 1); got != iid {
		t.Errorf("InterfaceID = %x, want %x", got, iid)
	}
	if got := hba.SecOf(katAddr); got != 1 {
		t.Errorf("SecOf = %d, want 1", got)
	}

	// GenerateCGA from the found modifier: no search, same address and
	// parameters octet for octet.
	addr, enc, err := hba.GenerateCGA(context.Background(), katPrefix, key, 1, &hba.Options{Modifier: &katModifier})
	if err != nil {
		t.Fatal(err)
	}
	if addr != katAddr || string(enc) != string(params) {
		t.Fatalf("GenerateCGA = %v %x\nwant %v %x", addr, enc, katAddr, params)
	}
	if err := hba.VerifyCGA(katAddr, params); err != nil {
		t.Fatalf("VerifyCGA(known answer) = %v", err)
	}

	// Step 8: a collision raises the collision count.
	taken := func(a netip.Addr) bool { return a == katAddr }
	addr, enc, err = hba.GenerateCGA(context.Background(), katPrefix, key, 1, &hba.Options{Modifier: &katModifier, InUse: taken})
	if err != nil || addr != katAddrCC1 || string(enc) != string(katParams(t, 1)) {
		t.Fatalf("after a collision: %v %x %v, want %v with collision count 1", addr, enc, err, katAddrCC1)
	}
	if err := hba.VerifyCGA(katAddrCC1, enc); err != nil {
		t.Fatalf("VerifyCGA(collision count 1) = %v", err)
	}
	always := func(netip.Addr) bool { return true }
	if _, _, err := hba.GenerateCGA(context.Background(), katPrefix, key, 1, &hba.Options{Modifier: &katModifier, InUse: always}); !errors.Is(err, hba.ErrCollisions) {
		t.Fatalf("three collisions: %v, want ErrCollisions", err)
	}
}

// TestVerifyCGARejects changes one field at a time (RFC 3972 §5).
func TestVerifyCGARejects(t *testing.T) {
	key := testKey(t, "rsa1024").Public
	good := katParams(t, 0)
	otherKey := append([]byte(nil), key...)
	otherKey[len(otherKey)-10] ^= 0x01 // a modulus bit
	modPlus1 := katModifier
	modPlus1[15]++
	secBits := func(a netip.Addr, sec byte) netip.Addr {
		b := a.As16()
		b[8] = b[8]&0x1f | sec<<5
		return netip.AddrFrom16(b)
	}
	tests := []struct {
		name   string
		addr   netip.Addr
		params []byte
		want   error
	}{
		{"known answer", katAddr, good, nil},
		{"collision count 3", katAddr, cat(katModifier[:], katPrefixWire, []byte{3}, key), hba.ReasonCollisionCount},
		{"collision count 1", katAddr, katParams(t, 1), hba.ReasonHash1},
		{"subnet prefix", katAddr, cat(katModifier[:], hexBytes("20010db800010003"), []byte{0}, key), hba.ReasonSubnetPrefix},
		{"address prefix", withPrefix(katAddr, netip.MustParsePrefix("2001:db8:1:3::/64")), good, hba.ReasonSubnetPrefix},
		{"modifier", katAddr, cat(modPlus1[:], katPrefixWire, []byte{0}, key), hba.ReasonHash1},
		{"public key", katAddr, cat(katModifier[:], katPrefixWire, []byte{0}, otherKey), hba.ReasonHash1},
		{"Sec 2 bits", secBits(katAddr, 2), good, hba.ReasonHash2},
		{"Sec 7 bits", secBits(katAddr, 7), good, hba.ReasonHash2},
		// Mask1 ignores the Sec bits (RFC 3972 §2), so claiming a lower
		// Sec verifies: the verifier just gets a weaker guarantee.
		{"Sec 0 bits", secBits(katAddr, 0), good, nil},
		{"u bit", flip(katAddr, 64+6), good, nil},
		{"g bit", flip(katAddr, 64+7), good, nil},
		{"extension appended", katAddr, cat(good, hexBytes("fff0 0002 abcd")), hba.ReasonHash1},
		{"truncated", katAddr, good[:40], hba.ReasonMalformedParameters},
		{"IPv4", netip.MustParseAddr("192.0.2.1"), good, hba.ReasonNotIPv6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := hba.VerifyCGA(tc.addr, tc.params)
			if (tc.want == nil) != (err == nil) || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("VerifyCGA = %v, want %v", err, tc.want)
			}
		})
	}

	// Every other bit of the address: the prefix fails step 2, the
	// compared IID bits step 4, the Sec bits 0 and 1 step 7.
	p, err := hba.ParseParameters(good)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 128 {
		want := hba.ReasonHash1
		switch {
		case i < 64:
			want = hba.ReasonSubnetPrefix
		case i == 64 || i == 65:
			want = hba.ReasonHash2 // Sec 5 or 3
		case i == 66 || i == 70 || i == 71:
			want = hba.ReasonVerified // Sec 0, u, g
		}
		got := p.VerifyCGA(flip(katAddr, i))
		if want == hba.ReasonVerified && got != nil || want != hba.ReasonVerified && got != error(want) {
			t.Errorf("bit %d flipped: %v, want %v", i, got, want)
		}
	}
}

func TestParseParametersErrors(t *testing.T) {
	good := katParams(t, 0)
	_, err := hba.ParseParameters(good[:30])
	var we *wire.Error
	if !errors.Is(err, hba.ReasonMalformedParameters) || !errors.As(err, &we) {
		t.Errorf("truncated key: %v, want ReasonMalformedParameters wrapping a *wire.Error", err)
	}
	if _, err := hba.ParseParameters(nil); !errors.Is(err, hba.ReasonMalformedParameters) {
		t.Errorf("empty: %v", err)
	}
	p, err := hba.ParseParameters(good)
	if err != nil {
		t.Fatal(err)
	}
	good[0] ^= 0xff // the Parameters keep their own copy
	if err := p.VerifyCGA(katAddr); err != nil {
		t.Errorf("after the caller's buffer changed: %v", err)
	}
	if p.HasMultiPrefix() || !p.PublicKeyIncluded() || p.Prefixes() != nil {
		t.Errorf("plain CGA parameters: multi %v key %v prefixes %v", p.HasMultiPrefix(), p.PublicKeyIncluded(), p.Prefixes())
	}
	if err := p.VerifyHBA(katAddr); err != hba.ReasonNoMultiPrefix {
		t.Errorf("VerifyHBA without Multi-Prefix: %v", err)
	}
	if k, err := p.PublicKey(); err != nil || k.N.BitLen() != 1024 {
		t.Errorf("PublicKey: %v", err)
	}
}

func TestExtendedModifier(t *testing.T) {
	nonce := cat([]byte{0x00}, make([]byte, 47))
	for i := range nonce {
		nonce[i] = byte(i)
	}
	em, err := hba.ExtendedModifier(bytesReader(nonce))
	if err != nil {
		t.Fatal(err)
	}
	// SubjectPublicKeyInfo { rsaEncryption, RSAPublicKey { modulus = 0x80
	// 01 02 ... 2f (the top bit forced), exponent 65537 } }.
	want := cat(hexBytes("304c 300d 0609 2a864886f70d010101 0500 033b 00 3038 0231 00"),
		[]byte{0x80}, nonce[1:], hexBytes("0203 010001"))
	if string(em) != string(want) || len(em) != hba.ExtendedModifierLen {
		t.Fatalf("ExtendedModifier = %x\nwant %x", em, want)
	}
	k, err := x509.ParsePKIXPublicKey(em)
	if err != nil {
		t.Fatalf("not a SubjectPublicKeyInfo: %v", err)
	}
	if rk, ok := k.(*rsa.PublicKey); !ok || rk.N.BitLen() != 384 || rk.E != 65537 {
		t.Fatalf("decodes to %T %v", k, k)
	}
	if _, err := hba.ExtendedModifier(bytesReader(nonce[:10])); err == nil {
		t.Fatal("short random source accepted")
	}
}

type sliceReader []byte

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(*r) == 0 {
		return 0, errors.New("exhausted")
	}
	n := copy(p, *r)
	*r = (*r)[n:]
	return n, nil
}

func bytesReader(b []byte) *sliceReader { r := sliceReader(append([]byte(nil), b...)); return &r }

// TestPublicKeyBounds: keys a peer could make verification expensive with
// (a modulus past hba.MaxRSABits, an exponent past hba.MaxRSAExponent) are
// refused as keys, while 2048 bits with 65537 is taken.
func TestPublicKeyBounds(t *testing.T) {
	odd := func(bits int) *big.Int {
		n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		return n.Add(n, big.NewInt(12345))
	}
	for _, tc := range []struct {
		name string
		key  rsa.PublicKey
		ok   bool
	}{
		{"2048 bits, 65537", rsa.PublicKey{N: odd(2048), E: 65537}, true},
		{"4096 bits, 65537", rsa.PublicKey{N: odd(4096), E: 65537}, true},
		{"4400 bits", rsa.PublicKey{N: odd(4400), E: 65537}, false},
		{"exponent 2^31-1", rsa.PublicKey{N: odd(2048), E: 1<<31 - 1}, false},
	} {
		der, err := x509.MarshalPKIXPublicKey(&tc.key)
		if err != nil {
			t.Fatal(err)
		}
		_, params, err := hba.GenerateCGA(context.Background(), netip.MustParsePrefix("2001:db8:5::/64"), der, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := hba.ParseParameters(params)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.PublicKey(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
