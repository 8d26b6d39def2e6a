package configs

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// A reload (SIGHUP, `shim6ctl reload`) re-reads the file and applies what
// can change under running contexts. What cannot (the devices, EAL, the
// sizes of what was allocated at start) must be refused whole, with the key
// named, so the operator knows to restart: half a reload would leave the
// daemon on a configuration that is in no file. Diff decides which is
// which, from reloadRules: every key of Config has a rule, and a test walks
// the struct by reflection so that a new key cannot go unclassified.

// ErrNeedsRestart is the Err of the *Error Diff returns when a change
// cannot be applied live.
var ErrNeedsRestart = errors.New("the change needs a restart")

// Change is one key a reload changes live.
type Change struct {
	// Key is the path with array indices, as Error.Key spells it:
	// "port[1].weight", "shim.r1_rate"; for an element of [[context]] or
	// [[hba]], "context[2]" (its index in the new file when added, in the
	// old one when removed).
	Key string
	// Line is where the new value is written in the new file; 0 when it
	// is not (a default, a removed element).
	Line int
	// Old and New are the values, as a message shows them; for an element
	// added, Old is ""; for one removed, New is "".
	Old, New string
}

// String returns the change as a log line or shim6ctl shows it.
func (c Change) String() string {
	switch {
	case c.Old == "":
		return c.Key + " added (" + c.New + ")"
	case c.New == "":
		return c.Key + " removed (" + c.Old + ")"
	}
	return c.Key + ": " + c.Old + " -> " + c.New
}

// reloadClass says what a reload does with a key's change.
type reloadClass int

const (
	// restart: refused; the daemon keeps the old configuration.
	restart reloadClass = iota + 1
	// live: applied by the control core without dropping a context.
	live
	// perElement: an array of tables whose length cannot change (the
	// ports: their index is their number on the data path); its elements'
	// keys have rules of their own.
	perElement
	// liveSet: an array of tables applied as a set: elements added and
	// removed, those in both files left alone.
	liveSet
)

// reloadRule is a key's classification; why, for restart and perElement,
// is the reason the refusal gives.
type reloadRule struct {
	class reloadClass
	why   string
}

const (
	whyPorts   = "live reload cannot change ports: they are opened once, at start"
	whyListen  = "the admin and metrics listeners are opened at start"
	whyWorkers = "the workers, their queues and polling are set up at start"
	whyMemory  = "the packet buffer pool and the rings are allocated at start"
)

// reloadRules classifies every key of Config, by its path without array
// indices. Keys of a struct that is not listed itself are listed one by
// one; TestReloadRulesClassifyEveryKey fails for a key that is in neither.
// whyHA is why the [ha] keys need a restart.
const whyHA = "an HA pair's roles and replication are set up at start; restart each box in turn"

