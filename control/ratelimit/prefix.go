package ratelimit

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"time"
)

// PrefixTable is a fixed set of token buckets keyed by the source's /64:
// the limit one sender gets for replies to packets nothing authenticates
// (R1 to I1, RFC 5533 §7.10; R1bis, §7.17; Error messages, §5.14; ICMPv6
// errors, RFC 4443 §2.4(f)), so that a flood from one place cannot take
// the whole of a global cap from everyone else.
//
// Why /64: it is the smallest unit a site hands out (one LAN, or one host
// on a provider that gives each subscriber a /64, RFC 6177), so the
// addresses inside it belong to one party, who can pick any of 2^64 of
// them; a per-address key would give an attacker as many buckets as it
// likes. An attacker with a /48 still gets 65536 keys (and a spoofer any
// number), which is what the global bucket in front of the replies is
// for: the table makes sources fair among themselves, the global cap
// bounds the sum.
//
// The table keeps no memory per source: a /64 is hashed with a secret
// (SipHash-2-4, 128-bit key) to one of a power-of-two number of slots
// chosen at construction, and sources that collide share a bucket. The
// secret keeps an attacker from aiming its prefixes at the slot of a
// victim's. Take neither allocates nor grows anything. Not safe for
// concurrent use, like Bucket.
type PrefixTable struct {
	slots       []prefixSlot
	mask        uint64
	k0, k1      uint64
	rate, burst float64 // tokens a nanosecond, most tokens a slot holds
	epoch       time.Time
}

// prefixSlot is one bucket: 16 bytes, no pointers, so a large table is
// cheap to hold and costs the garbage collector nothing to scan.
type prefixSlot struct {
	tokens float64
	last   int64 // nanoseconds since the table's epoch
}

// NewPrefixTable makes a table of slots buckets (rounded up to a power of
// two, at least 1), each allowing perSecond events a second (at least 1)
// with a burst of burst (at least 1), all full at now. secret keys the
// hash: draw it with RandomSecret, or fix it in tests.
func NewPrefixTable(slots, perSecond, burst int, secret [16]byte, now time.Time) *PrefixTable {
	n := 1
	if slots > 1 {
		n = 1 << bits.Len(uint(slots-1))
	}
	t := &PrefixTable{
		slots: make([]prefixSlot, n),
		mask:  uint64(n - 1),
		k0:    binary.LittleEndian.Uint64(secret[:8]),
		k1:    binary.LittleEndian.Uint64(secret[8:]),
		rate:  float64(max(perSecond, 1)) / 1e9,
		burst: float64(max(burst, 1)),
		epoch: now,
	}
	for i := range t.slots {
		t.slots[i].tokens = t.burst
	}
	return t
}

// RandomSecret draws a secret for NewPrefixTable from crypto/rand.
func RandomSecret() [16]byte {
	var s [16]byte
	rand.Read(s[:]) // never fails (crypto/rand, Go 1.24)
	return s
}

// Len is the number of slots.
func (t *PrefixTable) Len() int { return len(t.slots) }

// Slot is the index of the bucket src's /64 shares.
func (t *PrefixTable) Slot(src netip.Addr) int {
	a := src.As16()
	return int(sip64(t.k0, t.k1, binary.LittleEndian.Uint64(a[:8])) & t.mask)
}

// Take reports whether one more event from src's /64 is allowed at now,
// and counts it if so. As with Bucket, a clock that steps back adds
// nothing.
func (t *PrefixTable) Take(src netip.Addr, now time.Time) bool {
	s := &t.slots[t.Slot(src)]
	if n := now.Sub(t.epoch).Nanoseconds(); n > s.last {
		s.tokens = min(t.burst, s.tokens+float64(n-s.last)*t.rate)
		s.last = n
	}
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// sip64 is SipHash-2-4 (Aumasson and Bernstein, 2012) of the eight octets
// whose little-endian value is m, under the key (k0, k1): a keyed hash made
// for hash tables fed by an adversary.
func sip64(k0, k1, m uint64) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	v3 ^= m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	const last = 8 << 56 // the final block: the message length, no bytes left
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// Limiter is the pair a reply to an unauthenticated packet takes: the
// bucket of the packet's source /64 first, then the global one. In that
// order, a flood from one /64 spends its own bucket and no more than that
// of the global cap, which stays for the other sources.
type Limiter struct {
	// Prefix is the per-/64 table.
	Prefix *PrefixTable
	// Global bounds the sum over all sources.
	Global Bucket
}

// Verdict is a Limiter's answer, with the reason of a refusal for the
// counters.
type Verdict uint8

// The verdicts of Limiter.Take.
const (
	// Allowed: both buckets had a token, and each gave one.
	Allowed Verdict = iota
	// RefusedPrefix: the source's /64 spent its share; the global bucket
	// was not touched.
	RefusedPrefix
	// RefusedGlobal: the /64 had a token (now spent) but the global cap
	// is reached.
	RefusedGlobal
)

// NewLimiter makes a Limiter: a global bucket of perSecond (burst a tenth,
// as New), and a table of slots buckets of perPrefix a second with a burst
// of one second's worth, all keyed by secret. The per-prefix burst is a
// whole second's because its rate is small: a tenth of 10/s would let a
// remote LAN start only one handshake at once and make the rest wait for
// their retransmission.
func NewLimiter(perSecond, perPrefix, slots int, secret [16]byte, now time.Time) Limiter {
	return Limiter{
		Prefix: NewPrefixTable(slots, perPrefix, perPrefix, secret, now),
		Global: New(perSecond, now),
	}
}

// Take asks src's /64 bucket, then, if it allowed, the global bucket.
func (l *Limiter) Take(src netip.Addr, now time.Time) Verdict {
	if !l.Prefix.Take(src, now) {
		return RefusedPrefix
	}
	if !l.Global.Take(now) {
		return RefusedGlobal
	}
	return Allowed
}

// PrefixSet remembers /64s, in fixed memory: each /64 is hashed with a
// secret to a slot that keeps 32 bits of the hash as its fingerprint, so
// Contains may say yes for a /64 never added only when it shares the slot
// and the fingerprint of one that was (one in 2^32 of those), and a /64
// added later may take the slot of an earlier one, which is then
// forgotten. It tells the limiters which sources have earned a share of
// their own (PrefixSet's users say how). Not safe for concurrent use.
type PrefixSet struct {
	slots  []uint32
	mask   uint64
	k0, k1 uint64
}

// NewPrefixSet makes a set of slots /64s (rounded up to a power of two,
// at least 1), hashed under secret.
func NewPrefixSet(slots int, secret [16]byte) *PrefixSet {
	n := 1
	if slots > 1 {
		n = 1 << bits.Len(uint(slots-1))
	}
	return &PrefixSet{slots: make([]uint32, n), mask: uint64(n - 1),
		k0: binary.LittleEndian.Uint64(secret[:8]), k1: binary.LittleEndian.Uint64(secret[8:])}
}

// slot returns a's /64's slot and its fingerprint, which is never 0 (the
// empty slot).
func (s *PrefixSet) slot(a netip.Addr) (int, uint32) {
	b := a.As16()
	h := sip64(s.k0, s.k1, binary.LittleEndian.Uint64(b[:8]))
	return int(h & s.mask), uint32(h>>32) | 1
}

// Add remembers a's /64.
func (s *PrefixSet) Add(a netip.Addr) {
	i, fp := s.slot(a)
	s.slots[i] = fp
}

// Contains reports whether a's /64 is remembered.
func (s *PrefixSet) Contains(a netip.Addr) bool {
	i, fp := s.slot(a)
	return s.slots[i] == fp
}
