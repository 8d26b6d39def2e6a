package configs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxLcore bounds the lcore ids we accept. DPDK's build default
// (RTE_MAX_LCORE) is 128, Debian builds it with more; 1024 only catches typos
// like "0-10000" before EAL does.
const maxLcore = 1024

// EALArgs returns the argument vector for rte_eal_init: program as argv[0],
// then eal.args, then one --vdev=DEVICE,DEVARGS for each port that has
// devargs, in port order. The result is a fresh slice.
func (c *Config) EALArgs(program string) []string {
	args := append([]string{program}, c.EAL.Args...)
	for _, p := range c.Ports {
		if p.Devargs != "" {
			args = append(args, "--vdev="+p.Device+","+p.Devargs)
		}
	}
	return args
}

// LcoreCount returns how many lcores the EAL arguments give (-l, --lcores or
// -c), or 0 when they name none or cannot be parsed (Validate refuses both).
func (c *Config) LcoreCount() int {
	return len(c.Lcores())
}

// Lcores returns the lcore ids the EAL arguments give, the main lcore first
// (the lowest, or the one --main-lcore names), then the rest in ascending
// order: the daemon runs the control core on the first and worker i on
// Lcores()[1+i]. With -l, -c, or --lcores without '@', lcore N runs on CPU N.
// It returns nil when the arguments name no lcores or cannot be parsed.
func (c *Config) Lcores() []int {
	ids, _, err := parseLcores(c.EAL.Args)
	if err != nil {
		return nil
	}
	return ids
}

// lcoreError is a problem with the lcore options in eal.args; its text is an
// Error.Msg.
type lcoreError string

func (e lcoreError) Error() string { return string(e) }

// parseLcores finds the lcores in EAL arguments, main lcore first. from is
// the option that gave them, e.g. "-l 0-3", for messages.
func parseLcores(args []string) (ids []int, from string, err error) {
	var (
		opt, val string
		mainID   = -1
	)
	for _, o := range eal(args) {
		switch o.name {
		case "-l", "--lcores", "-c":
		case "--main-lcore", "--master-lcore":
			n, err := strconv.Atoi(o.value)
			if err != nil || n < 0 || n >= maxLcore {
				return nil, "", lcoreError(fmt.Sprintf("%s %q is not an lcore id; write a number from the core list, e.g. %s 0", o.name, o.value, o.name))
			}
			mainID = n
			continue
		default:
			continue
		}
		if opt != "" {
			// DPDK would ignore the second silently; say so instead.
			return nil, "", lcoreError(fmt.Sprintf("both %s and %s name the cores; keep one", opt, o.name))
		}
		if !o.hasValue {
			return nil, "", lcoreError(fmt.Sprintf("%s has no value; write e.g. \"%s\", \"0-1\"", o.name, o.name))
		}
		opt, val = o.name, o.value
		switch o.name {
		case "-l":
			ids, err = parseCoreList(val)
		case "--lcores":
			ids, err = parseLcoreMap(val)
		case "-c":
			ids, err = parseCoreMask(val)
		}
		if err != nil {
			return nil, "", lcoreError(fmt.Sprintf("%s %q %v", o.name, val, err))
		}
	}
	if opt == "" {
		return nil, "", lcoreError(`no -l, --lcores or -c; name the cores shim6d runs on, e.g. "-l", "0-1" (the first runs the control core, each further one a worker)`)
	}
	if mainID >= 0 {
		i := slices.Index(ids, mainID)
		if i < 0 {
			return nil, "", lcoreError(fmt.Sprintf("--main-lcore %d is not among the lcores %s %s gives; write one of them", mainID, opt, val))
		}
		ids = append(append([]int{mainID}, ids[:i]...), ids[i+1:]...)
	}
	return ids, opt + " " + val, nil
}

// parseCoreList reads DPDK's -l syntax: "0-3", "0,2,4", "0-1,8".
func parseCoreList(s string) ([]int, error) {
	set := map[int]bool{}
	if err := addCoreList(set, s); err != nil {
		return nil, err
	}
	return sortedKeys(set), nil
}

