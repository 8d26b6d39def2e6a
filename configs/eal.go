package configs

import (
	"fmt"
	"maps"
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

// LcoreCPUs returns, for each lcore of Lcores() and in the same order, the
// CPU the daemon pins its thread to: the first CPU of the lcore's --lcores
// '@' set, or the lcore id itself (-l, -c, and --lcores without '@'). An
// '@' map lets two of the daemon's threads share a CPU, e.g. two workers
// and the control core on a 2-CPU machine: "--lcores", "0@0,1@1,2@0". It
// returns nil where Lcores does.
func (c *Config) LcoreCPUs() []int {
	ids := c.Lcores()
	if ids == nil {
		return nil
	}
	at := map[int]int{}
	for _, o := range eal(c.EAL.Args) {
		if o.name != "--lcores" {
			continue
		}
		groups, _ := lcoreGroups(o.value) // balanced: Lcores parsed it
		for _, g := range groups {
			lcores, cpus, ok := strings.Cut(g, "@")
			if !ok {
				continue
			}
			l, err1 := parseCoreList(strings.TrimSuffix(strings.TrimPrefix(lcores, "("), ")"))
			cl, err2 := parseCoreList(strings.TrimSuffix(strings.TrimPrefix(cpus, "("), ")"))
			if err1 != nil || err2 != nil || len(cl) == 0 {
				continue
			}
			for _, id := range l {
				at[id] = cl[0]
			}
		}
	}
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = id
		if cpu, ok := at[id]; ok {
			out[i] = cpu
		}
	}
	return out
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
		case "--main-lcore":
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

// lcoreGroups splits an --lcores map at its top-level commas, the ones
// outside parentheses: "(0,1)@0,2@(1-2)" is "(0,1)@0" and "2@(1-2)". It
// reports false when the parentheses do not balance.
func lcoreGroups(s string) ([]string, bool) {
	var groups []string
	depth, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch s[i] {
			case '(':
				depth++
			case ')':
				depth--
			}
			if s[i] != ',' || depth > 0 {
				continue
			}
		}
		if depth != 0 {
			return nil, false
		}
		groups = append(groups, s[start:i])
		start = i + 1
	}
	return groups, true
}

