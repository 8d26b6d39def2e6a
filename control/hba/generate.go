package hba

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"shim6d/control/wire"
)

// ExtendedModifierLen is the length of an encoded Extended Modifier (RFC
// 5535 §6 step 2): a SubjectPublicKeyInfo for a 384-bit RSA modulus.
const ExtendedModifierLen = 78

const extModBytes = 384 / 8

// The DER around the 384-bit nonce of an Extended Modifier (RFC 5535 §6 step
// 2: "encoded as an RSA key", rsaEncryption, RSAPublicKey of RFC 3279
// §2.3.1). The nonce is the modulus; its top bit is set so that it is a
// 384-bit integer with a fixed-size encoding (one 0x00 octet keeps the DER
// INTEGER positive). The RFC leaves the public exponent open; this is 65537,
// what a real key of that size would carry.
var (
	extModHead = []byte{
		0x30, 0x4c, // SEQUENCE SubjectPublicKeyInfo, 76 octets
		0x30, 0x0d, // SEQUENCE AlgorithmIdentifier
		0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, // rsaEncryption 1.2.840.113549.1.1.1
		0x05, 0x00, // NULL parameters
		0x03, 0x3b, 0x00, // BIT STRING, 59 octets, no unused bits
		0x30, 0x38, // SEQUENCE RSAPublicKey, 56 octets
		0x02, 0x31, 0x00, // INTEGER modulus, 49 octets: 0x00 and the nonce
	}
	extModTail = []byte{0x02, 0x03, 0x01, 0x00, 0x01} // INTEGER publicExponent 65537
)

// ExtendedModifier returns a fresh Extended Modifier for an HBA-only set: a
// 384-bit random value from r, DER-encoded as an RSA SubjectPublicKeyInfo
// (RFC 5535 §6 step 2). It goes in the Public Key field, which is hashed
// like a key but signs nothing.
func ExtendedModifier(r io.Reader) ([]byte, error) {
	b := make([]byte, 0, ExtendedModifierLen)
	b = append(b, extModHead...)
	nonce := b[len(b) : len(b)+extModBytes]
	if _, err := io.ReadFull(r, nonce); err != nil {
		return nil, fmt.Errorf("hba: Extended Modifier: %w", err)
	}
	nonce[0] |= 0x80
	b = b[:len(b)+extModBytes]
	return append(b, extModTail...), nil
}

// HBASet is a generated HBA set (RFC 5535 §6): one address per prefix, all
// from the same modifier, collision count and Multi-Prefix extension.
type HBASet struct {
	// Sec is the security parameter written in every address.
	Sec Sec
	// Prefixes are the prefixes of the set, in Multi-Prefix order.
	Prefixes []netip.Prefix
	// Addresses holds the HBA under each prefix: Addresses[i] is under
	// Prefixes[i] (RFC 5535 §6 step 6.3).
	Addresses []netip.Addr
	// Params is the encoded CGA Parameters of the first address (RFC 5535
	// §6 step 6.5). Any address of the set verifies against it by HBA
	// verification (§7.2); ParametersFor gives the structure of each
	// address, which also passes plain CGA verification (§7.1).
	Params []byte
	// Hashes is the number of Hash2 computations the modifier search took.
	Hashes uint64
}

// ParametersFor returns the CGA Parameters of Addresses[i]: Params with
// Prefixes[i] in the Subnet Prefix field (RFC 5535 §6 step 6.5). i must be
// an index of Prefixes.
func (s *HBASet) ParametersFor(i int) []byte {
	b := append([]byte(nil), s.Params...)
	pfx, _ := prefix64(s.Prefixes[i])
	copy(b[subnetPrefixOff:collisionCountOff], pfx[:])
	return b
}