func addCoreList(set map[int]bool, s string) error {
	const fix = "is not a core list; write cores and ranges, e.g. 0-3 or 0,2,4"
	for _, item := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(item), "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= maxLcore {
			return lcoreError(fix)
		}
		for n := a; n <= b; n++ {
			set[n] = true
		}
	}
	return nil
}

// parseLcoreMap reads DPDK's --lcores syntax and returns the lcore ids (the
// left-hand sides): "0-3", "(0,1)@0,2@(1-2)", "1@3".
func parseLcoreMap(s string) ([]int, error) {
	const fix = "is not an lcore map; write e.g. 0-3 or (0-1)@0,2@1"
	set := map[int]bool{}
	depth, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch s[i] {
			case '(':
				depth++
				continue
			case ')':
				depth--
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		if depth != 0 {
			return nil, lcoreError(fix)
		}
		lcores, cpus, mapped := strings.Cut(s[start:i], "@")
		lcores = strings.TrimSuffix(strings.TrimPrefix(lcores, "("), ")")
		if mapped && strings.TrimSpace(cpus) == "" || addCoreList(set, lcores) != nil {
			return nil, lcoreError(fix)
		}
		start = i + 1
	}
	return sortedKeys(set), nil
}

// parseCoreMask reads DPDK's -c syntax, a hex mask with optional 0x.
func parseCoreMask(s string) ([]int, error) {
	const fix = "is not a hex core mask; write e.g. 0x3 for cores 0 and 1"
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if h == "" {
		return nil, lcoreError(fix)
	}
	var ids []int
	// Walk the digits from the least significant: masks can exceed 64 bits.
	for i := len(h) - 1; i >= 0; i-- {
		d, err := strconv.ParseUint(h[i:i+1], 16, 8)
		if err != nil {
			return nil, lcoreError(fix)
		}
		for b := range 4 {
			if d&(1<<b) != 0 {
				ids = append(ids, 4*(len(h)-1-i)+b)
			}
		}
	}
	if len(ids) == 0 || ids[len(ids)-1] >= maxLcore {
		return nil, lcoreError(fix)
	}
	return ids, nil
}

func sortedKeys(set map[int]bool) []int {
	ids := make([]int, 0, len(set))
	for n := range set {
		ids = append(ids, n)
	}
	slices.Sort(ids)
	return ids
}

// ealOption is one option in EAL arguments.
type ealOption struct {
	name     string // "-l", "--vdev", ...
	value    string
	hasValue bool
}

// ealValued lists the EAL options we look at that take a value, with the
// forms DPDK accepts: short ones as "-l 0-1" or "-l0-1", long ones as
// "--vdev X" or "--vdev=X".
var ealValued = []string{"-l", "-c", "-a", "-b", "--lcores", "--vdev", "--allow", "--block", "--main-lcore", "--master-lcore"}

// eal splits EAL arguments into the options we look at. It does not know
// every EAL option, so the value of an option it does not know is taken for
// a separate argument; none of those values looks like the options above.
func eal(args []string) []ealOption {
	var out []ealOption
	for i := 0; i < len(args); i++ {
		a := args[i]
		for _, name := range ealValued {
			long := strings.HasPrefix(name, "--")
			var o ealOption
			switch {
			case a == name:
				o = ealOption{name: name}
				if i+1 < len(args) {
					o.value, o.hasValue = args[i+1], true
					i++
				}
			case long && strings.HasPrefix(a, name+"="):
				o = ealOption{name: name, value: a[len(name)+1:], hasValue: true}
			case !long && strings.HasPrefix(a, name) && !strings.HasPrefix(a, "--"):
				o = ealOption{name: name, value: a[len(name):], hasValue: true}
			default:
				continue
			}
			out = append(out, o)
			break
		}
		if a == "--no-pci" {
			out = append(out, ealOption{name: a})
		}
	}
	return out
}
