package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"shim6d/control/shim6layer"
	"shim6d/control/shim6layer/tsharktest"
	"shim6d/control/wire"
)

// dissectorScript is the Lua dissector shipped to operators.
const dissectorScript = "../../configs/wireshark/shim6.lua"

// dissected is what the Lua dissector said about one packet: each field's
// values in tree order, and each expert info by kind.
type dissected struct {
	fields  map[string][]string
	experts map[string]int
	protos  map[string]bool
	// luaErrors are the dissector's run-time errors, which tshark shows
	// in the tree instead of stopping.
	luaErrors []string
}

func (d *dissected) walk(n *tsharktest.Node, inShim6 bool) {
	switch n.XMLName.Local {
	case "proto":
		name := n.Attr("name")
		d.protos[name] = true
		inShim6 = name == "shim6rfc"
	case "field":
		if strings.HasPrefix(n.Attr("showname"), "Lua Error") {
			d.luaErrors = append(d.luaErrors, n.Attr("showname"))
		}
		name := n.Attr("name")
		switch {
		case strings.HasPrefix(name, "shim6.expert."):
			d.experts[strings.TrimPrefix(name, "shim6.expert.")]++
		case inShim6 && strings.HasPrefix(name, "shim6."):
			if v := normPDML(n.Attr("show")); v != "" {
				d.fields[name] = append(d.fields[name], v)
			}
		}
	}
	for i := range n.Nodes {
		d.walk(&n.Nodes[i], inShim6)
	}
}

// dissectorOnly are fields the dissector shows that decode's JSON leaves
// out: reserved octets (ignored on receipt, RFC 5533 §5) and the flag bits
// of a Locator Preferences element, whose Flags octet is compared.
func dissectorOnly(name string) bool {
	return name == "shim6.reserved" || strings.HasSuffix(name, ".reserved") ||
		strings.HasPrefix(name, "shim6.opt.elements.flags.")
}

