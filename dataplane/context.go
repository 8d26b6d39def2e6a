package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
	"unsafe"

	"shim6d/ports"
)

// The context table holds the host-pair contexts (RFC 5533 §2, the seed
// draft's §5) for the fast path: one writer (the control core), any number
// of lock-free readers (the workers).
//
// Why per-record sequence counters and not copy-on-write: at a million
// contexts a copy per change is tens of megabytes, and the control core
// changes locator pairs for thousands of contexts at once when an uplink
// fails. A record is one 64-byte cache line of 64-bit words with a sequence
// counter in the first, and its ULID pair sits in a side array, 32 bytes a
// slot; the writer makes the counter odd, stores the words of both, makes it
// even again, and a reader retries until it read the same even counter
// before and after its loads. Every word is accessed atomically, so the race detector
// agrees, and on amd64 an atomic load is a plain MOV: readers pay nothing.
//
// Records hold no pointers (the garbage collector never scans the table),
// and a reader may hold a slot number across a delete: a deleted or reused
// slot fails the reader's check of the tag or ULIDs it looked up by.

// Why the ULIDs live apart: a lookup touches the index entry, the record
// and this worker's feedback word, each a cache miss at a million contexts,
// and a core keeps only about ten misses in flight. With the ULIDs inside,
// a record was 88 bytes at an 88-byte stride: 2.25 cache lines on average
// (3 for a quarter of them), and prefetch touched only its first and last.
// A 64-byte record and a 32-byte pair make exactly 2 lines, both touched.
// Measured (BenchmarkShim at 1M contexts, 3x2 alternating runs on the
// 2-core VM): inbound_strip 212-236 -> 181-204 ns/pkt; outbound rewrite
// unchanged within the noise (142-172 vs 149-177). The cost: 8 bytes more
// per context.

// Context layout, in words, as load returns it (a snapshot).
const (
	recSeq      = 0
	recLocalTag = 1 // local tag (47 bits) | flags << 47 (16 bits)
	recPeerTag  = 2 // peer tag (47 bits) | egress port << 48 (16 bits)
	recULIDL    = 3 // local ULID, two words
	recULIDP    = 5 // peer ULID
	recLocL     = 7 // current local locator
	recLocP     = 9 // current peer locator
	recWords    = 11
)

// Storage: a record's words (one cache line) and a pair's (half a line).
const (
	lineSeq      = 0
	lineLocalTag = 1
	linePeerTag  = 2
	lineLocL     = 3
	lineLocP     = 5
	lineWords    = 8 // 7 used

	pairULIDL = 0
	pairULIDP = 2
	pairWords = 4
)

const (
	tagBits   = 47
	tagMask   = 1<<tagBits - 1
	flagShift = 47
	portShift = 48
)

// Context flags.
const (
	// CtxValid marks a live record; a free slot has it clear.
	CtxValid uint16 = 1 << iota
	// CtxRewrite is set when the current locators differ from the ULIDs:
	// outbound packets get the locators and the payload extension header.
	CtxRewrite
)

type ctxRecord struct{ w [lineWords]atomic.Uint64 }

// The sequence counter's protocol, the one place it is spelled out. A
// reader takes seqBegin, loads the words of the record and its pair, and
// repeats the whole read until seqStable says no write overlapped it; the
// writer brackets its stores with writeBegin and writeEnd. The read loops
// themselves (load, readLine and fastOut's copy of readLine) stay where
// they are: one function holding the loop and the line copies costs 146
// against the inliner's budget of 80 (Go 1.26), and fastOut's per-packet
// loop must not call out (TestFastPathInlining holds seqBegin and
// seqStable to inlining).

// seqBegin returns the sequence counter a read starts from.
func (r *ctxRecord) seqBegin() uint64 { return r.w[lineSeq].Load() }

// seqStable reports whether a read that started from seqBegin's s saw a
// whole record: s was even (no write in progress) and the counter has not
// moved since.
func (r *ctxRecord) seqStable(s uint64) bool { return s&1 == 0 && r.w[lineSeq].Load() == s }

