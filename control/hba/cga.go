package hba

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
)

// Sec is the CGA security parameter, an unsigned 3-bit integer kept in the
// three leftmost bits of the interface identifier (RFC 3972 §2). Generating
// a CGA costs about 2^(16·Sec) SHA-1 computations (RFC 3972 §4).
type Sec uint8

const (
	// MaxSec is the largest value the 3-bit Sec field holds (RFC 3972 §2).
	MaxSec Sec = 7
	// MaxHBASec is the largest Sec for which RFC 5535 §6 and §7 define HBA
	// generation and verification.
	MaxHBASec Sec = 2
)

// Layout of the CGA Parameters data structure (RFC 3972 §3).
const (
	modifierLen       = 16
	subnetPrefixOff   = 16
	collisionCountOff = 24
	publicKeyOff      = 25
	// hash2ZeroLen is the nine zero octets that stand for the Subnet
	// Prefix and Collision Count in the Hash2 input (RFC 3972 §3, §4 step
	// 2).
	hash2ZeroLen = 9
)

// iidMask1 is Mask1's first octet (RFC 3972 §2): bits 0–2 (Sec) and 6–7 (u
// and g) of the interface identifier are not compared with Hash1. Mask1's
// other seven octets are all ones.
const iidMask1 = 0x1c

// SecOf reads Sec from the three leftmost bits of the interface identifier
// of a (RFC 3972 §2, §5 step 5); a must be an IPv6 address.
func SecOf(a netip.Addr) Sec {
	b := a.As16()
	return Sec(b[8] >> 5)
}

// Hash1 computes Hash1 over an encoded CGA Parameters data structure: the 64
// leftmost bits of its SHA-1 (RFC 3972 §3, §4 step 5).
func Hash1(params []byte) [8]byte {
	h := sha1.Sum(params)
	return [8]byte(h[:8])
}

// hash1With is Hash1 of params with prefix written over its Subnet Prefix,
// without copying params: the substitution of RFC 5535 §7.2 step 1 and the
// per-prefix hash of §6 step 6.1. params is at least publicKeyOff long.
func hash1With(params []byte, prefix *[8]byte) [8]byte {
	// sha1.New is inlined and devirtualised here, so the digest stays on
	// the stack: a check per locator allocates nothing.
	d := sha1.New()
	d.Write(params[:subnetPrefixOff])
	d.Write(prefix[:])
	d.Write(params[collisionCountOff:])
	var h [sha1.Size]byte
	d.Sum(h[:0])
	return [8]byte(h[:8])
}

// Hash2 computes Hash2 over an encoded CGA Parameters data structure: the
// 112 leftmost bits of the SHA-1 of the modifier, nine zero octets, the
// public key and the extension fields (RFC 3972 §3, §4 step 2, §5 step 6).
// params must be at least 25 octets long.
func Hash2(params []byte) [14]byte {
	var zeros [hash2ZeroLen]byte
	d := sha1.New()
	d.Write(params[:modifierLen])
	d.Write(zeros[:])
	d.Write(params[publicKeyOff:])
	var h [sha1.Size]byte
	d.Sum(h[:0])
	return [14]byte(h[:14])
}

// hash2Sec returns the largest Sec whose 16·Sec leftmost Hash2 bits are
// zero (RFC 3972 §2 Mask2), so that step 7 of RFC 3972 §5 becomes a compare.
func hash2Sec(h [14]byte) Sec {
	s := Sec(0)
	for s < MaxSec && h[2*s]|h[2*s+1] == 0 {
		s++
	}
	return s
}

// hash2Masks are Mask2 (RFC 3972 §2) for each Sec, split over the two
// big-endian 64-bit words of the SHA-1 output's first 16 octets, so that the
// modifier search tests a hash with two ANDs.
var hash2Masks = func() (m [MaxSec + 1][2]uint64) {
	for s := range m {
		bits := 16 * s
		if bits > 64 {
			m[s][0] = ^uint64(0)
			m[s][1] = ^uint64(0) << (128 - bits)
		} else if bits > 0 {
			m[s][0] = ^uint64(0) << (64 - bits)
		}
	}
	return m
}()

// InterfaceID forms a CGA interface identifier from Hash1: Sec in the three
// leftmost bits, the u and g bits (bits 6 and 7) zero, Hash1 elsewhere (RFC
// 3972 §4 step 6, RFC 5535 §6 step 6.2).
func InterfaceID(hash1 [8]byte, sec Sec) [8]byte {
	iid := hash1
	iid[0] = iid[0]&iidMask1 | byte(sec&MaxSec)<<5
	return iid
}

// address concatenates a 64-bit prefix and an interface identifier (RFC
// 3972 §4 step 7).
func address(prefix [8]byte, iid [8]byte) netip.Addr {
	var a [16]byte
	copy(a[:8], prefix[:])
	copy(a[8:], iid[:])
	return netip.AddrFrom16(a)
}

// iidMatches compares Hash1 with an interface identifier under Mask1 (RFC
// 3972 §2, §5 step 4).
func iidMatches(hash1 [8]byte, iid []byte) bool {
	return (hash1[0]^iid[0])&iidMask1 == 0 &&
		binary.BigEndian.Uint64(hash1[:])<<8 == binary.BigEndian.Uint64(iid)<<8
}

// prefix64 returns the 64 leftmost bits of a masked IPv6 /64, or false.
func prefix64(p netip.Prefix) ([8]byte, bool) {
	if !p.IsValid() || !p.Addr().Is6() || p.Bits() != 64 || p.Masked() != p || p.Addr().Zone() != "" {
		return [8]byte{}, false
	}
	a := p.Addr().As16()
	return [8]byte(a[:8]), true
}