var reloadRules = map[string]reloadRule{
	"eal.args": {restart, "EAL starts once per process"},

	"daemon.workers":           {restart, whyWorkers},
	"daemon.polling":           {restart, whyWorkers},
	"daemon.control_ring_size": {restart, whyMemory},
	"daemon.mbufs":             {restart, whyMemory},
	"daemon.mbuf_cache":        {restart, whyMemory},
	"daemon.metrics_listen":    {restart, whyListen},
	"daemon.admin_socket":      {restart, whyListen},
	"daemon.icmp_rate_limit":   {live, ""},
	"daemon.neighbor_timeout":  {live, ""},
	"daemon.log_level":         {live, ""},
	// The admin API reads it without asking the control core; it guards
	// boxes that carry customers' traffic, and is no knob to turn live.
	"daemon.allow_synthetic": {restart, "synthetic contexts are allowed or refused for the life of the process"},

	"port":              {perElement, "live reload cannot add, remove or reorder ports: a port's place is its number on the data path"},
	"port.name":         {restart, whyPorts},
	"port.role":         {restart, whyPorts},
	"port.device":       {restart, whyPorts},
	"port.devargs":      {restart, whyPorts},
	"port.addresses":    {restart, whyPorts},
	"port.prefix":       {restart, whyPorts},
	"port.prefixes":     {restart, whyPorts},
	"port.next_hop":     {restart, whyPorts},
	"port.next_hop_mac": {restart, whyPorts},
	"port.mtu":          {restart, whyPorts},
	"port.rx_desc":      {restart, whyPorts},
	"port.tx_desc":      {restart, whyPorts},
	"port.promiscuous":  {restart, whyPorts},
	"port.mac":          {restart, whyPorts},
	"port.virtual_mac":  {restart, whyPorts},
	"port.priority":     {live, ""},
	"port.weight":       {live, ""},
	"port.backup":       {live, ""},

	"neighbor": {restart, "static neighbors are entered at start"},

	"shim.contexts":           {restart, "the context table is sized at start"},
	"shim.mss_clamp":          {restart, "the workers' MSS clamp is computed at start"},
	"shim.establish_after":    {live, ""},
	"shim.establish_peers":    {live, ""},
	"shim.establish_rate":     {live, ""},
	"shim.r1_rate":            {live, ""},
	"shim.r1_rate_per_prefix": {live, ""},
	// Peers were told our Send Timeout in the Keepalive Timeout option
	// (RFC 5534 §5.3) and send keepalives by it; a shorter one here
	// would make us explore pairs that are fine.
	"shim.send_timeout":  {restart, "peers were told it as our Keepalive Timeout (RFC 5534 §5.3)"},
	"shim.failback":      {restart, "the site policy's failback is set at start"},
	"shim.failback_hold": {restart, "the site policy's failback is set at start"},
	"shim.spread":        {restart, "the site policy's spreading is set at start"},
	"shim.idle_timeout":  {restart, "the signalling's idle timers are armed with it"},
	"shim.ulp_advice":    {live, ""},
	"shim.ulp_hold":      {restart, "REAP's hint hold is set at start"},

	"context": {liveSet, ""},
	"hba":     {liveSet, ""},

	// A pair's roles and its replication are set up at start, and a key
	// or an endpoint changed on one box alone would cut the pair apart:
	// both boxes take such a change by a planned restart, one at a time.
	"ha.enabled":          {restart, whyHA},
	"ha.listen":           {restart, whyHA},
	"ha.peer":             {restart, whyHA},
	"ha.key_file":         {restart, whyHA},
	"ha.replication":      {restart, whyHA},
	"ha.lease":            {restart, whyHA},
	"ha.announce_refresh": {restart, whyHA},
}

// Diff compares the running configuration old with cur, just loaded, and
// returns the keys a reload changes, all of them live ones. When any key
// that needs a restart changed, it returns an *Error (Err ErrNeedsRestart)
// naming the first in cur's file order, with its line there, and counting
// the others; the caller then keeps old whole.
func Diff(old, cur *Config) ([]Change, error) {
	d := &differ{cur: cur, pos: positionsOf(cur)}
	d.table("", "", reflect.TypeFor[Config](), reflect.ValueOf(old).Elem(), reflect.ValueOf(cur).Elem())
	if len(d.refused) == 0 {
		return d.changes, nil
	}
	sort.SliceStable(d.refused, func(i, j int) bool { return before(d.refused[i], d.refused[j]) })
	first := d.refused[0]
	if n := len(d.refused) - 1; n > 0 {
		keys := make([]string, 0, n)
		for _, e := range d.refused[1:] {
			keys = append(keys, e.Key)
		}
		first.Msg += fmt.Sprintf("; %d more to restart for: %s", n, strings.Join(keys, ", "))
	}
	first.File, first.Err = cur.Source, ErrNeedsRestart
	return nil, first
}

type differ struct {
	cur     *Config
	pos     positions
	changes []Change
	refused []*Error
}

// table compares the keys of a table of Go type t; rule is its path
// without indices, path with them.
func (d *differ) table(rule, path string, t reflect.Type, a, b reflect.Value) {
	for i := range t.NumField() {
		f := t.Field(i)
		name := tomlName(f)
		if name == "" {
			continue // Source, and what validation derives from the keys
		}
		r, p := joinPath(rule, name), joinPath(path, name)
		d.key(r, p, f.Type, a.Field(i), b.Field(i))
	}
}

