package hba

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"

	"shim6d/control/wire"
)

// MinRSABits is the smallest RSA modulus accepted for CGA signatures. RFC
// 3972 §3 and §5 allow 384 bits, but Go's crypto/rsa refuses to sign or
// verify with keys under 1024 bits, and such keys can be factored anyway.
const MinRSABits = 1024

// MaxRSABits and MaxRSAExponent bound the keys a peer may make us verify
// with. Parameters and signatures are free to make (the "key" need not
// even be one), and a verification costs with the modulus and the
// exponent: on the lab VM, 0.06 ms for 2,048 bits and 65537, 0.38 ms for
// 4,096 bits, 1.24 ms for 4,400 bits (what fits a Shim6 message) with
// 2^31-1. RFC 3972 §5 asks for keys up to 2,048 bits and allows longer;
// 4,096 bits and exponents up to 65537 cover the keys in use.
const (
	MaxRSABits     = 4096
	MaxRSAExponent = 65537
)

// Parameters is a CGA Parameters data structure (RFC 3972 §3), as carried
// in the CGA Parameter Data Structure option (RFC 5533 §5.15.4), parsed and
// prepared for verifying addresses against it: Hash2 (RFC 3972 §5 step 6)
// is computed once, so each address costs one SHA-1.
//
// A Parameters is immutable after ParseParameters and safe for concurrent
// use; the control core keeps it in the context so later Locator Lists can
// be checked against it (RFC 5533 §10.4).
type Parameters struct {
	raw      []byte              // private copy of the encoded structure
	decoded  *wire.CGAParameters // aliases raw
	prefixes []uint64            // Multi-Prefix prefixes (RFC 5535 §5), as integers for the set lookup
	multi    bool                // a Multi-Prefix extension is present
	keyIn    bool                // the Public Key field holds a real key
	hash2Sec Sec                 // the largest Sec that step 7 of RFC 3972 §5 passes

	keyOnce sync.Once
	key     *rsa.PublicKey
}

// ParseParameters parses an encoded CGA Parameters data structure (RFC 3972
// §3) with the Multi-Prefix extension (RFC 5535 §5), using the codec of
// shim6d/control/wire, and prepares it for verification. It keeps a copy of
// b. A failure is ReasonCollisionCount (RFC 3972 §5 step 1) or wraps
// ReasonMalformedParameters and the codec's *wire.Error.
func ParseParameters(b []byte) (*Parameters, error) {
	if len(b) > collisionCountOff && b[collisionCountOff] > wire.CGAMaxCollisionCount {
		// Step 1 of RFC 3972 §5 comes before anything else is read.
		return nil, ReasonCollisionCount
	}
	raw := append([]byte(nil), b...)
	d, err := wire.ParseCGAParameters(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ReasonMalformedParameters, err)
	}
	p := &Parameters{raw: raw, decoded: d, keyIn: true}
	if mp := d.MultiPrefix(); mp != nil {
		p.multi, p.keyIn = true, mp.PublicKeyIncluded
		p.prefixes = make([]uint64, len(mp.Prefixes))
		for i, pr := range mp.Prefixes {
			a := pr.Addr().As16()
			p.prefixes[i] = binary.BigEndian.Uint64(a[:8])
		}
	}
	p.hash2Sec = hash2Sec(Hash2(raw))
	return p, nil
}

// Bytes returns the encoded structure (RFC 3972 §3), for sending in a CGA
// Parameter Data Structure option. The caller must not modify it.
func (p *Parameters) Bytes() []byte { return p.raw }

// Decoded returns the decoded structure (RFC 3972 §3, RFC 5535 §5). The
// caller must not modify it.
func (p *Parameters) Decoded() *wire.CGAParameters { return p.decoded }

// HasMultiPrefix reports whether the parameters carry a Multi-Prefix
// extension, i.e. define an HBA set (RFC 5535 §5, §7.2).
func (p *Parameters) HasMultiPrefix() bool { return p.multi }

// Prefixes returns the prefixes of the HBA set (RFC 5535 §5), or nil
// without a Multi-Prefix extension. The caller must not modify it.
func (p *Parameters) Prefixes() []netip.Prefix {
	if mp := p.decoded.MultiPrefix(); mp != nil {
		return mp.Prefixes
	}
	return nil
}

// PublicKeyIncluded reports whether the Public Key field holds a real public
// key: always for plain CGA parameters, and for HBA sets with the P flag
// (RFC 5535 §4, §5). Otherwise it holds an Extended Modifier and nothing can
// be signed for the set.
func (p *Parameters) PublicKeyIncluded() bool { return p.keyIn }

// PublicKey decodes the Public Key field as an RSA SubjectPublicKeyInfo
// (RFC 3972 §3) of MinRSABits to MaxRSABits, exponent at most
// MaxRSAExponent. It fails with ReasonNoPublicKey for
// HBA-only parameters (RFC 5535 §5) and ReasonPublicKey for anything else
// that is not such a key. The key is decoded once and kept.
func (p *Parameters) PublicKey() (*rsa.PublicKey, error) {
	if !p.keyIn {
		return nil, ReasonNoPublicKey
	}
	p.keyOnce.Do(func() {
		k, err := x509.ParsePKIXPublicKey(p.decoded.PublicKey)
		if rk, ok := k.(*rsa.PublicKey); err == nil && ok && rk.N.BitLen() >= MinRSABits &&
			rk.N.BitLen() <= MaxRSABits && rk.E <= MaxRSAExponent {
			p.key = rk
		}
	})
	if p.key == nil {
		return nil, ReasonPublicKey
	}
	return p.key, nil
}

