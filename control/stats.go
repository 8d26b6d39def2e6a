package control

import "sync/atomic"

// Stats are the control core's counters. The core is their only writer;
// they are atomics so the exporters may read them from other goroutines.
// Each counter's metric name and help text are in counterInfo.
type Stats struct {
	ControlPackets atomic.Uint64 // dequeued from the control ring
	NSReceived     atomic.Uint64
	NASent         atomic.Uint64
	NSSent         atomic.Uint64
	NAReceived     atomic.Uint64
	NDProxied      atomic.Uint64 // NS on an uplink for a site address, answered as the site's edge
	EchoReplies    atomic.Uint64
	TimeExceeded   atomic.Uint64
	PacketTooBig   atomic.Uint64
	// AddressUnreachable counts ICMPv6 Destination Unreachable (Address
	// Unreachable) errors for packets whose neighbour never answered.
	AddressUnreachable atomic.Uint64
	ICMPRateLimited    atomic.Uint64
	// ICMPRateLimitedPrefix counts the part of ICMPRateLimited that the
	// source /64's bucket refused (errors out the uplinks).
	ICMPRateLimitedPrefix atomic.Uint64
	Unhandled             atomic.Uint64 // control packets the core had no use for
	Malformed             atomic.Uint64 // ND/ICMPv6 that failed validation
	NDQueueDrops          atomic.Uint64 // packets dropped waiting for resolution
	NDTableFull           atomic.Uint64 // resolutions refused: too many incomplete entries
	TxDrops               atomic.Uint64
	AllocFailures         atomic.Uint64
	Publishes             atomic.Uint64
	EstablishEvents       atomic.Uint64 // deferred-establishment triggers from the workers
	UnknownTagEvent       atomic.Uint64 // payload packets with unknown tags (R1bis candidates)
	ICMPTranslated        atomic.Uint64 // ICMPv6 errors whose quoted packet was mapped back to ULIDs
	SignalReceived        atomic.Uint64 // Shim6 control messages from the uplinks
	SignalSent            atomic.Uint64 // Shim6 control messages sent
	SignalDrops           atomic.Uint64 // control messages not sent: no uplink for the source, unresolved next hop, encoding
	EstablishSkip         atomic.Uint64 // establish events refused by the policy (peer not listed, rate)
	Switches              atomic.Uint64 // contexts moved to another locator pair by REAP
	UplinkDowns           atomic.Uint64 // uplinks found unusable (link or next hop down): explorations started
	FailbackTries         atomic.Uint64 // explorations started to return to a preferred pair
	PolicyMoves           atomic.Uint64 // explorations started by the site policy (spreading, a change, a broken pair)
	InitialSwitches       atomic.Uint64 // contexts established over a pair other than their ULIDs (seed §8.4)
	// HARoleChanges counts the box's changes of HA role (role.go);
	// HAAnnouncements the unsolicited Neighbor Advertisements it sent as
	// the active box; HASuppressed the packets it built while not active
	// and did not send.
	HARoleChanges   atomic.Uint64
	HAAnnouncements atomic.Uint64
	HASuppressed    atomic.Uint64
	// CapturePackets and CaptureOverflow are written by the running
	// capture (capture.go), not the core: packets written to capture
	// files, and packets a capture selected that found its ring full.
	CapturePackets  atomic.Uint64
	CaptureOverflow atomic.Uint64
	// NeighborEntries is the neighbour table's size (a gauge).
	NeighborEntries atomic.Int64
}

