package header

import "encoding/binary"

// ICMPv6 is a view of an ICMPv6 message (RFC 4443 §2.1), from its Type
// field to the end of the IPv6 payload. Precondition for Type, Code,
// Checksum and their setters: len(m) >= ICMPv6MinimumSize; for MTU and
// SetMTU: len(m) >= ICMPv6ErrorHeaderSize. IsValid checks the first.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Message Body                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type ICMPv6 []byte

const (
	// ICMPv6MinimumSize is the length of the Type, Code and Checksum
	// fields every ICMPv6 message has (RFC 4443 §2.1).
	ICMPv6MinimumSize = 4
	// ICMPv6ErrorHeaderSize is the length of an error message's header,
	// up to where the invoking packet starts (RFC 4443 §3), and of an echo
	// header (§4).
	ICMPv6ErrorHeaderSize = 8

	icmpv6Type     = 0
	icmpv6Code     = 1
	icmpv6Checksum = 2
	// icmpv6MTU is the Packet Too Big MTU field (RFC 4443 §3.2); Parameter
	// Problem's Pointer (§3.4) sits at the same place.
	icmpv6MTU = 4
)

// ICMPv6 message types (RFC 4443 §2.1, RFC 4861 §4).
const (
	// ICMPv6DestinationUnreachable is RFC 4443 §3.1.
	ICMPv6DestinationUnreachable = 1
	// ICMPv6PacketTooBig is RFC 4443 §3.2.
	ICMPv6PacketTooBig = 2
	// ICMPv6TimeExceeded is RFC 4443 §3.3.
	ICMPv6TimeExceeded = 3
	// ICMPv6ParameterProblem is RFC 4443 §3.4.
	ICMPv6ParameterProblem = 4
	// ICMPv6EchoRequest is RFC 4443 §4.1.
	ICMPv6EchoRequest = 128
	// ICMPv6EchoReply is RFC 4443 §4.2.
	ICMPv6EchoReply = 129
	// ICMPv6RouterSolicitation is RFC 4861 §4.1.
	ICMPv6RouterSolicitation = 133
	// ICMPv6RouterAdvertisement is RFC 4861 §4.2.
	ICMPv6RouterAdvertisement = 134
	// ICMPv6NeighborSolicitation is RFC 4861 §4.3.
	ICMPv6NeighborSolicitation = 135
	// ICMPv6NeighborAdvertisement is RFC 4861 §4.4.
	ICMPv6NeighborAdvertisement = 136
)

// IsValid reports whether m is long enough for Type, Code and Checksum
// (RFC 4443 §2.1). It needs no precondition.
func (m ICMPv6) IsValid() bool { return len(m) >= ICMPv6MinimumSize }

// Type returns the message type (RFC 4443 §2.1).
func (m ICMPv6) Type() uint8 { return m[icmpv6Type] }

// SetType sets the message type (RFC 4443 §2.1).
func (m ICMPv6) SetType(t uint8) { m[icmpv6Type] = t }

// Code returns the message code (RFC 4443 §2.1).
func (m ICMPv6) Code() uint8 { return m[icmpv6Code] }

// SetCode sets the message code (RFC 4443 §2.1).
func (m ICMPv6) SetCode(c uint8) { m[icmpv6Code] = c }

// Checksum returns the Checksum field (RFC 4443 §2.3).
func (m ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(m[icmpv6Checksum:]) }

// SetChecksum sets the Checksum field (RFC 4443 §2.3).
func (m ICMPv6) SetChecksum(c uint16) { binary.BigEndian.PutUint16(m[icmpv6Checksum:], c) }

// MTU returns the MTU field of a Packet Too Big message (RFC 4443 §3.2).
// Precondition: len(m) >= ICMPv6ErrorHeaderSize.
func (m ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(m[icmpv6MTU:]) }

// SetMTU sets the MTU field of a Packet Too Big message (RFC 4443 §3.2).
// Precondition: len(m) >= ICMPv6ErrorHeaderSize.
func (m ICMPv6) SetMTU(mtu uint32) { binary.BigEndian.PutUint32(m[icmpv6MTU:], mtu) }

