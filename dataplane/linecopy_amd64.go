//go:build !race

package dataplane

import "unsafe"

// copyRec and copyPair copy a record's and a pair's words for a seqlocked
// read (readLine), between the reader's two atomic loads of the sequence
// counter.
//
// Plain loads, not atomic ones: Go gives each atomic load its own address
// computation, and the copy costs twice the instructions (callgrind). It
// is sound here, and only here: amd64 does not reorder loads with other
// loads, and the compiler keeps plain loads between the two atomic loads
// of the counter that order them; a torn copy is caught by the counter
// check as before. Under the race detector, and on other architectures
// (arm64 may let plain loads pass a load-acquire), linecopy_other.go loads
// each word atomically. Word by word, because an array assignment of this
// size becomes a call to memmove; two functions, so each stays small
// enough to inline.
func copyRec(r *ctxRecord, rec *[lineWords]uint64) {
	a := (*[lineWords]uint64)(unsafe.Pointer(r))
	// The counter (word 0) and the spare word 7 are not needed.
	rec[1], rec[2], rec[3], rec[4], rec[5], rec[6] = a[1], a[2], a[3], a[4], a[5], a[6]
}

func copyPair(u *ctxPair, pair *[pairWords]uint64) {
	b := (*[pairWords]uint64)(unsafe.Pointer(u))
	pair[0], pair[1], pair[2], pair[3] = b[0], b[1], b[2], b[3]
}

// tagCheckAt returns slot's byte of t.tagCheck (slot < 4*len): one byte
// load, as amd64 loads a byte of a word the writer stores atomically
// whole. Under the race detector and elsewhere linecopy_other.go loads
// the word atomically and shifts.
func (t *ContextTable) tagCheckAt(slot uint64) uint8 {
	return *(*uint8)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(t.tagCheck)), slot))
}