// VerifyCGA runs CGA verification (RFC 3972 §5) of a against the
// parameters: collision count, Subnet Prefix equal to a's prefix, Hash1
// equal to a's interface identifier under Mask1, and 16·Sec zero bits at
// the left of Hash2, Sec read from a. It returns nil or the Reason of the
// first step that failed, and does not allocate.
func (p *Parameters) VerifyCGA(a netip.Addr) error {
	if !a.Is6() {
		return ReasonNotIPv6
	}
	b := a.As16()
	// Step 1. ParseParameters already refused other values; checking again
	// keeps the steps in the RFC's order and costs nothing.
	if p.raw[collisionCountOff] > wire.CGAMaxCollisionCount {
		return ReasonCollisionCount
	}
	// Step 2.
	if [8]byte(p.raw[subnetPrefixOff:collisionCountOff]) != [8]byte(b[:8]) {
		return ReasonSubnetPrefix
	}
	// Steps 3 and 4.
	if !iidMatches(Hash1(p.raw), b[8:]) {
		return ReasonHash1
	}
	// Steps 5 to 7; step 6 was done by ParseParameters.
	if Sec(b[8]>>5) > p.hash2Sec {
		return ReasonHash2
	}
	return nil
}

// VerifyHBA runs HBA verification (RFC 5535 §7.2) of a against the HBA set
// the parameters define: a's prefix must be in the Multi-Prefix extension,
// and CGA verification (RFC 3972 §5) must pass with that prefix written
// over the Subnet Prefix. Sec must be 0, 1 or 2 (RFC 5535 §7). It returns
// nil or the Reason of the first step that failed, costs one SHA-1 and does
// not allocate.
func (p *Parameters) VerifyHBA(a netip.Addr) error {
	if !p.multi {
		return ReasonNoMultiPrefix
	}
	if !a.Is6() {
		return ReasonNotIPv6
	}
	b := a.As16()
	sec := Sec(b[8] >> 5)
	if sec > MaxHBASec {
		return ReasonUnsupportedSec
	}
	// Step 1: the prefix must be in the set; it then takes the place of
	// the Subnet Prefix, which makes step 2.2 hold by construction.
	pfx := [8]byte(b[:8])
	if !p.inSet(binary.BigEndian.Uint64(pfx[:])) {
		return ReasonNotInSet
	}
	// Step 2.1.
	if p.raw[collisionCountOff] > wire.CGAMaxCollisionCount {
		return ReasonCollisionCount
	}
	// Steps 2.3 and 2.4.
	if !iidMatches(hash1With(p.raw, &pfx), b[8:]) {
		return ReasonHash1
	}
	// Steps 2.5 to 2.7; 2.6 was done by ParseParameters.
	if sec > p.hash2Sec {
		return ReasonHash2
	}
	return nil
}

// ParametersFor returns the encoded structure for a, an address of the HBA
// set: the same with a's prefix in the Subnet Prefix field (RFC 5535 §6 step
// 6.5), which a peer can check with plain CGA verification (§7.1). Send it
// in the CGA Parameter Data Structure option when a is the ULID (RFC 5535
// §8). It fails with the Reason when a is not in the set.
func (p *Parameters) ParametersFor(a netip.Addr) ([]byte, error) {
	if err := p.VerifyHBA(a); err != nil {
		return nil, err
	}
	b := append([]byte(nil), p.raw...)
	ab := a.As16()
	copy(b[subnetPrefixOff:collisionCountOff], ab[:8])
	return b, nil
}

// Contains reports whether a belongs to the HBA set of the parameters (RFC
// 5535 §7.2); see VerifyHBA.
func (p *Parameters) Contains(a netip.Addr) bool { return p.VerifyHBA(a) == nil }

// inSet looks a prefix up in the Multi-Prefix extension. HBA sets hold one
// prefix per provider, a handful, so a scan beats any index.
func (p *Parameters) inSet(pfx uint64) bool {
	for _, q := range p.prefixes {
		if q == pfx {
			return true
		}
	}
	return false
}

// VerifyCGA parses params and runs CGA verification of a against them (RFC
// 3972 §5); see Parameters.VerifyCGA.
func VerifyCGA(a netip.Addr, params []byte) error {
	if !a.Is6() {
		return ReasonNotIPv6
	}
	p, err := ParseParameters(params)
	if err != nil {
		return err
	}
	return p.VerifyCGA(a)
}

// VerifyHBA parses params and runs HBA verification of a against the HBA set
// they define (RFC 5535 §7.2); see Parameters.VerifyHBA.
func VerifyHBA(a netip.Addr, params []byte) error {
	if !a.Is6() {
		return ReasonNotIPv6
	}
	p, err := ParseParameters(params)
	if err != nil {
		return err
	}
	return p.VerifyHBA(a)
}
