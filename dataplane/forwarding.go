package dataplane

import (
	"encoding/binary"
	"net/netip"
)

// Role is what a port is to the site.
type Role uint8

const (
	// RoleInside faces the site's hosts.
	RoleInside Role = iota
	// RoleUplink faces one ISP.
	RoleUplink
)

func (r Role) String() string {
	if r == RoleInside {
		return "inside"
	}
	return "uplink"
}

// Prefix is an IPv6 prefix in the form the fast path compares: the address as
// two big-endian halves and a mask for each, so Contains is two ANDs and two
// compares.
type Prefix struct {
	hi, lo         uint64
	maskHi, maskLo uint64
	bits           uint8
}

// MakePrefix converts a netip.Prefix (which must be IPv6).
func MakePrefix(p netip.Prefix) Prefix {
	a := p.Masked().Addr().As16()
	bits := p.Bits()
	var mh, ml uint64
	switch {
	case bits >= 128:
		mh, ml = ^uint64(0), ^uint64(0)
	case bits > 64:
		mh, ml = ^uint64(0), ^uint64(0)<<(128-bits)
	case bits > 0:
		mh = ^uint64(0) << (64 - bits)
	}
	return Prefix{
		hi: binary.BigEndian.Uint64(a[:8]), lo: binary.BigEndian.Uint64(a[8:]),
		maskHi: mh, maskLo: ml, bits: uint8(bits),
	}
}

// Contains reports whether a is under the prefix.
func (p *Prefix) Contains(a *[16]byte) bool {
	return binary.BigEndian.Uint64(a[:8])&p.maskHi == p.hi &&
		binary.BigEndian.Uint64(a[8:])&p.maskLo == p.lo
}

// Netip converts back, for tools and logs.
func (p *Prefix) Netip() netip.Prefix {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], p.hi)
	binary.BigEndian.PutUint64(a[8:], p.lo)
	return netip.PrefixFrom(netip.AddrFrom16(a), int(p.bits))
}

// PortInfo is what the fast path needs to know about a port.
type PortInfo struct {
	Role Role
	// MAC is the port's own address: frames to it are taken, and frames
	// leave from it unless Virtual is set.
	MAC [6]byte
	// Virtual, when not zero, is the HA pair's virtual MAC, set only
	// while this box is active: frames to it are taken too, and frames
	// leave from it, so that neighbours keep one MAC across a takeover.
	Virtual [6]byte
	// MTU is the largest IPv6 packet (without Ethernet) the port sends.
	MTU int
	// Solicited holds the low 24 bits of each address the port answers
	// Neighbor Solicitations for: its solicited-node groups'
	// 33:33:ff:xx:xx:xx MACs (RFC 4291 §2.7.1, RFC 2464 §7).
	Solicited []uint32
	// AnySolicited takes every solicited-node group: an uplink proxies
	// ND for every address under the site's prefixes (RFC 4389).
	AnySolicited bool
}

// SourceMAC is the MAC frames leave the port from.
func (p *PortInfo) SourceMAC() [6]byte {
	if p.Virtual != ([6]byte{}) {
		return p.Virtual
	}
	return p.MAC
}

// Multicast MACs the ports take (RFC 2464 §7: 33:33 and the group's low
// 32 bits): all-nodes ff02::1, and the solicited-node groups' prefix
// ff02::1:ffxx:xxxx. Not all-routers: shim6d sends no Router
// Advertisements, so a Router Solicitation has no one to answer it.
var (
	macAllNodes        = [6]byte{0x33, 0x33, 0, 0, 0, 1}
	macSolicitedPrefix = [3]byte{0x33, 0x33, 0xff}
)

