package wire_test

import (
	"net/netip"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cmpOpts compares netip values by ==, which is their documented equality.
var cmpOpts = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}

// hexBytes parses hex digits, ignoring white space.
func hexBytes(s string) []byte {
	var b []byte
	var hi byte
	half := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		case c == ' ' || c == '\n' || c == '\t':
			continue
		default:
			panic("hexBytes: bad character " + string(c))
		}
		if half {
			b = append(b, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		panic("hexBytes: odd number of digits")
	}
	return b
}

// fixChecksum fills in the checksum of a hand-made message (RFC 5533 §5.3)
// over the octets Hdr Ext Len covers, or over all of b if it claims more.
func fixChecksum(b []byte) []byte {
	n := (int(b[1]) + 1) * 8
	if n > len(b) {
		n = len(b)
	}
	b[4], b[5] = 0, 0
	var s uint32
	for i := 0; i+1 < n; i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if n%2 == 1 {
		s += uint32(b[n-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	c := ^uint16(s)
	b[4], b[5] = byte(c>>8), byte(c)
	return b
}
