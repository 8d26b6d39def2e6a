package dataplane

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"shim6d/ports"
)

func a16(s string) [16]byte { return netip.MustParseAddr(s).As16() }

func TestContextCreateLookupDelete(t *testing.T) {
	tbl, err := NewContextTable(1000)
	if err != nil {
		t.Fatal(err)
	}
	spec := ContextSpec{
		PeerTag: 0x1234_5678_9abc, ULIDLocal: a16("2001:db8:1::10"), ULIDPeer: a16("2001:db8:3::20"),
		LocLocal: a16("2001:db8:2::10"), LocPeer: a16("2001:db8:4::20"), EgressPort: 2,
	}
	slot, tag, err := tbl.Create(spec)
	if err != nil {
		t.Fatal(err)
	}
	if tag == 0 || tag>>47 != 0 || tag&tbl.slotMask != uint64(slot) {
		t.Fatalf("local tag %#x does not encode slot %d in 47 bits", tag, slot)
	}
	var c Context
	if !tbl.LookupTag(tag, &c) || c.ULIDPeer != spec.ULIDPeer || c.PeerTag != spec.PeerTag ||
		c.EgressPort != 2 || c.Flags != CtxValid|CtxRewrite {
		t.Fatalf("LookupTag = %+v", c)
	}
	if !tbl.LookupULIDs(&spec.ULIDLocal, &spec.ULIDPeer, &c) || c.LocalTag != tag {
		t.Fatalf("LookupULIDs = %+v", c)
	}
	// Reversed pair and other check bits are misses.
	if tbl.LookupULIDs(&spec.ULIDPeer, &spec.ULIDLocal, &c) {
		t.Fatal("reversed ULID pair found")
	}
	if tbl.LookupTag(tag^(1<<46), &c) {
		t.Fatal("tag with other check bits found")
	}
	if _, _, err := tbl.Create(spec); !errors.Is(err, ErrPairExists) {
		t.Fatalf("duplicate pair: %v", err)
	}
	// Locators back to the ULIDs: no rewrite.
	if err := tbl.SetLocators(slot, &spec.ULIDLocal, &spec.ULIDPeer, 1); err != nil {
		t.Fatal(err)
	}
	tbl.LookupTag(tag, &c)
	if c.Flags != CtxValid || c.EgressPort != 1 {
		t.Fatalf("after SetLocators to ULIDs: %+v", c)
	}
	if err := tbl.Delete(slot); err != nil {
		t.Fatal(err)
	}
	if tbl.LookupTag(tag, &c) || tbl.LookupULIDs(&spec.ULIDLocal, &spec.ULIDPeer, &c) || tbl.Len() != 0 {
		t.Fatal("deleted context still found")
	}
	// The slot comes back with a different tag.
	slot2, tag2, err := tbl.Create(spec)
	if err != nil || slot2 != slot || tag2 == tag {
		t.Fatalf("recreate: slot %d tag %#x err %v (old tag %#x)", slot2, tag2, err, tag)
	}
	if tbl.LookupTag(tag, &c) {
		t.Fatal("stale tag of a reused slot matches")
	}
}

func TestContextStaticTagAndFull(t *testing.T) {
	tbl, _ := NewContextTable(4)
	spec := ContextSpec{LocalTag: 0xabc<<2 | 3, ULIDLocal: a16("2001:db8::1"), ULIDPeer: a16("2001:db8::2")}
	slot, tag, err := tbl.Create(spec)
	if err != nil || slot != 3 || tag != spec.LocalTag {
		t.Fatalf("static tag: slot %d tag %#x err %v", slot, tag, err)
	}
	spec.ULIDPeer = a16("2001:db8::3")
	if _, _, err := tbl.Create(spec); !errors.Is(err, ErrTagInUse) {
		t.Fatalf("second context on slot 3: %v", err)
	}
	spec.LocalTag = 0
	for i := 0; i < 3; i++ {
		spec.ULIDPeer[15] = byte(10 + i)
		if _, _, err := tbl.Create(spec); err != nil {
			t.Fatal(err)
		}
	}
	spec.ULIDPeer[15] = 99
	if _, _, err := tbl.Create(spec); !errors.Is(err, ErrTableFull) {
		t.Fatalf("fifth context in a table of four: %v", err)
	}
	spec.PeerTag = 1 << 47
	if _, _, err := tbl.Create(spec); !errors.Is(err, ErrBadTag) {
		t.Fatalf("48-bit peer tag: %v", err)
	}
}

