package header

import "encoding/binary"

// Ethernet is a view of an Ethernet II header. Precondition for every
// accessor: len(e) >= EthernetMinimumSize.
type Ethernet []byte

const (
	// EthernetMinimumSize is the length of an Ethernet II header without
	// VLAN tags.
	EthernetMinimumSize = 14
	// EtherTypeIPv6 is the EtherType of IPv6 (RFC 2464).
	EtherTypeIPv6 = 0x86dd
	// EthernetAddressSize is the length of a MAC address.
	EthernetAddressSize = 6

	// EthernetDstAddrOffset is where the destination MAC begins.
	EthernetDstAddrOffset = 0
	// EthernetSrcAddrOffset is where the source MAC begins.
	EthernetSrcAddrOffset = 6
	// EthernetTypeOffset is where the EtherType begins.
	EthernetTypeOffset = 12
)

// Dst returns the destination MAC, aliasing the packet.
func (e Ethernet) Dst() *[6]byte {
	return (*[6]byte)(e[EthernetDstAddrOffset : EthernetDstAddrOffset+EthernetAddressSize])
}

// Src returns the source MAC, aliasing the packet.
func (e Ethernet) Src() *[6]byte {
	return (*[6]byte)(e[EthernetSrcAddrOffset : EthernetSrcAddrOffset+EthernetAddressSize])
}

// EtherType returns the EtherType field.
func (e Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(e[EthernetTypeOffset:]) }

// SetEtherType sets the EtherType field.
func (e Ethernet) SetEtherType(t uint16) { binary.BigEndian.PutUint16(e[EthernetTypeOffset:], t) }

// SetAddresses writes both MAC addresses.
func (e Ethernet) SetAddresses(dst, src *[6]byte) {
	// Array assignments, not copy: no overlap test, no length arithmetic.
	*(*[6]byte)(e[EthernetDstAddrOffset:]) = *dst
	*(*[6]byte)(e[EthernetSrcAddrOffset:]) = *src
}

// IPv6 is a view of an IPv6 fixed header (RFC 8200 §3). Precondition for
// every accessor: len(ip) >= IPv6MinimumSize.
type IPv6 []byte

const (
	// IPv6MinimumSize is the length of the IPv6 fixed header.
	IPv6MinimumSize = 40
	// IPv6MinimumMTU is the smallest link MTU IPv6 allows (RFC 8200 §5).
	IPv6MinimumMTU = 1280

	// IPv6AddressSize is the length of an IPv6 address.
	IPv6AddressSize = 16

	// IPv6VersionOffset is where the first 32-bit word begins: version,
	// traffic class and flow label.
	IPv6VersionOffset = 0
	// IPv6PayloadLengthOffset is where the payload length begins.
	IPv6PayloadLengthOffset = 4
	// IPv6NextHeaderOffset is where the next header field is.
	IPv6NextHeaderOffset = 6
	// IPv6HopLimitOffset is where the hop limit is.
	IPv6HopLimitOffset = 7
	// IPv6SrcAddrOffset is where the source address begins.
	IPv6SrcAddrOffset = 8
	// IPv6DstAddrOffset is where the destination address begins.
	IPv6DstAddrOffset = IPv6SrcAddrOffset + IPv6AddressSize

	ipv6VersionShift = 28
)

// IPv6Check is the result of IPv6.Check: which rule a header breaks.
type IPv6Check uint8

const (
	// IPv6OK means the header is usable.
	IPv6OK IPv6Check = iota
	// IPv6Truncated means the buffer is shorter than the fixed header.
	IPv6Truncated
	// IPv6BadVersion means the version field is not 6.
	IPv6BadVersion
	// IPv6BadLength means the payload length runs past the buffer. Jumbograms
	// (payload length 0 with a Jumbo option) are not supported and land here
	// too only if the frame is shorter than the header; see Check.
	IPv6BadLength
)

// Check validates the fixed header over the bytes received: the buffer may be
// longer than the packet (Ethernet padding), never shorter. It is the gate
// the accessors' precondition asks for.
func (ip IPv6) Check() IPv6Check {
	if len(ip) < IPv6MinimumSize {
		return IPv6Truncated
	}
	if ip[IPv6VersionOffset]>>4 != 6 {
		return IPv6BadVersion
	}
	if int(ip.PayloadLength())+IPv6MinimumSize > len(ip) {
		return IPv6BadLength
	}
	return IPv6OK
}

// Version returns the version field (6 for a valid packet).
func (ip IPv6) Version() uint8 { return ip[IPv6VersionOffset] >> 4 }

// TrafficClass returns the traffic class.
func (ip IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint32(ip[IPv6VersionOffset:]) >> 20)
}

// FlowLabel returns the 20-bit flow label.
func (ip IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(ip[IPv6VersionOffset:]) & 0xfffff
}

// PayloadLength returns the payload length: the bytes after the fixed header.
func (ip IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(ip[IPv6PayloadLengthOffset:]) }

// SetPayloadLength sets the payload length.
func (ip IPv6) SetPayloadLength(n uint16) {
	binary.BigEndian.PutUint16(ip[IPv6PayloadLengthOffset:], n)
}

// NextHeader returns the next header field of the fixed header.
func (ip IPv6) NextHeader() uint8 { return ip[IPv6NextHeaderOffset] }

// SetNextHeader sets the next header field of the fixed header.
func (ip IPv6) SetNextHeader(nh uint8) { ip[IPv6NextHeaderOffset] = nh }

// HopLimit returns the hop limit.
func (ip IPv6) HopLimit() uint8 { return ip[IPv6HopLimitOffset] }

// SetHopLimit sets the hop limit.
func (ip IPv6) SetHopLimit(h uint8) { ip[IPv6HopLimitOffset] = h }

// Src returns the source address, aliasing the packet.
func (ip IPv6) Src() *[16]byte {
	return (*[16]byte)(ip[IPv6SrcAddrOffset : IPv6SrcAddrOffset+IPv6AddressSize])
}

// Dst returns the destination address, aliasing the packet.
func (ip IPv6) Dst() *[16]byte {
	return (*[16]byte)(ip[IPv6DstAddrOffset : IPv6DstAddrOffset+IPv6AddressSize])
}

// SetSrc writes the source address.
func (ip IPv6) SetSrc(a *[16]byte) { *ip.Src() = *a }

// SetDst writes the destination address.
func (ip IPv6) SetDst(a *[16]byte) { *ip.Dst() = *a }

// Encode writes a fixed header with the given fields and zero traffic class
// and flow label.
func (ip IPv6) Encode(payloadLen uint16, nextHeader, hopLimit uint8, src, dst *[16]byte) {
	binary.BigEndian.PutUint32(ip[IPv6VersionOffset:], 6<<ipv6VersionShift)
	ip.SetPayloadLength(payloadLen)
	ip[IPv6NextHeaderOffset] = nextHeader
	ip[IPv6HopLimitOffset] = hopLimit
	ip.SetSrc(src)
	ip.SetDst(dst)
}

// IP protocol numbers the fast path cares about (IANA "Assigned Internet
// Protocol Numbers").
const (
	ProtoHopByHop = 0
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNoNext   = 59
	ProtoDestOpts = 60
	ProtoMobility = 135
	ProtoHIP      = 139
	// ProtoShim6 is the Shim6 protocol number (RFC 5533 §5).
	ProtoShim6 = 140
)
