package dataplane

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// neighborTable is a worker's flat copy of a snapshot's Neighbors map, for
// the inbound path's per-packet lookup of the inside host's MAC: open
// addressing with linear probing over an array of plain values, so a
// lookup is a multiply, a load or two and a compare, with no pointer to
// chase and nothing allocated. Counted with callgrind in
// BenchmarkShim/inbound_strip/1K, the Go map's lookup of a 16-byte key and
// its call cost about 95 instructions a packet, this about 50.
//
// The worker rebuilds it when it first sees a new snapshot (adopt), so
// Forwarding keeps its map for the control core that builds it. A rebuild
// reuses the arrays when they are big enough, so a steady neighbour set
// allocates nothing after the first.
type neighborTable struct {
	slots []neighborSlot
	mask  uint64
	seed  uint64
	// of is the snapshot the table was built from.
	of *Forwarding
}

// neighborSlot is one address and its MAC; used is false in free slots.
type neighborSlot struct {
	hi, lo uint64
	mac    [6]byte
	used   bool
}

// adopt makes the table a copy of f.Neighbors unless it already is.
func (t *neighborTable) adopt(f *Forwarding) {
	if t.of == f {
		return
	}
	t.of = f
	// At most half full, so probe runs stay short; at least 8 slots.
	n := 1 << bits.Len(uint(2*len(f.Neighbors)|7))
	if cap(t.slots) >= n {
		t.slots = t.slots[:n]
		clear(t.slots)
	} else {
		t.slots = make([]neighborSlot, n)
	}
	t.mask = uint64(n - 1)
	// A fresh key per build, so no one can line addresses up into one
	// long probe run for good.
	t.seed = rand.Uint64() | 1
	for a, mac := range f.Neighbors {
		hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
		i := t.hash(hi, lo)
		for t.slots[i].used {
			i = (i + 1) & t.mask
		}
		t.slots[i] = neighborSlot{hi: hi, lo: lo, mac: mac, used: true}
	}
}

func (t *neighborTable) hash(hi, lo uint64) uint64 {
	// Inside hosts differ mostly in the low word's low bits; the multiply
	// carries them up into the high half, which the shift brings down.
	h := (lo ^ bits.RotateLeft64(hi, 29) ^ t.seed) * 0x9e3779b97f4a7c15
	return (h ^ h>>32) & t.mask
}

// lookup returns the MAC of inside address a.
func (t *neighborTable) lookup(a *[16]byte) ([6]byte, bool) {
	return t.lookupWords(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]))
}

// lookupWords is lookup of the address whose big-endian halves are hi and
// lo, the form the fast paths hold it in.
func (t *neighborTable) lookupWords(hi, lo uint64) ([6]byte, bool) {
	for i := t.hash(hi, lo); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if !s.used {
			return [6]byte{}, false
		}
		if s.lo == lo && s.hi == hi {
			return s.mac, true
		}
	}
}