func TestContextChurnKeepsLookups(t *testing.T) {
	// Many deletes leave tombstones; every live pair must stay reachable.
	tbl, _ := NewContextTable(512)
	live := map[uint32][16]byte{}
	spec := ContextSpec{ULIDLocal: a16("2001:db8::1")}
	for i := 0; i < 20000; i++ {
		spec.ULIDPeer = a16("2001:db8:ff::")
		spec.ULIDPeer[12], spec.ULIDPeer[13], spec.ULIDPeer[14] = byte(i>>16), byte(i>>8), byte(i)
		if len(live) == 400 {
			for s := range live {
				tbl.Delete(s)
				delete(live, s)
				break
			}
		}
		s, _, err := tbl.Create(spec)
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		live[s] = spec.ULIDPeer
	}
	var c Context
	for s, p := range live {
		if !tbl.LookupULIDs(&spec.ULIDLocal, &p, &c) || c.Slot != s {
			t.Fatalf("live pair in slot %d not found", s)
		}
	}
}

// TestContextReadersNeverSeeTornRecords: readers look contexts up while
// the writer flips their locator pairs and deletes and recreates them.
// Every pair the writer stores has matching last bytes in both locators and
// the egress port, so a torn read shows as a mismatch.
func TestContextReadersNeverSeeTornRecords(t *testing.T) {
	const n = 64
	tbl, _ := NewContextTable(n)
	specs := make([]ContextSpec, n)
	tags := make([]atomic.Uint64, n)
	for i := range specs {
		specs[i] = ContextSpec{
			PeerTag: uint64(i + 1), ULIDLocal: a16("2001:db8:1::1"), ULIDPeer: a16("2001:db8:2::"),
		}
		specs[i].ULIDPeer[15] = byte(i)
		specs[i].LocLocal, specs[i].LocPeer = specs[i].ULIDLocal, specs[i].ULIDPeer
		_, tag, err := tbl.Create(specs[i])
		if err != nil {
			t.Fatal(err)
		}
		tags[i].Store(tag)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var checked atomic.Uint64
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c Context
			for !stop.Load() {
				for i := range specs {
					if tbl.LookupULIDs(&specs[i].ULIDLocal, &specs[i].ULIDPeer, &c) {
						if c.Flags&CtxRewrite != 0 && (c.LocLocal[15] != c.LocPeer[15] || uint16(c.LocLocal[15]) != c.EgressPort) {
							t.Errorf("torn record: local %x peer %x port %d", c.LocLocal, c.LocPeer, c.EgressPort)
							return
						}
						if c.ULIDPeer != specs[i].ULIDPeer {
							t.Errorf("lookup of pair %d returned pair %x", i, c.ULIDPeer)
							return
						}
					}
					old := tags[i].Load()
					if tbl.LookupTag(old, &c) && c.LocalTag != old {
						t.Errorf("tag %#x matched a record with tag %#x", old, c.LocalTag)
						return
					}
					checked.Add(1)
				}
			}
		}()
	}
	// Run until the readers have done real work concurrently with the
	// writer, however the scheduler places them.
	for round := 0; round < 3000 || checked.Load() < 20000; round++ {
		if round > 50_000_000 {
			t.Fatal("readers made no progress")
		}
		i := round % n
		var c Context
		if !tbl.LookupULIDs(&specs[i].ULIDLocal, &specs[i].ULIDPeer, &c) {
			t.Fatal("writer lost a context")
		}
		if round%7 == 0 {
			tbl.Delete(c.Slot)
			_, tag, err := tbl.Create(specs[i])
			if err != nil {
				t.Fatal(err)
			}
			tags[i].Store(tag)
			continue
		}
		v := byte(round%200 + 1)
		l, p := a16("2001:db8:3::"), a16("2001:db8:4::")
		l[15], p[15] = v, v
		tbl.SetLocators(c.Slot, &l, &p, uint16(v))
	}
	stop.Store(true)
	wg.Wait()
	if checked.Load() == 0 {
		t.Fatal("readers never ran")
	}
}

func TestContextLookupAllocatesNothing(t *testing.T) {
	tbl, _ := NewContextTable(16)
	spec := ContextSpec{ULIDLocal: a16("2001:db8::1"), ULIDPeer: a16("2001:db8::2")}
	_, tag, _ := tbl.Create(spec)
	var c Context
	if a := testing.AllocsPerRun(100, func() {
		tbl.LookupULIDs(&spec.ULIDLocal, &spec.ULIDPeer, &c)
		tbl.LookupTag(tag, &c)
	}); a != 0 {
		t.Fatalf("lookups allocate %v", a)
	}
}

