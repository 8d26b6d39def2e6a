package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shim6d/control/wire"
)

// pds is a small, well-formed CGA Parameters structure for options.
var pds = goldenPDS

func locs(n int, m wire.VerificationMethod) []wire.Locator {
	l := make([]wire.Locator, n)
	for i := range l {
		a := netip.MustParseAddr("2001:db8::").As16()
		a[5], a[15] = byte(i+1), byte(i+1)
		l[i] = wire.Locator{Addr: netip.AddrFrom16(a), Method: m}
	}
	return l
}

func reports(n int, seed uint32) []wire.ProbeReport {
	if n == 0 {
		return nil
	}
	r := make([]wire.ProbeReport, n)
	for i := range r {
		r[i] = wire.ProbeReport{Source: addr(fmt.Sprintf("2001:db8:%x::1", i+1)),
			Destination: addr(fmt.Sprintf("2001:db8:%x::2", 0x100+i)), Nonce: seed + uint32(i), Data: ^seed - uint32(i)}
	}
	return r
}

func allLocatorOptions(method wire.VerificationMethod, elemLen uint8) wire.Options {
	prefs := make([]wire.Preference, 3)
	for i := range prefs {
		prefs[i].Flags = wire.PreferenceFlags(i)
		if elemLen >= 2 {
			prefs[i].Priority = uint8(10 * i)
		}
		if elemLen >= 3 {
			prefs[i].Weight = uint8(100 + i)
		}
	}
	o := wire.Options{
		LocatorList:               &wire.LocatorList{Generation: 0xfffffffe, Locators: locs(3, method)},
		LocatorPreferences:        &wire.LocatorPreferences{Generation: 0xfffffffe, ElementLen: elemLen, Elements: prefs},
		CGAParameterDataStructure: pds,
		KeepaliveTimeout:          ktP(0xffff),
	}
	if method == wire.VerifyCGA {
		o.CGASignature = bytes.Repeat([]byte{0x5a}, 128)
	}
	return o
}

