package wire_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shim6d/control/wire"
	"shim6d/dataplane/header"
)

// The golden messages below are written octet by octet from the RFC
// diagrams, not produced by the encoder; their checksums were computed
// separately (RFC 1071 sum over the whole message, RFC 5533 §5.3) and are
// re-checked by TestGoldenChecksums with the dataplane's checksum helper.

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func fiiP(v uint32) *wire.ForkedInstanceIdentifier {
	f := wire.ForkedInstanceIdentifier(v)
	return &f
}

func ktP(v uint16) *wire.KeepaliveTimeout {
	k := wire.KeepaliveTimeout(v)
	return &k
}

// goldenPDS is the CGA Parameter Data Structure carried in goldenI2
// (RFC 3972 §3 with the RFC 5535 §5 Multi-Prefix extension):
//
//	Modifier (16)        00112233 44556677 8899aabb ccddeeff
//	Subnet Prefix (8)    20010db8 00010000
//	Collision Count      00
//	Public Key (DER)     30 03 02 01 05      SEQUENCE { INTEGER 5 }
//	Ext Type, Ext Len    0012 0014           Multi-Prefix, 20 octets
//	P, Reserved          00000000            P = 0
//	Prefix[1]            20010db8 00010000
//	Prefix[2]            20010db8 00020000
var goldenPDS = []byte{
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,
	0x00,
	0x30, 0x03, 0x02, 0x01, 0x05,
	0x00, 0x12, 0x00, 0x14,
	0x00, 0x00, 0x00, 0x00,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00,
}