func TestContextIndexRebuildKeepsEveryPair(t *testing.T) {
	tbl, _ := NewContextTable(64)
	spec := ContextSpec{ULIDLocal: a16("2001:db8::1")}
	var slots []uint32
	for i := 0; i < 64; i++ {
		spec.ULIDPeer = a16("2001:db8:ff::")
		spec.ULIDPeer[15] = byte(i)
		s, _, _ := tbl.Create(spec)
		slots = append(slots, s)
	}
	before := tbl.index.Load()
	for i := 0; i < 60; i++ {
		tbl.Delete(slots[i])
	}
	for i := 0; i < 60; i++ {
		spec.ULIDPeer[15] = byte(100 + i)
		tbl.Create(spec)
	}
	var c Context
	for i := 60; i < 64; i++ {
		spec.ULIDPeer[15] = byte(i)
		if !tbl.LookupULIDs(&spec.ULIDLocal, &spec.ULIDPeer, &c) {
			t.Fatalf("pair %d lost", i)
		}
	}
	if tbl.tombstones > len(before.e)/4 {
		t.Fatalf("%d tombstones left in an index of %d", tbl.tombstones, len(before.e))
	}
}

// maxProbe is the longest distance from a live entry's home bucket to
// where it sits in the index.
func maxProbe(t *ContextTable) int {
	ix := t.index.Load()
	worst := 0
	var c Context
	for slot := range t.recs {
		if !t.read(uint32(slot), &c) {
			continue
		}
		h := t.pairHash(&c.ULIDLocal, &c.ULIDPeer)
		for i, n := h&ix.mask, 0; ; i, n = (i+1)&ix.mask, n+1 {
			if e := ix.e[i].Load(); e != 0 && e != tombstone && uint32(e&0xffffffff)-1 == uint32(slot) {
				worst = max(worst, n)
				break
			}
		}
	}
	return worst
}

// TestPairHashSpreadsSequentialAddresses: inside hosts are numbered ::1,
// ::2, ... and talk to few peers; their pairs must not pile up in the
// index (an earlier hash put 3000 of them in a handful of buckets).
func TestPairHashSpreadsSequentialAddresses(t *testing.T) {
	for _, tc := range []struct {
		name string
		mk   func(i int) (l, p [16]byte)
	}{
		{"sequential hosts, one peer", func(i int) (l, p [16]byte) {
			l, p = a16("2001:db8:1::"), a16("2001:db8:3::20")
			l[14], l[15] = byte(i>>8), byte(i)
			return
		}},
		{"one host, sequential peers", func(i int) (l, p [16]byte) {
			l, p = a16("2001:db8:1::10"), a16("2001:db8:3::")
			p[14], p[15] = byte(i>>8), byte(i)
			return
		}},
		{"sequential /64s", func(i int) (l, p [16]byte) {
			l, p = a16("2001:db8:1::10"), a16("2001:db8:3::20")
			l[6], l[7] = byte(i>>8), byte(i)
			return
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl, _ := NewContextTable(8192)
			for i := 0; i < 8000; i++ {
				l, p := tc.mk(i)
				if _, _, err := tbl.Create(ContextSpec{ULIDLocal: l, ULIDPeer: p}); err != nil {
					t.Fatal(err)
				}
			}
			// At load 8000/16384 linear probing's longest run is a few
			// dozen with a good hash; clustering shows as hundreds.
			if m := maxProbe(tbl); m > 64 {
				t.Fatalf("longest probe %d", m)
			}
		})
	}
}

// TestPairHashResistsCraftedCollisions: the hash before this one saw the
// high words a (local) and c (peer) only as a ^ rotate(c, 31), so pairs
// that hold that value fixed collided under every key and lined up in one
// probe run (3999 long here). A peer that creates contexts chooses its own
// addresses; the key must decide where they land.
func TestPairHashResistsCraftedCollisions(t *testing.T) {
	word := func(x *[16]byte, hi, lo uint64) {
		binary.BigEndian.PutUint64(x[:8], hi)
		binary.BigEndian.PutUint64(x[8:], lo)
	}
	const a, b, c, d = 0x20010db800010000, 0x10, 0x20010db800030000, 0x20
	tbl, _ := NewContextTable(8192)
	for i := 0; i < 4000; i++ {
		var l, p [16]byte
		delta := uint64(i) << 8
		word(&l, a^delta, b)
		word(&p, bits.RotateLeft64(bits.RotateLeft64(c, 31)^delta, -31), d)
		if _, _, err := tbl.Create(ContextSpec{ULIDLocal: l, ULIDPeer: p}); err != nil {
			t.Fatal(err)
		}
	}
	// The bound of TestPairHashSpreadsSequentialAddresses, at half its load.
	if m := maxProbe(tbl); m > 64 {
		t.Fatalf("longest probe %d", m)
	}
}