func (d *differ) key(rule, path string, t reflect.Type, a, b reflect.Value) {
	r, ok := reloadRules[rule]
	switch {
	case !ok && tableType(t) != nil && t.Kind() == reflect.Struct:
		d.table(rule, path, t, a, b)
	case !ok:
		// TestReloadRulesClassifyEveryKey makes this unreachable; should
		// a key slip through, refusing its change is the safe side.
		if !same(a, b) {
			d.refuse(path, "it has no reload rule, a shim6d bug", show(a), show(b))
		}
	case r.class == perElement:
		if a.Len() != b.Len() {
			d.refused = append(d.refused, &Error{Line: d.pos.line(path), Key: path,
				Msg: fmt.Sprintf("%d [[%s]] tables, now %d: restart shim6d to apply (%s)", a.Len(), rule, b.Len(), r.why)})
			return
		}
		for i := range a.Len() {
			d.table(rule, path+"["+strconv.Itoa(i)+"]", t.Elem(), a.Index(i), b.Index(i))
		}
	case r.class == liveSet:
		d.set(path, a, b)
	case !same(a, b):
		if r.class == live {
			d.changes = append(d.changes, Change{Key: path, Line: d.line(path), Old: show(a), New: show(b)})
			return
		}
		d.refuse(path, r.why, show(a), show(b))
	}
}

func (d *differ) refuse(path, why, old, cur string) {
	d.refused = append(d.refused, &Error{Line: d.line(path), Key: path,
		Msg: fmt.Sprintf("changed from %s to %s%s: restart shim6d to apply (%s)", old, cur, d.portName(path), why)})
}

// line is where path is written in the new file: its own line, or 0 for a
// key that is not written (a default now in place of a value, whose
// enclosing table's line would mislead).
func (d *differ) line(path string) int {
	if !d.pos.written(path) {
		return 0
	}
	return d.pos.line(path)
}

// portName says which port a port key belongs to, as operators know it:
// the index in the key is not what they call it.
func (d *differ) portName(path string) string {
	rest, ok := strings.CutPrefix(path, "port[")
	if !ok {
		return ""
	}
	i, err := strconv.Atoi(rest[:strings.IndexByte(rest, ']')])
	if err != nil || i >= len(d.cur.Ports) {
		return ""
	}
	return fmt.Sprintf(" on [[port]] %q", d.cur.Ports[i].Name)
}

// set compares two arrays of tables as sets: an element in both is
// unchanged wherever it stands; one only in cur is added, one only in old
// removed.
func (d *differ) set(path string, a, b reflect.Value) {
	in := func(v reflect.Value, s reflect.Value) bool {
		for i := range s.Len() {
			if same(v, s.Index(i)) {
				return true
			}
		}
		return false
	}
	for i := range a.Len() {
		if !in(a.Index(i), b) {
			d.changes = append(d.changes, Change{Key: path + "[" + strconv.Itoa(i) + "]", Old: element(a.Index(i))})
		}
	}
	for i := range b.Len() {
		if !in(b.Index(i), a) {
			p := path + "[" + strconv.Itoa(i) + "]"
			d.changes = append(d.changes, Change{Key: p, Line: d.line(p), New: element(b.Index(i))})
		}
	}
}

// same reports whether two values of a key are the same setting: the
// fields TOML decodes compared deeply, a nil *bool taken as true (the
// default of every such key: promiscuous, mss_clamp, ulp_advice), and an
// [[hba]] set's key compared by the key it holds, so that a new key in
// the same file counts as a change.
func same(a, b reflect.Value) bool {
	switch {
	case a.Type() == reflect.TypeFor[*bool]():
		return (a.IsNil() || *a.Interface().(*bool)) == (b.IsNil() || *b.Interface().(*bool))
	case a.Type() == reflect.TypeFor[HBASet]():
		x, y := a.Interface().(HBASet), b.Interface().(HBASet)
		if (x.PrivateKey == nil) != (y.PrivateKey == nil) || x.PrivateKey != nil && !x.PrivateKey.Equal(y.PrivateKey) {
			return false
		}
	}
	if a.Kind() == reflect.Struct && tableType(a.Type()) != nil {
		for i := range a.NumField() {
			if tomlName(a.Type().Field(i)) != "" && !same(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// show renders a key's value for a message.
func show(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case *bool:
		return strconv.FormatBool(x == nil || *x)
	case string:
		return strconv.Quote(x)
	case Duration:
		return x.String()
	case fmt.Stringer:
		return strconv.Quote(x.String())
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = show(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// element names an element of [[context]] or [[hba]] for a message.
func element(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case Context:
		return fmt.Sprintf("%s <-> %s", x.LocalULID, x.PeerULID)
	case HBASet:
		return "addresses " + show(reflect.ValueOf(x.Addresses))
	}
	return fmt.Sprint(v.Interface())
}
