package wire

import (
	"encoding/binary"
	"slices"
)

// CGAMessageTag is the 128-bit CGA Message Type tag of Shim6 (RFC 5533
// §5.15.5, §16), which RFC 3972 §6 puts in front of everything a Shim6
// CGA Signature signs. It is a variable only because Go has no array
// constants; do not modify it.
var CGAMessageTag = [16]byte{
	0x4a, 0x30, 0x56, 0x62, 0x48, 0x58, 0x57, 0x4b,
	0x36, 0x55, 0x41, 0x6f, 0x50, 0x6a, 0x6d, 0x48,
}

// cgaSignedHeadLen is the tag and the Locator List Generation, which come
// before the locators in the signed octets (RFC 5533 §5.15.5).
const cgaSignedHeadLen = len(CGAMessageTag) + 4

// AppendCGASigned appends to dst the octets a Shim6 CGA Signature covers
// for l (RFC 5533 §5.15.5, with RFC 3972 §6 for the tag): CGAMessageTag,
// the Locator List Generation, then the locators whose verification
// method is CGA, in list order. Signer and verifier both build them from
// the list, so a signature made for other locators or another Generation
// cannot pass for l. l must not be nil.
func AppendCGASigned(dst []byte, l *LocatorList) []byte {
	n := cgaSignedHeadLen
	for i := range l.Locators {
		if l.Locators[i].Method == VerifyCGA {
			n += 16
		}
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, CGAMessageTag[:]...)
	dst = binary.BigEndian.AppendUint32(dst, l.Generation)
	for i := range l.Locators {
		if l.Locators[i].Method == VerifyCGA {
			a := l.Locators[i].Addr.As16()
			dst = append(dst, a[:]...)
		}
	}
	return dst
}