// TestContextRecordLayout: the layout the lookup's cache behaviour rests
// on, for a table of the size that matters (large slices start on a page).
func TestContextRecordLayout(t *testing.T) {
	tbl, err := NewContextTable(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	if s := unsafe.Sizeof(tbl.recs[0]); s != 64 {
		t.Errorf("record is %d bytes, want one 64-byte cache line", s)
	}
	if s := unsafe.Sizeof(tbl.pairs[0]); s != 32 {
		t.Errorf("ULID pair is %d bytes, want 32", s)
	}
	if a := uintptr(unsafe.Pointer(&tbl.recs[0])); a%64 != 0 {
		t.Errorf("records start at %#x, not on a cache line", a)
	}
	if a := uintptr(unsafe.Pointer(&tbl.pairs[0])); a%64 != 0 {
		t.Errorf("pairs start at %#x, not on a cache line", a)
	}
}

// TestWalkLine checks prefetch's walk along the first entry's cache line:
// past other pairs' entries and tombstones to the pair's fingerprint, to
// an empty entry (no context), or, at the end of the line, back to the
// first entry for the full lookup.
func TestWalkLine(t *testing.T) {
	const fp, other = 0xabcd, 0x1111
	ent := func(fp, slot uint64) uint64 { return fp<<32 | (slot + 1) }
	ix := &pairIndex{e: make([]atomic.Uint64, 16), mask: 15}
	set := func(vals map[int]uint64) {
		for i := range ix.e {
			ix.e[i].Store(vals[i])
		}
	}
	for _, tc := range []struct {
		name  string
		index map[int]uint64
		first uint64
		want  uint64
	}{
		{"past another pair and a tombstone", map[int]uint64{1: ent(other, 5), 2: tombstone, 3: ent(fp, 9)}, 1, ent(fp, 9)},
		{"an empty entry settles it", map[int]uint64{1: ent(other, 5), 2: 0, 3: ent(fp, 9)}, 1, 0},
		{"the line ends undecided", map[int]uint64{6: ent(other, 5), 7: ent(other, 6), 8: ent(fp, 9)}, 6, ent(other, 5)},
		{"the index ends with the line", map[int]uint64{15: ent(other, 5), 0: ent(fp, 9)}, 15, ent(other, 5)},
	} {
		set(tc.index)
		if got := ix.walkLine(fp<<32 | tc.first); got != tc.want {
			t.Errorf("%s: walkLine = %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// TestContextCountOnPortMatchesWalk: the per-egress counts the table keeps
// at each write agree with a walk of the table through creates, locator
// switches between ports and deletes.
func TestContextCountOnPortMatchesWalk(t *testing.T) {
	tbl, _ := NewContextTable(256)
	rng := rand.New(rand.NewPCG(1, 2))
	live := []uint32{}
	spec := ContextSpec{ULIDLocal: a16("2001:db8::1")}
	for i := 0; i < 5000; i++ {
		switch op := rng.IntN(3); {
		case op == 0 && len(live) < 200:
			spec.ULIDPeer = a16("2001:db8:ff::")
			spec.ULIDPeer[13], spec.ULIDPeer[14] = byte(i>>8), byte(i)
			spec.EgressPort = uint16(rng.IntN(4))
			s, _, err := tbl.Create(spec)
			if err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
			live = append(live, s)
		case op == 1 && len(live) > 0:
			s := live[rng.IntN(len(live))]
			loc := a16("2001:db8:9::1")
			if err := tbl.SetLocators(s, &loc, &loc, uint16(rng.IntN(4))); err != nil {
				t.Fatal(err)
			}
		case op == 2 && len(live) > 0:
			j := rng.IntN(len(live))
			if err := tbl.Delete(live[j]); err != nil {
				t.Fatal(err)
			}
			live = append(live[:j], live[j+1:]...)
		}
	}
	var walk [4]int
	tbl.Each(func(c *Context) bool { walk[c.EgressPort]++; return true })
	for p := range walk {
		if got := tbl.CountOnPort(uint16(p)); got != walk[p] {
			t.Errorf("port %d: CountOnPort %d, walk %d", p, got, walk[p])
		}
	}
	if got := tbl.CountOnPort(ports.MaxPorts); got != 0 {
		t.Errorf("CountOnPort(out of range) = %d, want 0", got)
	}
}
