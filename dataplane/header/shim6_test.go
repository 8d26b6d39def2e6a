package header

import (
	"bytes"
	"testing"
)

func TestShim6PayloadGolden(t *testing.T) {
	var p [Shim6PayloadSize]byte
	Shim6Payload(p[:]).Encode(ProtoTCP, goldenTag)
	if want := shim6PayloadGolden(ProtoTCP); !bytes.Equal(p[:], want) {
		t.Fatalf("Encode = % x, want % x", p[:], want)
	}
	v := Shim6Payload(p[:])
	if !v.IsValid() || !v.IsPayload() || v.HdrExtLen() != 0 || v.NextHeader() != ProtoTCP || v.ContextTag() != goldenTag {
		t.Fatalf("decoded: valid %v payload %v len %d nh %d tag %#x", v.IsValid(), v.IsPayload(), v.HdrExtLen(), v.NextHeader(), v.ContextTag())
	}
	// The common view agrees, and sees the tag's top bits where a control
	// message has its Type.
	s := Shim6(p[:])
	if !s.IsPayload() || s.Length() != 8 || s.NextHeader() != ProtoTCP || s.Type() != 0x12 {
		t.Fatalf("Shim6 view: payload %v length %d nh %d type %#x", s.IsPayload(), s.Length(), s.NextHeader(), s.Type())
	}
}

func TestShim6PayloadTag(t *testing.T) {
	tests := []struct {
		name string
		tag  uint64
		want uint64
	}{
		{"zero", 0, 0},
		{"one", 1, 1},
		{"all 47 bits", ContextTagMask, ContextTagMask},
		{"high bits ignored", 1<<63 | 1<<47 | 5, 5},
		{"bit 46", 1 << 46, 1 << 46},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Shim6Payload(make([]byte, Shim6PayloadSize))
			p.Encode(ProtoUDP, tt.tag)
			if got := p.ContextTag(); got != tt.want {
				t.Errorf("Encode: tag %#x, want %#x", got, tt.want)
			}
			// SetContextTag keeps next header, length and P.
			p.Encode(ProtoUDP, ContextTagMask)
			p.SetContextTag(tt.tag)
			if got := p.ContextTag(); got != tt.want {
				t.Errorf("SetContextTag: tag %#x, want %#x", got, tt.want)
			}
			if !p.IsValid() || p.NextHeader() != ProtoUDP {
				t.Errorf("SetContextTag disturbed the header: % x", []byte(p))
			}
			p.SetNextHeader(ProtoTCP)
			if p.NextHeader() != ProtoTCP || p.ContextTag() != tt.want {
				t.Errorf("SetNextHeader disturbed the header: % x", []byte(p))
			}
		})
	}
}

func TestShim6PayloadIsValid(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"golden", shim6PayloadGolden(ProtoTCP), true},
		{"short", shim6PayloadGolden(ProtoTCP)[:7], false},
		{"nil", nil, false},
		{"Hdr Ext Len 1", []byte{6, 1, 0x80, 0, 0, 0, 0, 0}, false},
		{"P = 0", []byte{6, 0, 0x7f, 0, 0, 0, 0, 0}, false},
	}
	for _, tt := range tests {
		if got := Shim6Payload(tt.b).IsValid(); got != tt.want {
			t.Errorf("%s: IsValid = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestShim6ControlView(t *testing.T) {
	s := Shim6(shim6I1)
	if s.IsPayload() || s.Type() != Shim6TypeI1 || s.HdrExtLen() != 1 || s.Length() != 16 || s.NextHeader() != ProtoNoNext {
		t.Fatalf("I1: payload %v type %d hdrextlen %d length %d nh %d", s.IsPayload(), s.Type(), s.HdrExtLen(), s.Length(), s.NextHeader())
	}
	// Type uses all seven low bits; the P bit stays out of it.
	probe := []byte{ProtoNoNext, 0, Shim6TypeProbe, 0, 0, 0, 0, 0}
	if s := Shim6(probe); s.IsPayload() || s.Type() != Shim6TypeProbe {
		t.Fatalf("probe: payload %v type %d", s.IsPayload(), s.Type())
	}
	probe[2] = 0x7f
	if s := Shim6(probe); s.Type() != 0x7f || s.IsPayload() {
		t.Fatalf("type 127: payload %v type %d", s.IsPayload(), s.Type())
	}
	// Hdr Ext Len 255 is the largest Shim6 header, 2048 octets.
	if got := Shim6([]byte{0, 255, 0, 0, 0, 0, 0, 0}).Length(); got != 2048 {
		t.Fatalf("Length with Hdr Ext Len 255 = %d, want 2048", got)
	}
}

func TestShim6IsValid(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"I1", shim6I1, true},
		{"I1 with trailing payload", cat(shim6I1, []byte{1, 2, 3}), true},
		{"I1 cut to its first 8 octets", shim6I1[:8], false},
		{"payload header", shim6PayloadGolden(ProtoUDP), true},
		{"7 octets", shim6PayloadGolden(ProtoUDP)[:7], false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := Shim6(tt.b).IsValid(); got != tt.want {
			t.Errorf("%s: IsValid = %v, want %v", tt.name, got, tt.want)
		}
	}
}
