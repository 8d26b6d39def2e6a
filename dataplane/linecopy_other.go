//go:build race || !amd64

package dataplane

// copyRec and copyPair copy a record's and a pair's words for a seqlocked
// read, one atomic load a word; see linecopy_amd64.go.
func copyRec(r *ctxRecord, rec *[lineWords]uint64) {
	for i := range rec {
		rec[i] = r.w[i].Load()
	}
}

func copyPair(u *ctxPair, pair *[pairWords]uint64) {
	for i := range pair {
		pair[i] = u.w[i].Load()
	}
}

// tagCheckAt returns slot's byte of t.tagCheck (slot < 4*len), from an
// atomic load of its word; see linecopy_amd64.go.
func (t *ContextTable) tagCheckAt(slot uint64) uint8 {
	return uint8(t.tagCheck[slot/4].Load() >> (slot % 4 * 8))
}
