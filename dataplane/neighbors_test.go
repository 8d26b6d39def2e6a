package dataplane

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
)

func TestNeighborTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 3, 300, 5000} {
		f := &Forwarding{Neighbors: map[[16]byte][6]byte{}}
		for len(f.Neighbors) < n {
			a := hostAddr.As16()
			// Mostly low-byte neighbours, as on a real segment, and some
			// anywhere in the /64.
			if rng.IntN(4) == 0 {
				for j := 8; j < 16; j++ {
					a[j] = byte(rng.Uint32())
				}
			} else {
				a[14], a[15] = byte(len(f.Neighbors)>>8), byte(len(f.Neighbors))
			}
			f.Neighbors[a] = [6]byte{2, 0, 0, byte(n), byte(rng.Uint32()), byte(len(f.Neighbors))}
		}
		var nt neighborTable
		nt.adopt(f)
		for a, want := range f.Neighbors {
			if got, ok := nt.lookup(&a); !ok || got != want {
				t.Fatalf("%d neighbours: lookup(%x) = %x, %v; want %x", n, a, got, ok, want)
			}
		}
		for range 1000 {
			a := hostAddr.As16()
			for j := 8; j < 16; j++ {
				a[j] = byte(rng.Uint32())
			}
			if _, in := f.Neighbors[a]; in {
				continue
			}
			if mac, ok := nt.lookup(&a); ok {
				t.Fatalf("%d neighbours: lookup(%x) found %x in a table without it", n, a, mac)
			}
		}
	}
}

// TestNeighborTableAllocations: a lookup never allocates, and adopting a
// new snapshot with no more neighbours than the last reuses the arrays.
func TestNeighborTableAllocations(t *testing.T) {
	mk := func(mac byte) *Forwarding {
		f := &Forwarding{Neighbors: map[[16]byte][6]byte{}}
		for i := range 100 {
			a := hostAddr.As16()
			a[15] = byte(i)
			f.Neighbors[a] = [6]byte{2, 0, 0, 0, mac, byte(i)}
		}
		return f
	}
	f1, f2 := mk(1), mk(2)
	var nt neighborTable
	nt.adopt(f1)
	a := hostAddr.As16()
	a[15] = 42
	if got := testing.AllocsPerRun(100, func() {
		if _, ok := nt.lookup(&a); !ok {
			t.Fatal("neighbour missing")
		}
	}); got != 0 {
		t.Errorf("lookup: %v allocations, want 0", got)
	}
	flip := false
	if got := testing.AllocsPerRun(100, func() {
		if flip = !flip; flip {
			nt.adopt(f2)
		} else {
			nt.adopt(f1)
		}
	}); got != 0 {
		t.Errorf("adopt of a same-sized snapshot: %v allocations, want 0", got)
	}
	if mac, _ := nt.lookup(&a); mac != [6]byte{2, 0, 0, 0, 1, 42} && mac != [6]byte{2, 0, 0, 0, 2, 42} {
		t.Errorf("after re-adopting: %x", mac)
	}
}

// TestNeighborTableResistsCraftedCollisions: addresses chosen to collide
// under any key of the earlier hash (lo ^ rotate(hi, 29) held fixed) must
// still spread, or an inside host answering for many addresses could make
// every inbound lookup walk one long probe run.
func TestNeighborTableResistsCraftedCollisions(t *testing.T) {
	base := hostAddr.As16()
	hi0, lo0 := binary.BigEndian.Uint64(base[:8]), binary.BigEndian.Uint64(base[8:])
	f := &Forwarding{Neighbors: map[[16]byte][6]byte{}}
	for i := range 2000 {
		// Subnet bits of hi and the matching bits of lo, in step.
		delta := uint64(i)
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], hi0^delta)
		binary.BigEndian.PutUint64(a[8:], lo0^bits.RotateLeft64(delta, 29))
		f.Neighbors[a] = [6]byte{2, 0, 0, 0, byte(i >> 8), byte(i)}
	}
	var nt neighborTable
	nt.adopt(f)
	longest := 0
	for i := range nt.slots {
		s := &nt.slots[i]
		if !s.used {
			continue
		}
		if d := int((uint64(i) - nt.hash(s.hi, s.lo)) & nt.mask); d > longest {
			longest = d
		}
	}
	// Half full at most: a good hash's longest probe is a few dozen.
	if longest > 64 {
		t.Fatalf("longest probe %d of %d neighbours", longest, len(f.Neighbors))
	}
}
