package configs

import (
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Why this file exists: toml v1.6.0 knows where every key is written, but
// keeps it private (MetaData.keyInfo), keyed by the path without array
// indices, so that in a file with two [[port]] tables the second port's
// "prefix" overwrites the first's position (its own decode errors then point
// at the wrong port). Errors must name the file, line and key (DESIGN.md §7),
// so we find the positions ourselves: a small scanner over a document that
// the toml parser has already accepted, which therefore needs no error
// handling beyond stopping where it does not understand the input (then the
// keys after that point are reported without a line).

// keyPos is where one key of the document is written.
type keyPos struct {
	// key is the path as toml.MetaData reports it (toml.Key.String(), no
	// array indices), for matching MetaData.Undecoded; "" for array
	// elements, which MetaData does not list.
	key string
	// path is the path with array indices, as Error.Key spells it:
	// "port[1].prefix", "port[0].addresses[1]".
	path string
	line int
}

// positions lists a document's keys in the order they are written.
type positions []keyPos

// line returns the line where path is written. When path itself is not in
// the file (a default, a missing key), it returns the line of the nearest
// enclosing table or array element that is, so that "port[1].device is
// missing" still points at port[1]'s [[port]] header; 0 when none is.
func (ps positions) line(path string) int {
	for {
		for _, p := range ps {
			if p.path == path {
				return p.line
			}
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return 0
		}
		path = path[:i]
	}
}

// written reports whether path itself is in the file.
func (ps positions) written(path string) bool {
	for _, p := range ps {
		if p.path == path {
			return true
		}
	}
	return false
}

// locate finds where each of keys (from toml.MetaData, in document order) is
// written. Both lists are in document order, so each key is matched to the
// first unused entry with the same name after the previous match; the
// fallback search from the start only matters if the scanner stopped early.
func (ps positions) locate(keys []toml.Key) []keyPos {
	out := make([]keyPos, len(keys))
	next := 0
	for i, k := range keys {
		name := k.String()
		out[i] = keyPos{key: name, path: name}
		found := -1
		for j := next; j < len(ps) && found < 0; j++ {
			if ps[j].key == name {
				found = j
			}
		}
		if found >= 0 {
			out[i] = ps[found]
			next = found + 1
		}
	}
	return out
}

// scanPositions returns the keys of data, which must be TOML that
// toml.Decode accepted.
func scanPositions(data string) positions {
	s := &scanner{src: data, counts: map[string]int{}}
	for i := 0; i < len(data); i++ {
		if data[i] == '\n' {
			s.lineStarts = append(s.lineStarts, i+1)
		}
	}
	defer func() {
		// The scanner indexes data without bounds checks of its own, relying
		// on the document being valid TOML; should it ever misread one, keep
		// the positions found so far rather than take the process down.
		_ = recover()
	}()
	s.document()
	return s.out
}

type scanner struct {
	src        string
	i          int
	lineStarts []int          // offsets just after each '\n'
	counts     map[string]int // elements seen so far per array-of-tables path
	out        positions
}

func (s *scanner) line(off int) int {
	return 1 + sort.SearchInts(s.lineStarts, off+1)
}

func (s *scanner) add(key, path string, off int) {
	s.out = append(s.out, keyPos{key: key, path: path, line: s.line(off)})
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }

// space skips whitespace, newlines and comments: the document is valid, so
// there is no need to tell apart the places where a newline is allowed.
func (s *scanner) space() {
	for !s.eof() {
		switch s.src[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		case '#':
			for !s.eof() && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

// inlineSpace skips blanks within a line.
func (s *scanner) inlineSpace() {
	for !s.eof() && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

func (s *scanner) document() {
	var table toml.Key // the current table, as MetaData spells it
	path := ""         // the current table, with indices
	for {
		s.space()
		if s.eof() {
			return
		}
		start := s.i
		if s.src[s.i] == '[' {
			array := strings.HasPrefix(s.src[s.i:], "[[")
			if array {
				s.i += 2
			} else {
				s.i++
			}
			table = s.key()
			path = s.tablePath(table, array)
			s.add(table.String(), path, start)
			s.inlineSpace()
			if array {
				s.i += 2
			} else {
				s.i++
			}
			continue
		}
		s.keyValue(table, path)
		if s.i == start {
			return // not understood; stop rather than loop
		}
	}
}

// tablePath turns a header's key into a path with indices: a part that names
// an array of tables refers to its latest element, and [[x]] starts a new
// element of x.
func (s *scanner) tablePath(key toml.Key, array bool) string {
	path := ""
	for i, part := range key {
		p := joinPath(path, toml.Key{part}.String())
		n, isArray := s.counts[p]
		switch {
		case array && i == len(key)-1:
			s.counts[p] = n + 1
			path = p + "[" + strconv.Itoa(n) + "]"
		case isArray:
			path = p + "[" + strconv.Itoa(n-1) + "]"
		default:
			path = p
		}
	}
	return path
}

func joinPath(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

// keyValue reads `key = value` inside the table (table, path).
func (s *scanner) keyValue(table toml.Key, path string) {
	start := s.i
	k := s.key()
	if len(k) == 0 {
		return
	}
	full := append(append(toml.Key{}, table...), k...)
	fullPath := path
	for _, part := range k {
		fullPath = joinPath(fullPath, toml.Key{part}.String())
	}
	s.add(full.String(), fullPath, start)
	s.inlineSpace()
	if s.eof() || s.src[s.i] != '=' {
		return
	}
	s.i++
	s.inlineSpace()
	s.value(full, fullPath)
}

// key reads a possibly dotted key: bare, "basic" or 'literal' parts.
func (s *scanner) key() toml.Key {
	var k toml.Key
	for {
		s.inlineSpace()
		if s.eof() {
			return k
		}
		switch c := s.src[s.i]; {
		case c == '"' || c == '\'':
			raw := s.str()
			if c == '"' {
				if u, err := strconv.Unquote(raw); err == nil {
					raw = u
				}
			} else {
				raw = raw[1 : len(raw)-1]
			}
			k = append(k, raw)
		case isBare(c):
			j := s.i
			for !s.eof() && isBare(s.src[s.i]) {
				s.i++
			}
			k = append(k, s.src[j:s.i])
		default:
			return k
		}
		s.inlineSpace()
		if s.eof() || s.src[s.i] != '.' {
			return k
		}
		s.i++
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value skips one value, recording the keys of inline tables and the
// positions of array elements (so that an error in the second address of a
// multi-line array points at its own line).
func (s *scanner) value(key toml.Key, path string) {
	switch s.src[s.i] {
	case '"', '\'':
		s.str()
	case '[':
		s.i++
		for n := 0; ; n++ {
			s.space()
			if s.eof() || s.src[s.i] == ']' {
				s.i++
				return
			}
			elem := path + "[" + strconv.Itoa(n) + "]"
			s.add("", elem, s.i)
			s.value(key, elem)
			s.space()
			if !s.eof() && s.src[s.i] == ',' {
				s.i++
			}
		}
	case '{':
		s.i++
		for {
			s.space()
			if s.eof() || s.src[s.i] == '}' {
				s.i++
				return
			}
			before := s.i
			s.keyValue(key, path)
			s.space()
			if !s.eof() && s.src[s.i] == ',' {
				s.i++
			}
			if s.i == before {
				return
			}
		}
	default:
		// Numbers, booleans, dates: no scalar contains these delimiters, but
		// a date may contain a space ("1979-05-27 07:32:00").
		for !s.eof() && !strings.ContainsRune(",]}#\n", rune(s.src[s.i])) {
			s.i++
		}
	}
}

// str skips a string of any of TOML's four kinds and returns it with its
// quotes.
func (s *scanner) str() string {
	start := s.i
	q := s.src[s.i]
	if strings.HasPrefix(s.src[s.i:], strings.Repeat(string(q), 3)) {
		delim := strings.Repeat(string(q), 3)
		s.i += 3
		for !strings.HasPrefix(s.src[s.i:], delim) {
			if q == '"' && s.src[s.i] == '\\' {
				s.i++
			}
			s.i++
		}
		s.i += 3
		// Up to two quotes may precede the closing delimiter: `""""x"""""`.
		for n := 0; n < 2 && !s.eof() && s.src[s.i] == q; n++ {
			s.i++
		}
		return s.src[start:s.i]
	}
	s.i++
	for s.src[s.i] != q {
		if q == '"' && s.src[s.i] == '\\' {
			s.i++
		}
		s.i++
	}
	s.i++
	return s.src[start:s.i]
}
