package shim6layer_test

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"shim6d/control/shim6layer"
	"shim6d/control/wire"
	"shim6d/dataplane/header"
)

var cmpOpts = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}

// goldenPayloadFrame is a ULP packet after a locator switch, written octet
// by octet: Ethernet, IPv6 between the locators 2001:db8:1::a and
// 2001:db8:3::c, the Shim6 payload extension header (RFC 5533 §5.2) with
// receiver context tag 0x123456789abc, and UDP 49152 → 49153 carrying
// "shim", whose checksum was computed over the ULIDs 2001:db8:1::1 and
// 2001:db8:2::2 (computed separately, not by our code).
//
//	|  Next Header  |       0       |1|                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                             |
//	|                      Receiver Context Tag                     |
var goldenPayloadFrame = []byte{
	0x02, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x86, 0xdd,
	0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x8c, 0x40, // payload 20, Next Header 140, hop limit 64
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,
	0x11, 0x00, 0x92, 0x34, 0x56, 0x78, 0x9a, 0xbc, // Next Header UDP, Hdr Ext Len 0, P=1, tag
	0xc0, 0x00, 0xc0, 0x01, 0x00, 0x0c, 0x47, 0x86, // UDP header
	's', 'h', 'i', 'm',
}

func TestGoldenPayloadPacket(t *testing.T) {
	p := gopacket.NewPacket(goldenPayloadFrame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decode error: %v", el.Error())
	}
	var got []gopacket.LayerType
	for _, l := range p.Layers() {
		got = append(got, l.LayerType())
	}
	want := []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeIPv6, shim6layer.LayerTypeShim6Payload,
		layers.LayerTypeUDP, gopacket.LayerTypePayload}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("layers (-want +got):\n%s", diff)
	}
	s := p.Layer(shim6layer.LayerTypeShim6Payload).(*shim6layer.Payload)
	if s.ContextTag != 0x123456789abc || s.NextHeader != layers.IPProtocolUDP || len(s.LayerContents()) != 8 {
		t.Errorf("payload header %+v", s)
	}
	u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if u.SrcPort != 49152 || u.DstPort != 49153 || string(u.Payload) != "shim" {
		t.Errorf("UDP %d→%d %q", u.SrcPort, u.DstPort, u.Payload)
	}
	// Our serialisation reproduces the golden frame exactly.
	if enc := payloadFrame(t, 0x123456789abc, 49152, 49153, []byte("shim")); !bytes.Equal(enc, goldenPayloadFrame) {
		t.Errorf("encoded frame differs:\n got %x\nwant %x", enc, goldenPayloadFrame)
	}
	// The UDP checksum verifies over the ULIDs once the shim restores them.
	ulidS, ulidD := netip.MustParseAddr("2001:db8:1::1").As16(), netip.MustParseAddr("2001:db8:2::2").As16()
	udp := goldenPayloadFrame[14+40+8:]
	if s := header.ChecksumFold(header.ChecksumAdd(header.PseudoHeaderSum(&ulidS, &ulidD, uint32(len(udp)), 17), udp)); s != 0xffff {
		t.Errorf("UDP checksum does not verify over the ULIDs (sum %#04x)", s)
	}
}

