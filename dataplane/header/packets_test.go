package header

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Golden packets, written byte by byte from the RFC layouts. Addresses:
// source 2001:db8:1::1, destination 2001:db8:2::2. The transport checksums
// are the ones RFC 8200 §8.1 gives over those addresses.

// goldenTag is the context tag the goldens carry: it fills the 47 bits
// with distinct bytes so a shifted or truncated field shows.
const goldenTag = 0x123456789abc

// ipv6Fixed is the fixed header (RFC 8200 §3) of every golden packet, with
// the payload length and next header left for each one to fill in:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Source Address (16 octets)                   |
//	|               Destination Address (16 octets)                 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func ipv6Fixed(payloadLen uint16, nh uint8) []byte {
	return []byte{
		0x60, 0x00, 0x00, 0x00, // version 6, traffic class 0, flow label 0
		byte(payloadLen >> 8), byte(payloadLen), nh, 0x40, // hop limit 64
		0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, // source 2001:db8:1::1
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
		0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00, // destination 2001:db8:2::2
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	}
}

// ethernetIPv6 is an Ethernet II header (IEEE 802.3 §3.2.6, RFC 2464) from
// 02:00:00:00:00:01 to 02:00:00:00:00:02 carrying IPv6.
var ethernetIPv6 = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // destination
	0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source
	0x86, 0xdd, // EtherType IPv6
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// Options headers (RFC 8200 §4.3, §4.6), each 8 octets holding one PadN
// option of four zero octets:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |  Hdr Ext Len  |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                            Options                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func optionsHeader(nh uint8) []byte {
	return []byte{nh, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00}
}

// routingType2 is a type 2 routing header (RFC 8200 §4.4, RFC 6275 §6.4),
// Hdr Ext Len 2 (24 octets):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  | Hdr Ext Len=2 | Routing Type=2|Segments Left=1|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                            Reserved                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   Home Address (2001:db8:3::3)                |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func routingType2(nh uint8) []byte {
	return []byte{
		nh, 0x02, 0x02, 0x01,
		0x00, 0x00, 0x00, 0x00,
		0x20, 0x01, 0x0d, 0xb8, 0x00, 0x03, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
	}
}

// fragmentHeader is a fragment header (RFC 8200 §4.5) with identification
// 0xdeadbeef; offsetFlags is the 16-bit word of Fragment Offset, Res and M.
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Identification                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func fragmentHeader(nh uint8, offsetFlags uint16) []byte {
	return []byte{nh, 0x00, byte(offsetFlags >> 8), byte(offsetFlags), 0xde, 0xad, 0xbe, 0xef}
}

// tcpSYN is a 20-octet TCP header (RFC 9293 §3.1) from port 12345 to 80,
// sequence 1, SYN, window 4095, with the checksum over the golden
// addresses (0x13e2).
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	|                        Sequence Number                        |
//	|                    Acknowledgment Number                      |
//	| DOff  | Rsrvd |C|E|U|A|P|R|S|F|            Window             |
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
var tcpSYN = []byte{
	0x30, 0x39, 0x00, 0x50,
	0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x00,
	0x50, 0x02, 0x0f, 0xff,
	0x13, 0xe2, 0x00, 0x00,
}

// udpPing is a UDP datagram (RFC 768) from port 54321 to 53 carrying
// "ping", with the checksum over the golden addresses (0xf126).
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	|            Length             |           Checksum            |
//	|                          data octets                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
var udpPing = []byte{
	0xd4, 0x31, 0x00, 0x35,
	0x00, 0x0c, 0xf1, 0x26,
	'p', 'i', 'n', 'g',
}

// shim6PayloadGolden is the Shim6 payload extension header (RFC 5533 §5.2)
// with the given next header and goldenTag: Hdr Ext Len 0, P = 1, and the
// tag's top seven bits (0x12) sharing the third octet with P (0x80|0x12).
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |       0       |1|                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                             |
//	|                      Receiver Context Tag                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func shim6PayloadGolden(nh uint8) []byte {
	return []byte{nh, 0x00, 0x92, 0x34, 0x56, 0x78, 0x9a, 0xbc}
}