// CalculateChecksum returns the checksum m must carry (RFC 4443 §2.3): over
// the IPv6 pseudo-header (RFC 8200 §8.1) for src, dst and len(m), and the
// whole message with the Checksum field taken as zero, so it does not
// matter what the field holds. It never panics; a message shorter than
// ICMPv6MinimumSize is summed as far as it goes.
func (m ICMPv6) CalculateChecksum(src, dst *[16]byte) uint16 {
	s := PseudoHeaderSum(src, dst, uint32(len(m)), ProtoICMPv6)
	// Skip the Checksum field rather than copy the message to zero it;
	// both halves start at even offsets, so the sum is unchanged.
	s = ChecksumAdd(s, m[:min(len(m), icmpv6Checksum)])
	s = ChecksumAdd(s, m[min(len(m), icmpv6Checksum+2):])
	return ^ChecksumFold(s)
}

// IsChecksumValid reports whether m's Checksum field verifies for src and
// dst (RFC 4443 §2.3). It never panics; a message too short for the field
// is invalid.
func (m ICMPv6) IsChecksumValid(src, dst *[16]byte) bool {
	if len(m) < ICMPv6MinimumSize {
		return false
	}
	s := PseudoHeaderSum(src, dst, uint32(len(m)), ProtoICMPv6)
	return ChecksumFold(ChecksumAdd(s, m)) == 0xffff
}

// NeighborSolicitation is a view of a Neighbor Solicitation message (RFC
// 4861 §4.3), from its ICMPv6 Type field on; ICMPv6(ns) reads the common
// fields. Precondition for every accessor: IsValid.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           Reserved                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Target Address (16)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Options ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-
type NeighborSolicitation []byte

// NeighborAdvertisement is a view of a Neighbor Advertisement message (RFC
// 4861 §4.4), from its ICMPv6 Type field on; ICMPv6(na) reads the common
// fields. Precondition for every accessor: IsValid.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|S|O|                     Reserved                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Target Address (16)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Options ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-
type NeighborAdvertisement []byte

const (
	// NeighborSolicitationMinimumSize is the length of a Neighbor
	// Solicitation without options (RFC 4861 §4.3, §7.1.1: "ICMP length
	// (derived from the IP length) is 24 or more octets").
	NeighborSolicitationMinimumSize = 24
	// NeighborAdvertisementMinimumSize is the length of a Neighbor
	// Advertisement without options (RFC 4861 §4.4, §7.1.2).
	NeighborAdvertisementMinimumSize = 24

	ndFlags   = 4
	ndTarget  = 8
	ndOptions = 24

	naRouter    = 0x80
	naSolicited = 0x40
	naOverride  = 0x20
)

// IsValid reports whether ns is long enough for a Neighbor Solicitation
// (RFC 4861 §7.1.1). Checking the hop limit (255), code (0), checksum and
// target address is the receiver's job. It needs no precondition.
func (ns NeighborSolicitation) IsValid() bool { return len(ns) >= NeighborSolicitationMinimumSize }

// TargetAddress returns the Target Address (RFC 4861 §4.3), aliasing the
// packet.
func (ns NeighborSolicitation) TargetAddress() *[16]byte {
	return (*[16]byte)(ns[ndTarget : ndTarget+IPv6AddressSize])
}

// SetTargetAddress writes the Target Address (RFC 4861 §4.3).
func (ns NeighborSolicitation) SetTargetAddress(a *[16]byte) { *ns.TargetAddress() = *a }

// Options returns the options that follow the fixed part (RFC 4861 §4.3,
// §4.6), aliasing the packet; none when ns is too short to have them, so
// it is safe before IsValid.
func (ns NeighborSolicitation) Options() NDOptions {
	if len(ns) < ndOptions {
		return nil
	}
	return NDOptions(ns[ndOptions:])
}

// IsValid reports whether na is long enough for a Neighbor Advertisement
// (RFC 4861 §7.1.2). Checking the hop limit (255), code (0), checksum,
// target address and the Solicited flag against the destination is the
// receiver's job. It needs no precondition.
func (na NeighborAdvertisement) IsValid() bool {
	return len(na) >= NeighborAdvertisementMinimumSize
}

