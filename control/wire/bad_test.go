package wire_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"shim6d/control/wire"
)

// TestTruncatedEverywhere cuts every golden message at every octet: each
// cut must fail with ErrTruncated, never panic.
func TestTruncatedEverywhere(t *testing.T) {
	for _, g := range goldens {
		for k := 0; k < len(g.wire); k++ {
			_, err := wire.Decode(g.wire[:k])
			if !errors.Is(err, wire.ErrTruncated) {
				t.Errorf("%s cut at %d: %v, want ErrTruncated", g.name, k, err)
			}
		}
	}
}

// TestFixedFieldsCut shrinks Hdr Ext Len (and the message with it) so that
// the message ends inside its fixed fields: ErrBadLength, since the
// message is complete but too short for its type (RFC 5533 §7.9 ff.).
func TestFixedFieldsCut(t *testing.T) {
	for _, g := range goldens {
		fixed := map[string]int{"I2": 24, "I2bis": 32, "Probe": 96}[g.name]
		for n := 8; n < fixed; n += 8 {
			b := append([]byte(nil), g.wire[:n]...)
			b[1] = byte(n/8 - 1)
			fixChecksum(b)
			if _, err := wire.Decode(b); !errors.Is(err, wire.ErrBadLength) {
				t.Errorf("%s with Hdr Ext Len %d: %v, want ErrBadLength", g.name, b[1], err)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	i2 := goldens[2].wire
	tests := []struct {
		name  string
		in    []byte
		want  error
		field string
		at    int
		// reason, when set, is a substring of Error.Reason that tells this
		// failure from others with the same sentinel.
		reason string
	}{
		{name: "empty", in: nil, want: wire.ErrTruncated, at: 0},
		{name: "common header cut", in: hexBytes("3b 01 01 00 0000 12"), want: wire.ErrTruncated},
		{name: "header length beyond the packet",
			in: fixChecksum(hexBytes("3b 02 01 00 0000 0000 00000001 00000002")), want: wire.ErrTruncated, field: "Hdr Ext Len", at: 1},
		{name: "header length 255 beyond the packet",
			in: fixChecksum(hexBytes("3b ff 42 00 0000 0000 00000001 00000000")), want: wire.ErrTruncated},
		{name: "over 1280-octet packet", in: fixChecksum(append(hexBytes("3b 9b 42 00 0000 0000 00000001 00000000"), make([]byte, 1248-16)...)),
			want: wire.ErrTooBig},
		{name: "bad checksum", in: flip(i2, 4), want: wire.ErrBadChecksum, field: "Checksum", at: 4},
		{name: "corrupted body", in: flip(i2, 100), want: wire.ErrBadChecksum},
		{name: "P bit set on control decode", in: fixChecksum(hexBytes("11 00 81 23 4567 89ab")), want: wire.ErrPBit, at: 2},
		{name: "S bit set", in: fixChecksum(hexBytes("3b 01 42 01 0000 0000 00000001 00000000")), want: wire.ErrSBit},
		{name: "unknown type 7", in: fixChecksum(hexBytes("3b 01 07 00 0000 0000 00000001 00000000")), want: wire.ErrUnknownType, at: 2},
		{name: "unknown type 0", in: fixChecksum(hexBytes("3b 01 00 00 0000 0000 00000001 00000000")), want: wire.ErrUnknownType},
		{name: "next header not 59", in: fixChecksum(hexBytes("06 01 42 00 0000 0000 00000001 00000000")), want: wire.ErrInvalidValue, at: 0},
		{name: "I1 below its 16 octets", in: fixChecksum(hexBytes("3b 00 01 00 0000 0000")), want: wire.ErrBadLength},
		{name: "Error below its 16 octets", in: fixChecksum(hexBytes("3b 00 44 00 0000 0000")), want: wire.ErrBadLength},
		{name: "option overruns the message",
			in: fixChecksum(hexBytes("3b 02 02 00 0000 0000 00000001 00000002 0002 0009 01020304")), want: wire.ErrBadLength,
			field: "Responder Validator option", at: 16},
		{name: "option padding overruns the message", // Length 5 needs 16 octets, 8 left
			in: fixChecksum(hexBytes("3b 02 02 00 0000 0000 00000001 00000002 0002 0005 01020304")), want: wire.ErrBadLength},
		{name: "locator list length not a multiple of 8",
			in: fixChecksum(hexBytes(`3b 06 40 00 0000 0000 00000001 00000002
				0004 001d 00000001 01 01 000000000000 20010db8 00000000 00000000 00000001 00 00000000000000`)),
			want: wire.ErrBadLength, field: "Locator List option", reason: "internal padding"},
		{name: "locator list length without internal padding",
			in: fixChecksum(hexBytes(`3b 05 40 00 0000 0000 00000001 00000002
				0004 0016 00000001 01 01 20010db8 00000000 00000000 00000001 000000000000`)),
			want: wire.ErrBadLength, reason: "internal padding"},
		{name: "locator list with no locators",
			in:   fixChecksum(hexBytes("3b 03 40 00 0000 0000 00000001 00000002 0004 0005 00000001 00 00000000000000")),
			want: wire.ErrInvalidValue},
		{name: "preferences not a multiple of element length",
			in:   fixChecksum(hexBytes("3b 03 40 00 0000 0000 00000001 00000002 0006 0008 00000001 02 010203 00000000")),
			want: wire.ErrBadLength, reason: "multiple of element length"},
		{name: "preferences element length 0",
			in:   fixChecksum(hexBytes("3b 03 40 00 0000 0000 00000001 00000002 0006 0005 00000001 00 00000000000000")),
			want: wire.ErrInvalidValue},
		{name: "preferences shorter than fixed part",
			in:   fixChecksum(hexBytes("3b 02 40 00 0000 0000 00000001 00000002 0006 0004 00000001 00000000")),
			want: wire.ErrBadLength},
		{name: "ULID pair Length 35",
			in: fixChecksum(hexBytes(`3b 06 01 00 0000 0000 00000001 00000002 000c 0023 00000000
				20010db8 00000000 00000000 00000001 20010db8 00000000 00000000 000002 00`)),
			want: wire.ErrBadLength, field: "ULID Pair option"},
		{name: "FII Length 8",
			in:   fixChecksum(hexBytes("3b 03 01 00 0000 0000 00000001 00000002 000e 0008 00000001 00000002 00000000")),
			want: wire.ErrBadLength},
		{name: "keepalive timeout Length 2",
			in:   fixChecksum(hexBytes("3b 02 40 00 0000 0000 00000001 00000002 0014 0002 001e 0000")),
			want: wire.ErrBadLength},
		{name: "unknown critical option",
			in:   fixChecksum(hexBytes("3b 02 01 00 0000 0000 00000001 00000002 00c7 0002 abcd 0000")),
			want: wire.ErrUnknownCriticalOption, field: "option type 99 option", at: 16},
		{name: "critical option not defined for the message",
			in:   fixChecksum(hexBytes("3b 02 42 00 0000 0000 00000001 00000000 0015 0004 0000 001e")),
			want: wire.ErrUnknownCriticalOption, at: 16},
		{name: "critical option after a good one",
			in: fixChecksum(hexBytes(`3b 03 02 00 0000 0000 00000001 00000002 0002 0004 01020304
				ffff 0000 00000000`)),
			want: wire.ErrUnknownCriticalOption, at: 24},
		{name: "duplicate option",
			in:   fixChecksum(hexBytes("3b 03 02 00 0000 0000 00000001 00000002 0002 0004 01020304 0002 0004 01020304")),
			want: wire.ErrDuplicateOption},
		{name: "R1 without Responder Validator",
			in: fixChecksum(hexBytes("3b 01 02 00 0000 0000 00000001 00000002")), want: wire.ErrMissingOption},
		{name: "I2 without Responder Validator",
			in: fixChecksum(hexBytes("3b 02 03 00 0000 0000 00000001 00000002 00000003 00000000")), want: wire.ErrMissingOption},
		{name: "R1bis without Responder Validator",
			in: fixChecksum(hexBytes("3b 01 05 00 0000 0000 00000001 00000002")), want: wire.ErrMissingOption},
		{name: "I2bis without Responder Validator",
			in: fixChecksum(hexBytes("3b 03 06 00 0000 0000 00000001 00000002 00000003 00000000 00000000 00000004")), want: wire.ErrMissingOption},
		{name: "I2 locator list without PDS",
			in: fixChecksum(hexBytes(`3b 07 03 00 0000 0000 00000001 00000002 00000003 00000000 0002 0004 01020304
				0004 001c 00000001 01 01 000000000000 20010db8 00000000 00000000 00000001`)),
			want: wire.ErrMissingOption, field: "CGA Parameter Data Structure option"},
		{name: "update with CGA locator and no signature",
			in: fixChecksum(hexBytes(`3b 05 40 00 0000 0000 00000001 00000002
				0004 001c 00000001 01 02 000000000000 20010db8 00000000 00000000 00000001`)),
			want: wire.ErrMissingOption, field: "CGA Signature option"},
		{name: "probe with Psent 0",
			in: fixChecksum(hexBytes("3b 01 43 00 0000 0000 00000001 00 00 0000")), want: wire.ErrInvalidValue, field: "Psent"},
		{name: "probe with State 3",
			in:   fixChecksum(append(hexBytes("3b 06 43 00 0000 0000 00000001 01 c0 0000"), make([]byte, 40)...)),
			want: wire.ErrInvalidValue, field: "State"},
		{name: "probe reports overrun the message",
			in:   fixChecksum(append(hexBytes("3b 06 43 00 0000 0000 00000001 11 00 0000"), make([]byte, 40)...)),
			want: wire.ErrBadLength, field: "probe reports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := wire.Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, %v; want %v", m, err, tt.want)
			}
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("%T is not *wire.Error", err)
			}
			if tt.field != "" && we.Field != tt.field {
				t.Errorf("Field %q, want %q (%v)", we.Field, tt.field, err)
			}
			if !strings.Contains(we.Reason, tt.reason) {
				t.Errorf("Reason %q does not say %q", we.Reason, tt.reason)
			}
			if tt.at != 0 && we.Offset != tt.at {
				t.Errorf("Offset %d, want %d (%v)", we.Offset, tt.at, err)
			}
			if m != nil {
				t.Errorf("a message came with the error: %#v", m)
			}
			if err.Error() == "" {
				t.Error("empty message")
			}
		})
	}
}

