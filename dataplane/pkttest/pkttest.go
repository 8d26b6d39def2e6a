// Package pkttest builds packets for tests: Ethernet/IPv6 frames with
// extension headers and UDP or TCP, and Shim6 payload headers, written field
// by field from the RFC layouts, so expected outputs never come from the
// code under test.
package pkttest

import (
	"encoding/binary"
	"net/netip"

	"shim6d/dataplane/header"
)

// UDP returns Ethernet + IPv6 (next header firstNH) + ext (extension
// headers whose own next-header bytes the caller chains) + a UDP datagram
// from port 1000 to 2000 carrying payload, with its checksum computed over
// the addresses sumSrc and sumDst (the ULIDs, when a shim rewrites the
// addresses in the header).
func UDP(dmac, smac [6]byte, src, dst netip.Addr, hop, firstNH byte, ext []byte, payload string, sumSrc, sumDst netip.Addr) []byte {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], 1000)
	binary.BigEndian.PutUint16(udp[2:], 2000)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	binary.BigEndian.PutUint16(udp[6:], ULPChecksum(sumSrc, sumDst, header.ProtoUDP, udp))
	return Frame(dmac, smac, src, dst, hop, firstNH, append(append([]byte{}, ext...), udp...))
}

// Frame returns Ethernet + IPv6 fixed header + rest (the payload, extension
// headers included).
//
//	|Version| Traffic Class |           Flow Label                  |
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	|                     Source Address (16)                       |
//	|                  Destination Address (16)                     |
func Frame(dmac, smac [6]byte, src, dst netip.Addr, hop, nh byte, rest []byte) []byte {
	b := append(append([]byte{}, dmac[:]...), smac[:]...)
	b = append(b, 0x86, 0xdd)
	b = append(b, 0x60, 0, 0, 0, byte(len(rest)>>8), byte(len(rest)), nh, hop)
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	return append(b, rest...)
}

// ULPChecksum is the upper-layer checksum (RFC 8200 §8.1) of seg, whose
// checksum field must be zero.
func ULPChecksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	s, d := src.As16(), dst.As16()
	c := ^header.ChecksumFold(header.ChecksumAdd(header.PseudoHeaderSum(&s, &d, uint32(len(seg)), proto), seg))
	if c == 0 && proto == header.ProtoUDP {
		c = 0xffff
	}
	return c
}

// ShimPayload is the Shim6 payload extension header (RFC 5533 §5.2):
//
//	|  Next Header  |  Hdr Ext Len  |1|                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                             +
//	|                    Receiver Context Tag                       |
func ShimPayload(nh byte, tag uint64) []byte {
	return []byte{nh, 0, 0x80 | byte(tag>>40), byte(tag >> 32), byte(tag >> 24), byte(tag >> 16), byte(tag >> 8), byte(tag)}
}

// TCPSyn is a TCP SYN from port 1024 to 80 with an MSS option (and NOP NOP
// SACK-permitted), checksummed over src and dst.
func TCPSyn(src, dst netip.Addr, mss uint16) []byte {
	tcp := []byte{0x04, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x70, 0x02, 0xff, 0xff, 0, 0, 0, 0,
		2, 4, byte(mss >> 8), byte(mss), 1, 1, 4, 2}
	binary.BigEndian.PutUint16(tcp[16:], ULPChecksum(src, dst, header.ProtoTCP, tcp))
	return tcp
}

// The test sites' addressing plan, shared by the dataplane and control
// tests: one site behind an inside port and an uplink to isp1
// (2001:db8:1::/48), with a host, the uplink's next hop and a remote
// server.
var (
	MACInside  = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	MACUplink  = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	MACHost    = [6]byte{0x02, 0, 0, 0, 0, 0x10}
	MACNextHop = [6]byte{0x02, 0, 0, 0, 0, 0x20}
	HostAddr   = netip.MustParseAddr("2001:db8:1::10")
	RemoteAddr = netip.MustParseAddr("2001:db8:ff::1")
	InsideAddr = netip.MustParseAddr("2001:db8:1::1")
	UplinkAddr = netip.MustParseAddr("2001:db8:ffff:1::2")
	NextHop    = netip.MustParseAddr("2001:db8:ffff:1::1")
)
