package dataplane

import (
	"sync/atomic"

	"shim6d/ports"
)

// DropReason says why the fast path dropped a packet. Every drop has one,
// and every reason has a counter and a line of help for the operator.
type DropReason uint8

// Drop reasons. Keep dropInfo in the same order.
const (
	DropNone DropReason = iota
	// DropTruncatedEthernet: the frame is shorter than an Ethernet header.
	DropTruncatedEthernet
	// DropNotIPv6: the EtherType is not IPv6 (IPv4, ARP, VLAN tags...).
	DropNotIPv6
	// DropTruncatedIPv6: the frame ends inside the IPv6 fixed header.
	DropTruncatedIPv6
	// DropBadVersion: the IP version field is not 6.
	DropBadVersion
	// DropBadLength: the IPv6 payload length runs past the frame.
	DropBadLength
	// DropMulticast: a multicast packet that is not for the control core;
	// shim6d is not a multicast router.
	DropMulticast
	// DropLinkLocal: a link-local source or destination must not be forwarded
	// (RFC 4291 §2.5.6).
	DropLinkLocal
	// DropSourceNotInSite: from inside, the source is under no uplink's
	// prefix, so no ISP would accept it (BCP 38).
	DropSourceNotInSite
	// DropNotForSite: from an uplink, the destination is not one of the
	// site's prefixes; shim6d is not a transit router.
	DropNotForSite
	// DropHairpin: from inside, to an inside destination; hosts on the same
	// link talk directly.
	DropHairpin
	// DropControlRingFull: the control ring had no room.
	DropControlRingFull
	// DropTxFull: the egress port's tx queue did not take the packet.
	DropTxFull
	// DropBadExtensions: the extension-header chain is malformed (runs past
	// the packet, too long, hop-by-hop not first).
	DropBadExtensions
	// DropUnknownTag: a Shim6 payload packet whose receiver context tag
	// names no context (RFC 5533 §7.17: the control core may send R1bis).
	DropUnknownTag
	// DropNoHeadroom: no room in front of the packet for the 8-byte Shim6
	// payload header.
	DropNoHeadroom
	// DropShimRewrite: the payload header could not be inserted or
	// stripped (packet already shimmed, payload length overflow, bad
	// payload header).
	DropShimRewrite
	// DropNotForUs: the frame's destination MAC is not the port's, nor
	// its virtual MAC while active, nor a multicast group it listens to:
	// a switch's unknown-unicast flood or another box's traffic on a
	// shared segment, which a NIC out of promiscuous mode would not have
	// delivered.
	DropNotForUs
	// DropHAStandby: the box is the standby (or faulty) one of an HA
	// pair, which takes nothing from its data ports.
	DropHAStandby
	numDropReasons
)

var dropInfo = [numDropReasons]struct{ name, help string }{
	DropNone:              {"none", "not a drop"},
	DropTruncatedEthernet: {"truncated_ethernet", "frame shorter than an Ethernet header"},
	DropNotIPv6:           {"not_ipv6", "EtherType is not IPv6"},
	DropTruncatedIPv6:     {"truncated_ipv6", "frame ends inside the IPv6 header"},
	DropBadVersion:        {"bad_version", "IP version field is not 6"},
	DropBadLength:         {"bad_length", "IPv6 payload length runs past the frame"},
	DropMulticast:         {"multicast", "multicast packet not for the control core (not a multicast router)"},
	DropLinkLocal:         {"link_local", "link-local source or destination may not be forwarded"},
	DropSourceNotInSite:   {"source_not_in_site", "from inside with a source under no uplink prefix"},
	DropNotForSite:        {"not_for_site", "from an uplink to a destination outside the site prefixes"},
	DropHairpin:           {"hairpin", "from inside to an inside destination"},
	DropControlRingFull:   {"control_ring_full", "control ring had no room"},
	DropTxFull:            {"tx_full", "egress tx queue did not take the packet"},
	DropBadExtensions:     {"bad_extensions", "malformed IPv6 extension-header chain"},
	DropUnknownTag:        {"unknown_tag", "Shim6 payload packet with an unknown receiver context tag"},
	DropNoHeadroom:        {"no_headroom", "no headroom for the Shim6 payload header"},
	DropShimRewrite:       {"shim_rewrite", "Shim6 payload header could not be inserted or stripped"},
	DropNotForUs:          {"not_for_us", "destination MAC is not the port's, its virtual MAC while active, or a group it listens to"},
	DropHAStandby:         {"ha_standby", "received while this box is the standby (or faulty) one of an HA pair"},
}

// String returns the reason's metric label.
func (r DropReason) String() string {
	if r < numDropReasons {
		return dropInfo[r].name
	}
	return "unknown"
}

// Help returns a sentence for the operator.
func (r DropReason) Help() string {
	if r < numDropReasons {
		return dropInfo[r].help
	}
	return ""
}

// DropReasons lists every real reason (without DropNone), for exporters.
func DropReasons() []DropReason {
	rs := make([]DropReason, 0, numDropReasons-1)
	for r := DropNone + 1; r < numDropReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// MaxPorts bounds the ports one daemon drives; per-port arrays are sized by it.
const MaxPorts = ports.MaxPorts

// Counter indexes a worker's counters.
type Counter int

// Worker counters. Per-port and per-reason counters follow these in the
// array; use PortCounter and DropCounter for their indices.
const (
	CounterPolls Counter = iota
	CounterIdlePolls
	CounterRxPackets
	CounterTxPackets
	CounterToControl
	// CounterRewritten counts outbound packets given locators and a Shim6
	// payload header.
	CounterRewritten
	// CounterStripped counts inbound payload packets restored to ULIDs.
	CounterStripped
	// CounterMSSClamped counts TCP SYNs whose MSS option was lowered.
	CounterMSSClamped
	// CounterEvents counts events handed to the control core.
	CounterEvents
	// CounterSlowPath counts packets the fast paths left to route, the
	// general path: extension headers, ICMPv6, SYNs to clamp, packets for
	// the control core, drops. A rising share of it says traffic is not
	// getting the fast path's speed.
	CounterSlowPath
	numScalarCounters
)

// Per-port counter kinds.
const (
	PortRxPackets = iota
	PortRxBytes
	PortTxPackets
	PortTxBytes
	PortDrops
	numPortCounters
)

const numCounters = int(numScalarCounters) + int(numDropReasons) + MaxPorts*numPortCounters

// DropCounter is the counter index of drops for reason r.
func DropCounter(r DropReason) Counter { return numScalarCounters + Counter(r) }

// PortCounter is the counter index of kind k (PortRxPackets...) for port.
func PortCounter(port int, k int) Counter {
	return numScalarCounters + Counter(numDropReasons) + Counter(port*numPortCounters+k)
}

// Counters are one worker's counters. The worker increments plain integers
// and publishes them with atomic stores every few bursts and whenever it
// goes idle, so the hot path does no locked instructions and readers (the
// metrics collector) never race. The struct is padded so two workers'
// published counters never share a cache line.
type Counters struct {
	local [numCounters]uint64
	_     [64]byte
	pub   [numCounters]atomic.Uint64
	_     [64]byte
}

// publish copies the local counters to the published ones.
func (c *Counters) publish() {
	for i := range c.local {
		if c.pub[i].Load() != c.local[i] {
			c.pub[i].Store(c.local[i])
		}
	}
}

// Load returns the published value of counter i. Safe from any goroutine.
func (c *Counters) Load(i Counter) uint64 { return c.pub[i].Load() }
