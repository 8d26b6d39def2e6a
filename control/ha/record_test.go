package ha

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func addr(last ...byte) [16]byte {
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8}
	copy(a[16-len(last):], last)
	return a
}

// sampleRecords are one of each kind, and a context with and without its
// signalling part and locators.
func sampleRecords() []Record {
	return []Record{
		{Kind: KindSnapshotBegin, Capacity: 1 << 20},
		{Kind: KindContext, Slot: 7, LocalTag: 0x1234_5678_9007, PeerTag: 0x7fff_ffff_ffff, EgressPort: 2,
			ULIDLocal: addr(1), ULIDPeer: addr(2), LocLocal: addr(1), LocPeer: addr(2)},
		{Kind: KindContext, Slot: 9, LocalTag: 9 | 5<<20, PeerTag: 3, EgressPort: 1,
			ULIDLocal: addr(1), ULIDPeer: addr(2), LocLocal: addr(0xa2, 1), LocPeer: addr(0xb2, 2),
			Sig: Signalling{State: 4, PeerKeepalive: 10, PeerGeneration: 0xdeadbeef,
				PeerLocators:    []Locator{{addr(2), 1}, {addr(0xb2, 2), 2}},
				PeerPreferences: []Preference{{0, 1, 10}, {1, 2, 20}},
				PeerParameters:  []byte("pds")}},
		{Kind: KindDelete, Slot: 7, LocalTag: 0x1234_5678_9007},
		{Kind: KindSnapshotEnd, Count: 2},
	}
}

var cmpRecord = cmpopts.EquateEmpty()

func TestRecordRoundTrip(t *testing.T) {
	var b []byte
	recs := sampleRecords()
	for i := range recs {
		n := len(b)
		var err error
		if b, err = Append(b, &recs[i]); err != nil {
			t.Fatal(err)
		}
		if got := len(b) - n; got != recs[i].Size() {
			t.Errorf("%v: %d octets, Size says %d", recs[i].Kind, got, recs[i].Size())
		}
	}
	var got []Record
	var r Record
	if err := Walk(b, uint32(len(recs)), &r, func(r *Record) bool {
		c := *r
		c.Sig.PeerLocators = append([]Locator(nil), r.Sig.PeerLocators...)
		c.Sig.PeerPreferences = append([]Preference(nil), r.Sig.PeerPreferences...)
		c.Sig.PeerParameters = append([]byte(nil), r.Sig.PeerParameters...)
		got = append(got, c)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(recs, got, cmpRecord); d != "" {
		t.Fatalf("(-want +got)\n%s", d)
	}
}

// TestRecordGolden holds the encoding to the layout in record.go's
// comment, written out by hand.
func TestRecordGolden(t *testing.T) {
	r := Record{Kind: KindContext, Slot: 0x0102, LocalTag: 0x0a0b_0c0d_0e0f, PeerTag: 0x1112_1314_1516, EgressPort: 3,
		ULIDLocal: addr(1), ULIDPeer: addr(2), LocLocal: addr(1), LocPeer: addr(2),
		Sig: Signalling{State: 4, PeerKeepalive: 0x0102, PeerGeneration: 0x0a0b0c0d,
			PeerLocators: []Locator{{addr(2), 1}}, PeerPreferences: []Preference{{1, 2, 3}}, PeerParameters: []byte{0xaa, 0xbb}}}
	want := []byte{
		1,          // kind: context
		0x03,       // flags: locators = ULIDs, signalling
		0, 0, 1, 2, // slot
		0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, // local tag, 48 bits
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, // peer tag
		0, 3, // egress port
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // ULID local
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // ULID peer
		4,    // state: ESTABLISHED
		1, 2, // peer's keepalive timeout
		10, 11, 12, 13, // generation
		1, // one peer locator
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1,
		1, 1, 2, 3, // one preference: flags, priority, weight
		0, 2, 0xaa, 0xbb, // parameters
	}
	got, err := Append(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got  % x\nwant % x", got, want)
	}
	del, _ := Append(nil, &Record{Kind: KindDelete, Slot: 5, LocalTag: 0x0102_0304_0506})
	if w := []byte{2, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6}; !bytes.Equal(del, w) {
		t.Fatalf("delete: got % x, want % x", del, w)
	}
}

func TestRecordRefused(t *testing.T) {
	good, _ := Append(nil, &sampleRecords()[2])
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"kind 0", []byte{0, 0, 0, 0, 0}, ErrUnknownKind},
		{"kind 9", []byte{9, 0, 0, 0, 0}, ErrUnknownKind},
		{"short context", good[:30], ErrTruncated},
		{"short locators", good[:contextBase+10], ErrTruncated},
		{"short signalling", good[:len(good)-1], ErrTruncated},
		{"unknown flag", func() []byte { b := bytes.Clone(good); b[1] |= 0x80; return b }(), ErrBadRecord},
		{"tag over 47 bits", func() []byte { b := bytes.Clone(good); b[6] = 0x80; return b }(), ErrBadRecord},
		{"state 0", func() []byte { b := bytes.Clone(good); b[contextBase+32] = 0; return b }(), ErrBadRecord},
		{"locators spelled out", func() []byte {
			r := sampleRecords()[2]
			b, _ := Append(nil, &r)
			copy(b[contextBase:], r.ULIDLocal[:])
			copy(b[contextBase+16:], r.ULIDPeer[:])
			return b
		}(), ErrBadRecord},
		{"short delete", []byte{2, 0, 0, 0, 5, 1}, ErrTruncated},
	}
	for _, tt := range tests {
		var r Record
		if _, err := Decode(tt.b, &r); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	var r Record
	if err := Walk(append(bytes.Clone(good), 0), 1, &r, nil); !errors.Is(err, ErrBadRecord) {
		t.Errorf("trailing octet: %v", err)
	}
	if err := Walk(good, 2, &r, nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("count over the body: %v", err)
	}
	if _, err := Append(nil, &Record{Kind: KindContext, PeerTag: 1 << 47}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("Append took a 48-bit tag: %v", err)
	}
}

// FuzzDecode: whatever a batch body holds, Decode either refuses it or
// returns a record that encodes back to the same octets (one encoding
// per record, so the standby never applies something the active could
// not have meant), and never reads past what it was given.
func FuzzDecode(f *testing.F) {
	for _, r := range sampleRecords() {
		b, _ := Append(nil, &r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		n, err := Decode(b, &r)
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("read %d of %d octets", n, len(b))
		}
		again, err := Append(nil, &r)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", r, err)
		}
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoded % x\nfrom        % x", again, b[:n])
		}
	})
}