// writeBegin makes the counter odd, telling readers a write is under way,
// and returns its value before; writeEnd(s) makes it even again, and new.
func (r *ctxRecord) writeBegin() uint64 {
	s := r.w[lineSeq].Load()
	r.w[lineSeq].Store(s + 1)
	return s
}

func (r *ctxRecord) writeEnd(s uint64) { r.w[lineSeq].Store(s + 2) }

type ctxPair struct{ w [pairWords]atomic.Uint64 }

// ContextBytes is the size of one context's record and ULID pair.
const ContextBytes = (lineWords + pairWords) * 8

// Context is a consistent copy of one record, as a reader sees it.
type Context struct {
	Slot       uint32
	Flags      uint16
	EgressPort uint16 // the uplink that owns LocLocal
	LocalTag   uint64 // ours: the peer puts it in packets to us
	PeerTag    uint64 // the peer's: we put it in packets to the peer
	ULIDLocal  [16]byte
	ULIDPeer   [16]byte
	LocLocal   [16]byte
	LocPeer    [16]byte
}

// ContextSpec is what the control core creates a context from.
type ContextSpec struct {
	// LocalTag, if non-zero, is used as given (static contexts from config);
	// its low bits must name a free slot. Zero lets the table choose.
	LocalTag   uint64
	PeerTag    uint64
	ULIDLocal  [16]byte
	ULIDPeer   [16]byte
	LocLocal   [16]byte
	LocPeer    [16]byte
	EgressPort uint16
}

// Errors of the write side.
var (
	ErrTableFull    = errors.New("context table full")
	ErrTagInUse     = errors.New("local context tag's slot is in use")
	ErrPairExists   = errors.New("a context for this ULID pair exists")
	ErrNoSuchSlot   = errors.New("no context in this slot")
	ErrBadTag       = errors.New("context tag has more than 47 bits")
	ErrZeroTagCheck = errors.New("local context tag must not be zero")
)

// ContextTable is the fast path's context table. Lookups are safe from any
// goroutine; every other method is for the single writer.
type ContextTable struct {
	recs     []ctxRecord
	pairs    []ctxPair
	slotBits uint
	slotMask uint64
	// tagCheck holds a byte a slot, four to a word: tagCheckOf the live
	// context's local tag, tagCheckFree for a free slot. A worker reads
	// it before the record, so that a payload packet whose tag no
	// context has (a flood of random tags, RFC 5533 §7.17) costs one
	// cache line of this dense array rather than the record's, the
	// pair's and the feedback word's. It only filters: a byte that
	// matches still leaves the record to decide.
	tagCheck []atomic.Uint32

	// index maps ULID pairs to slots; see pairIndex.
	index atomic.Pointer[pairIndex]
	// key is the pair hash's secret, drawn per table.
	key [6]uint64

	// Writer-only state.
	free  []uint32
	count int
	// live mirrors count for readers: a worker skips lookups while the
	// table is empty, so an idle table costs no cache miss per packet.
	live       atomic.Int64
	tombstones int
	rng        *rand.Rand
	// byEgress counts the live contexts per port, kept at every write so
	// that the admin API and the metrics read the spread in constant
	// time: walking ten million records took seconds a scrape. portOf
	// files a context under its port (SetPortOf); nil: its EgressPort.
	byEgress [ports.MaxPorts]atomic.Int64
	portOf   func(c *ContextSpec) int
}

// pairIndex is open addressing with linear probing. An entry is
// fingerprint<<32 | slot+1; 0 is empty, and tombstone marks a deleted entry,
// which probes pass over and inserts reuse. Deleting by tombstone rather
// than backward shift keeps every live entry where concurrent readers expect
// it. Tombstones that end a probe run are cleared at once; when the rest
// pile up past a quarter of the index, the writer builds a fresh index and
// swaps it in (readers finish on the old one, which the GC then frees).
type pairIndex struct {
	e    []atomic.Uint64
	mask uint64
}

const tombstone = ^uint64(0)

