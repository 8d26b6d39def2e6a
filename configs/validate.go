package configs

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"

	"fmt"
	"math"
	"math/bits"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"shim6d/control/hba"
	"strconv"
	"strings"
	"time"
)

// Port defaults, and the limits the checks enforce.
const (
	defaultMTU  = 1500
	defaultDesc = 1024

	minMTU  = 1280 // RFC 8200 §5: every IPv6 link carries 1280 octets
	maxMTU  = 9000 // the usual jumbo frame; beyond it NICs disagree
	minDesc = 64
	maxDesc = 32768 // the largest power of two in a uint16

	minRing = 64
	maxRing = 1 << 20

	// maxMbufCache is RTE_MEMPOOL_CACHE_MAX_SIZE.
	maxMbufCache = 512

	// The neighbor_timeout message spells these out.
	minNeighborTimeout = 100 * time.Millisecond
	// maxNeighborTimeout is RFC 4861 §10 MAX_REACHABLE_TIME.
	maxNeighborTimeout = time.Hour

	// maxSocketPath is sizeof(sockaddr_un.sun_path) minus the NUL.
	maxSocketPath = 107
)

// defaultDaemon is the daemon table before the file is decoded over it.
func defaultDaemon() Daemon {
	return Daemon{
		Workers:         1,
		Polling:         PollAdaptive,
		ControlRingSize: 4096,
		Mbufs:           16383,
		MbufCache:       256,
		MetricsListen:   "127.0.0.1:9640",
		AdminSocket:     "/run/shim6d/admin.sock",
		ICMPRateLimit:   100,
		NeighborTimeout: Duration{30 * time.Second},
		LogLevel:        LogInfo,
	}
}

// applyDefaults fills in the keys absent from the file that depend on
// others: the ports' (a [[port]] table cannot be pre-filled before decoding
// like [daemon]) and the pool size. raw is the document as a plain map, for
// telling an absent key from one written as zero.
func (c *Config) applyDefaults(raw map[string]any) {
	tables := rawTables(raw, "port")
	insidePrefixes := true
	for i := range c.Ports {
		var t map[string]any
		if i < len(tables) {
			t = tables[i]
		}
		p := &c.Ports[i]
		if !has(t, "mtu") {
			p.MTU = defaultMTU
		}
		if !has(t, "rx_desc") {
			p.RxDesc = defaultDesc
		}
		if !has(t, "tx_desc") {
			p.TxDesc = defaultDesc
		}
		if p.Promiscuous == nil {
			on := true
			p.Promiscuous = &on
		}
		if p.Role == RoleUplink && !has(t, "priority") {
			p.Priority = 1
		}
		if p.Role == RoleUplink && !has(t, "weight") {
			p.Weight = 1
		}
		if p.Role == RoleInside && has(t, "prefixes") {
			insidePrefixes = false
		}
	}
	if sh, _ := lookup(raw, "shim"); !has(asTable(sh), "contexts") {
		c.Shim.Contexts = defaultContexts
	}
	if sh, _ := lookup(raw, "shim"); !has(asTable(sh), "establish_rate") {
		c.Shim.EstablishRate = defaultEstablishRate
	}
	if sh, _ := lookup(raw, "shim"); !has(asTable(sh), "r1_rate") {
		c.Shim.R1Rate = defaultR1Rate
	}
	if sh, _ := lookup(raw, "shim"); !has(asTable(sh), "r1_rate_per_prefix") {
		c.Shim.R1RatePerPrefix = defaultR1RatePerPrefix
	}
	if sh, _ := lookup(raw, "shim"); !has(asTable(sh), "send_timeout") {
		c.Shim.SendTimeout = Duration{15 * time.Second}
	}
	if sh, _ := lookup(raw, "shim"); !has(asTable(sh), "failback") {
		c.Shim.Failback = FailbackReturn
	}
	if sh, _ := lookup(raw, "shim"); !has(asTable(sh), "failback_hold") {
		c.Shim.FailbackHold = Duration{30 * time.Second}
	}
	if sh, _ := lookup(raw, "shim"); !has(asTable(sh), "idle_timeout") {
		c.Shim.IdleTimeout = Duration{5 * time.Minute}
	}
	if sh, _ := lookup(raw, "shim"); !has(asTable(sh), "ulp_hold") {
		c.Shim.ULPHold = Duration{200 * time.Millisecond}
	}
	c.haDefaults(raw)
	for i, t := range rawTables(raw, "context") {
		if i >= len(c.Contexts) {
			break
		}
		x := &c.Contexts[i]
		if !has(t, "local_locator") {
			x.LocalLocator = x.LocalULID
		}
		if !has(t, "peer_locator") {
			x.PeerLocator = x.PeerULID
		}
	}
	// The default pool size grows with the ports and workers, so that a
	// file that leaves mbufs out never fails the check in mbufs. A number
	// that is written is checked as written.
	if d, _ := lookup(raw, "daemon"); !has(asTable(d), "mbufs") {
		rings, caches := c.mbufsNeeded()
		if need := mbufsFor(rings + caches); need > uint64(c.Daemon.Mbufs) && need <= math.MaxUint32 {
			c.Daemon.Mbufs = uint32(need)
		}
	}
	if in := c.Inside(); in != nil && insidePrefixes {
		for _, up := range c.Uplinks() {
			if up.Prefix.IsValid() {
				in.Prefixes = append(in.Prefixes, up.Prefix)
			}
		}
	}
}

