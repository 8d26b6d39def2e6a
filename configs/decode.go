package configs

import (
	"encoding"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// decode turns data into a Config with the daemon defaults pre-filled, and
// refuses syntax errors, values of the wrong type or form, and unknown keys.
// It returns the positions of the keys for the semantic checks that follow.
//
// It reads the document twice. The first pass, into a plain map, reports
// only syntax errors (with the parser's own line numbers) and gives us the
// raw values. checkTypes then walks the raw values along Config's type, so
// that a bad value is reported with its array index and the reason in our
// words; toml's own decode errors say "netip.ParsePrefix(...)" and, inside
// [[port]] tables, point at the last port's line. The second pass decodes
// into Config for real and should not fail any more.
func decode(name, data string) (*Config, map[string]any, positions, error) {
	var raw map[string]any
	if _, err := toml.Decode(data, &raw); err != nil {
		return nil, nil, nil, syntaxError(name, err)
	}
	pos := scanPositions(data)
	if err := checkTypes(name, pos, "", raw, reflect.TypeFor[Config]()); err != nil {
		return nil, nil, nil, err
	}

	// Daemon keys that are absent keep these values: decoding only sets the
	// keys that are written. That is how metrics_listen = "" can mean
	// "disabled" while an absent metrics_listen means the default.
	cfg := &Config{Daemon: defaultDaemon(), Source: name}
	md, err := toml.Decode(data, cfg)
	if err != nil {
		// checkTypes should have caught it; toml's line may be another
		// [[port]]'s, so give its message alone.
		return nil, nil, nil, &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
	}
	if und := md.Undecoded(); len(und) > 0 {
		// Report the first: for an unknown table, its keys follow it.
		return nil, nil, nil, unknownKey(name, und[0], pos.locate(und[:1])[0])
	}
	remember(cfg, pos)
	return cfg, raw, pos, nil
}

// syntaxError wraps an error from parsing the document; toml.ParseError
// carries the line, and there it is right.
func syntaxError(name string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: name, Line: pe.Position.Line, Key: pe.LastKey,
			Msg: "TOML syntax: " + pe.Message, Err: err}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
}

// unknownKey reports a key no field takes: most often a typo, so it suggests
// the closest known key, and otherwise lists the keys that are known there.
func unknownKey(name string, k toml.Key, at keyPos) error {
	known := knownKeys(k[:len(k)-1])
	e := &Error{File: name, Line: at.line, Key: at.path}
	if len(known) == 0 {
		e.Msg = "unknown key; delete it"
		return e
	}
	if s, ok := closest(k[len(k)-1], known); ok {
		e.Msg = fmt.Sprintf("unknown key; did you mean %s?", s)
		return e
	}
	where := "at the top level"
	if len(k) > 1 {
		where = "in [" + toml.Key(k[:len(k)-1]).String() + "]"
	}
	e.Msg = fmt.Sprintf("unknown key; the keys %s are %s", where, strings.Join(known, ", "))
	return e
}