// shim6I1 is an I1 control message (RFC 5533 §5.4), Hdr Ext Len 1,
// initiator context tag 0x123456789abc, nonce 0xdeadbeef, with a correct
// Shim6 checksum (0x22f8).
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|       59      |  Hdr Ext Len  |0|  Type = 1   |  Reserved1  |0|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|            Checksum           |R|                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                             +
//	|                    Initiator Context Tag                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Initiator Nonce                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
var shim6I1 = []byte{
	0x3b, 0x01, 0x01, 0x00,
	0x22, 0xf8, 0x12, 0x34,
	0x56, 0x78, 0x9a, 0xbc,
	0xde, 0xad, 0xbe, 0xef,
}

// goldenPacket is an IPv6 packet before and after InsertShim6Payload with
// goldenTag, and what WalkExtensions says about the original.
type goldenPacket struct {
	name    string
	l3off   int
	plain   []byte // the frame as the inside host sent it
	shimmed []byte // the frame with the payload header, as it leaves the uplink
	chain   Chain  // WalkExtensions of plain's IPv6 packet
}

func goldenPackets() []goldenPacket {
	return []goldenPacket{{
		// The §4.6 case: hop-by-hop, destination options for the routing
		// header, routing header, then destination options for the final
		// destination and TCP. The shim goes after the routing header and
		// before the second destination options header.
		name:  "tcp hbh dest-opts routing dest-opts",
		l3off: 0,
		plain: cat(
			ipv6Fixed(68, ProtoHopByHop), // 0..39
			optionsHeader(ProtoDestOpts), // 40..47 hop-by-hop
			optionsHeader(ProtoRouting),  // 48..55 destination options (routing)
			routingType2(ProtoDestOpts),  // 56..79
			optionsHeader(ProtoTCP),      // 80..87 destination options (final)
			tcpSYN,                       // 88..107
		),
		shimmed: cat(
			ipv6Fixed(76, ProtoHopByHop),
			optionsHeader(ProtoDestOpts),
			optionsHeader(ProtoRouting),
			routingType2(ProtoShim6),
			shim6PayloadGolden(ProtoDestOpts), // 80..87
			optionsHeader(ProtoTCP),
			tcpSYN,
		),
		chain: Chain{NextHeader: ProtoTCP, Extensions: 4, Offset: 88, NextHeaderField: 80,
			InsertOffset: 80, InsertNextHeaderField: 56},
	}, {
		// Hop-by-hop then an atomic fragment (offset 0, M 0): the shim
		// precedes the fragment header. Behind Ethernet, so the Ethernet
		// header moves along with the IPv6 header.
		name:  "ethernet udp hbh atomic fragment",
		l3off: EthernetMinimumSize,
		plain: cat(
			ethernetIPv6,
			ipv6Fixed(28, ProtoHopByHop),
			optionsHeader(ProtoFragment), // 40..47
			fragmentHeader(ProtoUDP, 0),  // 48..55
			udpPing,                      // 56..67
		),
		shimmed: cat(
			ethernetIPv6,
			ipv6Fixed(36, ProtoHopByHop),
			optionsHeader(ProtoShim6),
			shim6PayloadGolden(ProtoFragment), // 48..55
			fragmentHeader(ProtoUDP, 0),
			udpPing,
		),
		chain: Chain{NextHeader: ProtoUDP, Extensions: 2, Fragmented: true, Offset: 56,
			NextHeaderField: 48, InsertOffset: 48, InsertNextHeaderField: 40},
	}, {
		// The common case: no extension headers, the shim right after the
		// fixed header.
		name:    "ethernet udp",
		l3off:   EthernetMinimumSize,
		plain:   cat(ethernetIPv6, ipv6Fixed(12, ProtoUDP), udpPing),
		shimmed: cat(ethernetIPv6, ipv6Fixed(20, ProtoShim6), shim6PayloadGolden(ProtoUDP), udpPing),
		chain:   Chain{NextHeader: ProtoUDP, Offset: 40, NextHeaderField: 6, InsertOffset: 40, InsertNextHeaderField: 6},
	}, {
		// A destination options header not followed by a routing header
		// is for the final destination: the shim goes before it.
		name:  "udp hbh dest-opts",
		l3off: 0,
		plain: cat(
			ipv6Fixed(28, ProtoHopByHop),
			optionsHeader(ProtoDestOpts), // 40..47
			optionsHeader(ProtoUDP),      // 48..55
			udpPing,
		),
		shimmed: cat(
			ipv6Fixed(36, ProtoHopByHop),
			optionsHeader(ProtoShim6),
			shim6PayloadGolden(ProtoDestOpts),
			optionsHeader(ProtoUDP),
			udpPing,
		),
		chain: Chain{NextHeader: ProtoUDP, Extensions: 2, Offset: 56, NextHeaderField: 48,
			InsertOffset: 48, InsertNextHeaderField: 40},
	}, {
		// Routing header without hop-by-hop, followed by AH (RFC 4302 §2,
		// Payload Len 4: (4+2)·4 = 24 octets with a 12-octet ICV): the shim
		// goes between the routing header and AH.
		//
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
		//	| Next Header   |  Payload Len  |          RESERVED             |
		//	|                 Security Parameters Index (SPI)               |
		//	|                    Sequence Number Field                      |
		//	|                Integrity Check Value-ICV (variable)           |
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
		name:  "tcp routing ah",
		l3off: 0,
		plain: cat(
			ipv6Fixed(68, ProtoRouting),
			routingType2(ProtoAH), // 40..63
			[]byte{ // 64..87 AH
				ProtoTCP, 0x04, 0x00, 0x00,
				0x00, 0x00, 0x01, 0x00, // SPI 256
				0x00, 0x00, 0x00, 0x07, // sequence 7
				0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac,
			},
			tcpSYN, // 88..107
		),
		shimmed: cat(
			ipv6Fixed(76, ProtoRouting),
			routingType2(ProtoShim6),
			shim6PayloadGolden(ProtoAH),
			[]byte{
				ProtoTCP, 0x04, 0x00, 0x00,
				0x00, 0x00, 0x01, 0x00,
				0x00, 0x00, 0x00, 0x07,
				0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac,
			},
			tcpSYN,
		),
		chain: Chain{NextHeader: ProtoTCP, Extensions: 2, Offset: 88, NextHeaderField: 64,
			InsertOffset: 64, InsertNextHeaderField: 40},
	}, {
		// ESP (RFC 4303 §2) is opaque: the walk stops at it and the shim
		// goes in front of it.
		//
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
		//	|               Security Parameters Index (SPI)                 |
		//	|                      Sequence Number                          |
		//	|                    Payload Data* (variable)                   |
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
		name:  "esp",
		l3off: 0,
		plain: cat(ipv6Fixed(16, ProtoESP), []byte{
			0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01,
			0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7,
		}),
		shimmed: cat(ipv6Fixed(24, ProtoShim6), shim6PayloadGolden(ProtoESP), []byte{
			0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01,
			0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7,
		}),
		chain: Chain{NextHeader: ProtoESP, Offset: 40, NextHeaderField: 6, InsertOffset: 40, InsertNextHeaderField: 6},
	}, {
		// A non-first fragment (offset 160 units, M 1): the walk stops
		// behind the fragment header, since TCP's header is in the first
		// fragment; the shim still goes in front of the fragment header.
		name:  "non-first fragment",
		l3off: 0,
		plain: cat(
			ipv6Fixed(16, ProtoFragment),
			fragmentHeader(ProtoTCP, 160<<3|1),
			[]byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7},
		),
		shimmed: cat(
			ipv6Fixed(24, ProtoShim6),
			shim6PayloadGolden(ProtoFragment),
			fragmentHeader(ProtoTCP, 160<<3|1),
			[]byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7},
		),
		chain: Chain{NextHeader: ProtoTCP, Extensions: 1, Fragmented: true, NonFirstFragment: true,
			Offset: 48, NextHeaderField: 40, InsertOffset: 40, InsertNextHeaderField: 6},
	}, {
		// No Next Header (RFC 8200 §4.7) ends the chain; what follows it
		// (here four octets) is ignored.
		name:    "no next header",
		l3off:   0,
		plain:   cat(ipv6Fixed(12, ProtoHopByHop), optionsHeader(ProtoNoNext), []byte{1, 2, 3, 4}),
		shimmed: cat(ipv6Fixed(20, ProtoHopByHop), optionsHeader(ProtoShim6), shim6PayloadGolden(ProtoNoNext), []byte{1, 2, 3, 4}),
		chain: Chain{NextHeader: ProtoNoNext, Extensions: 1, Offset: 48, NextHeaderField: 40,
			InsertOffset: 48, InsertNextHeaderField: 40},
	}}
}