// GenerateHBASet generates an HBA set over prefixes (RFC 5535 §6). With a
// publicKey (a DER SubjectPublicKeyInfo, see MarshalPublicKey) the set is
// CGA-compatible: the P flag is set and the key can sign for locators
// outside the set. With a nil publicKey the set is HBA-only and a random
// Extended Modifier takes the key's place. Prefixes must be distinct masked
// IPv6 /64s, at most 255 (a Locator List holds no more, RFC 5533 §5.15.2);
// sec must be at most MaxHBASec.
//
// A collision reported by opts.InUse for any address raises the collision
// count for the whole set and regenerates every address: HBA verification
// substitutes only the prefix (RFC 5535 §7.2), so the addresses of one set
// must share the collision count.
func GenerateHBASet(ctx context.Context, prefixes []netip.Prefix, sec Sec, publicKey []byte, opts *Options) (*HBASet, error) {
	if sec > MaxHBASec {
		return nil, fmt.Errorf("%w: HBA sets are defined for Sec 0, 1 and 2 (RFC 5535 §6), not %d", ErrSec, sec)
	}
	if len(prefixes) == 0 || len(prefixes) > 255 {
		return nil, fmt.Errorf("hba: an HBA set needs 1 to 255 prefixes, not %d", len(prefixes))
	}
	pfx := make([][8]byte, len(prefixes))
	for i, p := range prefixes {
		var ok bool
		if pfx[i], ok = prefix64(p); !ok {
			return nil, fmt.Errorf("hba: prefix %v is not a masked IPv6 /64 (RFC 5535 §5)", p)
		}
		for j := range i {
			if pfx[j] == pfx[i] {
				return nil, fmt.Errorf("hba: prefix %v is listed twice", p)
			}
		}
	}
	if publicKey != nil {
		if err := checkPublicKey(publicKey); err != nil {
			return nil, err
		}
	}
	// Step 1: the Multi-Prefix extension, P set when a key is given.
	// Step 2: the modifier and, for HBA-only sets, the Extended Modifier.
	key := publicKey
	if key == nil {
		var err error
		if key, err = ExtendedModifier(opts.rand()); err != nil {
			return nil, err
		}
	}
	params := &wire.CGAParameters{
		SubnetPrefix: prefixes[0],
		PublicKey:    key,
		Extensions: []wire.CGAExtension{{
			Type: wire.CGAExtMultiPrefix,
			MultiPrefix: &wire.MultiPrefix{
				PublicKeyIncluded: publicKey != nil,
				Prefixes:          append([]netip.Prefix(nil), prefixes...),
			},
		}},
	}
	raw, hashes, err := search(ctx, params, sec, opts)
	if err != nil {
		return nil, err
	}
	set := &HBASet{Sec: sec, Prefixes: params.Extensions[0].MultiPrefix.Prefixes, Params: raw, Hashes: hashes}
	set.Addresses = make([]netip.Addr, len(prefixes))
	// Steps 5 and 6.
	for cc := byte(0); ; cc++ {
		if cc > wire.CGAMaxCollisionCount {
			return nil, ErrCollisions
		}
		raw[collisionCountOff] = cc
		collided := false
		for i := range pfx {
			set.Addresses[i] = address(pfx[i], InterfaceID(hash1With(raw, &pfx[i]), sec))
			if opts != nil && opts.InUse != nil && opts.InUse(set.Addresses[i]) {
				collided = true
				break
			}
		}
		if !collided {
			return set, nil
		}
	}
}

// GenerateCGA generates a CGA under prefix for publicKey, a DER
// SubjectPublicKeyInfo (RFC 3972 §4), and returns it with its encoded CGA
// Parameters. prefix must be a masked IPv6 /64. Sec values above 2 are
// accepted as RFC 3972 defines them, but a search for Sec 3 takes about
// 2^48 hashes and will not finish; cancel ctx to stop it.
func GenerateCGA(ctx context.Context, prefix netip.Prefix, publicKey []byte, sec Sec, opts *Options) (netip.Addr, []byte, error) {
	pfx, ok := prefix64(prefix)
	if !ok {
		return netip.Addr{}, nil, fmt.Errorf("hba: prefix %v is not a masked IPv6 /64 (RFC 3972 §4)", prefix)
	}
	if sec > MaxSec {
		return netip.Addr{}, nil, fmt.Errorf("%w: Sec is 0 to 7 (RFC 3972 §2), not %d", ErrSec, sec)
	}
	if publicKey == nil {
		return netip.Addr{}, nil, errors.New("hba: a CGA needs a public key (RFC 3972 §4)")
	}
	if err := checkPublicKey(publicKey); err != nil {
		return netip.Addr{}, nil, err
	}
	raw, _, err := search(ctx, &wire.CGAParameters{SubnetPrefix: prefix, PublicKey: publicKey}, sec, opts)
	if err != nil {
		return netip.Addr{}, nil, err
	}
	// Steps 4 to 8.
	for cc := byte(0); cc <= wire.CGAMaxCollisionCount; cc++ {
		raw[collisionCountOff] = cc
		a := address(pfx, InterfaceID(Hash1(raw), sec))
		if opts == nil || opts.InUse == nil || !opts.InUse(a) {
			// Step 9: raw is the final structure.
			return a, raw, nil
		}
	}
	return netip.Addr{}, nil, ErrCollisions
}

// search picks the initial modifier (RFC 3972 §4 step 1), encodes params
// with the codec and runs the modifier search (steps 2–3); it returns the
// encoding with the final modifier.
func search(ctx context.Context, params *wire.CGAParameters, sec Sec, opts *Options) ([]byte, uint64, error) {
	if opts != nil && opts.Modifier != nil {
		params.Modifier = *opts.Modifier
	} else if _, err := io.ReadFull(opts.rand(), params.Modifier[:]); err != nil {
		return nil, 0, fmt.Errorf("hba: modifier: %w", err)
	}
	raw, err := wire.AppendCGAParameters(nil, params)
	if err != nil {
		return nil, 0, fmt.Errorf("hba: %w", err)
	}
	m, hashes, err := SearchModifier(ctx, raw, sec, opts)
	if err != nil {
		return nil, hashes, err
	}
	copy(raw[:modifierLen], m[:])
	params.Modifier = m
	return raw, hashes, nil
}