// rawTables returns the tables of the array of tables at key in m.
func rawTables(m map[string]any, key string) []map[string]any {
	v, _ := lookup(m, key)
	switch v := v.(type) {
	case []map[string]any:
		return v
	case []any: // port = [{...}, {...}]
		var out []map[string]any
		for _, e := range v {
			t, _ := e.(map[string]any)
			out = append(out, t)
		}
		return out
	}
	return nil
}

func asTable(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func has(m map[string]any, key string) bool {
	_, ok := lookup(m, key)
	return ok
}

// lookup finds key in m the way toml matches keys to fields: exactly, else
// ignoring case.
func lookup(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// Validate checks c as it is: it applies no defaults, so a Config built in
// code should start from Default() or a parsed file. Errors are *Error,
// without line numbers (those come from the file, in Load and Parse). The
// only fields it sets are what it parses while checking: each HBASet's
// Params and PrivateKey.
func (c *Config) Validate() error { return c.validate(nil) }

func (c *Config) validate(pos positions) error {
	v := &validator{c: c, pos: pos}
	for _, check := range []func() error{v.eal, v.daemon, v.ports, v.neighbors, v.mbufs, v.shim, v.contexts, v.hba, v.ha} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validator carries what the checks share. Each check returns the first
// problem it finds.
type validator struct {
	c         *Config
	pos       positions
	lcores    []int
	lcoreFrom string      // the option that gave them, e.g. "-l 0-3"
	opts      []ealOption // the EAL options we look at
}

func (v *validator) errorf(key, format string, args ...any) error {
	return &Error{File: v.c.Source, Line: v.pos.line(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (v *validator) eal() error {
	args := v.c.EAL.Args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return v.errorf("eal.args[0]", "%q is not an EAL option; leave out the program name, the daemon adds it", args[0])
	}
	opts, err := parseEAL(args)
	if err != nil {
		ae := err.(*ealArgError)
		return v.errorf(fmt.Sprintf("eal.args[%d]", ae.Index), "%s", ae.Msg)
	}
	ids, from, err := parseLcores(args)
	if err != nil {
		return v.errorf("eal.args", "%v", err)
	}
	v.lcores, v.lcoreFrom, v.opts = ids, from, opts
	return nil
}

func (v *validator) daemon() error {
	d := &v.c.Daemon
	n := len(v.lcores)
	switch {
	case d.Workers < 1:
		return v.errorf("daemon.workers", "%d workers; write at least 1", d.Workers)
	case d.Workers > n-1 && n < 2:
		return v.errorf("daemon.workers", "eal.args gives %d lcore (%s), but the control core needs one and each worker one more; give at least %d, e.g. \"-l\", \"0-%d\"",
			n, v.lcoreFrom, d.Workers+1, d.Workers)
	case d.Workers > n-1:
		return v.errorf("daemon.workers", "%d workers need %d lcores (one more for the control core), but eal.args gives %d (%s); write workers = %d or give more lcores",
			d.Workers, d.Workers+1, n, v.lcoreFrom, n-1)
	}
	if err := pollings.check(d.Polling); err != nil {
		return v.errorf("daemon.polling", "%v", err)
	}
	if r := d.ControlRingSize; !isPowerOfTwo(uint64(r)) || r < minRing || r > maxRing {
		return v.errorf("daemon.control_ring_size", "%d is not a power of two from %d to %d (DPDK rings need one); write e.g. 4096", r, minRing, maxRing)
	}
	if d.MbufCache > maxMbufCache {
		return v.errorf("daemon.mbuf_cache", "%d is more than DPDK's per-lcore mempool cache limit; write at most %d, e.g. 256", d.MbufCache, maxMbufCache)
	}
	if d.MetricsListen != "" {
		host, port, err := net.SplitHostPort(d.MetricsListen)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n < 1 || n > 65535 || strings.Contains(host, "%") {
			return v.errorf("daemon.metrics_listen", "%q is not HOST:PORT; write e.g. \"127.0.0.1:9640\" or \"[::1]:9640\", or \"\" to disable metrics", d.MetricsListen)
		}
	}
	switch s := d.AdminSocket; {
	case s == "":
		return v.errorf("daemon.admin_socket", "empty; write the admin socket's path, e.g. \"/run/shim6d/admin.sock\"")
	case !filepath.IsAbs(s):
		return v.errorf("daemon.admin_socket", "%q is not an absolute path; write e.g. \"/run/shim6d/admin.sock\"", s)
	case len(s) > maxSocketPath:
		return v.errorf("daemon.admin_socket", "%d bytes is longer than a unix socket path can be (%d); write a shorter path, e.g. \"/run/shim6d/admin.sock\"", len(s), maxSocketPath)
	}
	if d.ICMPRateLimit < 1 {
		return v.errorf("daemon.icmp_rate_limit", "%d errors per second; write at least 1, e.g. 100: RFC 4443 §2.4(f) limits the rate of ICMPv6 errors, it does not turn them off (Path MTU Discovery needs Packet Too Big)", d.ICMPRateLimit)
	}
	if t := d.NeighborTimeout.Duration; t < minNeighborTimeout || t > maxNeighborTimeout {
		return v.errorf("daemon.neighbor_timeout", "%v is out of range; write a duration from \"100ms\" to \"1h\", e.g. \"30s\" (RFC 4861 REACHABLE_TIME)", t)
	}
	if err := logLevels.check(d.LogLevel); err != nil {
		return v.errorf("daemon.log_level", "%v", err)
	}
	return nil
}

var (
	portName = regexp.MustCompile(`^[a-z0-9_-]{1,15}$`)
	vdevName = regexp.MustCompile(`^net_[a-z0-9_]+$`)
	pciAddr  = regexp.MustCompile(`^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])$`)
)

// pciName returns the canonical form of a PCI address (with the domain,
// lower case), or "" when s is not one.
func pciName(s string) string {
	m := pciAddr.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	domain := m[1]
	if domain == "" {
		domain = "0000"
	}
	return strings.ToLower(domain + ":" + m[2])
}

// deviceOf returns the device an EAL device argument (-a, --vdev) names:
// the part before the first comma, canonical if it is a PCI address.
func deviceOf(arg string) string {
	name, _, _ := strings.Cut(arg, ",")
	if pci := pciName(name); pci != "" {
		return pci
	}
	return name
}

func (v *validator) ports() error {
	c := v.c
	if len(c.Ports) == 0 {
		return v.errorf("port", "no [[port]] tables; write one with role = \"inside\" and one with role = \"uplink\" per ISP (see configs/lab.toml)")
	}
	inside := -1
	for i := range c.Ports {
		if err := v.port(i, &inside); err != nil {
			return err
		}
	}
	if inside < 0 {
		return v.errorf("port", "no port has role = \"inside\"; give the site-side port role = \"inside\"")
	}
	if len(c.Uplinks()) == 0 {
		return v.errorf("port", "no port has role = \"uplink\"; add a [[port]] with role = \"uplink\", prefix and next_hop for each ISP")
	}
	first, primary := -1, false
	for i := range c.Ports {
		if p := &c.Ports[i]; p.Role == RoleUplink {
			if p.Backup && first < 0 {
				first = i
			}
			primary = primary || !p.Backup
		}
	}
	if !primary {
		return v.errorf(fmt.Sprintf("port[%d].backup", first), "every uplink is backup; leave at least one without backup = true")
	}
	return v.insidePrefixes(inside)
}

// port checks port i on its own and against the ports before it, so that a
// clash is reported at the second of the two.
func (v *validator) port(i int, inside *int) error {
	p := &v.c.Ports[i]
	key := func(k string) string { return fmt.Sprintf("port[%d].%s", i, k) }

	switch {
	case p.Name == "":
		return v.errorf(key("name"), "missing; write a name of 1 to 15 characters from a-z, 0-9, _ and -, e.g. name = \"isp1\"")
	case !portName.MatchString(p.Name):
		return v.errorf(key("name"), "%q is not a port name; write 1 to 15 characters from a-z, 0-9, _ and -, e.g. \"isp1\"", p.Name)
	}
	for j := range i {
		if v.c.Ports[j].Name == p.Name {
			return v.errorf(key("name"), "%q is already the name of port[%d]; give each port its own name", p.Name, j)
		}
	}

	switch p.Role {
	case RoleInside:
		if *inside >= 0 {
			return v.errorf(key("role"), "a second inside port: port[%d] %q is one already, and there is exactly one; make this one role = \"uplink\" or remove it", *inside, v.c.Ports[*inside].Name)
		}
		*inside = i
	case RoleUplink:
	case "":
		return v.errorf(key("role"), "missing; write role = \"inside\" (the site side) or role = \"uplink\" (an ISP)")
	default:
		return v.errorf(key("role"), "%v", roles.check(p.Role))
	}

	if err := v.device(i, key); err != nil {
		return err
	}

	for k, a := range p.Addresses {
		ak := fmt.Sprintf("port[%d].addresses[%d]", i, k)
		if msg := unicastProblem(a); msg != "" {
			return v.errorf(ak, "%s", msg)
		}
		if at := v.addressOwner(a, i, k); at != "" {
			return v.errorf(ak, "%s is also %s; an address belongs to one port, once", a, at)
		}
	}

	if p.Role == RoleInside {
		switch {
		case p.Prefix.IsValid():
			return v.errorf(key("prefix"), "an inside port has no prefix (prefix is an uplink's ISP prefix); to choose the prefixes routed inside, write prefixes = [\"2001:db8:1::/48\"]")
		case p.NextHop.IsValid():
			return v.errorf(key("next_hop"), "an inside port has no next hop (next_hop is an uplink's ISP router); delete it")
		case p.NextHopMAC != MAC{}:
			return v.errorf(key("next_hop_mac"), "an inside port has no next hop (next_hop_mac is for an uplink's ISP router); delete it, or add a [[neighbor]] for a host")
		}
		for _, k := range []string{"priority", "weight", "backup"} {
			if v.pos.written(key(k)) {
				return v.errorf(key(k), "%s ranks an uplink in the site's Locator Preferences; an inside port has none, delete it", k)
			}
		}
	} else {
		if err := v.uplink(i, key); err != nil {
			return err
		}
	}

	if err := v.portMACs(i, key); err != nil {
		return err
	}

	if p.MTU < minMTU || p.MTU > maxMTU {
		return v.errorf(key("mtu"), "%d is out of range; write %d (the IPv6 minimum, RFC 8200 §5) to %d, e.g. 1500", p.MTU, minMTU, maxMTU)
	}
	for _, d := range []struct {
		name string
		n    uint16
	}{{"rx_desc", p.RxDesc}, {"tx_desc", p.TxDesc}} {
		if !isPowerOfTwo(uint64(d.n)) || d.n < minDesc || d.n > maxDesc {
			return v.errorf(key(d.name), "%d is not a power of two from %d to %d; write e.g. 1024", d.n, minDesc, maxDesc)
		}
	}
	return nil
}

// device checks port i's device name and devargs, and that the EAL
// arguments will make the device appear.
func (v *validator) device(i int, key func(string) string) error {
	p := &v.c.Ports[i]
	pci := pciName(p.Device)
	switch {
	case p.Device == "":
		return v.errorf(key("device"), "missing; write the DPDK device, e.g. device = \"net_af_packet0\" or a PCI address \"0000:03:00.0\"")
	case pci == "" && !vdevName.MatchString(p.Device):
		return v.errorf(key("device"), "%q is not a DPDK device name; write a virtual device (net_af_packet0, net_tap0, ...) or a PCI address, e.g. \"0000:03:00.0\"", p.Device)
	}
	for j := range i {
		if d := v.c.Ports[j].Device; d == p.Device || pci != "" && pciName(d) == pci {
			return v.errorf(key("device"), "%q is also port[%d]'s device; give each port its own device", p.Device, j)
		}
	}

	var vdev, allow, block []string
	noPCI := false
	for _, o := range v.opts {
		switch o.name {
		case "--vdev":
			vdev = append(vdev, deviceOf(o.value))
		case "-a", "--allow":
			allow = append(allow, deviceOf(o.value))
		case "-b", "--block":
			block = append(block, deviceOf(o.value))
		case "--no-pci":
			noPCI = true
		}
	}
	contains := func(list []string, dev string) bool {
		for _, d := range list {
			if d == dev {
				return true
			}
		}
		return false
	}

	if pci != "" {
		switch {
		case p.Devargs != "":
			return v.errorf(key("devargs"), "only a virtual (net_*) device takes devargs here; give a PCI device's arguments in eal.args, e.g. \"-a\", \"%s,KEY=VALUE\"", pci)
		case noPCI:
			return v.errorf(key("device"), "%q is a PCI device, but eal.args has --no-pci; remove --no-pci", p.Device)
		case contains(block, pci):
			return v.errorf(key("device"), "%q is blocked by -b in eal.args; remove it from the block list", p.Device)
		case len(allow) > 0 && !contains(allow, pci):
			return v.errorf(key("device"), "%q is not in eal.args' -a allow list; add \"-a\", \"%s\"", p.Device, pci)
		}
		return nil
	}
	switch inArgs := contains(vdev, p.Device); {
	case p.Devargs != "" && inArgs:
		return v.errorf(key("devargs"), "eal.args already creates %s with --vdev; keep the devargs here or the --vdev there, not both", p.Device)
	case p.Devargs == "" && !inArgs:
		return v.errorf(key("device"), "nothing creates virtual device %q; set devargs (e.g. devargs = \"iface=eth1\" for net_af_packet) or add \"--vdev=%s\" to eal.args", p.Device, p.Device)
	}
	return nil
}

// uplink checks the keys only an uplink has.
func (v *validator) uplink(i int, key func(string) string) error {
	p := &v.c.Ports[i]
	if len(p.Prefixes) > 0 {
		return v.errorf(key("prefixes"), "prefixes is for the inside port; an uplink's own prefix is prefix = \"...\"")
	}
	if !p.Prefix.IsValid() {
		return v.errorf(key("prefix"), "missing; an uplink needs the prefix its ISP assigned, e.g. prefix = \"2001:db8:1::/48\"")
	}
	if msg := prefixProblem(p.Prefix); msg != "" {
		return v.errorf(key("prefix"), "%s", msg)
	}
	for j := range i {
		q := &v.c.Ports[j]
		if q.Role != RoleUplink || !q.Prefix.IsValid() || !p.Prefix.Overlaps(q.Prefix) {
			continue
		}
		if p.Prefix == q.Prefix {
			return v.errorf(key("prefix"), "%s is also port[%d] %s's prefix; each uplink has the prefix its own ISP assigned", p.Prefix, j, q.Name)
		}
		return v.errorf(key("prefix"), "%s overlaps port[%d] %s's prefix %s; uplink prefixes must not overlap, since a packet's source prefix picks its uplink", p.Prefix, j, q.Name, q.Prefix)
	}
	if !p.NextHop.IsValid() {
		return v.errorf(key("next_hop"), "missing; an uplink needs its ISP router's address, e.g. next_hop = \"2001:db8:ffff:1::1\" or \"fe80::1\"")
	}
	if msg := unicastProblem(p.NextHop); msg != "" {
		return v.errorf(key("next_hop"), "%s", msg)
	}
	for k, a := range p.Addresses {
		if a == p.NextHop {
			return v.errorf(key("next_hop"), "%s is our own address (port[%d].addresses[%d]); write the ISP router's address", a, i, k)
		}
	}
	if m := p.NextHopMAC; m != (MAC{}) && !m.IsUnicast() {
		return v.errorf(key("next_hop_mac"), "%s is a multicast MAC; write the router's unicast MAC, or delete the key to resolve it by Neighbor Discovery", m)
	}
	switch {
	case p.Backup && v.pos.written(key("priority")):
		return v.errorf(key("priority"), "a backup uplink is announced with priority %d, after every other; delete priority, or backup = true", BackupPriority)
	case p.Priority < 0 || p.Priority >= BackupPriority:
		return v.errorf(key("priority"), "%d is out of range; write 0 to %d, lower is preferred (%d is for backup = true)", p.Priority, BackupPriority-1, BackupPriority)
	case p.Weight < 0 || p.Weight > 255:
		return v.errorf(key("weight"), "%d is out of range; write 0 to 255 (a share among uplinks of the same priority)", p.Weight)
	}
	return nil
}

// insidePrefixes checks the inside port's prefixes against the uplinks:
// they run after all ports, because the default copies the uplinks'.
func (v *validator) insidePrefixes(inside int) error {
	p := &v.c.Ports[inside]
	ups := v.c.Uplinks()
	if len(p.Prefixes) == 0 {
		return v.errorf(fmt.Sprintf("port[%d].prefixes", inside), "empty; list the site prefixes routed inside, or delete the key to route every uplink's prefix inside")
	}
	for k, pr := range p.Prefixes {
		key := fmt.Sprintf("port[%d].prefixes[%d]", inside, k)
		if msg := prefixProblem(pr); msg != "" {
			return v.errorf(key, "%s", msg)
		}
		covered := false
		for _, up := range ups {
			covered = covered || up.Prefix.Bits() <= pr.Bits() && up.Prefix.Contains(pr.Addr())
		}
		if !covered {
			var names []string
			for _, up := range ups {
				names = append(names, up.Name+" "+up.Prefix.String())
			}
			return v.errorf(key, "%s is not within any uplink's prefix (%s), so its hosts could not send out by any uplink; write a prefix within one", pr, strings.Join(names, ", "))
		}
	}
	return nil
}

// addressOwner returns where address a (port i's k-th) is already used, as
// a key, or "".
func (v *validator) addressOwner(a netip.Addr, i, k int) string {
	for j := 0; j <= i; j++ {
		for l, b := range v.c.Ports[j].Addresses {
			if j == i && l >= k {
				break
			}
			if a == b {
				return fmt.Sprintf("port[%d].addresses[%d]", j, l)
			}
		}
	}
	return ""
}

func (v *validator) neighbors() error {
	type entry struct {
		port string
		addr netip.Addr
	}
	seen := map[entry]int{}
	var names []string
	for _, p := range v.c.Ports {
		names = append(names, p.Name)
	}
	for i, n := range v.c.Neighbors {
		key := func(k string) string { return fmt.Sprintf("neighbor[%d].%s", i, k) }
		switch {
		case n.Port == "":
			return v.errorf(key("port"), "missing; write the name of the port the neighbor is on: one of %s", strings.Join(names, ", "))
		case v.c.PortIndex(n.Port) < 0:
			return v.errorf(key("port"), "%q is not a port; write one of %s", n.Port, strings.Join(names, ", "))
		case !n.Address.IsValid():
			return v.errorf(key("address"), "missing; write the neighbor's IPv6 address, e.g. address = \"2001:db8:1::10\"")
		}
		if msg := unicastProblem(n.Address); msg != "" {
			return v.errorf(key("address"), "%s", msg)
		}
		switch {
		case n.MAC == MAC{}:
			return v.errorf(key("mac"), "missing; write the neighbor's MAC, e.g. mac = \"02:00:00:00:00:01\"")
		case !n.MAC.IsUnicast():
			return v.errorf(key("mac"), "%s is a multicast MAC; write the neighbor's unicast MAC", n.MAC)
		}
		e := entry{n.Port, n.Address}
		if j, dup := seen[e]; dup {
			return v.errorf(fmt.Sprintf("neighbor[%d]", i), "%s on %s is also neighbor[%d]; keep one", n.Address, n.Port, j)
		}
		seen[e] = i
	}
	return nil
}

// mbufsNeeded returns how many mbufs the pool must hold so that every
// descriptor can hold one at once and every lcore's cache is still stocked:
// with fewer, DPDK fails the port start or, worse, drops packets under load
// (rx_nombuf) with nothing in the logs. The daemon gives each port one rx
// queue per worker and one tx queue per worker plus the control core's; a
// mempool cache holds up to 1.5 times its size before it flushes
// (CACHE_FLUSHTHRESH_MULTIPLIER).
func (c *Config) mbufsNeeded() (rings, caches uint64) {
	w := uint64(max(c.Daemon.Workers, 0))
	for _, p := range c.Ports {
		rings += uint64(p.RxDesc)*w + uint64(p.TxDesc)*(w+1)
	}
	caches = uint64(c.LcoreCount()) * uint64(c.Daemon.MbufCache) * 3 / 2
	return rings, caches
}

// mbufsFor returns the smallest 2^n-1 that is at least need: a DPDK mempool
// is backed by a ring of 2^n slots, one of which stays empty.
func mbufsFor(need uint64) uint64 {
	n := uint64(1)
	for n-1 < need {
		n <<= 1
	}
	return n - 1
}

func (v *validator) mbufs() error {
	d := &v.c.Daemon
	rings, caches := v.c.mbufsNeeded()
	if need := rings + caches; uint64(d.Mbufs) < need {
		return v.errorf("daemon.mbufs", "%d cannot fill every rx and tx descriptor (%d with %d workers) and the %d lcores' caches (%d); write at least %d, e.g. %d",
			d.Mbufs, rings, d.Workers, len(v.lcores), caches, need, mbufsFor(need))
	}
	return nil
}

// unicastProblem says what is wrong with a as one of our addresses or a
// neighbor's, or "" when it is a usable IPv6 unicast address.
func unicastProblem(a netip.Addr) string {
	s := strconv.Quote(a.String())
	switch {
	case a.Is4():
		return s + " is an IPv4 address; write an IPv6 address, e.g. 2001:db8:1::1"
	case a.Is4In6():
		return s + " is an IPv4-mapped address; write a native IPv6 address, e.g. 2001:db8:1::1"
	case a.Zone() != "":
		return fmt.Sprintf("%s has a zone; write %s: the port is the zone", s, a.WithZone(""))
	case a.IsUnspecified():
		return s + " is the unspecified address; write a unicast address, e.g. 2001:db8:1::1"
	case a.IsLoopback():
		return s + " is the loopback address; write a unicast address on the link, e.g. 2001:db8:1::1"
	case a.IsMulticast():
		return s + " is a multicast address; write a unicast address, e.g. 2001:db8:1::1"
	}
	return ""
}

// prefixProblem says what is wrong with p as a site or ISP prefix, or "".
func prefixProblem(p netip.Prefix) string {
	s := strconv.Quote(p.String())
	switch a := p.Addr(); {
	case a.Is4():
		return s + " is an IPv4 prefix; write an IPv6 prefix, e.g. 2001:db8:1::/48"
	case a.Is4In6():
		return s + " is an IPv4-mapped prefix; write a native IPv6 prefix, e.g. 2001:db8:1::/48"
	case p.Bits() == 0:
		return s + " covers every address; write the prefix the ISP assigned, e.g. 2001:db8:1::/48"
	case a.IsMulticast():
		return s + " is multicast; write a unicast prefix, e.g. 2001:db8:1::/48"
	case p != p.Masked():
		return fmt.Sprintf("%s has host bits set; write %s", s, p.Masked())
	}
	return ""
}

func isPowerOfTwo(n uint64) bool { return n != 0 && n&(n-1) == 0 }

// Shim limits.
const (
	defaultContexts = 1 << 20
	// defaultEstablishRate is handshakes a second from deferred
	// establishment.
	defaultEstablishRate = 1000
	// defaultR1Rate and defaultR1RatePerPrefix are R1s a second in all
	// and to one source /64 (see Shim.R1Rate).
	defaultR1Rate          = 1000
	defaultR1RatePerPrefix = 10
	maxContexts            = 1 << 24
	maxTag                 = 1<<47 - 1
)

func (v *validator) shim() error {
	if n := v.c.Shim.Contexts; n < 1 || n > maxContexts {
		return v.errorf("shim.contexts", "%d is out of range; write 1 to %d (default %d)", n, maxContexts, defaultContexts)
	}
	if r := v.c.Shim.EstablishRate; r < 1 || r > 1_000_000 {
		return v.errorf("shim.establish_rate", "%d is out of range; write 1 to 1000000 handshakes a second (default %d)", r, defaultEstablishRate)
	}
	if r := v.c.Shim.R1Rate; r < 1 || r > 1_000_000 {
		return v.errorf("shim.r1_rate", "%d is out of range; write 1 to 1000000 R1s a second (default %d)", r, defaultR1Rate)
	}
	if r := v.c.Shim.R1RatePerPrefix; r < 1 || r > v.c.Shim.R1Rate {
		return v.errorf("shim.r1_rate_per_prefix", "%d is out of range; write 1 to r1_rate (%d) R1s a second to one source /64 (default %d)", r, v.c.Shim.R1Rate, defaultR1RatePerPrefix)
	}
	if err := failbacks.check(v.c.Shim.Failback); err != nil {
		return v.errorf("shim.failback", "%v", err)
	}
	if d := v.c.Shim.FailbackHold.Duration; d < time.Second || d > time.Hour {
		return v.errorf("shim.failback_hold", "%s is out of range; write 1s to 1h (default 30s)", d)
	}
	if d := v.c.Shim.IdleTimeout.Duration; d < 10*time.Second || d > 24*time.Hour {
		return v.errorf("shim.idle_timeout", "%s is out of range; write 10s to 24h (default 5m)", d)
	}
	if d := v.c.Shim.SendTimeout.Duration; d < time.Second || d > 10*time.Minute {
		return v.errorf("shim.send_timeout", "%s is out of range; write 1s to 10m (RFC 5534's default is 15s)", d)
	}
	if d := v.c.Shim.ULPHold.Duration; d < 10*time.Millisecond || d > 10*time.Second {
		return v.errorf("shim.ulp_hold", "%s is out of range; write 10ms to 10s (default 200ms, the lowest TCP retransmission timeout Linux uses)", d)
	}
	for i, p := range v.c.Shim.EstablishPeers {
		if msg := prefixProblem(p); msg != "" {
			return v.errorf(fmt.Sprintf("shim.establish_peers[%d]", i), "%s", msg)
		}
	}
	return nil
}

func (v *validator) contexts() error {
	type pair struct{ l, p netip.Addr }
	seen := map[pair]int{}
	slots := map[uint64]int{}
	slotMask := uint64(1)<<bits.Len(uint(v.c.Shim.Contexts-1)) - 1
	for i := range v.c.Contexts {
		x := &v.c.Contexts[i]
		key := func(k string) string { return fmt.Sprintf("context[%d].%s", i, k) }
		for _, f := range []struct {
			name string
			a    netip.Addr
		}{{"local_ulid", x.LocalULID}, {"peer_ulid", x.PeerULID}, {"local_locator", x.LocalLocator}, {"peer_locator", x.PeerLocator}} {
			if !f.a.IsValid() {
				return v.errorf(key(f.name), "missing; write an IPv6 address, e.g. %s = \"2001:db8:1::10\"", f.name)
			}
			if msg := unicastProblem(f.a); msg != "" {
				return v.errorf(key(f.name), "%s", msg)
			}
		}
		if !v.inSite(x.LocalULID) {
			return v.errorf(key("local_ulid"), "%s is under none of the site's prefixes; write an inside host's address", x.LocalULID)
		}
		if v.uplinkFor(x.LocalLocator) < 0 {
			return v.errorf(key("local_locator"), "%s is under no uplink's prefix, so no uplink may send from it; write an address under one of them", x.LocalLocator)
		}
		for _, t := range []struct {
			name string
			v    uint64
		}{{"local_tag", x.LocalTag}, {"peer_tag", x.PeerTag}} {
			if t.v == 0 || t.v > maxTag {
				return v.errorf(key(t.name), "%#x is not a context tag; write a number from 1 to 0x7fffffffffff (47 bits, RFC 5533 §5.2)", t.v)
			}
		}
		pr := pair{x.LocalULID, x.PeerULID}
		if j, dup := seen[pr]; dup {
			return v.errorf(fmt.Sprintf("context[%d]", i), "the ULID pair %s, %s is also context[%d]; keep one", x.LocalULID, x.PeerULID, j)
		}
		seen[pr] = i
		if s := x.LocalTag & slotMask; s >= uint64(v.c.Shim.Contexts) {
			return v.errorf(key("local_tag"), "%#x names table slot %d (its low bits), beyond shim.contexts = %d; pick a tag whose low bits are below it", x.LocalTag, s, v.c.Shim.Contexts)
		} else if j, dup := slots[s]; dup {
			return v.errorf(key("local_tag"), "%#x names table slot %d (its low bits), as context[%d]'s tag does; change the low bits", x.LocalTag, s, j)
		} else {
			slots[s] = i
		}
	}
	return nil
}

func (v *validator) inSite(a netip.Addr) bool {
	if in := v.c.Inside(); in != nil {
		for _, p := range in.Prefixes {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// uplinkFor returns the index of the port whose uplink prefix holds a, or -1.
func (v *validator) uplinkFor(a netip.Addr) int {
	for i := range v.c.Ports {
		p := &v.c.Ports[i]
		if p.Role == RoleUplink && p.Prefix.IsValid() && p.Prefix.Contains(a) {
			return i
		}
	}
	return -1
}

// hba checks every [[hba]] set: its parameters parse and every address is
// an HBA of the set under its own prefix (RFC 5535 §7.2).
func (v *validator) hba() error {
	owner := map[netip.Addr]int{}
	for i := range v.c.HBA {
		h := &v.c.HBA[i]
		key := func(k string) string { return fmt.Sprintf("hba[%d].%s", i, k) }
		raw, err := hex.DecodeString(h.Parameters)
		if err != nil || len(raw) == 0 {
			return v.errorf(key("parameters"), "not hex; write the CGA Parameters that shim6ctl hba generate printed")
		}
		p, err := hba.ParseParameters(raw)
		if err != nil {
			return v.errorf(key("parameters"), "%v; write the CGA Parameters that shim6ctl hba generate printed", err)
		}
		h.Params = p
		if len(h.Addresses) == 0 || len(h.Addresses) != len(h.Prefixes) {
			return v.errorf(key("addresses"), "%d addresses for %d prefixes; write one address under each prefix", len(h.Addresses), len(h.Prefixes))
		}
		for j, a := range h.Addresses {
			if !h.Prefixes[j].Contains(a) {
				return v.errorf(fmt.Sprintf("hba[%d].addresses[%d]", i, j), "%s is not under prefixes[%d] %s", a, j, h.Prefixes[j])
			}
			if err := p.VerifyHBA(a); err != nil {
				return v.errorf(fmt.Sprintf("hba[%d].addresses[%d]", i, j), "%s is not in the set: %v; regenerate it with shim6ctl hba generate", a, err)
			}
			if k, dup := owner[a]; dup {
				return v.errorf(fmt.Sprintf("hba[%d].addresses[%d]", i, j), "%s is also in hba[%d]; an address belongs to one host", a, k)
			}
			owner[a] = i
		}
		if err := v.hbaKey(i, p, owner); err != nil {
			return err
		}
	}
	return nil
}

// hbaKey checks a set's key and CGA locators: the key file holds the RSA
// private key whose public half is in the set's parameters (else it could
// sign nothing a peer accepts, RFC 3972 §5 step 2), and each CGA locator
// is a unicast address under an uplink's prefix, so that what peers send
// to it arrives here.
func (v *validator) hbaKey(i int, p *hba.Parameters, owner map[netip.Addr]int) error {
	h := &v.c.HBA[i]
	key := func(k string) string { return fmt.Sprintf("hba[%d].%s", i, k) }
	h.PrivateKey = nil
	if h.Key == "" {
		if len(h.CGALocators) > 0 {
			return v.errorf(key("cga_locators"), "locators outside the HBA set need a CGA Signature; add key = \"FILE.pem\" (the set's private key, shim6ctl hba generate --key)")
		}
		return nil
	}
	data, err := os.ReadFile(v.c.File(h.Key))
	if err != nil {
		return v.errorf(key("key"), "cannot read %s: %v; write the PEM file of the set's RSA private key", v.c.File(h.Key), errors.Unwrap(err))
	}
	k, err := hba.ParseKeyPEM(data)
	switch {
	case err != nil:
		return v.errorf(key("key"), "%s: %v; write the PEM file of the set's RSA private key", h.Key, err)
	case k.Private == nil:
		return v.errorf(key("key"), "%s holds only a public key; the daemon signs with the private key", h.Key)
	case !p.PublicKeyIncluded() || !bytes.Equal(p.Decoded().PublicKey, k.Public):
		return v.errorf(key("key"), "%s is not the key in the set's parameters; give the key the set was generated with (shim6ctl hba generate --key)", h.Key)
	}
	h.PrivateKey = k.Private
	for j, a := range h.CGALocators {
		ak := fmt.Sprintf("hba[%d].cga_locators[%d]", i, j)
		if msg := unicastProblem(a); msg != "" {
			return v.errorf(ak, "%s", msg)
		}
		if k, dup := owner[a]; dup {
			return v.errorf(ak, "%s is already hba[%d]'s; each locator belongs to one host, once", a, k)
		}
		owner[a] = i
		under := false
		for _, u := range v.c.Uplinks() {
			under = under || u.Prefix.Contains(a)
		}
		if !under {
			return v.errorf(ak, "%s is under no uplink's prefix, so nothing sent to it would arrive; give an address under one", a)
		}
	}
	return nil
}