// Router reports the Router flag (RFC 4861 §4.4): the sender is a router.
func (na NeighborAdvertisement) Router() bool { return na[ndFlags]&naRouter != 0 }

// Solicited reports the Solicited flag (RFC 4861 §4.4): the advertisement
// answers a Neighbor Solicitation.
func (na NeighborAdvertisement) Solicited() bool { return na[ndFlags]&naSolicited != 0 }

// Override reports the Override flag (RFC 4861 §4.4): the advertisement
// should replace a cached link-layer address.
func (na NeighborAdvertisement) Override() bool { return na[ndFlags]&naOverride != 0 }

// SetFlags writes the Router, Solicited and Override flags and clears the
// rest of the flags word, which RFC 4861 §4.4 reserves (sent as zero).
func (na NeighborAdvertisement) SetFlags(router, solicited, override bool) {
	var f byte
	if router {
		f |= naRouter
	}
	if solicited {
		f |= naSolicited
	}
	if override {
		f |= naOverride
	}
	binary.BigEndian.PutUint32(na[ndFlags:], uint32(f)<<24)
}

// TargetAddress returns the Target Address (RFC 4861 §4.4), aliasing the
// packet.
func (na NeighborAdvertisement) TargetAddress() *[16]byte {
	return (*[16]byte)(na[ndTarget : ndTarget+IPv6AddressSize])
}

// SetTargetAddress writes the Target Address (RFC 4861 §4.4).
func (na NeighborAdvertisement) SetTargetAddress(a *[16]byte) { *na.TargetAddress() = *a }

// Options returns the options that follow the fixed part (RFC 4861 §4.4,
// §4.6), aliasing the packet; none when na is too short to have them, so
// it is safe before IsValid.
func (na NeighborAdvertisement) Options() NDOptions {
	if len(na) < ndOptions {
		return nil
	}
	return NDOptions(na[ndOptions:])
}

// NDOptions is a view of the options of a Neighbor Discovery message (RFC
// 4861 §4.6): type-length-value items whose Length counts 8-octet units,
// type and length included. Its methods need no precondition and never
// panic.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |    Length     |              ...              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                              ...                              ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type NDOptions []byte

// Neighbor Discovery option types (RFC 4861 §4.6).
const (
	// NDOptionSourceLinkLayerAddress is RFC 4861 §4.6.1.
	NDOptionSourceLinkLayerAddress = 1
	// NDOptionTargetLinkLayerAddress is RFC 4861 §4.6.1.
	NDOptionTargetLinkLayerAddress = 2
	// NDOptionPrefixInformation is RFC 4861 §4.6.2.
	NDOptionPrefixInformation = 3
	// NDOptionRedirectedHeader is RFC 4861 §4.6.3.
	NDOptionRedirectedHeader = 4
	// NDOptionMTU is RFC 4861 §4.6.4.
	NDOptionMTU = 5

	// NDLinkLayerAddressOptionSize is the length of a link-layer address
	// option for Ethernet (RFC 4861 §4.6.1, RFC 2464 §6: Length 1).
	NDLinkLayerAddressOptionSize = 8

	ndOptionUnit = 8
	ndOptionType = 0
	ndOptionLen  = 1
	ndOptionBody = 2
)

// NDOption is one option (RFC 4861 §4.6), type and length octets
// included, as NDOptionIterator hands it out. Precondition for every
// accessor: len(o) >= 2, which the iterator guarantees.
type NDOption []byte

// Type returns the option type (RFC 4861 §4.6).
func (o NDOption) Type() uint8 { return o[ndOptionType] }

// Body returns what follows the type and length octets (RFC 4861 §4.6),
// padding included, aliasing the packet.
func (o NDOption) Body() []byte { return o[ndOptionBody:] }

// NDOptionIterator walks NDOptions in order without allocating. The zero
// value walks nothing; get one from NDOptions.Iterator.
type NDOptionIterator struct {
	rest      []byte
	malformed bool
}

// Iterator returns an iterator over the options (RFC 4861 §4.6).
func (o NDOptions) Iterator() NDOptionIterator { return NDOptionIterator{rest: o} }

