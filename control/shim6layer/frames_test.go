package shim6layer_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"shim6d/control/shim6layer"
	"shim6d/control/wire"
)

var (
	srcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	dstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0c}
	// Locators the packets travel between.
	locA = net.ParseIP("2001:db8:1::a")
	locC = net.ParseIP("2001:db8:3::c")
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// controlFrame wraps a control message in Ethernet and IPv6 (Next Header
// 140), serialised through the Control layer.
func controlFrame(t testing.TB, m wire.Message) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: wire.ProtocolNumber, HopLimit: 64, SrcIP: locA, DstIP: locC}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, ip,
		&shim6layer.Control{Message: m}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// payloadFrame is Ethernet, IPv6 between locators, the Shim6 payload
// extension header with tag, and UDP from sport to dport whose checksum
// was computed over the ULIDs (DESIGN §3: transport checksums stay those
// of the ULID pair).
func payloadFrame(t testing.TB, tag uint64, sport, dport layers.UDPPort, data []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}
	ulidIP := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64,
		SrcIP: net.ParseIP("2001:db8:1::1"), DstIP: net.ParseIP("2001:db8:2::2")}
	udp := &layers.UDP{SrcPort: sport, DstPort: dport}
	if err := udp.SetNetworkLayerForChecksum(ulidIP); err != nil {
		t.Fatal(err)
	}
	ub := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(ub, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		udp, gopacket.Payload(data)); err != nil {
		t.Fatal(err)
	}
	ip := &layers.IPv6{Version: 6, NextHeader: wire.ProtocolNumber, HopLimit: 64, SrcIP: locA, DstIP: locC}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, ip,
		&shim6layer.Payload{NextHeader: layers.IPProtocolUDP, ContextTag: tag}, gopacket.Payload(ub.Bytes())); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
