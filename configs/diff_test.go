package configs

import (
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Every key of Config has a reload rule, found the way Diff finds it: a
// key added to the struct without one fails here, not silently at the
// operator's first reload. Every rule names a key that exists.
func TestReloadRulesClassifyEveryKey(t *testing.T) {
	used := map[string]bool{}
	var walk func(rule string, st reflect.Type)
	walk = func(rule string, st reflect.Type) {
		for i := range st.NumField() {
			name := tomlName(st.Field(i))
			if name == "" {
				continue
			}
			key, ft := joinPath(rule, name), st.Field(i).Type
			r, ok := reloadRules[key]
			used[key] = ok
			switch {
			case ok && r.class == perElement:
				walk(key, tableType(ft))
			case ok:
			case tableType(ft) != nil && ft.Kind() == reflect.Struct:
				walk(key, ft)
			default:
				t.Errorf("%s has no reload rule: say in reloadRules (configs/diff.go) whether a reload applies it live or needs a restart", key)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	for key, r := range reloadRules {
		if !used[key] {
			t.Errorf("reloadRules has %q, which is not a key of Config", key)
		}
		if (r.class == restart || r.class == perElement) && r.why == "" {
			t.Errorf("%s needs a restart but its rule does not say why", key)
		}
	}
}

const staticContext = `
[[context]]
local_ulid = "2001:db8:1::10"
peer_ulid = "2001:db8:9::20"
local_tag = 1
peer_tag = 2
`

const otherContext = `
[[context]]
local_ulid = "2001:db8:1::11"
peer_ulid = "2001:db8:9::21"
local_tag = 3
peer_tag = 4
`

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse("site.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The live keys come back as changes with the new value's line; nothing
// else changed is reported, and a file that only says the defaults out
// loud changes nothing.
func TestDiffLive(t *testing.T) {
	old := mustParse(t, testBase+staticContext)
	same := strings.Replace(testBase, "polling = \"adaptive\"",
		"polling = \"adaptive\"\nicmp_rate_limit = 100\nlog_level = \"info\"", 1)
	same = strings.Replace(same, "next_hop = \"fe80::1\"", "next_hop = \"fe80::1\"\npromiscuous = true\nweight = 1", 1)
	if ch, err := Diff(old, mustParse(t, same+staticContext)); err != nil || len(ch) != 0 {
		t.Fatalf("defaults written out: %v, %v; want no change", ch, err)
	}

	doc := strings.Replace(testBase, "polling = \"adaptive\"", "polling = \"adaptive\"\nlog_level = \"debug\"\nicmp_rate_limit = 50", 1)
	doc = strings.Replace(doc, "next_hop = \"fe80::1\"", "next_hop = \"fe80::1\"\nweight = 3\nbackup = true", 1)
	doc += "\n[shim]\nr1_rate = 500\nestablish_peers = [\"2001:db8:9::/48\"]\n" + otherContext
	cur := mustParse(t, doc)
	ch, err := Diff(old, cur)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range ch {
		got = append(got, c.String()+" @"+strconv.Itoa(c.Line))
	}
	want := []string{
		`daemon.icmp_rate_limit: 100 -> 50 @8`,
		`daemon.log_level: "info" -> "debug" @7`,
		`port[2].weight: 1 -> 3 @33`,
		`port[2].backup: false -> true @34`,
		`shim.establish_peers: [] -> ["2001:db8:9::/48"] @38`,
		`shim.r1_rate: 1000 -> 500 @37`,
		`context[0] removed (2001:db8:1::10 <-> 2001:db8:9::20) @0`,
		`context[0] added (2001:db8:1::11 <-> 2001:db8:9::21) @40`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Static contexts are a set: the same contexts in another order change
// nothing, one more is one change.
func TestDiffContextsAsSet(t *testing.T) {
	old := mustParse(t, testBase+staticContext+otherContext)
	if ch, err := Diff(old, mustParse(t, testBase+otherContext+staticContext)); err != nil || len(ch) != 0 {
		t.Fatalf("reordered contexts: %v, %v; want no change", ch, err)
	}
	ch, err := Diff(mustParse(t, testBase+staticContext), old)
	if err != nil || len(ch) != 1 || ch[0].Key != "context[1]" || ch[0].Old != "" {
		t.Fatalf("one context added: %v, %v", ch, err)
	}
}

// A key that needs a restart refuses the reload with one line: the new
// file, the line, the key, the values, the port's name, and why; the
// other such keys are counted on the same line.
func TestDiffRefusesRestartKeys(t *testing.T) {
	old := mustParse(t, testBase)
	for _, tt := range []struct {
		name, from, to, want string
	}{
		{"device", `device = "net_tap1"`, `device = "net_tap9"`,
			`site.toml:18: port[1].device: changed from "net_tap1" to "net_tap9" on [[port]] "isp1": restart shim6d to apply (live reload cannot change ports: they are opened once, at start)`},
		// workers sets mbufs' default: that changes too, and is named.
		{"workers", `workers = 2`, `workers = 1`,
			`site.toml:5: daemon.workers: changed from 2 to 1: restart shim6d to apply (the workers, their queues and polling are set up at start); 1 more to restart for: daemon.mbufs`},
		{"eal", `"--no-pci"]`, `"--no-pci", "-m", "256"]`,
			`site.toml:2: eal.args: changed from ["-l", "0-2", "--no-huge", "--no-pci"] to ["-l", "0-2", "--no-huge", "--no-pci", "-m", "256"]: restart shim6d to apply (EAL starts once per process)`},
		{"a port more", `next_hop = "fe80::1"`, "next_hop = \"fe80::1\"\n\n[[port]]\nname = \"isp3\"\nrole = \"uplink\"\ndevice = \"net_tap3\"\ndevargs = \"iface=up3\"\nprefix = \"2001:db8:3::/48\"\nnext_hop = \"fe80::1\"",
			`site.toml: port: 3 [[port]] tables, now 4: restart shim6d to apply (live reload cannot add, remove or reorder ports: a port's place is its number on the data path)`},
		{"two keys", `next_hop = "fe80::1"`, "next_hop = \"fe80::2\"\nmtu = 9000",
			`site.toml:30: port[2].next_hop: changed from "fe80::1" to "fe80::2" on [[port]] "isp2": restart shim6d to apply (live reload cannot change ports: they are opened once, at start); 1 more to restart for: port[2].mtu`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(testBase, tt.from, tt.to, 1)
			if doc == testBase {
				t.Fatal("the test's edit did not apply")
			}
			ch, err := Diff(old, mustParse(t, doc))
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrNeedsRestart) {
				t.Errorf("Diff = %v, %v\nwant          %s", ch, err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("not an *Error: %T", err)
			}
		})
	}
	// A live change alongside does not get through either: all or nothing.
	doc := strings.Replace(testBase, `device = "net_tap1"`, "device = \"net_tap9\"\nweight = 4", 1)
	if ch, err := Diff(old, mustParse(t, doc)); err == nil || ch != nil {
		t.Errorf("restart key with a live one: %v, %v; want a refusal and no changes", ch, err)
	}
}

// An [[hba]] set added is a live change; the same set read again (its key
// parsed anew, another *rsa.PrivateKey) is none.
func TestDiffHBASets(t *testing.T) {
	dir := t.TempDir()
	set, _ := cgaSet(t, dir, "host.pem")
	src := filepath.Join(dir, "site.toml")
	old, err := Parse(src, []byte(testBase))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Parse(src, []byte(testBase+set))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := Diff(old, cur)
	if err != nil || len(ch) != 1 || ch[0].Key != "hba[0]" || ch[0].Old != "" || ch[0].Line == 0 {
		t.Fatalf("set added: %v, %v", ch, err)
	}
	again, err := Parse(src, []byte(testBase+set))
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := Diff(cur, again); err != nil || len(ch) != 0 {
		t.Fatalf("same set read twice: %v, %v; want no change", ch, err)
	}
}

// A key without a rule (what a merge brings before anyone classifies it)
// refuses a reload that changes it, and only such a reload.
func TestDiffUnclassifiedKey(t *testing.T) {
	rule := reloadRules["shim.ulp_hold"]
	delete(reloadRules, "shim.ulp_hold")
	defer func() { reloadRules["shim.ulp_hold"] = rule }()
	old := mustParse(t, testBase)
	if ch, err := Diff(old, mustParse(t, testBase+"\n[shim]\nr1_rate = 20\n")); err != nil || len(ch) != 1 {
		t.Errorf("unclassified key unchanged: %v, %v; want the live change alone", ch, err)
	}
	_, err := Diff(old, mustParse(t, testBase+"\n[shim]\nulp_hold = \"50ms\"\n"))
	if !errors.Is(err, ErrNeedsRestart) || !strings.Contains(err.Error(), "shim.ulp_hold: changed from 200ms to 50ms: restart shim6d to apply (it has no reload rule, a shim6d bug)") {
		t.Errorf("unclassified key changed: %v", err)
	}
}