var goldens = []struct {
	name string
	wire []byte
	want wire.Message
}{
	{
		// RFC 5533 §5.4 I1, with a ULID Pair option (§5.15.6).
		//
		//	|  Next Header  |  Hdr Ext Len  |0|  Type = 1   |   Reserved1 |0|
		//	|            Checksum           |R|                             |
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Initiator Context Tag     |
		//	|                    Initiator Nonce                            |
		//	|           Type = 6          |0|        Length = 36            |
		//	|                       Reserved2                               |
		//	|                 Sender ULID (16) / Receiver ULID (16)         |
		name: "I1",
		wire: []byte{
			0x3b, 0x06, 0x01, 0x00, // NH 59, 56 octets, P=0 type 1, Reserved1 S=0
			0xc7, 0x4d, 0x12, 0x34, // checksum, R=0 + tag 0x1234...
			0x56, 0x78, 0x9a, 0xbc, // ...tag 0x123456789abc
			0xde, 0xad, 0xbe, 0xef, // Initiator Nonce
			0x00, 0x0c, 0x00, 0x24, // option 6 C=0, Length 36
			0x00, 0x00, 0x00, 0x00, // Reserved2
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
			0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
			// Length 36 + 4 = 40: no padding
		},
		want: &wire.I1{
			InitiatorContextTag: 0x123456789abc,
			InitiatorNonce:      0xdeadbeef,
			Options: wire.Options{ULIDPair: &wire.ULIDPair{
				Sender: addr("2001:db8::1"), Receiver: addr("2001:db8:ffff::2")}},
		},
	},
	{
		// RFC 5533 §5.5 R1 with a 5-octet Responder Validator (§5.15.1),
		// padded with 7 zero octets (padding = 7 - ((5 + 3) mod 8)).
		//
		//	|       59      |  Hdr Ext Len  |0|  Type = 2   |   Reserved1 |0|
		//	|            Checksum           |           Reserved2           |
		//	|                    Initiator Nonce                            |
		//	|                    Responder Nonce                            |
		//	|           Type = 1          |0|            Length             |
		name: "R1",
		wire: []byte{
			0x3b, 0x03, 0x02, 0x00,
			0x37, 0x0a, 0x00, 0x00, // checksum, Reserved2
			0xde, 0xad, 0xbe, 0xef, // Initiator Nonce
			0x01, 0x02, 0x03, 0x04, // Responder Nonce
			0x00, 0x02, 0x00, 0x05, // option 1, Length 5
			0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0x00, 0x00, 0x00, // validator, padding
			0x00, 0x00, 0x00, 0x00, // padding
		},
		want: &wire.R1{InitiatorNonce: 0xdeadbeef, ResponderNonce: 0x01020304,
			Options: wire.Options{ResponderValidator: []byte{0xa1, 0xa2, 0xa3, 0xa4, 0xa5}}},
	},
	{
		// RFC 5533 §5.6 I2 with Responder Validator, Locator List (two HBA
		// locators; §5.15.2 internal padding after the methods, counted in
		// Length), CGA Parameter Data Structure (§5.15.4) and Keepalive
		// Timeout (RFC 5534 §5.3).
		//
		//	|       59      |  Hdr Ext Len  |0|  Type = 3   |   Reserved1 |0|
		//	|            Checksum           |R|                             |
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Initiator Context Tag     |
		//	|                    Initiator Nonce                            |
		//	|                    Responder Nonce                            |
		//	|                       Reserved2                               |
		//	Locator List: |Type = 2|0|Length| Generation | Num Locators | N
		//	  methods | padding to 8-octet alignment | locators
		name: "I2",
		wire: []byte{
			0x3b, 0x13, 0x03, 0x00, // 160 octets
			0xa4, 0x1f, 0x00, 0x00,
			0x00, 0x00, 0x00, 0x42, // tag 0x42
			0xde, 0xad, 0xbe, 0xef, // Initiator Nonce
			0x01, 0x02, 0x03, 0x04, // Responder Nonce
			0x00, 0x00, 0x00, 0x00, // Reserved2
			// Responder Validator, Length 8, 4 octets padding
			0x00, 0x02, 0x00, 0x08, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0x00, 0x00, 0x00, 0x00,
			// Locator List, Length 44 = 4 generation + 1 count + 2 methods
			// + 5 padding + 2*16 locators
			0x00, 0x04, 0x00, 0x2c,
			0x00, 0x00, 0x00, 0x07, // Generation 7
			0x02, 0x01, 0x01, // Num Locators 2, HBA, HBA
			0x00, 0x00, 0x00, 0x00, 0x00, // internal padding
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
			// CGA Parameter Data Structure, Length 54, 6 octets padding
			0x00, 0x08, 0x00, 0x36,
			0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,
			0x00,
			0x30, 0x03, 0x02, 0x01, 0x05,
			0x00, 0x12, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00,
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00,
			0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
			// Keepalive Timeout: type 10, Length 4, Reserved, 30 s
			0x00, 0x14, 0x00, 0x04, 0x00, 0x00, 0x00, 0x1e,
		},
		want: &wire.I2{
			InitiatorContextTag: 0x42, InitiatorNonce: 0xdeadbeef, ResponderNonce: 0x01020304,
			Options: wire.Options{
				ResponderValidator: []byte{0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8},
				LocatorList: &wire.LocatorList{Generation: 7, Locators: []wire.Locator{
					{Addr: addr("2001:db8:1::a"), Method: wire.VerifyHBA},
					{Addr: addr("2001:db8:2::b"), Method: wire.VerifyHBA},
				}},
				CGAParameterDataStructure: goldenPDS,
				KeepaliveTimeout:          ktP(30),
			},
		},
	},
	{
		// RFC 5533 §5.7 R2 with Locator Preferences, element length 3
		// (§5.15.3): Length 11, 1 octet of padding.
		//
		//	|       59      |  Hdr Ext Len  |0|  Type = 4   |   Reserved1 |0|
		//	|            Checksum           |R|                             |
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Responder Context Tag     |
		//	|                    Initiator Nonce                            |
		//	|           Type = 3          |0|            Length             |
		//	|                     Locator List Generation                   |
		//	|  Element Len  |  Element[1]   |  Element[2]   |  ...          |
		name: "R2",
		wire: []byte{
			0x3b, 0x03, 0x04, 0x00,
			0x1d, 0xb3, 0x7f, 0xff, // R=0, largest 47-bit tag
			0xff, 0xff, 0xff, 0xff,
			0x0a, 0x0b, 0x0c, 0x0d, // Initiator Nonce
			0x00, 0x06, 0x00, 0x0b, // option 3, Length 11
			0x00, 0x00, 0x00, 0x07, // Generation 7
			0x03,             // Element Len 3
			0x00, 0x0a, 0x05, // flags 0, priority 10, weight 5
			0x01, 0x14, 0xff, // BROKEN, priority 20, weight 255
			0x00, // padding
		},
		want: &wire.R2{ResponderContextTag: wire.MaxContextTag, InitiatorNonce: 0x0a0b0c0d,
			Options: wire.Options{LocatorPreferences: &wire.LocatorPreferences{Generation: 7, ElementLen: 3,
				Elements: []wire.Preference{{Priority: 10, Weight: 5}, {Flags: wire.PreferenceBroken, Priority: 20, Weight: 255}}}}},
	},
	{
		// RFC 5533 §5.10 Update Request with a one-locator Locator List
		// (6 octets of internal padding) and Locator Preferences with
		// element length 1 (6 octets of padding).
		//
		//	|       59      |  Hdr Ext Len  |0|  Type = 64  |   Reserved1 |0|
		//	|            Checksum           |R|                             |
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Receiver Context Tag      |
		//	|                    Request Nonce                              |
		name: "UpdateRequest",
		wire: []byte{
			0x3b, 0x07, 0x40, 0x00,
			0xa3, 0x93, 0x00, 0x01, // tag 0x000102030405
			0x02, 0x03, 0x04, 0x05,
			0x55, 0xaa, 0x55, 0xaa, // Request Nonce
			0x00, 0x04, 0x00, 0x1c, // Locator List, Length 28
			0x00, 0x00, 0x00, 0x08, 0x01, 0x01, // generation 8, one locator, HBA
			0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // internal padding
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,
			0x00, 0x06, 0x00, 0x06, // Locator Preferences, Length 6
			0x00, 0x00, 0x00, 0x08, 0x01, 0x02, // generation 8, Element Len 1, TRANSIENT
			0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // padding
		},
		want: &wire.UpdateRequest{ReceiverContextTag: 0x000102030405, RequestNonce: 0x55aa55aa,
			Options: wire.Options{
				LocatorList: &wire.LocatorList{Generation: 8, Locators: []wire.Locator{
					{Addr: addr("2001:db8:3::c"), Method: wire.VerifyHBA}}},
				LocatorPreferences: &wire.LocatorPreferences{Generation: 8, ElementLen: 1,
					Elements: []wire.Preference{{Flags: wire.PreferenceTransient}}},
			}},
	},
	{
		// RFC 5534 §5.1 Keepalive.
		//
		//	|  Next Header  |  Hdr Ext Len  |0|  Type = 66  |  Reserved1  |0|
		//	|            Checksum           |R|                             |
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Receiver Context Tag      |
		//	|                           Reserved2                           |
		name: "Keepalive",
		wire: []byte{
			0x3b, 0x01, 0x42, 0x00,
			0xb4, 0x63, 0x00, 0x00,
			0x00, 0xab, 0xcd, 0xef, // tag 0xabcdef
			0x00, 0x00, 0x00, 0x00, // Reserved2
		},
		want: &wire.Keepalive{ReceiverContextTag: 0xabcdef},
	},
	{
		// RFC 5534 §5.2 Probe, State InboundOk, one sent and one received
		// report.
		//
		//	|  Next Header  |  Hdr Ext Len  |0|  Type = 67  |   Reserved  |0|
		//	|            Checksum           |R|                             |
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Receiver Context Tag      |
		//	| Precvd| Psent |Sta|                 Reserved2                 |
		//	| sent: source (16) destination (16) nonce data                 |
		//	| received: source (16) destination (16) nonce data             |
		name: "Probe",
		wire: []byte{
			0x3b, 0x0b, 0x43, 0x00,
			0x63, 0x07, 0x00, 0x00,
			0x00, 0x00, 0x00, 0xff, // tag 0xff
			0x11, 0x80, 0x00, 0x00, // Precvd 1, Psent 1, Sta 2
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,
			0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,
			0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
			0x33, 0x33, 0x33, 0x33, 0x44, 0x44, 0x44, 0x44,
		},
		want: &wire.Probe{ReceiverContextTag: 0xff, State: wire.ReapInboundOK,
			Sent: []wire.ProbeReport{{Source: addr("2001:db8:1::a"), Destination: addr("2001:db8:3::c"),
				Nonce: 0x11111111, Data: 0x22222222}},
			Received: []wire.ProbeReport{{Source: addr("2001:db8:3::c"), Destination: addr("2001:db8:1::a"),
				Nonce: 0x33333333, Data: 0x44444444}}},
	},
	{
		// RFC 5533 §5.9 I2bis: 49 reserved bits, then the Packet Context Tag.
		//
		//	|                    Responder Nonce                            |
		//	|                       Reserved2                               |
		//	|                                 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
		//	|                                 |                             |
		//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Packet Context Tag        |
		name: "I2bis",
		wire: []byte{
			0x3b, 0x04, 0x06, 0x00,
			0xcd, 0x01, 0x00, 0x00,
			0x00, 0x00, 0x11, 0x11, // Initiator Context Tag 0x1111
			0x01, 0x01, 0x01, 0x01, // Initiator Nonce
			0x02, 0x02, 0x02, 0x02, // Responder Nonce
			0x00, 0x00, 0x00, 0x00, // Reserved2 ...
			0x00, 0x00, 0x00, 0x00, // ... and the reserved bit, Packet Context Tag 0x22223333
			0x22, 0x22, 0x33, 0x33,
			0x00, 0x02, 0x00, 0x04, 0xc1, 0xc2, 0xc3, 0xc4, // Responder Validator
		},
		want: &wire.I2bis{InitiatorContextTag: 0x1111, InitiatorNonce: 0x01010101, ResponderNonce: 0x02020202,
			PacketContextTag: 0x22223333, Options: wire.Options{ResponderValidator: []byte{0xc1, 0xc2, 0xc3, 0xc4}}},
	},
	{
		// RFC 5533 §5.14 Error, code 1, pointer 0x48, with 16 octets of the
		// invoking packet.
		//
		//	|       59      |  Hdr Ext Len  |0|  Type = 68  |  Error Code |0|
		//	|            Checksum           |            Pointer            |
		name: "Error",
		wire: []byte{
			0x3b, 0x02, 0x44, 0x02, // Error Code 1 in the type-specific bits
			0xe5, 0x9a, 0x00, 0x48,
			0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00,
			0x3b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		},
		want: &wire.ErrorMessage{Code: wire.ErrorCodeCriticalOption, Pointer: 0x48,
			PacketInError: []byte{0x60, 0, 0, 0, 0, 0x18, 0, 0, 0x3b, 0, 0, 0, 0, 0, 0, 0}},
	},
}