func allMessages(t testing.TB) []wire.Message {
	cga := &wire.CGAParameters{SubnetPrefix: netip.MustParsePrefix("2001:db8:1::/64"), PublicKey: []byte{0x30, 0x00},
		Extensions: []wire.CGAExtension{{Type: wire.CGAExtMultiPrefix, MultiPrefix: &wire.MultiPrefix{
			PublicKeyIncluded: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("2001:db8:2::/64")}}}}}
	pds, err := wire.AppendCGAParameters(nil, cga)
	if err != nil {
		t.Fatal(err)
	}
	fii := wire.ForkedInstanceIdentifier(2)
	kt := wire.KeepaliveTimeout(15)
	ulid := &wire.ULIDPair{Sender: addr("2001:db8:1::1"), Receiver: addr("2001:db8:2::2")}
	ll := &wire.LocatorList{Generation: 3, Locators: []wire.Locator{
		{Addr: addr("2001:db8:1::1"), Method: wire.VerifyHBA}, {Addr: addr("2001:db8:1::a"), Method: wire.VerifyCGA}}}
	lp := &wire.LocatorPreferences{Generation: 3, ElementLen: 2, Elements: []wire.Preference{{Priority: 1}, {Flags: wire.PreferenceBroken, Priority: 2}}}
	full := wire.Options{ResponderValidator: []byte("validator-0123456789"), LocatorList: ll, LocatorPreferences: lp,
		CGAParameterDataStructure: pds, CGASignature: bytes.Repeat([]byte{0x5c}, 64), ULIDPair: ulid,
		ForkedInstanceIdentifier: &fii, KeepaliveTimeout: &kt}
	r2opts := full
	r2opts.ResponderValidator, r2opts.ULIDPair, r2opts.ForkedInstanceIdentifier = nil, nil, nil
	rep := func(s, d string, n uint32) wire.ProbeReport {
		return wire.ProbeReport{Source: addr(s), Destination: addr(d), Nonce: n, Data: ^n}
	}
	return []wire.Message{
		&wire.I1{InitiatorContextTag: 0x123456789abc, InitiatorNonce: 0x11223344,
			Options: wire.Options{ULIDPair: ulid, ForkedInstanceIdentifier: &fii}},
		&wire.R1{InitiatorNonce: 0x11223344, ResponderNonce: 0x55667788, Options: wire.Options{ResponderValidator: []byte("validator")}},
		&wire.I2{InitiatorContextTag: 0x123456789abc, InitiatorNonce: 0x99aabbcc, ResponderNonce: 0x55667788, Options: full},
		&wire.R2{ResponderContextTag: 0x0a0b0c0d0e0f, InitiatorNonce: 0x99aabbcc, Options: r2opts},
		&wire.R1bis{PacketContextTag: 0x0a0b0c0d0e0f, ResponderNonce: 0x12121212, Options: wire.Options{ResponderValidator: []byte("v2")}},
		&wire.I2bis{InitiatorContextTag: 0x123456789abc, InitiatorNonce: 1, ResponderNonce: 0x12121212,
			PacketContextTag: 0x0a0b0c0d0e0f, Options: full},
		&wire.UpdateRequest{ReceiverContextTag: 0x0a0b0c0d0e0f, RequestNonce: 0x77777777, Options: r2opts},
		&wire.UpdateAck{ReceiverContextTag: 0x123456789abc, RequestNonce: 0x77777777},
		&wire.Keepalive{ReceiverContextTag: 0x0a0b0c0d0e0f},
		&wire.Probe{ReceiverContextTag: 0x0a0b0c0d0e0f, State: wire.ReapExploring,
			Sent:     []wire.ProbeReport{rep("2001:db8:1::a", "2001:db8:3::c", 1), rep("2001:db8:1::1", "2001:db8:2::2", 2)},
			Received: []wire.ProbeReport{rep("2001:db8:3::c", "2001:db8:1::a", 3)}},
		&wire.ErrorMessage{Code: wire.ErrorCodeCriticalOption, Pointer: 64, PacketInError: bytes.Repeat([]byte{0x60}, 48)},
	}
}

func TestNewPacketControl(t *testing.T) {
	for _, m := range allMessages(t) {
		p := gopacket.NewPacket(controlFrame(t, m), layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Errorf("%s: %v", m.Type(), el.Error())
			continue
		}
		c, ok := p.Layer(shim6layer.LayerTypeShim6Control).(*shim6layer.Control)
		if !ok {
			t.Errorf("%s: no Shim6Control layer in %v", m.Type(), p)
			continue
		}
		if !c.ChecksumOK || c.Header.Type != m.Type() || c.Header.Len() != m.Len() || len(c.LayerPayload()) != 0 {
			t.Errorf("%s: layer %+v", m.Type(), c.Header)
		}
		if diff := cmp.Diff(m, c.Message, cmpOpts); diff != "" {
			t.Errorf("%s (-want +got):\n%s", m.Type(), diff)
		}
	}
}

