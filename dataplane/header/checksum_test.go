package header

import "testing"

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := ChecksumFold(ChecksumAdd(0, b)); got != 0xddf2 {
		t.Fatalf("sum = %#04x, want 0xddf2", got)
	}
	if got := Checksum(b); got != ^uint16(0xddf2) {
		t.Fatalf("checksum = %#04x, want %#04x", got, ^uint16(0xddf2))
	}
	// Odd length pads with zero, and splitting the input keeps the sum when
	// the split is at an even offset.
	odd := []byte{0x12, 0x34, 0x56}
	if got, want := ChecksumFold(ChecksumAdd(0, odd)), uint16(0x1234+0x5600); got != want {
		t.Fatalf("odd sum = %#04x, want %#04x", got, want)
	}
	long := make([]byte, 1001)
	for i := range long {
		long[i] = byte(i * 7)
	}
	whole := ChecksumFold(ChecksumAdd(0, long))
	split := ChecksumFold(ChecksumAdd(ChecksumAdd(0, long[:500]), long[500:]))
	if whole != split {
		t.Fatalf("split sum %#04x != whole %#04x", split, whole)
	}
}

func TestChecksumUpdate16(t *testing.T) {
	b := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	c := Checksum(b)
	b[10], b[11] = byte(c>>8), byte(c)
	old := uint16(b[8])<<8 | uint16(b[9])
	b[8] = 0x3f // decrement TTL
	nw := uint16(b[8])<<8 | uint16(b[9])
	c2 := ChecksumUpdate16(c, old, nw)
	b[10], b[11] = byte(c2>>8), byte(c2)
	if Checksum(b) != 0 {
		t.Fatalf("incrementally updated checksum does not verify")
	}
}
