package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"weak"
)

// Why this file exists: Validate judges the file alone, so a configuration
// naming a pcap file that is not there, an interface the machine lacks or a
// CPU it does not have passed --check and then failed inside rte_eal_init,
// with DPDK's log as the only explanation. CheckHost asks the machine the
// questions DPDK would ask, before EAL starts, and answers in the file's
// terms: file:line, the key, what is wrong and what to write instead.

// host is where CheckHost reads the machine; tests point it at a directory
// of their own.
type host struct {
	net       string // /sys/class/net: one entry per network interface
	hugepages string // /sys/kernel/mm/hugepages: hugepages-<N>kB/{free,resv}_hugepages
	mounts    string // /proc/mounts, for hugetlbfs
	online    string // /sys/devices/system/cpu/online: the CPUs there are
	status    string // /proc/self/status: Cpus_allowed_list, the CPUs we may use
	tun       string // /dev/net/tun, which net_tap opens
}

var thisHost = host{
	net:       "/sys/class/net",
	hugepages: "/sys/kernel/mm/hugepages",
	mounts:    "/proc/mounts",
	online:    "/sys/devices/system/cpu/online",
	status:    "/proc/self/status",
	tun:       "/dev/net/tun",
}

// CheckHost checks what the start would fail on that only this machine can
// tell, without starting EAL: the virtual devices' arguments (files that
// must exist, interfaces that must exist, names that must fit), the CPUs
// the EAL arguments name, and free hugepages when the arguments ask for
// them. shim6d --check runs it after Load, and the daemon before EAL.
//
// err is the first problem that would stop the start, an *Error. warnings
// are problems that may stop it but cannot be known without starting
// (memory that looks short), as *Error too.
func (c *Config) CheckHost() (warnings []*Error, err error) {
	return c.checkHost(thisHost)
}

func (c *Config) checkHost(h host) (warnings []*Error, err error) {
	hc := &hostCheck{c: c, h: h, pos: positionsOf(c)}
	opts, perr := parseEAL(c.EAL.Args)
	if perr != nil {
		// Validate refuses these first; a Config built in code may not
		// have been validated.
		ae := perr.(*ealArgError)
		return nil, hc.errorf(fmt.Sprintf("eal.args[%d]", ae.Index), "%s", ae.Msg)
	}
	if err := hc.cpus(opts); err != nil {
		return nil, err
	}
	if err := hc.memory(opts); err != nil {
		return nil, err
	}
	for i := range c.Ports {
		p := &c.Ports[i]
		if p.Devargs == "" || pciName(p.Device) != "" {
			continue
		}
		if err := hc.vdev(fmt.Sprintf("port[%d].devargs", i), p.Device, p.Devargs); err != nil {
			return nil, err
		}
	}
	for _, o := range opts {
		if o.name == "--vdev" {
			dev, args, _ := strings.Cut(o.value, ",")
			if err := hc.vdev(fmt.Sprintf("eal.args[%d]", o.index), dev, args); err != nil {
				return nil, err
			}
		}
	}
	return hc.warnings, nil
}

