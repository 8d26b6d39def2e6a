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