// Accepts reports whether port takes a frame to the destination MAC dst:
// the port's MAC, its virtual MAC while active, all-nodes, or one of its
// solicited-node groups. Everything else (another station's unicast, a
// group it did not join, broadcast, which IPv6 does not use) is what a
// NIC out of promiscuous mode would not have delivered.
func (f *Forwarding) Accepts(port uint16, dst *[6]byte) bool {
	if int(port) >= len(f.Ports) {
		return false
	}
	pi := &f.Ports[port]
	if dst[0]&1 == 0 {
		return *dst == pi.MAC || *dst == pi.Virtual && pi.Virtual != [6]byte{}
	}
	if *dst == macAllNodes {
		return true
	}
	if [3]byte(dst[:3]) != macSolicitedPrefix {
		return false
	}
	if pi.AnySolicited {
		return true
	}
	low := uint32(dst[3])<<16 | uint32(dst[4])<<8 | uint32(dst[5])
	for _, s := range pi.Solicited {
		if s == low {
			return true
		}
	}
	return false
}

// SolicitedLow is the low 24 bits of a, which name its solicited-node
// group, for PortInfo.Solicited.
func SolicitedLow(a netip.Addr) uint32 {
	b := a.As16()
	return uint32(b[13])<<16 | uint32(b[14])<<8 | uint32(b[15])
}

// Uplink is one ISP attachment: the sources it carries and where it sends.
type Uplink struct {
	Prefix Prefix
	Port   uint16
	// NextHopMAC is valid when Resolved; until then packets go to the
	// control core, which resolves the next hop by ND.
	NextHopMAC [6]byte
	Resolved   bool
}

// Forwarding is an immutable snapshot of everything a worker needs to
// forward: ports, routes, own addresses and inside neighbours. The control
// core builds a new one on every change and publishes it with an atomic
// pointer swap; workers load the pointer once per burst. The garbage
// collector keeps an old snapshot alive while a worker still uses it, which
// is the grace period a C implementation would need RCU for.
type Forwarding struct {
	// Standby is set while this box is the standby (or faulty) one of an
	// HA pair: workers drop everything their ports receive.
	Standby bool
	Ports   []PortInfo
	Inside  uint16
	// Site lists the prefixes routed to the inside port.
	Site    []Prefix
	Uplinks []Uplink
	// Local holds our own unicast addresses on every port (link-locals
	// included), as [2]uint64 so the usual miss costs one compare per entry.
	// They are few; a linear scan beats hashing here.
	Local [][2]uint64
	// localBloom has bit lo&63 set for the low word lo of every local
	// address, so most packets (not for us) leave IsLocal after one AND.
	localBloom uint64
	// Neighbors maps inside destinations to their MACs.
	Neighbors map[[16]byte][6]byte
}

// AddLocal adds one of our own addresses.
func (f *Forwarding) AddLocal(a netip.Addr) {
	k := AddrKey(a)
	f.Local = append(f.Local, k)
	f.localBloom |= 1 << (k[1] & 63)
}

// IsLocal reports whether a is one of our own addresses.
func (f *Forwarding) IsLocal(a *[16]byte) bool {
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	if f.localBloom&(1<<(lo&63)) == 0 {
		return false
	}
	for _, l := range f.Local {
		if l[1] == lo && l[0] == hi {
			return true
		}
	}
	return false
}

// InSite reports whether a is under one of the site's prefixes.
func (f *Forwarding) InSite(a *[16]byte) bool {
	for i := range f.Site {
		if f.Site[i].Contains(a) {
			return true
		}
	}
	return false
}

// UplinkFor returns the uplink whose prefix holds the source address src,
// or nil.
func (f *Forwarding) UplinkFor(src *[16]byte) *Uplink {
	for i := range f.Uplinks {
		if f.Uplinks[i].Prefix.Contains(src) {
			return &f.Uplinks[i]
		}
	}
	return nil
}

// UplinkOnPort returns the uplink on port, or nil.
func (f *Forwarding) UplinkOnPort(port uint16) *Uplink {
	for i := range f.Uplinks {
		if f.Uplinks[i].Port == port {
			return &f.Uplinks[i]
		}
	}
	return nil
}

// AddrKey converts an address to the form Local holds.
func AddrKey(a netip.Addr) [2]uint64 {
	b := a.As16()
	return [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}
