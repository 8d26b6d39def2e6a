package ratelimit

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

var testSecret = [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// in64 returns address i of the /64 that prefix (its first eight octets,
// big-endian) names.
func in64(prefix, i uint64) netip.Addr {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], prefix)
	binary.BigEndian.PutUint64(a[8:], i)
	return netip.AddrFrom16(a)
}

// The keyed hash is SipHash-2-4: the reference implementation's vector for
// the key 00..0f and the eight-octet message 00..07.
func TestSipHashVector(t *testing.T) {
	k0 := binary.LittleEndian.Uint64(testSecret[:8])
	k1 := binary.LittleEndian.Uint64(testSecret[8:])
	m := binary.LittleEndian.Uint64([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	if got, want := sip64(k0, k1, m), uint64(0x93f5f5799a932462); got != want {
		t.Fatalf("SipHash-2-4 = %#x, want %#x", got, want)
	}
}

// The slot depends on the /64 and the secret only: the same secret maps
// the same way in every table, the interface identifier does not count,
// and another secret maps otherwise.
func TestPrefixTableDeterministic(t *testing.T) {
	now := time.Unix(100, 0)
	a := NewPrefixTable(1000, 10, 10, testSecret, now)
	b := NewPrefixTable(1024, 1, 1, testSecret, now.Add(time.Hour))
	other := testSecret
	other[15] ^= 1
	c := NewPrefixTable(1024, 10, 10, other, now)
	if a.Len() != 1024 || NewPrefixTable(0, 1, 1, testSecret, now).Len() != 1 {
		t.Fatalf("slots %d, want 1024 (rounded up); 0 slots must give 1", a.Len())
	}
	differ := 0
	for p := range uint64(1000) {
		pfx := 0x20010db8_00000000 | p<<8
		s := a.Slot(in64(pfx, 1))
		if b.Slot(in64(pfx, 1)) != s {
			t.Fatalf("prefix %#x: slot %d in one table, %d in another with the same secret", pfx, s, b.Slot(in64(pfx, 1)))
		}
		if a.Slot(in64(pfx, 0xffff_ffff_ffff_ffff)) != s || a.Slot(in64(pfx, 0x0200_5eff_fe00_5301)) != s {
			t.Fatalf("prefix %#x: addresses in one /64 in different slots", pfx)
		}
		if c.Slot(in64(pfx, 1)) != s {
			differ++
		}
	}
	if differ < 900 {
		t.Fatalf("another secret moved only %d of 1000 prefixes", differ)
	}
}

// The /64s of a /48 — what an attacker with a site's allocation has —
// spread over the slots: none is empty and none holds twice its share.
func TestPrefixTableSpreadsA48(t *testing.T) {
	tab := NewPrefixTable(1024, 1, 1, RandomSecret(), time.Unix(0, 0))
	load := make([]int, tab.Len())
	for sub := range uint64(65536) {
		load[tab.Slot(in64(0x20010db8_abcd_0000|sub, 7))]++
	}
	for s, n := range load {
		if n < 16 || n > 128 { // mean 64, standard deviation 8
			t.Fatalf("slot %d holds %d of 65536 /64s, the mean is 64", s, n)
		}
	}
}

// A flood from many addresses in one /64 gets that /64's burst and then
// its rate, and does not touch the bucket of another /64.
func TestPrefixTableIndependent(t *testing.T) {
	now := time.Unix(100, 0)
	tab := NewPrefixTable(64, 10, 10, testSecret, now)
	flood := uint64(0x20010db8_00010002)
	other := uint64(0x20010db8_00050006)
	for tab.Slot(in64(other, 1)) == tab.Slot(in64(flood, 1)) {
		other++
	}
	n := 0
	for i := range uint64(1000) {
		if tab.Take(in64(flood, i), now) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("a /64's flood got %d, want the burst of 10", n)
	}
	if !tab.Take(in64(other, 1), now) {
		t.Fatal("another /64 was refused during the flood")
	}
	if tab.Take(in64(flood, 5), now.Add(-time.Second)) {
		t.Fatal("a clock stepping back refilled the bucket")
	}
	now = now.Add(300 * time.Millisecond) // 3 tokens
	n = 0
	for i := range uint64(1000) {
		if tab.Take(in64(flood, i), now) {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("after 300 ms the /64 got %d, want 3", n)
	}
	now = now.Add(time.Hour)
	n = 0
	for range 100 {
		if tab.Take(in64(flood, 1), now) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("after an hour the /64 got %d, want the burst of 10, no more", n)
	}
}

// The Limiter: a flood from one /64 is refused by its own bucket and
// leaves the global cap to others; a flood from many /64s is held at the
// global cap.
func TestLimiterGlobalCap(t *testing.T) {
	now := time.Unix(100, 0)
	l := NewLimiter(1000, 10, 4096, testSecret, now) // global burst 100
	var v [3]int
	for i := range uint64(1000) {
		v[l.Take(in64(0x20010db8_00000001, i), now)]++
	}
	if v[Allowed] != 10 || v[RefusedPrefix] != 990 || v[RefusedGlobal] != 0 {
		t.Fatalf("one /64: %d allowed, %d refused by prefix, %d by the cap; want 10, 990, 0", v[Allowed], v[RefusedPrefix], v[RefusedGlobal])
	}
	v = [3]int{}
	for p := range uint64(5000) {
		v[l.Take(in64(0x20010db8_10000000|p<<4, 1), now)]++
	}
	if v[Allowed] != 90 || v[RefusedGlobal] == 0 || v[Allowed]+v[RefusedPrefix]+v[RefusedGlobal] != 5000 {
		t.Fatalf("5000 /64s: %d allowed, %d refused by prefix, %d by the cap; want the 90 tokens left of the cap", v[Allowed], v[RefusedPrefix], v[RefusedGlobal])
	}
	// A second at full flood from everywhere: the cap's 1000, not more.
	allowed := 0
	for ms := range 1000 {
		at := now.Add(time.Duration(ms+1) * time.Millisecond)
		for p := range uint64(50) {
			if l.Take(in64(0x20010db8_20000000|uint64(ms)<<8|p, 1), at) == Allowed {
				allowed++
			}
		}
	}
	if allowed < 990 || allowed > 1010 {
		t.Fatalf("a second of flood from 50,000 /64s got %d answers, want the cap of 1000", allowed)
	}
}

// Take allocates nothing: it runs once per unauthenticated packet.
func TestPrefixTableDoesNotAllocate(t *testing.T) {
	now := time.Unix(100, 0)
	l := NewLimiter(1000, 10, 1024, testSecret, now)
	i := uint64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		now = now.Add(time.Microsecond)
		l.Take(in64(0x20010db8_00000000|i<<16, i), now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Take", allocs)
	}
}

func BenchmarkPrefixTableTake(b *testing.B) {
	now := time.Unix(100, 0)
	l := NewLimiter(1000, 10, 16384, testSecret, now)
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		addrs[i] = in64(0x20010db8_00000000|uint64(i)<<16, 1)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Take(addrs[i&1023], now)
	}
}

// TestPrefixSet: a /64 added is contained, whatever its interface
// identifier; others are not (with a fixed secret, no collision among
// these); a later /64 on the same slot takes it over.
func TestPrefixSet(t *testing.T) {
	s := NewPrefixSet(1024, [16]byte{1, 2, 3})
	a := netip.MustParseAddr("2001:db8:3::20")
	s.Add(a)
	if !s.Contains(netip.MustParseAddr("2001:db8:3::1:2:3:4")) {
		t.Fatal("another address of the added /64 is not contained")
	}
	for i := 1; i < 4096; i++ {
		b := a.As16()
		b[6], b[7] = byte(i>>8), byte(i)
		if s.Contains(netip.AddrFrom16(b)) {
			t.Errorf("%v contained, never added", netip.AddrFrom16(b))
		}
	}
	// Fill the set: the first /64 is overwritten by some later one on its
	// slot, and then forgotten.
	for i := 1; i < 1<<16 && s.Contains(a); i++ {
		b := a.As16()
		b[4], b[5] = byte(i>>8), byte(i)
		s.Add(netip.AddrFrom16(b))
	}
	if s.Contains(a) {
		t.Error("the set never forgot a /64: it grows")
	}
	if n := testing.AllocsPerRun(100, func() { s.Add(a); s.Contains(a) }); n != 0 {
		t.Errorf("Add and Contains allocate %v times", n)
	}
}