// ErrorAt returns an *Error about key (e.g. "port[1].devargs") with the
// line where the file c was loaded from writes it, so that a failure found
// only at start, such as a device DPDK could not create, reads like the
// configuration errors --check prints.
func (c *Config) ErrorAt(key, format string, args ...any) *Error {
	return &Error{File: c.Source, Line: positionsOf(c).line(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

// DeviceKey returns the key that makes port i's device: its devargs when
// the daemon creates the device from them, else its device.
func (c *Config) DeviceKey(i int) string {
	if c.Ports[i].Devargs != "" {
		return fmt.Sprintf("port[%d].devargs", i)
	}
	return fmt.Sprintf("port[%d].device", i)
}

type hostCheck struct {
	c        *Config
	h        host
	pos      positions
	warnings []*Error
}

func (hc *hostCheck) errorf(key, format string, args ...any) *Error {
	return &Error{File: hc.c.Source, Line: hc.pos.line(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (hc *hostCheck) warnf(key, format string, args ...any) {
	hc.warnings = append(hc.warnings, hc.errorf(key, format, args...))
}

// cpus checks that the CPUs the lcore options run on exist and that this
// process may run on them: rte_eal_init refuses an lcore whose CPU is not
// there, and cannot pin a thread outside the process's affinity.
func (hc *hostCheck) cpus(opts []ealOption) error {
	online, err := readCPUList(hc.h.online)
	if err != nil {
		hc.warnf("eal.args", "cannot tell which CPUs this machine has (%v), so the lcores are unchecked", err)
		return nil
	}
	allowed := online
	if s, err := os.ReadFile(hc.h.status); err == nil {
		for _, line := range strings.Split(string(s), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				if l, err := parseCPUList(strings.TrimSpace(v)); err == nil {
					allowed = l
				}
			}
		}
	}
	for _, o := range opts {
		var cpus []int
		switch o.name {
		case "-l":
			cpus, err = parseCoreList(o.value)
		case "-c":
			cpus, err = parseCoreMask(o.value)
		case "--lcores":
			cpus, err = lcoreMapCPUs(o.value)
		default:
			continue
		}
		if err != nil {
			continue // Validate says why
		}
		key := fmt.Sprintf("eal.args[%d]", o.index)
		for _, cpu := range cpus {
			switch {
			case !slices.Contains(online, cpu):
				return hc.errorf(key, "%s %s: this machine has no CPU %d (its CPUs are %s); write cores from %s",
					o.name, o.value, cpu, cpuListString(online), cpuListString(allowed))
			case !slices.Contains(allowed, cpu):
				return hc.errorf(key, "%s %s: CPU %d is outside the CPUs this process may run on (%s: Cpus_allowed_list %s); write cores from that list or widen the daemon's CPU affinity",
					o.name, o.value, cpu, hc.h.status, cpuListString(allowed))
			}
		}
	}
	return nil
}

// lcoreMapCPUs returns the CPUs an --lcores map runs on: the right-hand side
// of each '@', or the lcore ids themselves where there is none (the daemon
// pins each lcore's thread the same way: LcoreCPUs).
func lcoreMapCPUs(s string) ([]int, error) {
	if _, err := parseLcoreMap(s); err != nil {
		return nil, err
	}
	set := map[int]bool{}
	groups, _ := lcoreGroups(s) // balanced: parseLcoreMap said so
	for _, g := range groups {
		lcores, cpus, ok := strings.Cut(g, "@")
		if !ok {
			cpus = lcores
		}
		cpus = strings.TrimSuffix(strings.TrimPrefix(cpus, "("), ")")
		if err := addCoreList(set, cpus); err != nil {
			return nil, err
		}
	}
	return sortedKeys(set), nil
}

// memory checks hugepages when the EAL arguments ask for them (no
// --no-huge). rte_eal_init fails for certain when no hugetlbfs is mounted
// (unless --in-memory, which needs no mount), when no hugepage is free, or
// when -m or --socket-mem asks for more than is free; those are errors.
// A packet pool larger than the memory there is may still fail at start:
// that is a warning, as DPDK's own overheads are not ours to predict.
func (hc *hostCheck) memory(opts []ealOption) error {
	var noHuge, inMemory bool
	askKey, askMB, hugeDir := "", 0, ""
	for _, o := range opts {
		switch o.name {
		case "--no-huge":
			noHuge = true
		case "--in-memory":
			inMemory = true
		case "--huge-dir":
			hugeDir = o.value
		case "-m", "--socket-mem":
			mb := 0
			for _, f := range strings.Split(o.value, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n < 0 {
					return hc.errorf(fmt.Sprintf("eal.args[%d]", o.index), "%s %q is not a size in megabytes; write e.g. %s 512", o.name, o.value, o.name)
				}
				mb += n
			}
			askKey, askMB = fmt.Sprintf("eal.args[%d]", o.index), mb
		}
	}
	// What the packet pool takes: each mbuf is its 128-byte header, 128
	// bytes of headroom and 2048 of data, plus the pool's per-object
	// header, about 2.3 KiB in all (see cmd/shim6d's openPorts).
	poolMB := (int(hc.c.Daemon.Mbufs)*2368 + 1<<20 - 1) >> 20
	if noHuge {
		have := askMB
		if askKey == "" {
			have = 64 // EAL's memory without hugepages when -m is not given
		}
		if poolMB > have {
			hc.warnf(keyOr(askKey, "eal.args"), "%d MB of memory without hugepages, but %d mbufs take about %d MB; the packet pool may not fit: give more, e.g. \"-m\", \"%d\"",
				have, hc.c.Daemon.Mbufs, poolMB, 2*poolMB+64)
		}
		return nil
	}
	const fix = `reserve hugepages (e.g. echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) or add "--no-huge" to eal.args`
	if !inMemory {
		mounts, err := hugetlbfsMounts(hc.h.mounts)
		switch {
		case err != nil:
			hc.warnf("eal.args", "cannot read %s (%v), so hugetlbfs mounts are unchecked", hc.h.mounts, err)
		case hugeDir != "" && !slices.Contains(mounts, filepath.Clean(hugeDir)):
			return hc.errorf("eal.args", "--huge-dir %s is not a hugetlbfs mount (hugetlbfs is mounted on %s); write one of those, or mount hugetlbfs there", hugeDir, listOr(mounts, "nothing"))
		case len(mounts) == 0:
			return hc.errorf("eal.args", "asks for hugepages (no --no-huge), but no hugetlbfs is mounted (%s); mount one (mount -t hugetlbfs nodev /dev/hugepages), add \"--in-memory\", or add \"--no-huge\"", hc.h.mounts)
		}
	}
	freeMB, sizes, err := freeHugepages(hc.h.hugepages)
	if err != nil {
		hc.warnf("eal.args", "cannot read %s (%v), so free hugepages are unchecked", hc.h.hugepages, err)
		return nil
	}
	switch {
	case freeMB == 0:
		return hc.errorf("eal.args", "asks for hugepages (no --no-huge), but none is free (%s: %s); %s", hc.h.hugepages, listOr(sizes, "no page sizes"), fix)
	case askMB > freeMB:
		return hc.errorf(askKey, "asks for %d MB of hugepages, but only %d MB are free (%s); ask for less or %s", askMB, freeMB, strings.Join(sizes, ", "), fix)
	case askKey == "" && poolMB > freeMB || askKey != "" && poolMB > askMB:
		have := freeMB
		if askKey != "" {
			have = askMB
		}
		hc.warnf(keyOr(askKey, "eal.args"), "%d MB of hugepages for EAL, but %d mbufs take about %d MB; the packet pool may not fit: %s, or lower daemon.mbufs",
			have, hc.c.Daemon.Mbufs, poolMB, fix)
	}
	return nil
}

func keyOr(key, otherwise string) string {
	if key == "" {
		return otherwise
	}
	return key
}

func listOr(l []string, empty string) string {
	if len(l) == 0 {
		return empty
	}
	return strings.Join(l, ", ")
}

// freeHugepages sums the hugepages the kernel can still give, as EAL counts
// them (free_hugepages less resv_hugepages, every page size), in MB. sizes
// describes each size, e.g. "hugepages-2048kB: 256 free".
func freeHugepages(dir string) (mb int, sizes []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, nil, err
	}
	var kb int
	for _, e := range entries {
		size, ok := strings.CutPrefix(e.Name(), "hugepages-")
		size, ok2 := strings.CutSuffix(size, "kB")
		pageKB, err := strconv.Atoi(size)
		if !ok || !ok2 || err != nil {
			continue
		}
		free := readInt(filepath.Join(dir, e.Name(), "free_hugepages"))
		free -= readInt(filepath.Join(dir, e.Name(), "resv_hugepages"))
		free = max(free, 0)
		kb += free * pageKB
		sizes = append(sizes, fmt.Sprintf("%s: %d free", e.Name(), free))
	}
	return kb >> 10, sizes, nil
}

func readInt(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// hugetlbfsMounts returns the mount points of hugetlbfs in a mounts file.
func hugetlbfsMounts(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[2] == "hugetlbfs" {
			out = append(out, filepath.Clean(f[1]))
		}
	}
	return out, nil
}

// readCPUList reads a kernel CPU list file ("0-3,8").
func readCPUList(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCPUList(strings.TrimSpace(string(b)))
}

func parseCPUList(s string) ([]int, error) {
	set := map[int]bool{}
	if err := addCoreList(set, s); err != nil {
		return nil, fmt.Errorf("%q is not a CPU list", s)
	}
	return sortedKeys(set), nil
}

// cpuListString writes CPUs as the kernel does, "0-3,8".
func cpuListString(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

// The keys each poll-mode driver the project uses takes in DPDK 22.11 (each
// driver's RTE_PMD_REGISTER_PARAM_STRING), and the names EAL matches a vdev
// name's prefix against (the driver's name and its alias).
var vdevDrivers = []struct {
	names []string
	keys  []string
}{
	{[]string{"net_af_packet", "eth_af_packet"}, []string{"iface", "qpairs", "blocksz", "framesz", "framecnt", "qdisc_bypass"}},
	{[]string{"net_pcap", "eth_pcap"}, []string{"rx_pcap", "tx_pcap", "rx_iface", "rx_iface_in", "tx_iface", "iface", "phy_mac", "infinite_rx"}},
	{[]string{"net_tap"}, []string{"iface", "mac", "remote"}},
	{[]string{"net_tun"}, []string{"iface"}},
	{[]string{"net_null", "eth_null"}, []string{"size", "copy", "no-rx"}},
	{[]string{"net_ring", "eth_ring"}, []string{"nodeaction"}},
}

// ifNameMax is the longest interface name Linux takes (IFNAMSIZ less the
// terminating NUL).
const ifNameMax = 15

// vdev checks one virtual device's arguments for the drivers above; other
// drivers' devices are left to DPDK. key is where the arguments are
// written.
func (hc *hostCheck) vdev(key, device, args string) error {
	driver, known := "", []string(nil)
	for _, d := range vdevDrivers {
		for _, n := range d.names {
			if strings.HasPrefix(device, n) && len(n) > len(driver) {
				driver, known = d.names[0], d.keys
			}
		}
	}
	if driver == "" {
		return nil
	}
	kv := devargPairs(args)
	for _, p := range kv {
		if !slices.Contains(known, p.key) {
			msg := fmt.Sprintf("%s has no key %q (DPDK would refuse the device)", driver, p.key)
			if c, ok := closest(p.key, known); ok {
				return hc.errorf(key, "%s; did you mean %s?", msg, c)
			}
			return hc.errorf(key, "%s; its keys are %s", msg, strings.Join(known, ", "))
		}
	}
	iface := func(k, name string) error {
		if err := hc.iface(name); err != "" {
			return hc.errorf(key, "%s=%s: %s", k, name, err)
		}
		return nil
	}
	switch driver {
	case "net_af_packet":
		if !hasKey(kv, "iface") {
			return hc.errorf(key, "net_af_packet needs the kernel interface it opens; write iface=NAME, e.g. devargs = \"iface=eth1\"")
		}
		for _, p := range kv {
			if p.key == "iface" {
				if err := iface(p.key, p.value); err != nil {
					return err
				}
			}
		}
	case "net_pcap":
		for _, p := range kv {
			switch p.key {
			case "rx_pcap":
				f, err := os.Open(p.value)
				if err != nil {
					return hc.errorf(key, "rx_pcap=%s: cannot open it to replay: %s; write the path of a readable pcap file (a relative path is from the daemon's working directory)", p.value, pathErr(err))
				}
				f.Close()
			case "tx_pcap":
				dir := filepath.Dir(p.value)
				if st, err := os.Stat(dir); err != nil || !st.IsDir() {
					why := "not a directory"
					if err != nil {
						why = pathErr(err)
					}
					return hc.errorf(key, "tx_pcap=%s: cannot write there, its directory %s: %s; write a path in an existing directory", p.value, dir, why)
				}
			case "rx_iface", "rx_iface_in", "tx_iface", "iface":
				if err := iface(p.key, p.value); err != nil {
					return err
				}
			}
		}
	case "net_tap", "net_tun":
		for _, p := range kv {
			switch {
			case p.key == "iface" && len(p.value) > ifNameMax:
				return hc.errorf(key, "iface=%s: %d characters, but Linux interface names have at most %d; write a shorter name", p.value, len(p.value), ifNameMax)
			case p.key == "remote":
				if err := iface(p.key, p.value); err != nil {
					return err
				}
			}
		}
		if _, err := os.Stat(hc.h.tun); err != nil {
			return hc.errorf(key, "%s creates its interface through %s, which is missing (%s); load the tun module (modprobe tun)", driver, hc.h.tun, pathErr(err))
		}
	}
	return nil
}

// iface says why name is not a network interface of this machine, or "".
func (hc *hostCheck) iface(name string) string {
	if name == "" || len(name) > ifNameMax || strings.ContainsAny(name, "/ \t") || name == "." || name == ".." {
		return fmt.Sprintf("%q is not an interface name; write the name ip link shows, e.g. eth1", name)
	}
	if _, err := os.Stat(filepath.Join(hc.h.net, name)); err == nil {
		return ""
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("cannot tell whether interface %s exists: %v", name, err)
	}
	var have []string
	if entries, err := os.ReadDir(hc.h.net); err == nil {
		for _, e := range entries {
			have = append(have, e.Name())
		}
	}
	return fmt.Sprintf("this machine has no network interface %s (no %s); write one ip link shows (%s), or create it first",
		name, filepath.Join(hc.h.net, name), listOr(have, "none found"))
}

func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

type devarg struct{ key, value string }

// devargPairs splits "k1=v1,k2=v2" as DPDK's rte_kvargs does, keeping a
// bracketed list "[a,b]" in one value.
func devargPairs(s string) []devarg {
	var out []devarg
	depth, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch s[i] {
			case '[':
				depth++
			case ']':
				depth--
			}
			if s[i] != ',' || depth > 0 {
				continue
			}
		}
		if item := s[start:i]; item != "" {
			k, v, _ := strings.Cut(item, "=")
			out = append(out, devarg{k, v})
		}
		start = i + 1
	}
	return out
}

func hasKey(kv []devarg, key string) bool {
	return slices.ContainsFunc(kv, func(p devarg) bool { return p.key == key })
}

// Where each parsed Config's keys are written, for errors found after Load
// (CheckHost, ErrorAt). Config has no field for them, which keeps it a
// plain value that tests compare whole; the map holds its Configs weakly,
// and a Config's entry goes when the Config does.
var written struct {
	sync.Mutex
	m map[weak.Pointer[Config]]positions
}

// remember records where c's keys are written.
func remember(c *Config, pos positions) {
	k := weak.Make(c)
	written.Lock()
	if written.m == nil {
		written.m = map[weak.Pointer[Config]]positions{}
	}
	written.m[k] = pos
	written.Unlock()
	runtime.AddCleanup(c, func(k weak.Pointer[Config]) {
		written.Lock()
		delete(written.m, k)
		written.Unlock()
	}, k)
}

// positionsOf returns where c's keys are written, or nil for a Config that
// was not parsed (then errors have no line).
func positionsOf(c *Config) positions {
	written.Lock()
	defer written.Unlock()
	return written.m[weak.Make(c)]
}
