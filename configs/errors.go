package configs

import (
	"strconv"
	"strings"
)

// Error is a configuration error: every one stops the start (DESIGN.md §7).
// Its Error method returns one line,
//
//	FILE:LINE: KEY: what is wrong; what to write instead
//
// leaving out LINE when the key is not written in the file (a required key
// that is missing, a default that does not fit) and KEY when the error is
// about the file as a whole.
type Error struct {
	// File is the name the configuration was loaded under (Config.Source).
	File string
	// Line is the 1-based line where Key is written, or 0 when unknown.
	Line int
	// Key is the key's path with array indices, e.g. "port[1].prefix".
	Key string
	// Msg says what is wrong and what to write instead.
	Msg string
	// Err is the underlying error (a read failure, a TOML syntax error),
	// for errors.Is and errors.As; nil for semantic errors.
	Err error
}

// Error returns the one-line message described on Error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	// Messages quote values from the file, and a multi-line TOML string could
	// smuggle a newline in; the error must stay one log line.
	b.WriteString(strings.Join(strings.Fields(e.Msg), " "))
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// closest returns the candidate nearest to word by edit distance, if that
// distance is at most 2: the typos an operator makes ("nexthop", "next_hp")
// are that close, and anything further is more likely a different idea than
// a misspelling.
func closest(word string, candidates []string) (string, bool) {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(word), c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best, best != ""
}

// editDistance is the Levenshtein distance between a and b, in bytes (keys
// are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