// withHeadroom returns a buffer holding frame behind headroom bytes of
// 0xee filler, and a slack of filler after it, so tests see any write
// outside the frame.
func withHeadroom(frame []byte, headroom int) []byte {
	b := bytes.Repeat([]byte{0xee}, headroom+len(frame)+16)
	copy(b[headroom:], frame)
	return b
}

// checkTransportChecksum asserts that the upper-layer checksum of the IPv6
// packet ip verifies with the pseudo-header over its addresses (RFC 8200
// §8.1): the end-to-end invariant the shim must keep.
func checkTransportChecksum(t *testing.T, ip IPv6) {
	t.Helper()
	c, e := WalkExtensions(ip)
	if e != ChainOK {
		t.Fatalf("walk: %v", e)
	}
	if c.NextHeader != ProtoTCP && c.NextHeader != ProtoUDP || c.NonFirstFragment {
		return // no transport header here, or only a piece of one
	}
	end := IPv6MinimumSize + int(ip.PayloadLength())
	ulp := ip[c.Offset:end]
	s := PseudoHeaderSum(ip.Src(), ip.Dst(), uint32(len(ulp)), c.NextHeader)
	if got := ChecksumFold(ChecksumAdd(s, ulp)); got != 0xffff {
		t.Errorf("transport checksum does not verify: sum %#04x over %d bytes at %d", got, len(ulp), c.Offset)
	}
}