// TestCriticalOptionReply: the typed error carries what the Error message
// needs (RFC 5533 §5.15: Error Code 1, Pointer at the Option Type).
func TestCriticalOptionReply(t *testing.T) {
	b := fixChecksum(hexBytes(`3b 03 02 00 0000 0000 00000001 00000002 0002 0004 01020304
		ffff 0000 00000000`))
	_, err := wire.Decode(b)
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatal(err)
	}
	code, ptr, ok := we.Reply()
	if !ok || code != wire.ErrorCodeCriticalOption || ptr != 24 {
		t.Fatalf("Reply = %v %d %v, want code 1 pointer 24", code, ptr, ok)
	}
	// 40 octets of IPv6 header precede the Shim6 header in the invoking packet.
	pkt := append(make([]byte, 40), b...)
	e := wire.NewErrorMessage(code, 40+ptr, pkt, 0)
	if e.Pointer != 64 || len(e.PacketInError) != len(pkt) {
		t.Errorf("Error message %+v", e)
	}
	// Other failures ask for no reply.
	_, err = wire.Decode(flip(b, 9))
	if errors.As(err, &we); func() bool { _, _, ok := we.Reply(); return ok }() {
		t.Errorf("bad checksum asks for an Error reply")
	}
}

// TestUnknownNonCriticalKept: unknown options with C=0, and known options
// the message does not define, are skipped and kept raw (RFC 5533 §5.15).
func TestUnknownNonCriticalKept(t *testing.T) {
	b := fixChecksum(hexBytes(`3b 03 42 00 0000 0000 00000001 00000000
		00c6 0002 abcd 0000  0014 0004 0000 001e`))
	m, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	u := m.(*wire.Keepalive).Options.Unknown
	if len(u) != 2 || u[0].Type != 99 || string(u[0].Contents) != "\xab\xcd" || u[1].Type != wire.OptKeepaliveTimeout {
		t.Fatalf("Unknown = %+v", u)
	}
}

