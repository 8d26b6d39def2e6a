package configs

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
)

// scannerDoc uses the TOML forms that could throw a line scanner off:
// strings holding brackets, '=', '#' and newlines, quoted and dotted keys,
// inline tables, multi-line arrays, and a date with a space.
const scannerDoc = `# comment [not] = a table
top = "x = [1]" # comment
"quoted key" = 'lit # not a comment'
dotted.key = 1

[t]
multi = """
[[not a table]]
key = "not a key"
"""
lit = '''
[x]'''
arr = [
  1, # one
  [2, 3],
  { a = 1 },
]
date = 1979-05-27 07:32:00
inline = { x = 1, y.z = "}" }

[[port]]
name = "a"

[[port]]
name = "b"
  [port.sub]
  k = 1

[ "odd" . table ]
k = 2
`

func TestScanPositions(t *testing.T) {
	got := map[string]int{}
	for _, p := range scanPositions(scannerDoc) {
		got[p.path] = p.line
	}
	want := map[string]int{
		"top":           2,
		`"quoted key"`:  3,
		"dotted.key":    4,
		"t":             6,
		"t.multi":       7,
		"t.lit":         11,
		"t.arr":         13,
		"t.arr[0]":      14,
		"t.arr[1]":      15,
		"t.arr[1][0]":   15,
		"t.arr[1][1]":   15,
		"t.arr[2]":      16,
		"t.arr[2].a":    16,
		"t.date":        18,
		"t.inline":      19,
		"t.inline.x":    19,
		"t.inline.y.z":  19,
		"port[0]":       21,
		"port[0].name":  22,
		"port[1]":       24,
		"port[1].name":  25,
		"port[1].sub":   26,
		"port[1].sub.k": 27,
		"odd.table":     29,
		"odd.table.k":   30,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
}

func TestLineFallsBackToParent(t *testing.T) {
	ps := scanPositions(scannerDoc)
	for path, want := range map[string]int{
		"port[1].device": 24, // not written: its table's header
		"t.arr[2].b":     16,
		"nothing.at.all": 0,
		"port":           0,
	} {
		if got := ps.line(path); got != want {
			t.Errorf("line(%q) = %d, want %d", path, got, want)
		}
	}
}

// TestLocateEveryKey checks that every key toml reports is found, at the
// line where it is written, in document order.
func TestLocateEveryKey(t *testing.T) {
	for name, doc := range map[string]string{"scanner": scannerDoc, "lab": string(labTOML), "base": testBase + neighborTOML} {
		var m map[string]any
		md, err := toml.Decode(doc, &m)
		if err != nil {
			t.Fatal(name, err)
		}
		locs := scanPositions(doc).locate(md.Keys())
		for i, k := range md.Keys() {
			if locs[i].line == 0 {
				t.Errorf("%s: key %s not located", name, k)
			}
		}
	}
	// toml spells both ports' name keys "port.name"; locate must tell them
	// apart by order.
	var m map[string]any
	md, _ := toml.Decode(scannerDoc, &m)
	var names []string
	for i, loc := range scanPositions(scannerDoc).locate(md.Keys()) {
		if md.Keys()[i].String() == "port.name" {
			names = append(names, loc.path)
		}
	}
	if diff := cmp.Diff([]string{"port[0].name", "port[1].name"}, names); diff != "" {
		t.Errorf("port.name located at (-want +got):\n%s", diff)
	}
}

// FuzzScanPositions: on any document toml accepts, the scanner must not
// panic (it recovers, but should not need to) and must locate every key.
func FuzzScanPositions(f *testing.F) {
	f.Add(scannerDoc)
	f.Add(testBase)
	f.Add(string(labTOML))
	f.Add("a = [[1], [\"]\"]]\n")           // nested arrays with a bracket in a string
	f.Add("a = \"\"\"x\"\"\"\"\"\nb = 1\n") // quotes before the closing delimiter
	f.Add("[a.b]\n[[a.c]]\n[[a.c]]\nd = 1\n")
	f.Fuzz(func(t *testing.T, doc string) {
		var m map[string]any
		md, err := toml.Decode(doc, &m)
		if err != nil {
			return
		}
		for i, loc := range scanPositions(doc).locate(md.Keys()) {
			if loc.line == 0 {
				t.Errorf("key %s not located in %q", md.Keys()[i], doc)
			}
		}
	})
}

// FuzzParse: any document gives a config that validates or an error that
// is one line naming the file, as the daemon prints it on exit 2; never a
// panic. A config Parse accepts must be accepted again from the same
// bytes, with the same result (no state kept between parses).
func FuzzParse(f *testing.F) {
	f.Add(testBase)
	f.Add(string(labTOML))
	f.Add("[daemon]\nworkers = -1\n")
	f.Add("[[port]]\nname = \"a\"\nrole = \"uplink\"\nprefix = \"2001:db8::/129\"\n")
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := Parse("fuzz.toml", []byte(doc))
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, "fuzz.toml") {
				t.Fatalf("error %q: want one line starting with the file name", msg)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %q is a %T, not an *Error", msg, err)
			}
			return
		}
		again, err := Parse("fuzz.toml", []byte(doc))
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("a second parse differs: %v", err)
		}
	})
}