// NewContextTable makes a table for capacity contexts.
func NewContextTable(capacity int) (*ContextTable, error) {
	if capacity < 1 || capacity > 1<<31 {
		return nil, fmt.Errorf("context table capacity %d: want 1..2^31", capacity)
	}
	slotBits := uint(bits.Len(uint(capacity - 1)))
	if slotBits == 0 {
		slotBits = 1
	}
	t := &ContextTable{
		// Large slices start on a page, so every record fills one
		// cache line and every pair half of one.
		recs:     make([]ctxRecord, capacity),
		pairs:    make([]ctxPair, capacity),
		slotBits: slotBits,
		slotMask: 1<<slotBits - 1,
		free:     make([]uint32, capacity),
		tagCheck: make([]atomic.Uint32, (capacity+3)/4),
		rng:      rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	for i := range t.key {
		t.key[i] = t.rng.Uint64()
	}
	for i := range t.tagCheck {
		t.tagCheck[i].Store(tagCheckFree * 0x01010101)
	}
	adviseHuge(unsafe.Pointer(&t.recs[0]), uintptr(len(t.recs))*unsafe.Sizeof(t.recs[0]))
	adviseHuge(unsafe.Pointer(&t.pairs[0]), uintptr(len(t.pairs))*unsafe.Sizeof(t.pairs[0]))
	t.index.Store(newPairIndex(capacity))
	for i := range t.free {
		t.free[i] = uint32(capacity - 1 - i)
	}
	return t, nil
}

// Capacity is the number of contexts the table can hold.
func (t *ContextTable) Capacity() int { return len(t.recs) }

// Len is the number of live contexts (writer's view).
func (t *ContextTable) Len() int { return t.count }

// Count is the number of live contexts, safe from any goroutine.
func (t *ContextTable) Count() int { return int(t.live.Load()) }

// SetPortOf sets how CountOnPort files a context: under the port f names
// (below 0: none). The control core files contexts under the uplink whose
// prefix holds their local locator, which a context still on its ULIDs
// has too, though the fast path never reads its EgressPort. f must give
// the same answer for the same context for the table's life. Writer
// only, before the first context.
func (t *ContextTable) SetPortOf(f func(c *ContextSpec) int) { t.portOf = f }

// port is the port c is counted under.
func (t *ContextTable) port(c *ContextSpec) int {
	if t.portOf != nil {
		return t.portOf(c)
	}
	return int(c.EgressPort)
}

// CountOnPort is the number of live contexts filed under port (see
// SetPortOf), safe from any goroutine.
func (t *ContextTable) CountOnPort(port uint16) int {
	if int(port) >= len(t.byEgress) {
		return 0
	}
	return int(t.byEgress[port].Load())
}

// moveEgress moves one context's count from port from to port to; a port
// out of range (none) is skipped. Writer only.
func (t *ContextTable) moveEgress(from, to int) {
	if from >= 0 && from < len(t.byEgress) {
		t.byEgress[from].Add(-1)
	}
	if to >= 0 && to < len(t.byEgress) {
		t.byEgress[to].Add(1)
	}
}

// Empty reports whether the table holds no context. Safe from any
// goroutine; workers check it once per burst.
func (t *ContextTable) Empty() bool { return t.live.Load() == 0 }

// TouchPair loads the index entry the pair (local, peer) hashes to and
// returns it. A worker calls it for a whole burst before looking any packet
// up: the loads are independent, so the CPU overlaps their cache misses,
// which Go, without a prefetch instruction, cannot ask for otherwise.
func (t *ContextTable) TouchPair(local, peer *[16]byte) uint64 {
	ix := t.index.Load()
	return ix.e[t.pairHash(local, peer)&ix.mask].Load()
}

// TouchEntry loads the first ULID word of the record an index entry (from
// TouchPair) names, and returns it; 0 when the entry names none. The second
// pass of a burst's prefetch.
func (t *ContextTable) TouchEntry(e uint64) uint64 {
	if e == 0 || e == tombstone {
		return 0
	}
	slot := uint32(e&0xffffffff) - 1
	if slot >= uint32(len(t.recs)) {
		return 0
	}
	return t.pairs[slot].w[pairULIDL].Load()
}

// TouchTag loads the first word of the record a receiver tag names.
func (t *ContextTable) TouchTag(tag uint64) uint64 {
	slot := tag & t.slotMask
	if slot >= uint64(len(t.recs)) {
		return 0
	}
	return t.recs[slot].w[lineLocalTag].Load()
}

// BytesPerContext is the table's memory (records and ULID pairs, index,
// free list, tag checks) over its capacity.
func (t *ContextTable) BytesPerContext() float64 {
	return float64(len(t.recs)*ContextBytes+len(t.index.Load().e)*8+cap(t.free)*4+len(t.tagCheck)*4) / float64(len(t.recs))
}

// newPairIndex sizes the index at least twice the capacity, a power of two,
// so it is at most half full and probes stay short.
func newPairIndex(capacity int) *pairIndex {
	n := 1 << bits.Len(uint(2*capacity-1))
	ix := &pairIndex{e: make([]atomic.Uint64, n), mask: uint64(n - 1)}
	adviseHuge(unsafe.Pointer(&ix.e[0]), uintptr(n)*8)
	return ix
}

// PairHash is the table's keyed hash of a ULID pair, for workers that keep
// per-pair state of their own (the deferred-establishment counts).
func (t *ContextTable) PairHash(l, p *[16]byte) uint64 { return t.pairHash(l, p) }

// pairHash hashes a ULID pair, keyed per table so remote parties cannot
// aim for long probe chains.
func (t *ContextTable) pairHash(l, p *[16]byte) uint64 {
	a, b := addrWords(l)
	c, d := addrWords(p)
	return t.hashWords(a, b, c, d)
}

// hashWords is pairHash of the pair's big-endian words (a b, c d): the
// form the fast paths hold addresses in, and small enough to inline.
//
// Each half is multiplied into a 128-bit product with both factors keyed,
// and the product folded (high XOR low); the two folds are multiplied and
// folded the same way. A product of two unknown factors is what keeps the
// key in the answer: with the earlier xor-multiply-xorshift rounds the
// high words a and c met only as a ^ rotate(c, 31), and any two pairs with
// the same value there collided under every key, so anyone choosing
// addresses (a peer creating contexts, say) could pile them into one
// probe run. Every input bit reaches both the index bits (low) and the
// fingerprint (high): the folded product carries low bits up through the
// multiply and high bits down through the fold. Three multiplies, two of
// them independent, and about the instructions of the rounds it replaced.
func (t *ContextTable) hashWords(a, b, c, d uint64) uint64 {
	h1, l1 := bits.Mul64(a^t.key[0], b^t.key[1])
	h2, l2 := bits.Mul64(c^t.key[2], d^t.key[3])
	h, l := bits.Mul64(h1^l1^t.key[4], h2^l2^t.key[5])
	return h ^ l
}

func mix(x uint64) uint64 {
	x ^= x >> 32
	x *= 0xd6e8feb86659fd93
	x ^= x >> 32
	x *= 0xd6e8feb86659fd93
	x ^= x >> 32
	return x
}

// load takes a consistent snapshot of record slot's words (all but the
// sequence), in the order of the rec constants, retrying while the writer
// is in the middle of an update.
func (t *ContextTable) load(slot uint32, w *[recWords]uint64) {
	r, u := &t.recs[slot], &t.pairs[slot]
	for {
		s := r.seqBegin()
		// Constant indices need no bounds checks, and the loads issue
		// back to back.
		w[recLocalTag], w[recPeerTag] = r.w[lineLocalTag].Load(), r.w[linePeerTag].Load()
		w[recULIDL], w[recULIDL+1] = u.w[pairULIDL].Load(), u.w[pairULIDL+1].Load()
		w[recULIDP], w[recULIDP+1] = u.w[pairULIDP].Load(), u.w[pairULIDP+1].Load()
		w[recLocL], w[recLocL+1] = r.w[lineLocL].Load(), r.w[lineLocL+1].Load()
		w[recLocP], w[recLocP+1] = r.w[lineLocP].Load(), r.w[lineLocP+1].Load()
		if r.seqStable(s) {
			return
		}
	}
}

// decode fills out from a snapshot and reports whether the record is live.
func decode(slot uint32, w *[recWords]uint64, out *Context) bool {
	flags := uint16(w[recLocalTag] >> flagShift)
	if flags&CtxValid == 0 {
		return false
	}
	out.Slot = slot
	out.Flags = flags
	out.LocalTag = w[recLocalTag] & tagMask
	out.PeerTag = w[recPeerTag] & tagMask
	out.EgressPort = uint16(w[recPeerTag] >> portShift)
	putAddr(&out.ULIDLocal, w[recULIDL], w[recULIDL+1])
	putAddr(&out.ULIDPeer, w[recULIDP], w[recULIDP+1])
	putAddr(&out.LocLocal, w[recLocL], w[recLocL+1])
	putAddr(&out.LocPeer, w[recLocP], w[recLocP+1])
	return true
}

// read copies record slot into out if it is live.
func (t *ContextTable) read(slot uint32, out *Context) bool {
	var w [recWords]uint64
	t.load(slot, &w)
	return decode(slot, &w, out)
}

// Addresses are stored as two words in the machine's byte order: only
// equality matters, and native loads and stores cost no byte swaps.
func putAddr(d *[16]byte, w0, w1 uint64) {
	binary.BigEndian.PutUint64(d[:8], w0)
	binary.BigEndian.PutUint64(d[8:], w1)
}

func addrWords(a *[16]byte) (uint64, uint64) {
	return binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
}

// ctxLine is one consistent read of a context as the fast paths use it:
// the record's and the pair's words as the table stores them (addresses
// in big-endian words, the halves fast paths compare and hash), copied in two moves and decoded only where a
// path needs a field. Context is the same read decoded, for everyone
// else.
type ctxLine struct {
	slot uint32
	rec  [lineWords]uint64
	pair [pairWords]uint64
}

func (v *ctxLine) flags() uint16    { return uint16(v.rec[lineLocalTag] >> flagShift) }
func (v *ctxLine) port() uint16     { return uint16(v.rec[linePeerTag] >> portShift) }
func (v *ctxLine) localTag() uint64 { return v.rec[lineLocalTag] & tagMask }
func (v *ctxLine) peerTag() uint64  { return v.rec[linePeerTag] & tagMask }

// context decodes v into out.
func (v *ctxLine) context(out *Context) {
	out.Slot = v.slot
	out.Flags = v.flags()
	out.LocalTag = v.localTag()
	out.PeerTag = v.peerTag()
	out.EgressPort = v.port()
	putAddr(&out.ULIDLocal, v.pair[pairULIDL], v.pair[pairULIDL+1])
	putAddr(&out.ULIDPeer, v.pair[pairULIDP], v.pair[pairULIDP+1])
	putAddr(&out.LocLocal, v.rec[lineLocL], v.rec[lineLocL+1])
	putAddr(&out.LocPeer, v.rec[lineLocP], v.rec[lineLocP+1])
}

// readLine reads slot into v, consistently: the writer makes the
// sequence counter odd while it writes, so a read that saw it odd, or
// changed, is repeated.
func (t *ContextTable) readLine(slot uint32, v *ctxLine) {
	r, u := &t.recs[slot], &t.pairs[slot]
	v.slot = slot
	for {
		s := r.seqBegin()
		copyRec(r, &v.rec)
		copyPair(u, &v.pair)
		if r.seqStable(s) {
			return
		}
	}
}

// readPair reads record slot into v and reports whether it is live and
// holds the ULID pair (l0 l1, p0 p1).
func (t *ContextTable) readPair(slot uint32, l0, l1, p0, p1 uint64, v *ctxLine) bool {
	t.readLine(slot, v)
	return v.holds(l0, l1, p0, p1)
}

// holds reports whether v is a live context of the ULID pair (l0 l1, p0
// p1).
func (v *ctxLine) holds(l0, l1, p0, p1 uint64) bool {
	return v.pair[pairULIDL] == l0 && v.pair[pairULIDL+1] == l1 &&
		v.pair[pairULIDP] == p0 && v.pair[pairULIDP+1] == p1 && v.flags()&CtxValid != 0
}

// tagCheckOf is a tag's byte in tagCheck: its top seven bits, part of
// the random check above the slot in any table (slotBits is at most 31),
// taken with one fixed shift. No tag's is tagCheckFree.
func tagCheckOf(tag uint64) uint8 { return uint8(tag >> (tagBits - 7)) }

// tagCheckFree marks a free slot in tagCheck.
const tagCheckFree = 0xff

// tagEntry is prefetch's first step for a payload packet's tag (at most
// tagBits long): its slot + 1 when the slot's tag check matches the tag,
// and 0, no context, when it does not.
func (t *ContextTable) tagEntry(tag uint64) uint64 {
	slot := tag & t.slotMask
	if slot >= uint64(len(t.recs)) || t.tagCheckAt(slot) != tagCheckOf(tag) {
		return 0
	}
	return slot + 1
}

// readTag reads the context whose local tag is tag into v, if there is
// one: the receive lookup, an index and a compare.
func (t *ContextTable) readTag(tag uint64, v *ctxLine) bool {
	slot := tag & t.slotMask
	if tag > tagMask || slot >= uint64(len(t.recs)) {
		return false
	}
	t.readLine(uint32(slot), v)
	return v.flags()&CtxValid != 0 && v.localTag() == tag
}

// LookupTag finds the context whose local tag is tag (the receiver context
// tag of an arriving payload packet): an index and a compare.
func (t *ContextTable) LookupTag(tag uint64, out *Context) bool {
	var v ctxLine
	if !t.readTag(tag, &v) {
		return false
	}
	v.context(out)
	return true
}

// LookupULIDs finds the context of the ULID pair (local, peer).
func (t *ContextTable) LookupULIDs(local, peer *[16]byte, out *Context) bool {
	return t.lookupPair(t.pairHash(local, peer), local, peer, out)
}

// lookupPair is LookupULIDs given the pair's hash h, which a worker has
// from its prefetch.
func (t *ContextTable) lookupPair(h uint64, local, peer *[16]byte, out *Context) bool {
	l0, l1 := addrWords(local)
	p0, p1 := addrWords(peer)
	var v ctxLine
	if !t.findPair(h, l0, l1, p0, p1, &v) {
		return false
	}
	v.context(out)
	return true
}

// findPair is lookupPair on the ULIDs' big-endian words, into a
// ctxLine: the fast paths' form.
func (t *ContextTable) findPair(h, l0, l1, p0, p1 uint64, v *ctxLine) bool {
	fp := h >> 32
	ix := t.index.Load()
	// The bound is never reached while the index has empty entries, which
	// the writer guarantees; it only keeps a bug from becoming a hang.
	for i, n := h&ix.mask, 0; n <= int(ix.mask); i, n = (i+1)&ix.mask, n+1 {
		e := ix.e[i].Load()
		if e == 0 {
			return false
		}
		if e == tombstone || e>>32 != fp {
			continue
		}
		if t.readPair(uint32(e&0xffffffff)-1, l0, l1, p0, p1, v) {
			return true
		}
	}
	return false
}

// entriesPerLine is how many index entries share a cache line.
const entriesPerLine = 64 / 8

// walkLine follows the probe sequence of hash h from its second entry to
// the end of the first entry's cache line (the index starts on a page).
// It returns the first entry there that holds h's fingerprint, 0 when it
// meets an empty entry first (the pair has no context), or the first
// entry of the sequence, another pair's, when the line ends undecided:
// the lookup then walks the whole sequence (findPair).
func (ix *pairIndex) walkLine(h uint64) uint64 {
	fp, first := h>>32, h&ix.mask
	for i := first + 1; i&(entriesPerLine-1) != 0 && i <= ix.mask; i++ {
		switch e := ix.e[i].Load(); {
		case e == 0:
			return 0
		case e != tombstone && e>>32 == fp:
			return e
		}
	}
	return ix.e[first].Load()
}

// write stores a whole record and its ULID pair under the sequence
// counter, and first the slot's tag check: a packet a worker drops on the
// new check while the record is still the old one is a packet that came
// before the write, or after the delete.
func (t *ContextTable) write(slot uint32, flags uint16, c *ContextSpec) {
	check := uint8(tagCheckFree)
	if flags&CtxValid != 0 {
		check = tagCheckOf(c.LocalTag)
	}
	cw, sh := &t.tagCheck[slot/4], slot%4*8
	cw.Store(cw.Load()&^(0xff<<sh) | uint32(check)<<sh)
	r, u := &t.recs[slot], &t.pairs[slot]
	s := r.writeBegin()
	r.w[lineLocalTag].Store(c.LocalTag | uint64(flags)<<flagShift)
	r.w[linePeerTag].Store(c.PeerTag | uint64(c.EgressPort)<<portShift)
	for i, a := range []*[16]byte{&c.ULIDLocal, &c.ULIDPeer} {
		hi, lo := addrWords(a)
		u.w[pairULIDL+2*i].Store(hi)
		u.w[pairULIDL+2*i+1].Store(lo)
	}
	for i, a := range []*[16]byte{&c.LocLocal, &c.LocPeer} {
		hi, lo := addrWords(a)
		r.w[lineLocL+2*i].Store(hi)
		r.w[lineLocL+2*i+1].Store(lo)
	}
	r.writeEnd(s)
}

func flagsFor(c *ContextSpec) uint16 {
	f := CtxValid
	if c.LocLocal != c.ULIDLocal || c.LocPeer != c.ULIDPeer {
		f |= CtxRewrite
	}
	return f
}

// Create adds a context and returns its slot and local tag. Writer only.
func (t *ContextTable) Create(c ContextSpec) (uint32, uint64, error) {
	if c.PeerTag > tagMask || c.LocalTag > tagMask {
		return 0, 0, ErrBadTag
	}
	var probe Context
	if t.LookupULIDs(&c.ULIDLocal, &c.ULIDPeer, &probe) {
		return 0, 0, ErrPairExists
	}
	var slot uint32
	if c.LocalTag != 0 {
		s := c.LocalTag & t.slotMask
		if s >= uint64(len(t.recs)) || t.read(uint32(s), &probe) {
			return 0, 0, ErrTagInUse
		}
		slot = uint32(s)
		t.takeFree(slot)
	} else {
		if len(t.free) == 0 {
			return 0, 0, ErrTableFull
		}
		slot = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
		// Fresh random check bits on every use of the slot, so a tag from
		// the slot's previous life does not match (RFC 5533 §7.1 asks
		// that tags not be reused soon). Zero is not a valid tag.
		for {
			check := t.rng.Uint64() & (tagMask >> t.slotBits)
			c.LocalTag = check<<t.slotBits | uint64(slot)
			if c.LocalTag != 0 {
				break
			}
		}
	}
	t.write(slot, flagsFor(&c), &c)
	t.indexInsert(&c.ULIDLocal, &c.ULIDPeer, slot)
	t.count++
	t.live.Store(int64(t.count))
	t.moveEgress(-1, t.port(&c))
	return slot, c.LocalTag, nil
}

// takeFree removes slot from the free list (static tags pick their slot).
func (t *ContextTable) takeFree(slot uint32) {
	for i := len(t.free) - 1; i >= 0; i-- {
		if t.free[i] == slot {
			t.free[i] = t.free[len(t.free)-1]
			t.free = t.free[:len(t.free)-1]
			return
		}
	}
}

func (t *ContextTable) indexInsert(l, p *[16]byte, slot uint32) {
	t.insertInto(t.index.Load(), l, p, slot)
}

func (t *ContextTable) insertInto(ix *pairIndex, l, p *[16]byte, slot uint32) {
	h := t.pairHash(l, p)
	e := h>>32<<32 | uint64(slot+1)
	for i := h & ix.mask; ; i = (i + 1) & ix.mask {
		switch ix.e[i].Load() {
		case tombstone:
			t.tombstones--
			fallthrough
		case 0:
			ix.e[i].Store(e)
			return
		}
	}
}

func (t *ContextTable) indexDelete(l, p *[16]byte, slot uint32) {
	ix := t.index.Load()
	h := t.pairHash(l, p)
	e := h>>32<<32 | uint64(slot+1)
	for i := h & ix.mask; ; i = (i + 1) & ix.mask {
		v := ix.e[i].Load()
		if v == 0 {
			return
		}
		if v != e {
			continue
		}
		if ix.e[(i+1)&ix.mask].Load() != 0 {
			ix.e[i].Store(tombstone)
			t.tombstones++
			if t.tombstones > len(ix.e)/4 {
				t.rebuildIndex()
			}
			return
		}
		// The run ends here, so no probe needs this entry or the
		// tombstones right before it: empty them, back to front, so a
		// reader never sees a hole in front of a live entry it seeks.
		ix.e[i].Store(0)
		for j := (i - 1) & ix.mask; ix.e[j].Load() == tombstone; j = (j - 1) & ix.mask {
			ix.e[j].Store(0)
			t.tombstones--
		}
		return
	}
}

// rebuildIndex replaces the index with a fresh one holding only the live
// contexts. Writer only; readers switch at their next lookup.
func (t *ContextTable) rebuildIndex() {
	old := t.index.Load()
	ix := &pairIndex{e: make([]atomic.Uint64, len(old.e)), mask: old.mask}
	var c Context
	for slot := range t.recs {
		if t.read(uint32(slot), &c) {
			t.insertInto(ix, &c.ULIDLocal, &c.ULIDPeer, uint32(slot))
		}
	}
	t.tombstones = 0
	t.index.Store(ix)
}

// Get reads a context by slot (writer or reader).
func (t *ContextTable) Get(slot uint32, out *Context) bool {
	return slot < uint32(len(t.recs)) && t.read(slot, out)
}

// SetLocators switches a context to a new locator pair and egress uplink.
// Readers see the old pair or the new one, never a mix. Writer only.
func (t *ContextTable) SetLocators(slot uint32, local, peer *[16]byte, egress uint16) error {
	var c Context
	if !t.Get(slot, &c) {
		return ErrNoSuchSlot
	}
	s := specOf(&c)
	old := specOf(&c)
	s.LocLocal, s.LocPeer, s.EgressPort = *local, *peer, egress
	t.write(slot, flagsFor(&s), &s)
	t.moveEgress(t.port(&old), t.port(&s))
	return nil
}

// SetPeerTag changes the tag we send to the peer. Writer only.
func (t *ContextTable) SetPeerTag(slot uint32, tag uint64) error {
	var c Context
	if !t.Get(slot, &c) {
		return ErrNoSuchSlot
	}
	if tag > tagMask {
		return ErrBadTag
	}
	s := specOf(&c)
	s.PeerTag = tag
	t.write(slot, flagsFor(&s), &s)
	return nil
}

// Delete removes a context. A reader still holding its slot sees the slot
// invalid, or reused with another tag and pair. Writer only.
func (t *ContextTable) Delete(slot uint32) error {
	var c Context
	if !t.Get(slot, &c) {
		return ErrNoSuchSlot
	}
	t.indexDelete(&c.ULIDLocal, &c.ULIDPeer, slot)
	var zero ContextSpec
	t.write(slot, 0, &zero)
	t.free = append(t.free, slot)
	t.count--
	t.live.Store(int64(t.count))
	old := specOf(&c)
	t.moveEgress(t.port(&old), -1)
	return nil
}

func specOf(c *Context) ContextSpec {
	return ContextSpec{
		LocalTag: c.LocalTag, PeerTag: c.PeerTag,
		ULIDLocal: c.ULIDLocal, ULIDPeer: c.ULIDPeer,
		LocLocal: c.LocLocal, LocPeer: c.LocPeer, EgressPort: c.EgressPort,
	}
}

// Each calls f with every live context, in slot order. It reads every slot,
// so it is for the admin API and tests, not for a per-packet path; f must
// not keep c.
func (t *ContextTable) Each(f func(c *Context) bool) {
	var c Context
	for slot := range t.recs {
		if t.read(uint32(slot), &c) && !f(&c) {
			return
		}
	}
}