// parseLcoreMap reads DPDK's --lcores syntax and returns the lcore ids (the
// left-hand sides): "0-3", "(0,1)@0,2@(1-2)", "1@3".
func parseLcoreMap(s string) ([]int, error) {
	const fix = "is not an lcore map; write e.g. 0-3 or (0-1)@0,2@1"
	groups, ok := lcoreGroups(s)
	if !ok {
		return nil, lcoreError(fix)
	}
	set := map[int]bool{}
	for _, g := range groups {
		lcores, cpus, mapped := strings.Cut(g, "@")
		lcores = strings.TrimSuffix(strings.TrimPrefix(lcores, "("), ")")
		if mapped && strings.TrimSpace(cpus) == "" || addCoreList(set, lcores) != nil {
			return nil, lcoreError(fix)
		}
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
	name     string // canonical: "-l", "--vdev", ... (a long option in full)
	value    string
	hasValue bool
	index    int // the option's position in the arguments, for eal.args[i]
}

// Whether an EAL option takes a value, as DPDK's getopt tables say
// (has_arg: no_argument, required_argument, optional_argument).
const (
	argNone = iota
	argRequired
	argOptional // only as --name=value
)

// ealShort and ealLong are the options rte_eal_init accepts in DPDK 22.11
// (lib/eal/common/eal_common_options.c: eal_short_options and
// eal_long_options; dpdk-testpmd --help lists them). DPDK 22.11 no longer
// knows --master-lcore or -w, so neither is here.
var (
	ealShort = map[byte]int{
		'a': argRequired, 'b': argRequired, 'c': argRequired, 'd': argRequired,
		'l': argRequired, 'm': argRequired, 'n': argRequired, 'r': argRequired,
		's': argRequired, 'S': argRequired, 'h': argNone, 'v': argNone,
	}
	ealLong = map[string]int{
		"allow": argRequired, "base-virtaddr": argRequired, "block": argRequired,
		"create-uio-dev": argNone, "file-prefix": argRequired,
		"force-max-simd-bitwidth": argRequired, "help": argNone,
		"huge-dir": argRequired, "huge-unlink": argOptional,
		"huge-worker-stack": argOptional, "in-memory": argNone,
		"iova-mode": argRequired, "lcores": argRequired, "legacy-mem": argNone,
		"log-level": argRequired, "main-lcore": argRequired,
		"match-allocations": argNone, "mbuf-pool-ops-name": argRequired,
		"no-hpet": argNone, "no-huge": argNone, "no-pci": argNone,
		"no-shconf": argNone, "no-telemetry": argNone, "proc-type": argRequired,
		"single-file-segments": argNone, "socket-limit": argRequired,
		"socket-mem": argRequired, "syslog": argOptional, "telemetry": argNone,
		"trace": argRequired, "trace-bufsz": argRequired, "trace-dir": argRequired,
		"trace-mode": argRequired, "vdev": argRequired, "vfio-intr": argRequired,
		"vfio-vf-token": argRequired, "vmware-tsc-map": argNone,
	}
	// ealReplaced names what an option DPDK dropped became.
	ealReplaced = map[string]string{
		"--master-lcore": "--main-lcore", "-w": "-a", "--pci-whitelist": "-a",
		"--pci-blacklist": "-b",
	}
)

// ealArgError is a problem with one EAL argument; Index is its position in
// eal.args and Msg an Error.Msg.
type ealArgError struct {
	Index int
	Msg   string
}

func (e *ealArgError) Error() string { return e.Msg }

// parseEAL reads EAL arguments the way rte_eal_init's getopt_long does:
// short options alone ("-l", "0-1"), with their value attached ("-l0-1") or
// grouped ("-vh"); long options with the value after "=" or in the next
// argument, and abbreviated to any unambiguous prefix. What getopt would
// refuse, it refuses, and also what EAL would silently pass to the
// application instead of using it: a bare word, and "--", after which EAL
// would not see the --vdev arguments the daemon appends.
func parseEAL(args []string) ([]ealOption, error) {
	var out []ealOption
	bad := func(i int, format string, a ...any) ([]ealOption, error) {
		return nil, &ealArgError{Index: i, Msg: fmt.Sprintf(format, a...)}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return bad(i, `"--" ends EAL's options, so EAL would not see the devices the daemon adds after it; remove it`)
		case strings.HasPrefix(a, "--"):
			name, value, hasValue := strings.Cut(a[2:], "=")
			full, err := longOption(name)
			if err != "" {
				return bad(i, "%s", err)
			}
			o := ealOption{name: "--" + full, value: value, hasValue: hasValue, index: i}
			if full == "help" {
				return bad(i, "--help makes EAL print its usage and exit the program; remove it")
			}
			switch ealLong[full] {
			case argNone:
				if hasValue {
					return bad(i, "%s takes no value; write %q alone", o.name, o.name)
				}
			case argRequired:
				if !hasValue {
					if i+1 >= len(args) {
						return bad(i, "%s needs a value; write it after the option, e.g. \"%s=VALUE\"", o.name, o.name)
					}
					i++
					o.value, o.hasValue = args[i], true
				}
			}
			if full == "log-level" && o.value == "help" {
				return bad(i, "--log-level=help makes EAL print its log types and exit the program; write a level, e.g. --log-level=lib.eal:debug")
			}
			out = append(out, o)
		case strings.HasPrefix(a, "-") && len(a) > 1:
		chars:
			for k := 1; k < len(a); k++ {
				c := a[k]
				has, ok := ealShort[c]
				if !ok {
					opt := "-" + string(c)
					if with, ok := ealReplaced[opt]; ok {
						return bad(i, "DPDK 22.11 has no %s any more; write %s instead", opt, with)
					}
					return bad(i, "%q: -%c is not an EAL option of DPDK 22.11; see the EAL options in dpdk-testpmd --help", a, c)
				}
				if c == 'h' {
					return bad(i, "%q: -h makes EAL print its usage and exit the program; remove it", a)
				}
				o := ealOption{name: "-" + string(c), index: i}
				if has == argRequired {
					switch {
					case k+1 < len(a):
						o.value, o.hasValue = a[k+1:], true
					case i+1 < len(args):
						i++
						o.value, o.hasValue = args[i], true
					default:
						return bad(i, "%s needs a value; write it in the next argument, e.g. \"%s\", \"VALUE\"", o.name, o.name)
					}
					out = append(out, o)
					break chars
				}
				out = append(out, o)
			}
		default:
			return bad(i, "%q is not an EAL option (EAL would pass it on to the program, which ignores it); remove it, or if it is an option's value, put it right after the option", a)
		}
	}
	return out, nil
}

// longOption resolves a long option name as getopt_long does: exactly, or
// as the one option it abbreviates. It returns the full name, or a message.
func longOption(name string) (string, string) {
	if _, ok := ealLong[name]; ok {
		return name, ""
	}
	if with, ok := ealReplaced["--"+name]; ok {
		return "", fmt.Sprintf("DPDK 22.11 has no --%s any more; write %s instead", name, with)
	}
	var match []string
	for full := range ealLong {
		if name != "" && strings.HasPrefix(full, name) {
			match = append(match, "--"+full)
		}
	}
	slices.Sort(match)
	switch {
	case len(match) == 1:
		return strings.TrimPrefix(match[0], "--"), ""
	case len(match) > 1:
		return "", fmt.Sprintf("--%s is ambiguous: it abbreviates %s; write the option in full", name, strings.Join(match, ", "))
	}
	msg := fmt.Sprintf("--%s is not an EAL option of DPDK 22.11", name)
	if c, ok := closest(name, slices.Sorted(maps.Keys(ealLong))); ok {
		return "", msg + "; did you mean --" + c + "?"
	}
	return "", msg + "; see the EAL options in dpdk-testpmd --help"
}

// eal returns the options in EAL arguments, or nil when they do not parse
// (Validate refuses those).
func eal(args []string) []ealOption {
	opts, _ := parseEAL(args)
	return opts
}
