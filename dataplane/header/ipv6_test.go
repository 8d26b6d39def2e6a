package header

import (
	"encoding/binary"
	"testing"
)

// TestFieldOffsets holds the exported offsets, which the fast paths load
// and store through directly, to the fields the accessors write.
func TestFieldOffsets(t *testing.T) {
	var frame [EthernetMinimumSize + IPv6MinimumSize]byte
	dmac, smac := [6]byte{1, 2, 3, 4, 5, 6}, [6]byte{7, 8, 9, 10, 11, 12}
	eth := Ethernet(frame[:])
	eth.SetAddresses(&dmac, &smac)
	eth.SetEtherType(EtherTypeIPv6)
	var src, dst [16]byte
	for i := range src {
		src[i], dst[i] = byte(0x20+i), byte(0x40+i)
	}
	ip := IPv6(frame[EthernetMinimumSize:])
	ip.Encode(0x1234, ProtoShim6, 61, &src, &dst)

	if got := [6]byte(frame[EthernetDstAddrOffset:]); got != dmac {
		t.Errorf("at EthernetDstAddrOffset: %x, want %x", got, dmac)
	}
	if got := [6]byte(frame[EthernetSrcAddrOffset:]); got != smac {
		t.Errorf("at EthernetSrcAddrOffset: %x, want %x", got, smac)
	}
	if got := binary.BigEndian.Uint16(frame[EthernetTypeOffset:]); got != EtherTypeIPv6 {
		t.Errorf("at EthernetTypeOffset: %#x, want %#x", got, EtherTypeIPv6)
	}
	if got := ip[IPv6VersionOffset] >> 4; got != 6 {
		t.Errorf("version at IPv6VersionOffset: %d, want 6", got)
	}
	if got := binary.BigEndian.Uint16(ip[IPv6PayloadLengthOffset:]); got != 0x1234 {
		t.Errorf("at IPv6PayloadLengthOffset: %#x, want 0x1234", got)
	}
	if got := ip[IPv6NextHeaderOffset]; got != ProtoShim6 {
		t.Errorf("at IPv6NextHeaderOffset: %d, want %d", got, ProtoShim6)
	}
	if got := ip[IPv6HopLimitOffset]; got != 61 {
		t.Errorf("at IPv6HopLimitOffset: %d, want 61", got)
	}
	if got := [IPv6AddressSize]byte(ip[IPv6SrcAddrOffset:]); got != src {
		t.Errorf("at IPv6SrcAddrOffset: %x, want %x", got, src)
	}
	if got := [IPv6AddressSize]byte(ip[IPv6DstAddrOffset:]); got != dst {
		t.Errorf("at IPv6DstAddrOffset: %x, want %x", got, dst)
	}
	if IPv6DstAddrOffset+IPv6AddressSize != IPv6MinimumSize {
		t.Errorf("the destination address ends at %d, not at the fixed header's end %d", IPv6DstAddrOffset+IPv6AddressSize, IPv6MinimumSize)
	}
}