func TestPayloadHeader(t *testing.T) {
	// RFC 5533 §5.2: | Next Header | 0 |1| Receiver Context Tag (47) |
	b := hexBytes("11 00 92 34 56 78 9a bc")
	h, err := wire.ParsePayloadHeader(b)
	if err != nil || h.NextHeader != 17 || h.ContextTag != 0x123456789abc {
		t.Fatalf("ParsePayloadHeader = %+v, %v", h, err)
	}
	if !wire.IsPayload(b) {
		t.Error("IsPayload false for P=1")
	}
	var out [8]byte
	if _, err := h.MarshalTo(out[:]); err != nil || string(out[:]) != string(b) {
		t.Errorf("MarshalTo = %x, %v", out, err)
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"truncated", b[:7], wire.ErrTruncated},
		{"P bit clear", hexBytes("11 00 12 34 56 78 9a bc"), wire.ErrPBit},
		{"Hdr Ext Len 1", hexBytes("11 01 92 34 56 78 9a bc 0000000000000000"), wire.ErrBadLength},
	} {
		if _, err := wire.ParsePayloadHeader(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	// A payload header handed to the control decoder is a P-bit mismatch.
	if _, err := wire.Decode(append(b, make([]byte, 8)...)); !errors.Is(err, wire.ErrPBit) {
		t.Errorf("control Decode of payload header: %v, want ErrPBit", err)
	}
	if _, err := (wire.PayloadHeader{ContextTag: 1 << 47}).MarshalTo(out[:]); !errors.Is(err, wire.ErrInvalidValue) {
		t.Errorf("47-bit overflow: %v", err)
	}
}

func TestOptionOffset(t *testing.T) {
	i2 := goldens[2].wire
	for _, tt := range []struct {
		t    wire.OptionType
		want int
		ok   bool
	}{
		{wire.OptResponderValidator, 24, true},
		{wire.OptLocatorList, 40, true},
		{wire.OptCGAParameterDataStructure, 88, true},
		{wire.OptKeepaliveTimeout, 152, true},
		{wire.OptULIDPair, 0, false},
	} {
		got, ok := wire.OptionOffset(i2, tt.t)
		if got != tt.want || ok != tt.ok {
			t.Errorf("OptionOffset(%v) = %d, %v; want %d, %v", tt.t, got, ok, tt.want, tt.ok)
		}
	}
	// The second verification method octet of the Locator List (Error Code 2).
	if off, _ := wire.OptionOffset(i2, wire.OptLocatorList); i2[off+wire.LocatorListMethodOffset+1] != byte(wire.VerifyHBA) {
		t.Error("LocatorListMethodOffset does not point at the methods")
	}
}

func TestErrorString(t *testing.T) {
	_, err := wire.Decode(flip(goldens[2].wire, 4))
	want := "shim6 I2: Checksum at octet 4: bad checksum: carries 0x5b1f, message sums to 0xa41f"
	if fmt.Sprint(err) != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0xff
	return c
}