var pdmlBytes = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2})*$`)

// normPDML puts a PDML show value in the form normJSON gives decode's
// values: numbers in decimal, octets in plain hex, the rest as shown.
func normPDML(s string) string {
	if strings.HasPrefix(s, "0x") {
		if v, err := strconv.ParseUint(s[2:], 16, 64); err == nil {
			return strconv.FormatUint(v, 10)
		}
	}
	if pdmlBytes.MatchString(s) {
		return strings.ReplaceAll(s, ":", "")
	}
	return s
}

func normJSON(v any) string {
	switch v := v.(type) {
	case bool:
		if v {
			return "1"
		}
		return "0"
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		if strings.HasPrefix(v, "0x") {
			if n, err := strconv.ParseUint(v[2:], 16, 64); err == nil {
				return strconv.FormatUint(n, 10)
			}
		}
		return strings.ToLower(v)
	}
	return fmt.Sprint(v)
}

// jsonKeysSkipped are decode's keys that are no field: where the packet
// came from, names of numbers given beside them, offsets and messages.
var jsonKeysSkipped = map[string]bool{
	"packet": true, "time": true, "src": true, "dst": true, "kind": true, "malformed": true,
	"violations": true, "summary": true, "ulp": true, "option": true, "error": true, "name": true,
	"offset": true, "cga_error": true,
}

// flatten maps decode's JSON report to dissector field names: a key K
// is shim6.K (shim6.opt.K inside an option), a list of objects under L
// adds L to the prefix, and KEY_value stands for KEY when both exist.
func flatten(rep map[string]any) map[string][]string {
	out := map[string][]string{}
	var walk func(prefix string, m map[string]any)
	add := func(name string, v any) {
		if s := normJSON(v); s != "" {
			out[name] = append(out[name], s)
		}
	}
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if jsonKeysSkipped[k] {
				continue
			}
			if _, named := m[k+"_value"]; named {
				continue
			}
			name := prefix + strings.TrimSuffix(k, "_value")
			switch v := v.(type) {
			case []any:
				for _, e := range v {
					switch e := e.(type) {
					case map[string]any:
						sub := prefix + k + "."
						if k == "options" {
							sub = prefix + "opt."
						}
						walk(sub, e)
					default:
						add(name, e)
					}
				}
			case map[string]any: // "fields"
				walk(prefix, v)
			case nil:
			default:
				add(name, v)
			}
		}
	}
	walk("shim6.", rep)
	// Lists within one name keep their wire order, which both follow.
	return out
}

// runDissector runs tshark with the Lua dissector over path and returns
// one dissection per packet. The test is skipped where tshark is missing.
func runDissector(t *testing.T, path string) []dissected {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (Debian package tshark); the dissector check needs it")
	}
	// Reading the script here puts it in go test's cache key; tshark's
	// reading it would not.
	if _, err := os.ReadFile(dissectorScript); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-n", "-X", "lua_script:"+dissectorScript, "-r", path, "-T", "pdml")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user profile or plugins
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "Lua") {
		t.Fatalf("tshark reports a Lua problem:\n%s", stderr.String())
	}
	var doc tsharktest.Node
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("PDML: %v", err)
	}
	var ds []dissected
	for i := range doc.Nodes {
		if doc.Nodes[i].XMLName.Local != "packet" {
			continue
		}
		d := dissected{fields: map[string][]string{}, experts: map[string]int{}, protos: map[string]bool{}}
		d.walk(&doc.Nodes[i], false)
		ds = append(ds, d)
	}
	return ds
}

// decodeReports runs shim6ctl decode --json --all over path.
func decodeReports(t *testing.T, path string) []map[string]any {
	t.Helper()
	var out bytes.Buffer
	if err := runDecode([]string{path, "--json", "--all"}, &out); err != nil {
		t.Fatal(err)
	}
	var reps []map[string]any
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		reps = append(reps, m)
	}
	return reps
}

// compareDissector checks, packet by packet, that the dissector shows
// exactly decode's fields with decode's values, and raises expert info for
// exactly decode's violations. It returns the differences.
func compareDissector(reps []map[string]any, ds []dissected) []string {
	var diffs []string
	if len(reps) != len(ds) {
		return []string{fmt.Sprintf("decode reports %d packets, tshark %d", len(reps), len(ds))}
	}
	for i, rep := range reps {
		d := ds[i]
		n := i + 1
		for _, e := range d.luaErrors {
			diffs = append(diffs, fmt.Sprintf("packet %d: %s", n, e))
		}
		if d.protos["shim6"] {
			diffs = append(diffs, fmt.Sprintf("packet %d: the built-in Shim6 dissector ran", n))
		}
		if rep["kind"] == kindOther {
			if d.protos["shim6rfc"] {
				diffs = append(diffs, fmt.Sprintf("packet %d: no Shim6 for decode, the dissector shows some", n))
			}
			continue
		}
		want := flatten(rep)
		got := map[string][]string{}
		for k, v := range d.fields {
			if !dissectorOnly(k) {
				got[k] = v
			}
		}
		var names []string
		for k := range want {
			names = append(names, k)
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			if !slices.Equal(want[k], got[k]) {
				diffs = append(diffs, fmt.Sprintf("packet %d (%v): %s: decode %q, dissector %q", n, rep["type"], k, want[k], got[k]))
			}
		}
		wantEx := map[string]int{}
		if vs, ok := rep["violations"].([]any); ok {
			for _, v := range vs {
				wantEx[v.(map[string]any)["kind"].(string)]++
			}
		}
		wantEx["cga_parameters"] = strings.Count(mustJSON(rep), `"cga_error":`)
		for k, v := range d.experts {
			if wantEx[k] != v {
				diffs = append(diffs, fmt.Sprintf("packet %d (%v): expert %s ×%d, decode has %d", n, rep["type"], k, v, wantEx[k]))
			}
		}
		for k, v := range wantEx {
			if _, ok := d.experts[k]; !ok && v != 0 {
				diffs = append(diffs, fmt.Sprintf("packet %d (%v): decode has %d %s, the dissector no expert info", n, rep["type"], v, k))
			}
		}
	}
	return diffs
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// goldenMessages are the golden messages of control/wire, written from the
// RFC diagrams (control/wire/testdata/golden, kept equal to golden_test.go).
func goldenMessages(t *testing.T) [][]byte {
	t.Helper()
	files, err := filepath.Glob("../../control/wire/testdata/golden/*.hex")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files (%v)", err)
	}
	var msgs [][]byte
	for _, f := range files {
		s, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(s)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		msgs = append(msgs, b)
	}
	return msgs
}

// goldenFrames puts each golden message in an IPv6 packet behind Ethernet.
func goldenFrames(t *testing.T) [][]byte {
	var frames [][]byte
	for _, b := range goldenMessages(t) {
		frames = append(frames, frame(t, true, ipv6Layer(wire.ProtocolNumber), gopacket.Payload(b)))
	}
	return frames
}

// badMessage breaks the rules its kinds name, each one expert info.
type badMessage struct {
	name  string
	kinds []string
	b     []byte
}

func badMessages(t *testing.T) []badMessage {
	t.Helper()
	enc := func(m wire.Message) []byte {
		b, err := wire.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ms := testMessages()
	i2 := enc(ms[2])
	ll, _ := wire.OptionOffset(i2, wire.OptLocatorList)
	pds, _ := wire.OptionOffset(i2, wire.OptCGAParameterDataStructure)
	fix := func(b []byte) []byte { binaryChecksum(b); return b }
	edit := func(b []byte, f func(b []byte)) []byte {
		b = append([]byte(nil), b...)
		f(b)
		return fix(b)
	}
	i1 := enc(ms[0])
	i1[len(i1)-1] ^= 0x10
	return []badMessage{
		{"I1 with a damaged checksum", []string{"bad_checksum"}, i1},
		{"I2 with a Locator List and no PDS", []string{"missing_option"}, i2WithoutPDS(t)},
		{"Num Locators 3 in a list sized for 2", []string{"bad_length"}, edit(i2, func(b []byte) { b[ll+8] = 3 })},
		{"I2 cut inside its Locator List", []string{"truncated"}, i2[:ll+20]},
		{"Probe with State 3", []string{"invalid_value"},
			edit(enc(ms[9]), func(b []byte) { b[13] |= 0xc0 })},
		// Psent 0: the report it had is then read as options, and breaks
		// their rules too.
		{"Probe with Psent 0", []string{"invalid_value", "bad_length", "unknown_critical_option"},
			edit(enc(ms[9]), func(b []byte) { b[12] = 0 })},
		{"Keepalive with an unknown critical option", []string{"unknown_critical_option"},
			fix([]byte{0x3b, 0x02, 0x42, 0x00, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x00, 0xc7, 0x00, 0x00, 0, 0, 0, 0})},
		{"R1 with two Responder Validators", []string{"duplicate_option"},
			fix([]byte{0x3b, 0x03, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2,
				0x00, 0x02, 0x00, 0x02, 0xaa, 0xbb, 0, 0, 0x00, 0x02, 0x00, 0x01, 0xcc, 0, 0, 0})},
		{"type 69 with S = 1", []string{"s_bit", "unknown_type"},
			fix([]byte{0x3b, 0x01, 0x45, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2})},
		// A warning, not a violation: the codec keeps the structure opaque.
		{"I2 whose CGA Parameters do not parse", []string{"cga_parameters"},
			edit(i2, func(b []byte) { b[pds+4+25] = 0x31 })},
		{"Update Request, 4-octet preference elements, 2 octets over", []string{"bad_length"},
			fix([]byte{0x3b, 0x04, 0x40, 0x00, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 7,
				0x00, 0x06, 0x00, 0x0f, 0, 0, 0, 9, 4, 0x01, 1, 2, 0xee, 0x02, 3, 4, 0xee, 0xaa, 0xbb, 0, 0, 0, 0, 0})},
		{"three octets of a control header", []string{"truncated"}, []byte{0x3b, 0x05, 0x42}},
	}
}

// mutatedFrames are the golden messages and testMessages with each octet
// changed three ways (the checksum repaired, so that the later checks are
// reached) and cut at every octet: the dissector must read each as decode
// does.
func mutatedFrames(t *testing.T) [][]byte {
	t.Helper()
	base := goldenMessages(t)
	for _, m := range testMessages() {
		b, err := wire.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		base = append(base, b)
	}
	var frames [][]byte
	add := func(b []byte) {
		frames = append(frames, frame(t, true, ipv6Layer(wire.ProtocolNumber), gopacket.Payload(b)))
	}
	for _, g := range base {
		for i := range g {
			for _, x := range []byte{0xa5, 0x01, 0x80} {
				b := append([]byte(nil), g...)
				b[i] ^= x
				if i != 4 && i != 5 {
					binaryChecksum(b)
				}
				add(b)
			}
		}
		for k := 0; k < len(g); k++ {
			add(g[:k])
		}
	}
	return frames
}

// TestDissectorMatchesDecode runs the Lua dissector over the golden
// messages, every message type and option, the bad vectors and a capture
// of the two-site lab, and checks every field it shows, and its expert
// info, against shim6ctl decode --json for the same packet.
func TestDissectorMatchesDecode(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (Debian package tshark); the dissector check needs it")
	}
	bad := badMessages(t)
	var badFrames [][]byte
	for _, m := range bad {
		badFrames = append(badFrames, frame(t, true, ipv6Layer(wire.ProtocolNumber), gopacket.Payload(m.b)))
	}
	udp := &layers.UDP{SrcPort: 49152, DstPort: 49153}
	payload := frame(t, true, ipv6Layer(wire.ProtocolNumber),
		&shim6layer.Payload{NextHeader: layers.IPProtocolUDP, ContextTag: 0x123456789abc}, udp, gopacket.Payload("hello"))
	badPayload := append([]byte(nil), payload...)
	badPayload[14+40+1] = 1 // Hdr Ext Len 1

	typesPath, _ := writeTestCapture(t, false, true)
	// Every golden message changed at every octet and cut at every
	// length: about 4,000 frames, seconds of tshark; -short takes every
	// eighth of them.
	mutated := mutatedFrames(t)
	if testing.Short() {
		var some [][]byte
		for i := 0; i < len(mutated); i += 8 {
			some = append(some, mutated[i])
		}
		mutated = some
	}
	for _, c := range []struct {
		name string
		path string
	}{
		{"golden", tsharktest.WritePcap(t, goldenFrames(t))},
		{"every type and option", typesPath},
		{"bad", tsharktest.WritePcap(t, append(badFrames, payload, badPayload))},
		{"mutated golden", tsharktest.WritePcap(t, mutated)},
		{"two-site lab", "testdata/twosite-link.pcap"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// SHIM6_KEEP_PCAP=DIR keeps the capture, to look at a
			// difference with tshark -V and shim6ctl decode.
			if d := os.Getenv("SHIM6_KEEP_PCAP"); d != "" {
				b, _ := os.ReadFile(c.path)
				os.WriteFile(filepath.Join(d, strings.ReplaceAll(c.name, " ", "-")+".pcap"), b, 0o644)
			}
			reps := decodeReports(t, c.path)
			ds := runDissector(t, c.path)
			for _, d := range compareDissector(reps, ds) {
				t.Error(d)
			}
			if c.name == "bad" {
				// Each bad vector raised the expert info its name says.
				for i, m := range bad {
					want := map[string]int{}
					for _, k := range m.kinds {
						want[k]++
					}
					if !maps.Equal(want, ds[i].experts) {
						t.Errorf("%s: expert info %v, want %v", m.name, ds[i].experts, want)
					}
				}
				if ds[len(ds)-1].experts["bad_length"] != 1 {
					t.Errorf("payload with Hdr Ext Len 1: experts %v", ds[len(ds)-1].experts)
				}
				if !ds[len(ds)-2].protos["udp"] {
					t.Errorf("payload packet: the dissector did not hand the ULP to UDP")
				}
			}
			var fields int
			for _, d := range ds {
				for _, v := range d.fields {
					fields += len(v)
				}
			}
			t.Logf("%d packets, %d field values compared", len(ds), fields)
		})
	}
}

// TestDissectorComparisonFails proves the comparison can fail: a field
// value changed, a field missing, an extra expert info.
func TestDissectorComparisonFails(t *testing.T) {
	path := tsharktest.WritePcap(t, goldenFrames(t))
	reps := decodeReports(t, path)
	ds := runDissector(t, path)
	if d := compareDissector(reps, ds); len(d) != 0 {
		t.Fatalf("baseline differs: %v", d)
	}
	fresh := func() []dissected {
		var c []dissected
		for _, d := range ds {
			x := dissected{fields: map[string][]string{}, experts: maps.Clone(d.experts), protos: d.protos}
			for k, v := range d.fields {
				x.fields[k] = slices.Clone(v)
			}
			c = append(c, x)
		}
		return c
	}
	for _, c := range []struct {
		name, want string
		spoil      func(ds []dissected) bool
	}{
		{"a nonce one more", "shim6.initiator_nonce", func(ds []dissected) bool {
			for _, d := range ds {
				if v := d.fields["shim6.initiator_nonce"]; v != nil {
					n, _ := strconv.ParseUint(v[0], 10, 64)
					v[0] = strconv.FormatUint(n+1, 10)
					return true
				}
			}
			return false
		}},
		{"a second locator lost", "shim6.opt.locators.locator", func(ds []dissected) bool {
			for _, d := range ds {
				if v := d.fields["shim6.opt.locators.locator"]; len(v) > 1 {
					d.fields["shim6.opt.locators.locator"] = v[:1]
					return true
				}
			}
			return false
		}},
		{"a checksum missing", "shim6.checksum", func(ds []dissected) bool {
			delete(ds[0].fields, "shim6.checksum")
			return true
		}},
		{"a field decode lacks", "shim6.opt.bogus", func(ds []dissected) bool {
			ds[0].fields["shim6.opt.bogus"] = []string{"1"}
			return true
		}},
		{"an extra expert info", "bad_checksum", func(ds []dissected) bool {
			ds[0].experts["bad_checksum"]++
			return true
		}},
	} {
		spoilt := fresh()
		if !c.spoil(spoilt) {
			t.Fatalf("%s: nothing to spoil", c.name)
		}
		if d := compareDissector(reps, spoilt); len(d) != 1 || !strings.Contains(d[0], c.want) {
			t.Errorf("%s: differences %q, want one about %s", c.name, d, c.want)
		}
	}
}
