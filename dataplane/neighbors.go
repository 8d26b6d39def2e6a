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
	key   [2]uint64
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
	t.key = [2]uint64{rand.Uint64(), rand.Uint64()}
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
	// Each half keyed and multiplied on its own, so no choice of
	// addresses collides under every key, as lo ^ rotate(hi, 29) did in
	// the hash before this one (only top-bit flips of both halves cancel:
	// pairs, never runs). The shift brings the high bits, which every
	// input bit reaches, down to the index.
	x := (lo^t.key[0])*0x9e3779b97f4a7c15 ^ (hi^t.key[1])*0xd6e8feb86659fd93
	return (x ^ x>>32) & t.mask
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
