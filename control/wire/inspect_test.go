package wire_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shim6d/control/wire"
)

// inputsForInspect is every golden and round-trip message, each cut at
// every octet, and each with every octet changed (checksum left stale, and
// repaired so that the later checks are reached).
func inputsForInspect(t *testing.T) [][]byte {
	var base [][]byte
	for _, g := range goldens {
		base = append(base, g.wire)
	}
	for _, m := range roundTrips() {
		if b, err := wire.Marshal(m); err == nil {
			base = append(base, b)
		}
	}
	var out [][]byte
	for _, b := range base {
		out = append(out, b)
		for k := 0; k < len(b); k++ {
			out = append(out, b[:k])
		}
		for i := range b {
			for _, x := range []byte{0x01, 0x80, 0xff, 0x10} {
				c := append([]byte(nil), b...)
				c[i] ^= x
				out = append(out, c)
				if len(c) >= 8 {
					out = append(out, fixChecksum(append([]byte(nil), c...)))
				}
			}
		}
	}
	return out
}

// checkInspect holds Inspect to Decode: no violation exactly when Decode
// accepts, the first violation is Decode's error, and an accepted
// message's fields and options are Decode's.
func checkInspect(t *testing.T, in []byte) {
	t.Helper()
	m, err := wire.Decode(in)
	got := wire.Inspect(in)
	if err == nil {
		if len(got.Violations) != 0 {
			t.Fatalf("%x: Decode accepts, Inspect finds %v", in, got.Violations)
		}
		if reflect.DeepEqual(m, got.Message) { // fast; cmp explains a difference
			return
		}
		if diff := cmp.Diff(m, got.Message, cmpOpts); diff != "" {
			t.Fatalf("%x: Inspect's message differs from Decode's (-decode +inspect):\n%s", in, diff)
		}
		return
	}
	if len(got.Violations) == 0 {
		t.Fatalf("%x: Decode refuses (%v), Inspect finds nothing", in, err)
	}
	if got.Violations[0].Error() != err.Error() {
		t.Fatalf("%x: first violation %q, Decode says %q", in, got.Violations[0], err)
	}
	for _, v := range got.Violations {
		if v.Err == nil || v.Error() == "" {
			t.Fatalf("%x: violation without a sentinel: %#v", in, v)
		}
	}
}

func TestInspectMatchesDecode(t *testing.T) {
	ins := inputsForInspect(t)
	for _, in := range ins {
		checkInspect(t, in)
	}
	t.Logf("%d inputs", len(ins))
}

// TestInspectKeepsReading: the case issue #17 names, an I2 with a Locator
// List but no CGA Parameter Data Structure, and a Locator List whose
// Length is wrong, still show every field.
func TestInspectKeepsReading(t *testing.T) {
	// The golden I2 with its PDS option turned into an unknown type 99, C = 0.
	i2 := append([]byte(nil), goldens[2].wire...)
	pds, ok := wire.OptionOffset(i2, wire.OptCGAParameterDataStructure)
	if !ok {
		t.Fatal("golden I2 has no PDS")
	}
	i2[pds], i2[pds+1] = 0, 99<<1
	fixChecksum(i2)
	got := wire.Inspect(i2)
	if len(got.Violations) != 1 || !errors.Is(got.Violations[0], wire.ErrMissingOption) {
		t.Fatalf("violations %v, want one missing option", got.Violations)
	}
	m, ok := got.Message.(*wire.I2)
	if !ok || m.InitiatorContextTag == 0 || m.Options.LocatorList == nil || m.Options.ResponderValidator == nil ||
		len(m.Options.Unknown) != 1 {
		t.Fatalf("message %#v", got.Message)
	}
	if len(got.Options) != 4 || got.Options[2].Type != 99 || got.Options[2].Defined {
		t.Fatalf("options %+v", got.Options)
	}

	// Num Locators 3 in a Locator List sized for 2: a bad length, two
	// locators read, the rest of the message read as well.
	i2 = append([]byte(nil), goldens[2].wire...)
	ll, _ := wire.OptionOffset(i2, wire.OptLocatorList)
	i2[ll+8] = 3
	fixChecksum(i2)
	got = wire.Inspect(i2)
	if len(got.Violations) != 1 || !errors.Is(got.Violations[0], wire.ErrBadLength) {
		t.Fatalf("violations %v, want one bad length", got.Violations)
	}
	v, _ := got.Options[1].Value.(*wire.LocatorListView)
	if v == nil || v.NumLocators != 3 || len(v.Methods) != 3 || len(v.Locators) != 2 {
		t.Fatalf("locator list %+v", got.Options[1].Value)
	}
	if len(got.Options) != 4 {
		t.Fatalf("%d options read after the bad one, want all 4", len(got.Options))
	}
}

// FuzzInspect holds Inspect to Decode on any input (seeds: the goldens).
func FuzzInspect(f *testing.F) {
	for _, g := range goldens {
		f.Add(g.wire)
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkInspect(t, in) })
}
