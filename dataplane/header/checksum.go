package header

import "encoding/binary"

// ChecksumAdd adds b to the running one's-complement sum, as RFC 1071
// describes, and returns the new (unfolded) sum. An odd trailing byte is
// treated as if padded with a zero octet.
func ChecksumAdd(sum uint32, b []byte) uint32 {
	n := len(b)
	i := 0
	// Eight bytes at a time: the sum of four 16-bit words fits easily in the
	// 64-bit accumulator, and folding once at the end is cheaper than per word.
	var acc uint64 = uint64(sum)
	for ; i+8 <= n; i += 8 {
		w := binary.BigEndian.Uint64(b[i:])
		acc += w >> 48
		acc += (w >> 32) & 0xffff
		acc += (w >> 16) & 0xffff
		acc += w & 0xffff
	}
	for ; i+2 <= n; i += 2 {
		acc += uint64(binary.BigEndian.Uint16(b[i:]))
	}
	if i < n {
		acc += uint64(b[i]) << 8
	}
	for acc>>32 != 0 {
		acc = (acc & 0xffffffff) + (acc >> 32)
	}
	return uint32(acc)
}

// ChecksumFold folds a running sum to 16 bits (without complementing).
func ChecksumFold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = (sum & 0xffff) + (sum >> 16)
	}
	return uint16(sum)
}

// Checksum is the Internet checksum (RFC 1071) of b: the one's complement of
// the one's-complement sum of its 16-bit words. Computing it over data that
// already holds a correct checksum yields 0.
func Checksum(b []byte) uint16 {
	return ^ChecksumFold(ChecksumAdd(0, b))
}

// PseudoHeaderSum is the running sum of the IPv6 pseudo-header (RFC 8200
// §8.1) for an upper-layer packet of length ulpLen and next header nh.
func PseudoHeaderSum(src, dst *[16]byte, ulpLen uint32, nh uint8) uint32 {
	s := ChecksumAdd(0, src[:])
	s = ChecksumAdd(s, dst[:])
	s += ulpLen>>16 + ulpLen&0xffff + uint32(nh)
	return s
}

// ChecksumUpdate16 returns the checksum field value after a 16-bit word
// covered by it changes from old to new (RFC 1624, eqn. 3).
func ChecksumUpdate16(check, old, new uint16) uint16 {
	s := uint32(^check) + uint32(^old) + uint32(new)
	return ^ChecksumFold(s)
}