func TestGoldenChecksums(t *testing.T) {
	for _, g := range goldenPackets() {
		t.Run(g.name, func(t *testing.T) {
			checkTransportChecksum(t, IPv6(g.plain[g.l3off:]))
			checkTransportChecksum(t, IPv6(g.shimmed[g.l3off:]))
		})
	}
	if got := Checksum(shim6I1); got != 0 {
		t.Errorf("I1 golden Shim6 checksum does not verify: %#04x", got)
	}
}

func TestGoldenWalk(t *testing.T) {
	for _, g := range goldenPackets() {
		t.Run(g.name, func(t *testing.T) {
			got, e := WalkExtensions(IPv6(g.plain[g.l3off:]))
			if e != ChainOK {
				t.Fatalf("WalkExtensions: %v", e)
			}
			if d := cmp.Diff(g.chain, got); d != "" {
				t.Errorf("chain (-want +got):\n%s", d)
			}
			// The shimmed packet's walk stops at the payload header, which
			// sits where the plain packet's insertion point was.
			sh, e := WalkExtensions(IPv6(g.shimmed[g.l3off:]))
			if e != ChainOK {
				t.Fatalf("WalkExtensions(shimmed): %v", e)
			}
			off, ok := sh.Shim6()
			if !ok || off != g.chain.InsertOffset || sh.NextHeaderField != g.chain.InsertNextHeaderField {
				t.Errorf("shimmed: Shim6() = %d, %v, field %d; want %d, true, field %d",
					off, ok, sh.NextHeaderField, g.chain.InsertOffset, g.chain.InsertNextHeaderField)
			}
		})
	}
}
