// Package configs loads shim6d's TOML configuration, applies its defaults
// and validates it (DESIGN.md §7): the EAL arguments, the daemon's cores,
// rings and addresses, the ports with their roles (one inside port, uplinks
// with the ISP prefix and next hop), and static neighbors.
//
// Every problem stops the start with an *Error that names the file, the line
// and the key, and says what to write instead. configs/lab.toml, embedded
// here as the lab default, is the operator's commented reference.
//
// Addresses are net/netip values: this is the edge of the program (STYLE.md
// habit 7); the control core converts them once when it publishes tables.
package configs

import (
	"crypto/rsa"
	_ "embed"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"shim6d/control/hba"
)

//go:embed lab.toml
var labTOML []byte

// Config is a whole shim6d configuration. Load, Parse and Default return it
// with the defaults applied and validated.
type Config struct {
	EAL       EAL        `toml:"eal"`
	Daemon    Daemon     `toml:"daemon"`
	Ports     []Port     `toml:"port"`
	Neighbors []Neighbor `toml:"neighbor"`
	Shim      Shim       `toml:"shim"`
	Contexts  []Context  `toml:"context"`
	HBA       []HBASet   `toml:"hba"`
	HA        HA         `toml:"ha"`
	// Source is the file name the configuration came from, for messages.
	Source string `toml:"-"`
}

// EAL holds the DPDK Environment Abstraction Layer arguments.
type EAL struct {
	// Args are the EAL arguments without the program name, e.g.
	// ["-l", "0-1", "--no-huge", "--no-pci", "-m", "512", "--file-prefix", "shim6d-lab"].
	// They must name the lcores (-l, --lcores or -c): the first runs the
	// control core, each further one a worker.
	Args []string `toml:"args"`
}

// Daemon holds the process-wide settings. A key absent from the file takes
// the default given here; a key that is present is checked as written.
type Daemon struct {
	// Workers is the number of worker lcores, 1 to LcoreCount()-1 (the
	// first lcore runs the control core). Default 1.
	Workers int `toml:"workers"`
	// Polling is PollBusy or PollAdaptive (the default).
	Polling Polling `toml:"polling"`
	// ControlRingSize is the number of slots of the workers→control core
	// ring, a power of two from 64 to 1<<20. Default 4096.
	ControlRingSize uint32 `toml:"control_ring_size"`
	// Mbufs is the size of the packet buffer pool: enough for every rx and
	// tx descriptor plus the lcores' caches. DPDK mempools are backed by a
	// ring of 2^n slots, so 2^n-1 wastes nothing. Default 16383, or the
	// smallest 2^n-1 that is enough when that is more.
	Mbufs uint32 `toml:"mbufs"`
	// MbufCache is the per-lcore mempool cache, at most 512
	// (RTE_MEMPOOL_CACHE_MAX_SIZE). Default 256.
	MbufCache uint32 `toml:"mbuf_cache"`
	// MetricsListen is the host:port of the Prometheus /metrics endpoint;
	// "" disables it. Default "127.0.0.1:9640".
	MetricsListen string `toml:"metrics_listen"`
	// AdminSocket is the unix socket path of the shim6ctl admin API.
	// Default "/run/shim6d/admin.sock".
	AdminSocket string `toml:"admin_socket"`
	// ICMPRateLimit is the number of ICMPv6 errors per second the daemon
	// sends, at least 1 (RFC 4443 §2.4(f)). Default 100. Errors out an
	// uplink first take their source /64's bucket of a tenth of it.
	ICMPRateLimit int `toml:"icmp_rate_limit"`
	// NeighborTimeout is how long a confirmed neighbor stays REACHABLE
	// (RFC 4861 §6.3.2 REACHABLE_TIME), 100ms to 1h. Default 30s.
	NeighborTimeout Duration `toml:"neighbor_timeout"`
	// LogLevel is the least severe level logged: LogDebug (every Shim6
	// control message sent and received, among others), LogInfo (the
	// default), LogWarn or LogError.
	LogLevel LogLevel `toml:"log_level"`
	// AllowSynthetic lets the admin API load synthetic contexts
	// (`shim6ctl synth`, control/synth) for benchmarks and capacity tests.
	// Default false: a box carrying customers' traffic refuses them, as a
	// million fake contexts would crowd out the real ones.
	AllowSynthetic bool `toml:"allow_synthetic"`
}