func TestGoldenChecksums(t *testing.T) {
	for _, g := range goldens {
		if c := header.Checksum(g.wire); c != 0 {
			t.Errorf("%s: golden checksum does not verify (sum %#04x)", g.name, c)
		}
		if got, want := len(g.wire), (int(g.wire[1])+1)*8; got != want {
			t.Errorf("%s: %d octets, Hdr Ext Len says %d", g.name, got, want)
		}
	}
}

func TestGoldenDecode(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			got, err := wire.Decode(g.wire)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(g.want, got, cmpOpts); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGoldenEncode(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			buf := bytes.Repeat([]byte{0xee}, len(g.wire)+8) // dirty, to catch unwritten octets
			n, err := g.want.MarshalTo(buf)
			if err != nil {
				t.Fatalf("MarshalTo: %v", err)
			}
			if n != len(g.wire) || g.want.Len() != n {
				t.Fatalf("MarshalTo wrote %d octets, Len %d, want %d", n, g.want.Len(), len(g.wire))
			}
			if !bytes.Equal(buf[:n], g.wire) {
				t.Errorf("encoding differs from the RFC layout:\n got %x\nwant %x", buf[:n], g.wire)
			}
		})
	}
}

func TestGoldenCGAParameters(t *testing.T) {
	want := &wire.CGAParameters{
		Modifier:     [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
		SubnetPrefix: pfx("2001:db8:1::/64"),
		PublicKey:    []byte{0x30, 0x03, 0x02, 0x01, 0x05},
		Extensions: []wire.CGAExtension{{Type: wire.CGAExtMultiPrefix, MultiPrefix: &wire.MultiPrefix{
			Prefixes: []netip.Prefix{pfx("2001:db8:1::/64"), pfx("2001:db8:2::/64")}}}},
	}
	got, err := wire.ParseCGAParameters(goldenPDS)
	if err != nil {
		t.Fatalf("ParseCGAParameters: %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	enc, err := wire.AppendCGAParameters(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, goldenPDS) {
		t.Errorf("encoding differs:\n got %x\nwant %x", enc, goldenPDS)
	}
}