// knownKeys returns the TOML keys of the table at parent (a path without
// indices, as MetaData gives it), or nil when parent is not a table.
func knownKeys(parent toml.Key) []string {
	t := reflect.TypeFor[Config]()
	for _, part := range parent {
		t = tableType(t)
		if t == nil {
			return nil
		}
		f, ok := fieldByKey(t, part)
		if !ok {
			return nil
		}
		t = f.Type
	}
	if t = tableType(t); t == nil {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if k := tomlName(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// tableType returns the struct type that a TOML table (or an element of an
// array of tables) of Go type t decodes into, or nil.
func tableType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || isText(t) {
		return nil
	}
	return t
}

// tomlName is the key of a struct field, "" for fields TOML ignores.
func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

// fieldByKey finds the field that toml decodes key into: an exact match,
// else a case-insensitive one, as toml does.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold reflect.StructField
	found := false
	for i := range t.NumField() {
		f := t.Field(i)
		name := tomlName(f)
		if name == key {
			return f, true
		}
		if !found && name != "" && strings.EqualFold(name, key) {
			fold, found = f, true
		}
	}
	return fold, found
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func isText(t reflect.Type) bool { return reflect.PointerTo(t).Implements(textUnmarshaler) }

// textForms says, for each type written as a string, what it is and how to
// write one: the second half of the error message.
var textForms = map[reflect.Type]struct{ what, write string }{
	reflect.TypeFor[netip.Addr]():     {"an IPv6 address", "write e.g. 2001:db8:1::1"},
	reflect.TypeFor[netip.Prefix]():   {"an IPv6 prefix", "write ADDRESS/LEN, e.g. 2001:db8:1::/48"},
	reflect.TypeFor[MAC]():            {"a MAC address", "write six hex bytes, e.g. 02:00:00:00:00:01"},
	reflect.TypeFor[netip.AddrPort](): {"an address and port", `write "[ADDRESS]:PORT", e.g. "[fd00:aa::1]:7600"`},
	reflect.TypeFor[Duration]():       {"a duration", `write a number with a unit, e.g. "30s" or "500ms"`},
	reflect.TypeFor[Role]():           {roles.what, roles.write},
	reflect.TypeFor[Polling]():        {pollings.what, pollings.write},
	reflect.TypeFor[Failback]():       {failbacks.what, failbacks.write},
	reflect.TypeFor[LogLevel]():       {logLevels.what, logLevels.write},
}

// checkTypes checks that the raw value v at path fits Go type t, and returns
// the first value that does not. Keys with no field are left to
// MetaData.Undecoded.
func checkTypes(name string, pos positions, path string, v any, t reflect.Type) error {
	fail := func(format string, args ...any) error {
		return &Error{File: name, Line: pos.line(path), Key: path, Msg: fmt.Sprintf(format, args...)}
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isText(t) {
		form, ok := textForms[t]
		if !ok {
			form.what, form.write = "a "+t.Name(), "see configs/lab.toml"
		}
		s, ok := v.(string)
		if !ok {
			return fail("%s is not %s; %s, in quotes", describe(v), form.what, form.write)
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return fail("%q is not %s; %s", s, form.what, form.write)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return fail("%s is not a table; write it as [%s] with key = value lines", describe(v), path)
		}
		return earliest(name, pos, path, m, t)
	case reflect.Slice:
		var elems []any
		switch a := v.(type) {
		case []any:
			elems = a
		case []map[string]any:
			for _, m := range a {
				elems = append(elems, m)
			}
		default:
			if tableType(t) != nil {
				return fail("%s is not an array of tables; write one [[%s]] table per entry", describe(v), path)
			}
			return fail("%s is not an array; write [ ... ], e.g. [%s]", describe(v), exampleOf(t.Elem()))
		}
		for i, e := range elems {
			if err := checkTypes(name, pos, path+"["+strconv.Itoa(i)+"]", e, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return fail("%s is not a string; write it in quotes", describe(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return fail("%s is not a boolean; write true or false", describe(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(int64)
		if !ok {
			return fail("%s is not an integer; write a whole number without quotes", describe(v))
		}
		lo, hi := intRange(t)
		if n < lo || uint64(n) > hi {
			return fail("%d does not fit; write a number from %d to %d", n, lo, hi)
		}
	}
	return nil
}

// earliest checks the fields of table m and returns the error that comes
// first in the file: map order is random, and the same file must always give
// the same message.
func earliest(name string, pos positions, path string, m map[string]any, t reflect.Type) error {
	var first *Error
	for k, sub := range m {
		f, ok := fieldByKey(t, k)
		if !ok {
			continue
		}
		err := checkTypes(name, pos, joinPath(path, toml.Key{k}.String()), sub, f.Type)
		if e, ok := err.(*Error); ok && (first == nil || before(e, first)) {
			first = e
		}
	}
	if first == nil {
		return nil
	}
	return first
}

// before orders errors by line, those without one last, then by key.
func before(a, b *Error) bool {
	switch {
	case a.Line != b.Line && a.Line > 0 && b.Line > 0:
		return a.Line < b.Line
	case a.Line != b.Line:
		return a.Line > 0
	}
	return a.Key < b.Key
}

func intRange(t reflect.Type) (lo int64, hi uint64) {
	bits := t.Bits()
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		if bits == 64 {
			return 0, 1<<63 - 1 // TOML integers are int64
		}
		return 0, 1<<bits - 1
	}
	return -1 << (bits - 1), 1<<(bits-1) - 1
}

// describe names a raw TOML value for a message: the value itself when it is
// short, its kind otherwise.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case int64, float64, bool:
		return fmt.Sprint(v)
	case time.Time:
		return "the date " + v.Format(time.RFC3339)
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	}
	return fmt.Sprintf("a %T", v)
}

// exampleOf gives sample elements for an array message. The only array of
// plain strings is eal.args.
func exampleOf(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[netip.Addr]():
		return `"2001:db8:1::1"`
	case reflect.TypeFor[netip.Prefix]():
		return `"2001:db8:1::/48"`
	}
	return `"-l", "0-1"`
}
