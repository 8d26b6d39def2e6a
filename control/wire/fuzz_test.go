package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shim6d/control/wire"
)

// FuzzDecode checks that Decode never panics, that every failure is a
// *wire.Error wrapping a sentinel, and that whatever decodes re-encodes to
// something that decodes to an equal value and encodes to the same octets
// (the encoder's output is a fixed point).
//
// Seeds: the golden messages (via f.Add below) and the files under
// testdata/fuzz/FuzzDecode, which hold interesting damaged messages. Plain
// `go test` runs all of them.
func FuzzDecode(f *testing.F) {
	for _, g := range goldens {
		f.Add(g.wire) // every message type the RFC layouts were written for
	}
	for _, m := range roundTrips() {
		if b, err := wire.Marshal(m); err == nil {
			f.Add(b) // every option, many options per message
		}
	}
	// A checksum-valid I1 whose option claims more than the message holds.
	f.Add(fixChecksum(hexBytes("3b 02 01 00 0000 0000 00000001 00000002 000c ffff 0000 0000")))
	// An unknown critical option after a good Responder Validator.
	f.Add(fixChecksum(hexBytes("3b 03 02 00 0000 0000 00000001 00000002 0002 0004 01020304 ffff 0000 00000000")))
	// A Probe whose report counts run past the message.
	f.Add(fixChecksum(hexBytes("3b 01 43 00 0000 0000 00000001 ff 00 0000")))

	f.Fuzz(func(t *testing.T, in []byte) {
		for ot := range wire.OptionType(12) {
			// The raw option walk behind Error pointers must not panic either.
			if off, ok := wire.OptionOffset(in, ot); ok && (off < 8 || off+4 > len(in)) {
				t.Fatalf("OptionOffset(%v) = %d outside the message", ot, off)
			}
		}
		m, err := wire.Decode(in)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Err == nil {
				t.Fatalf("error %v (%T) is not a *wire.Error with a sentinel", err, err)
			}
			_ = we.Error()
			return
		}
		b1, err := wire.Marshal(m)
		if err != nil {
			t.Fatalf("decoded %#v but cannot re-encode: %v", m, err)
		}
		m2, err := wire.Decode(b1)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v\n%x", err, b1)
		}
		if diff := cmp.Diff(m, m2, cmpOpts); diff != "" {
			t.Fatalf("decode(encode(decode(x))) differs (-first +second):\n%s", diff)
		}
		b2, err := wire.Marshal(m2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is not a fixed point: %v\n%x\n%x", err, b1, b2)
		}
		if len(b1) > len(in) && m.Type() != wire.TypeError {
			// Decoding keeps only what the input held and the encoder
			// adds nothing but padding it also removes, so the canonical
			// form is never longer (the Error message pads to 16).
			t.Fatalf("canonical form of %d octets from %d input octets", len(b1), len(in))
		}
	})
}

// FuzzCGAParameters checks the CGA Parameters parser the same way.
func FuzzCGAParameters(f *testing.F) {
	f.Add(goldenPDS)
	f.Add(append(append([]byte(nil), goldenPDS[:30]...), 0x12, 0x34, 0x00, 0x02, 0xaa, 0xbb))
	f.Add(append(make([]byte, 25), 0x30, 0x81, 0x80))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := wire.ParseCGAParameters(in)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("error %v is not a *wire.Error", err)
			}
			return
		}
		b, err := wire.AppendCGAParameters(nil, p)
		if err != nil {
			t.Fatalf("cannot re-encode %#v: %v", p, err)
		}
		p2, err := wire.ParseCGAParameters(b)
		if err != nil {
			t.Fatalf("re-encoded structure does not parse: %v", err)
		}
		if diff := cmp.Diff(p, p2, cmpOpts); diff != "" {
			t.Fatalf("mismatch (-first +second):\n%s", diff)
		}
	})
}