func TestDecodingLayerParser(t *testing.T) {
	var (
		eth   layers.Ethernet
		ip6   layers.IPv6
		demux shim6layer.Demux
		pay   shim6layer.Payload
		ctl   shim6layer.Control
		udp   layers.UDP
		body  gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip6, &demux, &pay, &ctl, &udp, &body)
	var decoded []gopacket.LayerType
	if err := parser.DecodeLayers(goldenPayloadFrame, &decoded); err != nil {
		t.Fatal(err)
	}
	want := []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeIPv6, shim6layer.LayerTypeShim6,
		shim6layer.LayerTypeShim6Payload, layers.LayerTypeUDP, gopacket.LayerTypePayload}
	if diff := cmp.Diff(want, decoded); diff != "" {
		t.Fatalf("decoded (-want +got):\n%s", diff)
	}
	if pay.ContextTag != 0x123456789abc || udp.DstPort != 49153 {
		t.Errorf("tag %#x, UDP dst %d", pay.ContextTag, udp.DstPort)
	}
	// Preallocated layers decode a payload packet without allocating.
	if n := testing.AllocsPerRun(100, func() { _ = parser.DecodeLayers(goldenPayloadFrame, &decoded) }); n != 0 {
		t.Errorf("DecodeLayers of a payload packet allocates %.1f times", n)
	}
	for _, m := range allMessages(t) {
		if err := parser.DecodeLayers(controlFrame(t, m), &decoded); err != nil {
			t.Errorf("%s: %v", m.Type(), err)
			continue
		}
		want := []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeIPv6, shim6layer.LayerTypeShim6, shim6layer.LayerTypeShim6Control}
		if diff := cmp.Diff(want, decoded); diff != "" {
			t.Errorf("%s decoded (-want +got):\n%s", m.Type(), diff)
		}
		if ctl.Message == nil || ctl.Message.Type() != m.Type() {
			t.Errorf("%s: Control.Message = %v", m.Type(), ctl.Message)
		}
	}
}

func TestControlBadChecksum(t *testing.T) {
	f := controlFrame(t, allMessages(t)[2])
	f[len(f)-1] ^= 0x01
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	c, ok := p.Layer(shim6layer.LayerTypeShim6Control).(*shim6layer.Control)
	if !ok {
		t.Fatal("no Shim6Control layer for a damaged message")
	}
	if c.ChecksumOK || c.Message == nil || !errors.Is(c.Err, wire.ErrBadChecksum) {
		t.Errorf("ChecksumOK %v, Message %v, Err %v", c.ChecksumOK, c.Message != nil, c.Err)
	}
	if el := p.ErrorLayer(); el == nil || !errors.Is(el.Error(), wire.ErrBadChecksum) {
		t.Errorf("ErrorLayer = %v", el)
	}
}

func TestTruncatedAndPBit(t *testing.T) {
	// IPv6 says 20 octets follow but only 4 of the Shim6 header are there.
	f := goldenPayloadFrame[:14+40+4]
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if p.ErrorLayer() == nil {
		t.Error("truncated payload header decoded without error")
	}
	var pay shim6layer.Payload
	ctl := controlFrame(t, &wire.Keepalive{ReceiverContextTag: 1})[14+40:]
	if err := pay.DecodeFromBytes(ctl, gopacket.NilDecodeFeedback); !errors.Is(err, wire.ErrPBit) {
		t.Errorf("Payload.DecodeFromBytes(control) = %v, want ErrPBit", err)
	}
	var c shim6layer.Control
	if err := c.DecodeFromBytes(goldenPayloadFrame[14+40:], gopacket.NilDecodeFeedback); !errors.Is(err, wire.ErrPBit) {
		t.Errorf("Control.DecodeFromBytes(payload) = %v, want ErrPBit", err)
	}
	var d shim6layer.Demux
	if err := d.DecodeFromBytes([]byte{59, 0}, gopacket.NilDecodeFeedback); !errors.Is(err, wire.ErrTruncated) {
		t.Errorf("Demux of 2 octets = %v", err)
	}
}
