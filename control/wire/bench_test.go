package wire_test

import (
	"testing"

	"shim6d/control/wire"
)

// benchMessages is one message of each kind, the goldens plus an I2 with
// every option, as a control core would see them.
func benchMessages() []struct {
	name string
	m    wire.Message
} {
	var out []struct {
		name string
		m    wire.Message
	}
	for _, g := range goldens {
		out = append(out, struct {
			name string
			m    wire.Message
		}{g.name, g.want})
	}
	rt := roundTrips()
	for _, x := range []struct {
		name string
		i    int
	}{{"R1bis", 9}, {"UpdateAck", 14}, {"I2-all-options", 5}, {"Probe-15+15", 19}} {
		out = append(out, struct {
			name string
			m    wire.Message
		}{x.name, rt[x.i]})
	}
	return out
}

// BenchmarkDecode measures decode plus every validation, checksum included.
func BenchmarkDecode(b *testing.B) {
	for _, bm := range benchMessages() {
		enc, err := wire.Marshal(bm.m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				if _, err := wire.Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncode measures MarshalTo into a reused packet buffer.
func BenchmarkEncode(b *testing.B) {
	buf := make([]byte, wire.MaxMessageLen)
	for _, bm := range benchMessages() {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(bm.m.Len()))
			for b.Loop() {
				if _, err := bm.m.MarshalTo(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseCGAParameters measures the RFC 3972 structure parser.
func BenchmarkParseCGAParameters(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.ParseCGAParameters(goldenPDS); err != nil {
			b.Fatal(err)
		}
	}
}