// Port is one DPDK port and its role. Keys absent from the file take the
// defaults given here.
type Port struct {
	// Name is the port's unique name in logs, metrics and neighbor
	// entries: 1 to 15 characters from a-z, 0-9, _ and -.
	Name string `toml:"name"`
	// Role is RoleInside or RoleUplink. There is exactly one inside port
	// and at least one uplink.
	Role Role `toml:"role"`
	// Device is the DPDK device: a virtual device name ("net_af_packet0",
	// "net_tap0") or a PCI address ("0000:03:00.0").
	Device string `toml:"device"`
	// Devargs, for a net_* virtual device, makes the daemon create it with
	// --vdev=DEVICE,DEVARGS (see Config.EALArgs).
	Devargs string `toml:"devargs"`
	// Addresses are our own unicast addresses on this port, answered in
	// Neighbor Discovery.
	Addresses []netip.Addr `toml:"addresses"`
	// Prefix is an uplink's ISP-assigned prefix (required for uplinks,
	// refused on the inside port): packets whose source is under it leave
	// by this uplink, since ISPs filter foreign sources (RFC 2827).
	Prefix netip.Prefix `toml:"prefix"`
	// Prefixes are the site prefixes routed to the inside port (inside
	// only). Default: every uplink's prefix.
	Prefixes []netip.Prefix `toml:"prefixes"`
	// NextHop is an uplink's ISP router (required for uplinks), resolved by
	// Neighbor Discovery unless NextHopMAC is set.
	NextHop netip.Addr `toml:"next_hop"`
	// NextHopMAC, when not zero, is the next hop's static MAC.
	NextHopMAC MAC `toml:"next_hop_mac"`
	// MTU is the IP MTU, 1280 (RFC 8200 §5) to 9000. Default 1500.
	MTU int `toml:"mtu"`
	// RxDesc and TxDesc are the descriptors per rx and tx queue, powers of
	// two from 64 to 32768. Default 1024.
	RxDesc uint16 `toml:"rx_desc"`
	TxDesc uint16 `toml:"tx_desc"` // see RxDesc
	// Promiscuous puts the port in promiscuous mode. Default true. The
	// daemon takes only frames addressed to the port (its MAC, its
	// VirtualMAC while active, the multicast groups it listens to) either
	// way; this says only what the device hands it.
	Promiscuous *bool `toml:"promiscuous"`
	// MAC, when not zero, is set as the device's MAC at start: a unicast
	// address, usually locally administered (02:...). Default: the
	// device's own.
	MAC MAC `toml:"mac"`
	// VirtualMAC is the address the active box of an HA pair answers and
	// sends from on this port; both boxes are configured with the same
	// one, so that neighbours need not learn a new MAC at a takeover.
	// VRRP's IPv6 form 00:00:5e:00:02:XX (XX the VRID, 01 to ff) or a
	// locally administered unicast MAC. Needs [ha] enabled.
	VirtualMAC MAC `toml:"virtual_mac"`
	// Priority ranks an uplink in the Locator Preferences the site
	// announces to peers for its hosts' locators under Prefix (RFC 5533
	// §5.15.3, with DNS SRV's meaning): lower is preferred; contexts use
	// the best-ranked uplinks that work. 0 to 254. Default 1.
	Priority int `toml:"priority"`
	// Weight shares traffic among uplinks of the same priority (SRV
	// weight): with Shim.Spread, contexts are spread over them in
	// proportion. 0 to 255; 0 takes contexts only when no uplink of its
	// priority has weight. Default 1.
	Weight int `toml:"weight"`
	// Backup makes an uplink backup-only: announced with priority 255,
	// below every other, so contexts use it only while no other uplink
	// works. Default false.
	Backup bool `toml:"backup"`
}