// roundTrips covers every message and every option, each Locator
// Preferences element length, and messages with many options.
func roundTrips() []wire.Message {
	ulids := &wire.ULIDPair{Sender: addr("2001:db8:a::1"), Receiver: addr("2001:db8:b::2")}
	unknown := []wire.RawOption{{Type: 99, Contents: []byte("future")}, {Type: 0x7fff, Contents: []byte{}}, {Type: 0, Contents: bytes.Repeat([]byte{1}, 13)}}
	i2full := allLocatorOptions(wire.VerifyCGA, 2)
	i2full.ResponderValidator = bytes.Repeat([]byte{0xaa}, 20)
	i2full.ULIDPair = ulids
	i2full.ForkedInstanceIdentifier = fiiP(0xffffffff)
	i2full.Unknown = unknown
	i2bisFull := allLocatorOptions(wire.VerifyHBA, 3)
	i2bisFull.ResponderValidator = []byte{1}
	i2bisFull.ULIDPair = ulids
	i2bisFull.ForkedInstanceIdentifier = fiiP(0)
	mixed := allLocatorOptions(wire.VerifyHBA, 1)
	mixed.LocatorList.Locators[1].Method = wire.VerifyCGA
	mixed.CGASignature = []byte{9, 9, 9}
	return []wire.Message{
		&wire.I1{},
		&wire.I1{InitiatorContextTag: wire.MaxContextTag, InitiatorNonce: 0xffffffff,
			Options: wire.Options{ULIDPair: ulids, ForkedInstanceIdentifier: fiiP(3), Unknown: unknown}},
		&wire.R1{InitiatorNonce: 1, ResponderNonce: 2, Options: wire.Options{ResponderValidator: []byte{}}},
		&wire.R1{Options: wire.Options{ResponderValidator: bytes.Repeat([]byte{7}, 33), Unknown: unknown[:1]}},
		&wire.I2{InitiatorContextTag: 1, InitiatorNonce: 2, ResponderNonce: 3, Options: wire.Options{ResponderValidator: []byte{4}}},
		&wire.I2{InitiatorContextTag: 0x400000000000, InitiatorNonce: 2, ResponderNonce: 3, Options: i2full},
		&wire.R2{ResponderContextTag: 5, InitiatorNonce: 6},
		&wire.R2{ResponderContextTag: 5, InitiatorNonce: 6, Options: allLocatorOptions(wire.VerifyHBA, 1)},
		&wire.R2{ResponderContextTag: 5, InitiatorNonce: 6, Options: mixed},
		&wire.R1bis{PacketContextTag: 0x7fff00000001, ResponderNonce: 8, Options: wire.Options{ResponderValidator: []byte("validator")}},
		&wire.I2bis{InitiatorContextTag: 9, InitiatorNonce: 10, ResponderNonce: 11, PacketContextTag: wire.MaxContextTag,
			Options: i2bisFull},
		&wire.UpdateRequest{ReceiverContextTag: 12, RequestNonce: 13},
		&wire.UpdateRequest{ReceiverContextTag: 12, RequestNonce: 13, Options: allLocatorOptions(wire.VerifyCGA, 3)},
		&wire.UpdateRequest{ReceiverContextTag: 12, RequestNonce: 13, Options: wire.Options{
			LocatorPreferences: &wire.LocatorPreferences{Generation: 1, ElementLen: 2}}},
		&wire.UpdateAck{ReceiverContextTag: 14, RequestNonce: 15},
		&wire.UpdateAck{ReceiverContextTag: 14, RequestNonce: 15, Options: wire.Options{Unknown: unknown}},
		&wire.Keepalive{ReceiverContextTag: 16},
		&wire.Keepalive{ReceiverContextTag: 16, Options: wire.Options{Unknown: unknown[1:]}},
		&wire.Probe{ReceiverContextTag: 17, State: wire.ReapExploring, Sent: reports(1, 100)},
		&wire.Probe{ReceiverContextTag: 17, State: wire.ReapOperational, Sent: reports(15, 100), Received: reports(15, 200)},
		&wire.Probe{ReceiverContextTag: 17, State: wire.ReapInboundOK, Sent: reports(2, 1), Received: reports(1, 2),
			Options: wire.Options{Unknown: unknown[:1]}},
		&wire.ErrorMessage{Code: wire.ErrorCodeUnknownType, Pointer: 42, PacketInError: bytes.Repeat([]byte{0xab}, 8)},
		&wire.ErrorMessage{Code: 127, Pointer: 0xffff, PacketInError: bytes.Repeat([]byte{0xcd}, wire.MaxMessageLen-8)},
	}
}

func TestRoundTrip(t *testing.T) {
	for i, m := range roundTrips() {
		t.Run(fmt.Sprintf("%d-%s", i, m.Type()), func(t *testing.T) {
			b, err := wire.Marshal(m)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if len(b)%8 != 0 || len(b) != m.Len() {
				t.Fatalf("encoded %d octets, Len %d", len(b), m.Len())
			}
			got, err := wire.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(m, got, cmpOpts); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
			// Append grows a slice that already holds something.
			app, err := wire.Append([]byte("prefix"), m)
			if err != nil || !bytes.Equal(app[6:], b) || string(app[:6]) != "prefix" {
				t.Errorf("Append = %x, %v", app, err)
			}
		})
	}
}

// TestLocatorPreferencesLongElements: elements longer than 3 octets keep
// flags, priority and weight in their first three octets (RFC 5533 §5.15.3);
// the rest is ignored on receipt and zero on transmit.
func TestLocatorPreferencesLongElements(t *testing.T) {
	b := fixChecksum(hexBytes(`
		3b 04 40 00 0000 0000  00000001 00000002
		0006 000d 00000009 04  01020304 05060708 00000000000000`))
	m, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &wire.UpdateRequest{ReceiverContextTag: 1, RequestNonce: 2, Options: wire.Options{
		LocatorPreferences: &wire.LocatorPreferences{Generation: 9, ElementLen: 4,
			Elements: []wire.Preference{{Flags: 1, Priority: 2, Weight: 3}, {Flags: 5, Priority: 6, Weight: 7}}}}}
	if diff := cmp.Diff(want, m, cmpOpts); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	re, err := wire.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := fixChecksum(hexBytes(`
		3b 04 40 00 0000 0000  00000001 00000002
		0006 000d 00000009 04  01020300 05060700 00000000000000`)); !bytes.Equal(re, want) {
		t.Errorf("re-encoded %x, want %x", re, want)
	}
}