// counterInfo is every counter's metric name (under shim6d_control_events_total's
// event label, and an admin JSON key), help text and field, in the order
// Each lists them. The names never change. A counter field of Stats left
// out of it fails TestEachListsEveryCounter.
var counterInfo = [...]struct {
	name, help string
	field      func(*Stats) *atomic.Uint64
}{
	{"control_packets", "packets dequeued from the control ring",
		func(s *Stats) *atomic.Uint64 { return &s.ControlPackets }},
	{"ns_received", "Neighbor Solicitations received",
		func(s *Stats) *atomic.Uint64 { return &s.NSReceived }},
	{"na_sent", "Neighbor Advertisements sent",
		func(s *Stats) *atomic.Uint64 { return &s.NASent }},
	{"ns_sent", "Neighbor Solicitations sent",
		func(s *Stats) *atomic.Uint64 { return &s.NSSent }},
	{"na_received", "Neighbor Advertisements received",
		func(s *Stats) *atomic.Uint64 { return &s.NAReceived }},
	{"echo_replies", "ICMPv6 echo replies sent",
		func(s *Stats) *atomic.Uint64 { return &s.EchoReplies }},
	{"time_exceeded", "ICMPv6 Time Exceeded errors sent",
		func(s *Stats) *atomic.Uint64 { return &s.TimeExceeded }},
	{"packet_too_big", "ICMPv6 Packet Too Big errors sent",
		func(s *Stats) *atomic.Uint64 { return &s.PacketTooBig }},
	{"address_unreachable", "ICMPv6 Destination Unreachable (address unreachable) errors sent for packets whose neighbor resolution failed",
		func(s *Stats) *atomic.Uint64 { return &s.AddressUnreachable }},
	{"icmp_rate_limited", "ICMPv6 messages suppressed by the rate limit",
		func(s *Stats) *atomic.Uint64 { return &s.ICMPRateLimited }},
	{"icmp_rate_limited_prefix", "ICMPv6 errors toward the uplinks suppressed by their source /64's share of the rate limit (part of icmp_rate_limited)",
		func(s *Stats) *atomic.Uint64 { return &s.ICMPRateLimitedPrefix }},
	{"unhandled", "control packets the core had no use for",
		func(s *Stats) *atomic.Uint64 { return &s.Unhandled }},
	{"malformed", "ND or ICMPv6 messages that failed validation",
		func(s *Stats) *atomic.Uint64 { return &s.Malformed }},
	{"nd_proxied", "Neighbor Solicitations on an uplink for a site address, answered as the site's edge",
		func(s *Stats) *atomic.Uint64 { return &s.NDProxied }},
	{"nd_queue_drops", "packets dropped while waiting for neighbor resolution",
		func(s *Stats) *atomic.Uint64 { return &s.NDQueueDrops }},
	{"nd_table_full", "resolutions refused because the neighbor table was full",
		func(s *Stats) *atomic.Uint64 { return &s.NDTableFull }},
	{"tx_drops", "packets the control core's tx queues did not take",
		func(s *Stats) *atomic.Uint64 { return &s.TxDrops }},
	{"alloc_failures", "packet buffer allocation failures",
		func(s *Stats) *atomic.Uint64 { return &s.AllocFailures }},
	{"publishes", "forwarding snapshots published",
		func(s *Stats) *atomic.Uint64 { return &s.Publishes }},
	{"establish_events", "deferred-establishment triggers from the workers",
		func(s *Stats) *atomic.Uint64 { return &s.EstablishEvents }},
	{"unknown_tag_events", "payload packets with unknown context tags reported by the workers",
		func(s *Stats) *atomic.Uint64 { return &s.UnknownTagEvent }},
	{"icmp_translated", "ICMPv6 errors quoting a rewritten packet, mapped back to ULIDs",
		func(s *Stats) *atomic.Uint64 { return &s.ICMPTranslated }},
	{"signal_received", "Shim6 control messages received on the uplinks",
		func(s *Stats) *atomic.Uint64 { return &s.SignalReceived }},
	{"signal_sent", "Shim6 control messages sent",
		func(s *Stats) *atomic.Uint64 { return &s.SignalSent }},
	{"signal_drops", "Shim6 control messages that could not be sent",
		func(s *Stats) *atomic.Uint64 { return &s.SignalDrops }},
	{"establish_skipped", "establish events the policy refused (peer not listed, rate cap)",
		func(s *Stats) *atomic.Uint64 { return &s.EstablishSkip }},
	{"failovers", "contexts moved to another locator pair by REAP (RFC 5534)",
		func(s *Stats) *atomic.Uint64 { return &s.Switches }},
	{"uplink_downs", "uplinks found unusable (link down or next hop unreachable), explorations started at once",
		func(s *Stats) *atomic.Uint64 { return &s.UplinkDowns }},
	{"failback_tries", "explorations started to return a context to its preferred pair",
		func(s *Stats) *atomic.Uint64 { return &s.FailbackTries }},
	{"policy_moves", "explorations started to move a context to the pair the site policy prefers (spreading, an uplink change)",
		func(s *Stats) *atomic.Uint64 { return &s.PolicyMoves }},
	{"initial_switches", "contexts established over another locator pair than their ULIDs (the ULID pair failed from the start)",
		func(s *Stats) *atomic.Uint64 { return &s.InitialSwitches }},
	{"ha_role_changes", "changes of the box's HA role",
		func(s *Stats) *atomic.Uint64 { return &s.HARoleChanges }},
	{"ha_announcements", "unsolicited Neighbor Advertisements sent as the active box of an HA pair: on becoming active, then every [ha] announce_refresh",
		func(s *Stats) *atomic.Uint64 { return &s.HAAnnouncements }},
	{"ha_suppressed", "packets the control core built while not the active box and did not send",
		func(s *Stats) *atomic.Uint64 { return &s.HASuppressed }},
	{"capture_packets", "packets written to live captures (shim6ctl capture)",
		func(s *Stats) *atomic.Uint64 { return &s.CapturePackets }},
	{"capture_overflow", "packets a live capture selected that found its ring full and were not captured (forwarding went on)",
		func(s *Stats) *atomic.Uint64 { return &s.CaptureOverflow }},
}

// Each calls f with every counter's metric name, help and value, so the
// exporters (Prometheus, admin API) list them without knowing the fields.
func (s *Stats) Each(f func(name, help string, v uint64)) {
	for i := range counterInfo {
		c := &counterInfo[i]
		f(c.name, c.help, c.field(s).Load())
	}
}