// Shim holds the shim's fast-path settings.
type Shim struct {
	// Contexts is the context table's capacity, 1 to 16777216 (2^24).
	// Each context costs about 120 bytes in the fast path plus 8 per
	// worker for REAP feedback. Default 1048576.
	Contexts int `toml:"contexts"`
	// MSSClamp lowers the MSS option of TCP SYNs crossing the box so that
	// segments still fit the smallest uplink MTU once a context adds its
	// 8-byte header: Packet Too Big is often filtered on the way. Default
	// true.
	MSSClamp *bool `toml:"mss_clamp"`
	// EstablishAfter is the deferred-establishment threshold (the seed
	// draft's §6): a host pair without a context that sends this many
	// packets raises an establishment event. 0 (the default) never does.
	EstablishAfter uint32 `toml:"establish_after"`
	// EstablishPeers limits deferred establishment to peers whose ULID is
	// under one of these prefixes; empty: any peer.
	EstablishPeers []netip.Prefix `toml:"establish_peers"`
	// EstablishRate caps the handshakes deferred establishment starts per
	// second, so a host scanning the Internet cannot make the proxy flood
	// it with I1s. Default 1000.
	EstablishRate int `toml:"establish_rate"`
	// R1Rate caps the R1 messages that answer I1s (RFC 5533 §7.10), per
	// second over all sources, burst a tenth of it. An I1 carries no
	// proof of its source, so each unanswered one is dropped and counted
	// instead of making the box a reflector; a real initiator's
	// retransmission gets the next chance. Default 1000, establish_rate's:
	// the site answers as many handshakes as it may start.
	R1Rate int `toml:"r1_rate"`
	// R1RatePerPrefix caps the R1s to one source /64, ahead of R1Rate,
	// burst one second's worth: a flood from one /64 (or spoofing one
	// victim) spends its own share, not everyone's. Default 10; at most
	// R1Rate.
	R1RatePerPrefix int `toml:"r1_rate_per_prefix"`
	// SendTimeout is REAP's Send Timeout (RFC 5534 §7): how long a context
	// may send without hearing back before its locator pair is explored.
	// Default 15s, the RFC's; shorter values are announced to peers with
	// the Keepalive Timeout option. 1s to 10m.
	SendTimeout Duration `toml:"send_timeout"`
	// Failback is what a context does after REAP moved it off its
	// preferred pair (its ULIDs): FailbackReturn (default) tries the
	// preferred pair again once it has been off it for FailbackHold, and
	// every FailbackHold after that; FailbackStay keeps the working pair.
	Failback Failback `toml:"failback"`
	// FailbackHold is that hold time, 1s to 1h. Default 30s.
	FailbackHold Duration `toml:"failback_hold"`
	// Spread spreads established contexts over the working uplinks of the
	// best priority in proportion to their weights (the seed draft's load
	// sharing), each context moving to its pair only after a probe there
	// was answered. Default false: a context stays on its ULID's uplink
	// while that is among the best-ranked.
	Spread bool `toml:"spread"`
	// IdleTimeout removes a context that has carried neither data nor
	// control messages for this long (RFC 5533 §9), 10s to 24h. Default
	// 5m. Each end collects on its own; a packet after that brings R1bis
	// and recovery.
	IdleTimeout Duration `toml:"idle_timeout"`
	// ULPAdvice has the workers read TCP retransmissions on rewritten
	// contexts as negative advice from the upper layer (the seed draft's
	// §8.2): a context whose TCP retransmits while nothing came back for
	// ULPHold explores at once instead of after the Send Timeout. Default
	// true.
	ULPAdvice *bool `toml:"ulp_advice"`
	// ULPHold is how long nothing may have come back from the peer before
	// a retransmission starts an exploration, 10ms to 10s. Default 200ms,
	// the lowest retransmission timeout Linux uses.
	ULPHold Duration `toml:"ulp_hold"`
}

// ULPAdviceOn reports whether TCP retransmissions count as negative
// advice (the default).
func (s *Shim) ULPAdviceOn() bool { return s.ULPAdvice == nil || *s.ULPAdvice }

// Context is a static host-pair context: the fast path rewrites between its
// ULIDs and locators from the start, without signalling. For benchmarks,
// tests and peers configured by hand.
type Context struct {
	// LocalULID is the inside host's address (under a site prefix).
	LocalULID netip.Addr `toml:"local_ulid"`
	// PeerULID is the remote host's address.
	PeerULID netip.Addr `toml:"peer_ulid"`
	// LocalLocator is the locator packets leave from; the uplink whose
	// prefix holds it carries them. Default: LocalULID.
	LocalLocator netip.Addr `toml:"local_locator"`
	// PeerLocator is the locator packets go to. Default: PeerULID.
	PeerLocator netip.Addr `toml:"peer_locator"`
	// LocalTag is our receiver context tag (47 bits, not 0): its low bits
	// pick the table slot, so two contexts' tags must differ there.
	LocalTag uint64 `toml:"local_tag"`
	// PeerTag is the peer's receiver context tag (47 bits, not 0).
	PeerTag uint64 `toml:"peer_tag"`
}