func TestMarshalNoAllocs(t *testing.T) {
	buf := make([]byte, wire.MaxMessageLen)
	for _, m := range append(roundTrips(), goldenMessages()...) {
		if n := testing.AllocsPerRun(50, func() {
			if _, err := m.MarshalTo(buf); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: MarshalTo allocates %.1f times", m.Type(), n)
		}
	}
	// A message built on the stack for one send does not escape.
	if n := testing.AllocsPerRun(50, func() {
		ka := wire.Keepalive{ReceiverContextTag: 77}
		if _, err := ka.MarshalTo(buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("stack Keepalive allocates %.1f times", n)
	}
}

func goldenMessages() []wire.Message {
	var ms []wire.Message
	for _, g := range goldens {
		ms = append(ms, g.want)
	}
	return ms
}

func TestMarshalErrors(t *testing.T) {
	ulid := &wire.ULIDPair{Sender: addr("2001:db8::1"), Receiver: addr("2001:db8::2")}
	tests := []struct {
		name string
		m    wire.Message
		want error
	}{
		{"tag over 47 bits", &wire.I1{InitiatorContextTag: 1 << 47}, wire.ErrInvalidValue},
		{"I2bis packet tag over 47 bits", &wire.I2bis{PacketContextTag: 1 << 47, Options: wire.Options{ResponderValidator: []byte{1}}}, wire.ErrInvalidValue},
		{"R1 without validator", &wire.R1{}, wire.ErrMissingOption},
		{"I2 without validator", &wire.I2{}, wire.ErrMissingOption},
		{"R1bis without validator", &wire.R1bis{}, wire.ErrMissingOption},
		{"I2bis without validator", &wire.I2bis{}, wire.ErrMissingOption},
		{"I2 locator list without PDS", &wire.I2{Options: wire.Options{ResponderValidator: []byte{1},
			LocatorList: &wire.LocatorList{Locators: locs(1, wire.VerifyHBA)}}}, wire.ErrMissingOption},
		{"update CGA locator without signature", &wire.UpdateRequest{Options: wire.Options{
			LocatorList: &wire.LocatorList{Locators: locs(1, wire.VerifyCGA)}}}, wire.ErrMissingOption},
		{"option not defined for I1", &wire.I1{Options: wire.Options{ResponderValidator: []byte{1}}}, wire.ErrInvalidValue},
		{"option not defined for Keepalive", &wire.Keepalive{Options: wire.Options{KeepaliveTimeout: ktP(1)}}, wire.ErrInvalidValue},
		{"known option as raw", &wire.I1{Options: wire.Options{Unknown: []wire.RawOption{{Type: wire.OptULIDPair}}}}, wire.ErrInvalidValue},
		{"raw option type over 15 bits", &wire.I1{Options: wire.Options{Unknown: []wire.RawOption{{Type: 0x8000}}}}, wire.ErrInvalidValue},
		{"empty locator list", &wire.UpdateRequest{Options: wire.Options{LocatorList: &wire.LocatorList{}}}, wire.ErrInvalidValue},
		{"IPv4 locator", &wire.UpdateRequest{Options: wire.Options{LocatorList: &wire.LocatorList{
			Locators: []wire.Locator{{Addr: addr("192.0.2.1")}}}}}, wire.ErrInvalidValue},
		{"zero locator", &wire.UpdateRequest{Options: wire.Options{LocatorList: &wire.LocatorList{
			Locators: []wire.Locator{{}}}}}, wire.ErrInvalidValue},
		{"zoned ULID", &wire.I1{Options: wire.Options{ULIDPair: &wire.ULIDPair{Sender: addr("fe80::1%eth0"), Receiver: addr("fe80::2")}}}, wire.ErrInvalidValue},
		{"element length 0", &wire.UpdateRequest{Options: wire.Options{LocatorPreferences: &wire.LocatorPreferences{}}}, wire.ErrInvalidValue},
		{"priority beyond element length 1", &wire.UpdateRequest{Options: wire.Options{LocatorPreferences: &wire.LocatorPreferences{
			ElementLen: 1, Elements: []wire.Preference{{Priority: 1}}}}}, wire.ErrInvalidValue},
		{"weight beyond element length 2", &wire.UpdateRequest{Options: wire.Options{LocatorPreferences: &wire.LocatorPreferences{
			ElementLen: 2, Elements: []wire.Preference{{Weight: 1}}}}}, wire.ErrInvalidValue},
		{"probe without sent report", &wire.Probe{}, wire.ErrInvalidValue},
		{"probe with 16 sent reports", &wire.Probe{Sent: reports(16, 0)}, wire.ErrInvalidValue},
		{"probe with 16 received reports", &wire.Probe{Sent: reports(1, 0), Received: reports(16, 0)}, wire.ErrInvalidValue},
		{"probe state 3", &wire.Probe{State: 3, Sent: reports(1, 0)}, wire.ErrInvalidValue},
		{"probe report without address", &wire.Probe{Sent: []wire.ProbeReport{{}}}, wire.ErrInvalidValue},
		{"error code over 7 bits", &wire.ErrorMessage{Code: 128}, wire.ErrInvalidValue},
		{"error packet too big", &wire.ErrorMessage{PacketInError: make([]byte, wire.MaxMessageLen)}, wire.ErrTooBig},
		{"locator list too big", &wire.I2{Options: wire.Options{ResponderValidator: []byte{1}, CGAParameterDataStructure: pds,
			LocatorList: &wire.LocatorList{Locators: locs(80, wire.VerifyHBA)}}}, wire.ErrTooBig},
		{"ULID option in I1 is fine but tag is not", &wire.I1{InitiatorContextTag: ^uint64(0), Options: wire.Options{ULIDPair: ulid}}, wire.ErrInvalidValue},
	}
	buf := make([]byte, 2*wire.MaxMessageLen)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.m.MarshalTo(buf)
			if !errors.Is(err, tt.want) {
				t.Fatalf("MarshalTo error %v, want %v", err, tt.want)
			}
			var we *wire.Error
			if !errors.As(err, &we) || we.Msg != tt.m.Type() {
				t.Errorf("error %#v is not a *wire.Error for %s", err, tt.m.Type())
			}
		})
	}
	t.Run("short buffer", func(t *testing.T) {
		m := &wire.Keepalive{ReceiverContextTag: 1}
		if _, err := m.MarshalTo(make([]byte, 15)); !errors.Is(err, wire.ErrShortBuffer) {
			t.Fatalf("got %v, want ErrShortBuffer", err)
		}
	})
}

func TestNewErrorMessage(t *testing.T) {
	pkt := bytes.Repeat([]byte{0x60}, 1500)
	e := wire.NewErrorMessage(wire.ErrorCodeCriticalOption, 40+24, pkt, 0)
	b, err := wire.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)+wire.IPv6HeaderLen != wire.MaxPacketLen {
		t.Errorf("Error message of %d octets makes a %d-octet packet, want exactly 1280", len(b), len(b)+40)
	}
	// With a 24-octet extension header in front the packet still fits.
	e = wire.NewErrorMessage(wire.ErrorCodeCriticalOption, 64, pkt, 24)
	if n := e.Len() + 40 + 24; n > wire.MaxPacketLen {
		t.Errorf("packet of %d octets exceeds 1280", n)
	}
	// A decoding failure tells the caller what to answer.
	bad := fixChecksum(hexBytes("3b 01 7f 00 0000 0000 00000000 00000000"))
	_, err = wire.Decode(bad)
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("no *wire.Error: %v", err)
	}
	code, ptr, ok := we.Reply()
	if !ok || code != wire.ErrorCodeUnknownType || ptr != 2 {
		t.Fatalf("Reply = %v, %d, %v; want code 0, pointer 2", code, ptr, ok)
	}
}