// Next returns the next option and true, or false at the end of the options
// or at the first malformed one: a zero Length (RFC 4861 §4.6, which says
// to discard the whole packet) or a Length running past the end. Malformed
// tells the two ends apart.
func (it *NDOptionIterator) Next() (NDOption, bool) {
	if len(it.rest) == 0 || it.malformed {
		return nil, false
	}
	if len(it.rest) < ndOptionBody {
		it.malformed = true
		return nil, false
	}
	n := int(it.rest[ndOptionLen]) * ndOptionUnit
	if n == 0 || n > len(it.rest) {
		it.malformed = true
		return nil, false
	}
	o := NDOption(it.rest[:n])
	it.rest = it.rest[n:]
	return o, true
}

// Malformed reports whether Next stopped at a malformed option (RFC 4861
// §4.6) rather than at the end.
func (it *NDOptionIterator) Malformed() bool { return it.malformed }

// LinkLayerAddresses walks all the options once and returns the first
// Source and Target Link-Layer Address options' Ethernet addresses (RFC
// 4861 §4.6.1, RFC 2464 §6), aliasing the packet, or nil where absent. ok
// is false if any option is malformed, in which case RFC 4861 §7.1 has the
// receiver discard the message; the addresses are then nil.
func (o NDOptions) LinkLayerAddresses() (source, target *[6]byte, ok bool) {
	it := o.Iterator()
	for {
		opt, more := it.Next()
		if !more {
			break
		}
		// A Length of 1 or more leaves at least 6 body octets, enough
		// for an Ethernet address.
		switch opt.Type() {
		case NDOptionSourceLinkLayerAddress:
			if source == nil {
				source = (*[6]byte)(opt[ndOptionBody : ndOptionBody+6])
			}
		case NDOptionTargetLinkLayerAddress:
			if target == nil {
				target = (*[6]byte)(opt[ndOptionBody : ndOptionBody+6])
			}
		}
	}
	if it.Malformed() {
		return nil, nil, false
	}
	return source, target, true
}

// PutLinkLayerAddressOption writes a Source or Target Link-Layer Address
// option (RFC 4861 §4.6.1) for the Ethernet address mac into b and returns
// its length, NDLinkLayerAddressOptionSize. Precondition: len(b) >=
// NDLinkLayerAddressOptionSize.
func PutLinkLayerAddressOption(b []byte, optionType uint8, mac *[6]byte) int {
	b[ndOptionType] = optionType
	b[ndOptionLen] = NDLinkLayerAddressOptionSize / ndOptionUnit
	copy(b[ndOptionBody:NDLinkLayerAddressOptionSize], mac[:])
	return NDLinkLayerAddressOptionSize
}

// solicitedNodePrefix is ff02::1:ff00:0/104 (RFC 4291 §2.7.1).
var solicitedNodePrefix = [13]byte{0xff, 0x02, 10: 0x00, 11: 0x01, 12: 0xff}

// SolicitedNodeMulticast returns the solicited-node multicast address of
// addr, ff02::1:ffXX:XXXX with addr's low 24 bits (RFC 4291 §2.7.1), to
// which Neighbor Solicitations for addr are sent (RFC 4861 §7.2.2).
func SolicitedNodeMulticast(addr *[16]byte) [16]byte {
	var m [16]byte
	copy(m[:], solicitedNodePrefix[:])
	m[13], m[14], m[15] = addr[13], addr[14], addr[15]
	return m
}

// IsSolicitedNodeMulticast reports whether addr lies in ff02::1:ff00:0/104
// (RFC 4291 §2.7.1).
func IsSolicitedNodeMulticast(addr *[16]byte) bool {
	return [13]byte(addr[:13]) == solicitedNodePrefix
}

// MulticastEthernetAddress returns the Ethernet destination for the IPv6
// multicast address group: 33:33 followed by its last four octets (RFC
// 2464 §7).
func MulticastEthernetAddress(group *[16]byte) [6]byte {
	return [6]byte{0x33, 0x33, group[12], group[13], group[14], group[15]}
}