// HBASet is one inside host's Hash-Based Address set (RFC 5535): its
// addresses under the site's prefixes, bound together by one CGA Parameter
// Data Structure with the Multi-Prefix extension. The host uses one of the
// addresses as its ULID; the proxy announces all of them as its locators.
// `shim6ctl hba generate --toml` writes these tables.
type HBASet struct {
	// Prefixes are the /64s of the set, in the Multi-Prefix extension's
	// order.
	Prefixes []netip.Prefix `toml:"prefixes"`
	// Parameters is the CGA Parameters structure, hex.
	Parameters string `toml:"parameters"`
	// Addresses are the set's addresses, Addresses[i] under Prefixes[i].
	Addresses []netip.Addr `toml:"addresses"`
	// Key is the PEM file of the set's RSA private key (a CGA-compatible
	// set, RFC 5535 §4: `shim6ctl hba generate --key`), relative to the
	// configuration file's directory unless absolute. It signs the host's
	// Locator Lists when they carry CGALocators (RFC 5533 §5.15.5).
	Key string `toml:"key"`
	// CGALocators are more locators of the host outside the HBA set (a
	// prefix added after the set was made), each under an uplink's prefix:
	// announced with verification method CGA and covered by a CGA
	// Signature with Key (RFC 3972 §6), which peers check. Needs Key.
	CGALocators []netip.Addr `toml:"cga_locators"`

	// Params is Parameters parsed, and PrivateKey the private key read
	// from Key (nil without a key). Validation fills them in as it checks
	// Parameters and Key (Load, Parse and Validate), so that the daemon uses
	// what was checked instead of parsing and reading the file again.
	Params     *hba.Parameters `toml:"-"`
	PrivateKey *rsa.PrivateKey `toml:"-"`
}

// File resolves a file name written in the configuration: relative names
// are relative to the configuration file's directory.
func (c *Config) File(name string) string {
	if name == "" || filepath.IsAbs(name) || c.Source == "" {
		return name
	}
	return filepath.Join(filepath.Dir(c.Source), name)
}

// MSSClampOn reports whether MSS clamping is on (the default).
func (s *Shim) MSSClampOn() bool { return s.MSSClamp == nil || *s.MSSClamp }

// Neighbor is a static neighbor entry: Neighbor Discovery never changes it.
type Neighbor struct {
	// Port is the name of the port the neighbor is on.
	Port string `toml:"port"`
	// Address is the neighbor's IPv6 address.
	Address netip.Addr `toml:"address"`
	// MAC is the neighbor's unicast MAC.
	MAC MAC `toml:"mac"`
}

// Load reads the configuration file at path, decodes it, applies the
// defaults and validates it. Every error is an *Error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error() // the path is already the Error's File
		}
		return nil, &Error{File: path, Msg: "cannot read the configuration: " + msg, Err: err}
	}
	return Parse(path, data)
}

// Parse is Load for a configuration already in memory; name is the file name
// used in messages and Config.Source.
func Parse(name string, data []byte) (*Config, error) {
	cfg, raw, pos, err := decode(name, string(data))
	if err != nil {
		return nil, err
	}
	cfg.applyDefaults(raw)
	if err := cfg.validate(pos); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Default returns the embedded lab configuration (configs/lab.toml), parsed.
// It panics only if the embedded file is broken, which the package's tests
// rule out.
func Default() *Config {
	cfg, err := Parse("lab.toml", labTOML)
	if err != nil {
		panic("configs: embedded lab.toml: " + err.Error())
	}
	return cfg
}

// Inside returns the inside port, or nil if there is none (Validate refuses
// such a configuration).
func (c *Config) Inside() *Port {
	for i := range c.Ports {
		if c.Ports[i].Role == RoleInside {
			return &c.Ports[i]
		}
	}
	return nil
}

// Uplinks returns the uplink ports in configuration order.
func (c *Config) Uplinks() []*Port {
	var ups []*Port
	for i := range c.Ports {
		if c.Ports[i].Role == RoleUplink {
			ups = append(ups, &c.Ports[i])
		}
	}
	return ups
}

// PortIndex returns the index in Ports of the port called name, or -1. The
// index is the port's number on the data path.
func (c *Config) PortIndex(name string) int {
	for i := range c.Ports {
		if c.Ports[i].Name == name {
			return i
		}
	}
	return -1
}

// BackupPriority is the priority a backup uplink announces: the last rank.
const BackupPriority = 255

// AnnouncedPriority is the priority peers are told for the uplink's
// locators: BackupPriority for a backup uplink, Priority otherwise.
func (p *Port) AnnouncedPriority() uint8 {
	if p.Backup {
		return BackupPriority
	}
	return uint8(p.Priority)
}

// IsPromiscuous reports whether the port is to be put in promiscuous mode:
// Promiscuous, or true when it is unset.
func (p *Port) IsPromiscuous() bool { return p.Promiscuous == nil || *p.Promiscuous }
