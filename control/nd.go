package control

import (
	"fmt"
	"net/netip"
	"time"

	"shim6d/dataplane/header"
	"shim6d/ports"
)

// Neighbor Discovery constants (RFC 4861 §10).
const (
	retransTimer        = time.Second
	maxMulticastSolicit = 3
	maxUnicastSolicit   = 3
	// maxQueued is how many packets wait for one resolution (RFC 4861
	// §7.2.2 asks for at least one; Linux keeps three).
	maxQueued = 3
	// maxIncomplete caps unresolved entries: packets from the Internet to
	// random addresses in the site's prefixes would otherwise fill the table
	// (RFC 6583, ND cache exhaustion).
	maxIncomplete = 1024
	// maxNeighbors caps the entries of one port.
	maxNeighbors = 65536
	// ndTick is how often the table's timers are looked at.
	ndTick = 100 * time.Millisecond
)

// ndState is a neighbour cache entry's state (RFC 4861 §7.3.2), without
// DELAY: the workers do not report use, so a stale entry is probed at once.
type ndState uint8

const (
	ndIncomplete ndState = iota // resolution in progress, no MAC yet
	ndReachable                 // confirmed within the reachable time
	ndStale                     // not confirmed lately; usable, probe next
	ndProbe                     // unicast NS sent to confirm; usable
	ndStatic                    // from config; never changes
)

func (s ndState) String() string {
	return [...]string{"INCOMPLETE", "REACHABLE", "STALE", "PROBE", "STATIC"}[s]
}

type neighbor struct {
	mac       [6]byte
	state     ndState
	probes    int
	next      time.Time // when the next timer action is due
	confirmed time.Time
	// pinned entries are next hops: they are never deleted, and resolution
	// is retried for ever.
	pinned bool
	queue  [maxQueued]ports.Packet
	nq     int
}

func (e *neighbor) usable() bool { return e.state != ndIncomplete }

type ndTable struct {
	ports      []map[netip.Addr]*neighbor
	incomplete int
	nextTick   time.Time
}

func (t *ndTable) init(nports int) {
	t.ports = make([]map[netip.Addr]*neighbor, nports)
	for i := range t.ports {
		t.ports[i] = map[netip.Addr]*neighbor{}
	}
}

// Len is the number of entries on every port.
func (t *ndTable) Len() int {
	n := 0
	for _, m := range t.ports {
		n += len(m)
	}
	return n
}

func (t *ndTable) setStatic(port int, a netip.Addr, mac [6]byte) {
	t.ports[port][a] = &neighbor{mac: mac, state: ndStatic, pinned: true}
}

// want makes sure resolution of a on port is under way and returns the
// entry, or nil when the table is full.
func (t *ndTable) want(port int, a netip.Addr, now time.Time, pinned bool) *neighbor {
	if e := t.ports[port][a]; e != nil {
		e.pinned = e.pinned || pinned
		return e
	}
	if !pinned && (t.incomplete >= maxIncomplete || len(t.ports[port]) >= maxNeighbors) {
		return nil
	}
	e := &neighbor{state: ndIncomplete, pinned: pinned, next: now}
	t.ports[port][a] = e
	t.incomplete++
	t.nextTick = time.Time{} // solicit now, not at the next tick
	return e
}

// timers runs the entries' state machines; it sends solicitations through c.
func (t *ndTable) timers(c *Core, now time.Time) {
	if now.Before(t.nextTick) {
		return
	}
	t.nextTick = now.Add(ndTick)
	for port, m := range t.ports {
		for a, e := range m {
			if e.state == ndStatic || now.Before(e.next) {
				continue
			}
			switch e.state {
			case ndIncomplete:
				if e.probes >= maxMulticastSolicit {
					// Resolution has failed (RFC 4861 §7.2.2): what waited
					// for it gets Destination Unreachable and is dropped. A
					// next hop is solicited for ever, but nothing waits on
					// it longer than one more retransmission: late packets
					// are worse than lost ones to the transports.
					c.unreachable(e, now)
					if !e.pinned {
						delete(m, a)
						t.incomplete--
						continue
					}
				}
				if e.probes == maxMulticastSolicit {
					c.cfg.Log.Warn("next hop does not answer Neighbor Solicitations; still trying",
						"port", c.cfg.Setup[port].Name, "address", a)
				}
				c.sendNS(port, a, nil)
				e.probes++
				e.next = now.Add(retransTimer)
			case ndReachable:
				e.state = ndStale
				e.next = now
			case ndStale:
				e.state, e.probes = ndProbe, 0
				fallthrough
			case ndProbe:
				if e.probes >= maxUnicastSolicit {
					// Lost: a next hop goes back to resolving, and the
					// workers stop using it; others are forgotten.
					c.dirty = true
					if e.pinned {
						e.state, e.probes, e.next = ndIncomplete, 0, now
						t.incomplete++
						c.cfg.Log.Warn("neighbor unreachable", "port", c.cfg.Setup[port].Name, "address", a)
					} else {
						delete(m, a)
					}
					continue
				}
				mac := e.mac
				c.sendNS(port, a, &mac)
				e.probes++
				e.next = now.Add(retransTimer)
			}
		}
	}
}

// hurry makes every entry's next timer action due now: a box that became
// active resolves at once what its standby time left unresolved (its
// solicitations were never sent).
func (t *ndTable) hurry(now time.Time) {
	for _, m := range t.ports {
		for _, e := range m {
			if e.state == ndIncomplete {
				e.next, e.probes = now, 0
			}
		}
	}
	t.nextTick = time.Time{}
}

// learn records that a is at mac on port. confirmed is true for a solicited
// NA (reachability confirmed), false for what an NS's source link-layer
// option or an unsolicited NA says (RFC 4861 §7.2.3, §7.2.5).
func (c *Core) learn(port int, a netip.Addr, mac [6]byte, confirmed, override bool, create bool, now time.Time) {
	t := &c.nd
	e := t.ports[port][a]
	if e == nil {
		if !create || len(t.ports[port]) >= maxNeighbors {
			return
		}
		e = &neighbor{state: ndIncomplete}
		t.ports[port][a] = e
		t.incomplete++
	}
	if e.state == ndStatic {
		return
	}
	if e.state == ndIncomplete {
		t.incomplete--
		e.mac = mac
		c.dirty = true
		e.state = ndStale
	} else if e.mac != mac {
		if !override {
			// An NA without O for a known entry with another MAC does not
			// update it, solicited or not; a REACHABLE entry goes STALE,
			// so NUD asks the MAC it has (RFC 4861 §7.2.5). Else any host
			// on the link could take over a neighbour's address.
			if e.state == ndReachable {
				e.state, e.next = ndStale, now
			}
			return
		}
		e.mac = mac
		c.dirty = true
		e.state = ndStale
	}
	if confirmed {
		e.state = ndReachable
		e.confirmed = now
		e.probes = 0
		e.next = now.Add(c.cfg.Reachable)
	} else if e.state == ndStale {
		e.next = now.Add(c.cfg.Reachable)
	}
	c.releaseQueue(port, e)
}

// enqueue holds p until its next hop on port resolves. The oldest packet
// makes room when the queue is full.
func (c *Core) enqueue(port int, a netip.Addr, p *ports.Packet, now time.Time) bool {
	e := c.nd.want(port, a, now, false)
	if e == nil {
		c.Stats.NDTableFull.Add(1)
		return false
	}
	if e.usable() {
		// Resolved since the worker looked; the snapshot will follow.
		e.queue[0] = *p
		e.nq = 1
		c.releaseQueue(port, e)
		return true
	}
	if e.nq == maxQueued {
		c.Stats.NDQueueDrops.Add(1)
		c.free(&e.queue[0])
		copy(e.queue[:], e.queue[1:])
		e.nq--
	}
	e.queue[e.nq] = *p
	e.nq++
	return true
}

func (c *Core) releaseQueue(port int, e *neighbor) {
	for i := 0; i < e.nq; i++ {
		p := e.queue[i]
		if c.forwardResolved(&p, port, e.mac) {
			c.send(port, p)
		} else {
			c.free(&p)
		}
	}
	e.nq = 0
}

// unreachable answers every packet waiting on e with ICMPv6 Destination
// Unreachable, code 3 (Address Unreachable), and drops them (RFC 4861
// §7.2.2; RFC 4443 §3.1). The errors are rate-limited as all are.
func (c *Core) unreachable(e *neighbor, now time.Time) {
	for i := 0; i < e.nq; i++ {
		p := &e.queue[i]
		if int(p.Port) < len(c.cfg.Ports) {
			c.sendError(p, int(p.Port), header.ICMPv6DestinationUnreachable, icmpAddressUnreachable, 0, now)
		}
	}
	c.dropQueue(e)
}

// icmpAddressUnreachable is Destination Unreachable's code 3 (RFC 4443 §3.1).
const icmpAddressUnreachable = 3

func (c *Core) dropQueue(e *neighbor) {
	c.Stats.NDQueueDrops.Add(uint64(e.nq))
	for i := 0; i < e.nq; i++ {
		c.free(&e.queue[i])
	}
	e.nq = 0
}

// NeighborInfo is one neighbour entry, for the admin API.
type NeighborInfo struct {
	Port    string        `json:"port"`
	Address netip.Addr    `json:"address"`
	MAC     string        `json:"mac"`
	State   string        `json:"state"`
	Age     time.Duration `json:"age_ns"`
	Queued  int           `json:"queued"`
}

// Neighbors lists the neighbour table. Call it through Query.
func (c *Core) Neighbors() []NeighborInfo {
	now := c.cfg.Now()
	var out []NeighborInfo
	for port, m := range c.nd.ports {
		for a, e := range m {
			ni := NeighborInfo{Port: c.cfg.Setup[port].Name, Address: a, State: e.state.String(), Queued: e.nq}
			if e.usable() {
				ni.MAC = macString(e.mac)
			}
			if !e.confirmed.IsZero() {
				ni.Age = now.Sub(e.confirmed)
			}
			out = append(out, ni)
		}
	}
	return out
}

// NeighborCount is the number of neighbour entries; safe from any
// goroutine only through Query.
func (c *Core) NeighborCount() int { return c.nd.Len() }

// sendNS sends a Neighbor Solicitation for target: to its solicited-node
// group, or unicast to mac when probing a known entry.
func (c *Core) sendNS(port int, target netip.Addr, mac *[6]byte) {
	t := target.As16()
	group := header.SolicitedNodeMulticast(&t)
	dst, dmac := netip.AddrFrom16(group), header.MulticastEthernetAddress(&group)
	if mac != nil {
		dst, dmac = target, *mac
	}
	p, ip, icmp, ok := c.newICMP(port, dmac, c.sourceFor(port, target), dst, ndHopLimit, ndMessageSize)
	if !ok {
		return
	}
	icmp.SetType(header.ICMPv6NeighborSolicitation)
	ns := header.NeighborSolicitation(icmp)
	ns.SetTargetAddress(&t)
	own := c.srcMAC(port)
	header.PutLinkLayerAddressOption(ns.Options(), header.NDOptionSourceLinkLayerAddress, &own)
	icmp.SetChecksum(icmp.CalculateChecksum(ip.Src(), ip.Dst()))
	c.Stats.NSSent.Add(1)
	c.send(port, p)
}

// sendNA answers for target, one of our addresses on port.
func (c *Core) sendNA(port int, target, dst netip.Addr, dmac [6]byte, solicited, proxy bool) {
	p, ip, icmp, ok := c.newICMP(port, dmac, target, dst, ndHopLimit, ndMessageSize)
	if !ok {
		return
	}
	icmp.SetType(header.ICMPv6NeighborAdvertisement)
	na := header.NeighborAdvertisement(icmp)
	// A proxy's answer does not override an entry the owner itself
	// advertised (RFC 4861 §7.2.8).
	na.SetFlags(true, solicited, !proxy)
	t := target.As16()
	na.SetTargetAddress(&t)
	own := c.srcMAC(port)
	header.PutLinkLayerAddressOption(na.Options(), header.NDOptionTargetLinkLayerAddress, &own)
	icmp.SetChecksum(icmp.CalculateChecksum(ip.Src(), ip.Dst()))
	c.Stats.NASent.Add(1)
	c.send(port, p)
}

// linkLocalFromMAC is the modified EUI-64 link-local address (RFC 4291
// Appendix A) a port answers for.
func linkLocalFromMAC(m [6]byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]})
}

// handleNS answers a Neighbor Solicitation for one of our addresses on
// port, or for a site address the uplink proxies (RFC 4861 §7.2.3, RFC
// 4389), and learns the solicitor's MAC.
func (c *Core) handleNS(p *ports.Packet, port int, ip header.IPv6, icmp header.ICMPv6, now time.Time) {
	ns := header.NeighborSolicitation(icmp)
	if ip.HopLimit() != ndHopLimit || icmp.Code() != 0 || !ns.IsValid() {
		c.Stats.Malformed.Add(1)
		return
	}
	slla, _, ok := ns.Options().LinkLayerAddresses()
	if !ok {
		c.Stats.Malformed.Add(1)
		return
	}
	c.Stats.NSReceived.Add(1)
	src := netip.AddrFrom16(*ip.Src())
	target := netip.AddrFrom16(*ns.TargetAddress())
	proxy := false
	if !c.ownsOnPort(port, target) {
		if proxy = c.proxiesOnPort(port, target); !proxy {
			c.Stats.Unhandled.Add(1)
			return
		}
		c.Stats.NDProxied.Add(1)
	}
	if src.IsUnspecified() {
		// Duplicate Address Detection: answer to all-nodes, unsolicited.
		c.sendNA(port, target, netip.IPv6LinkLocalAllNodes(), [6]byte{0x33, 0x33, 0, 0, 0, 1}, false, proxy)
		return
	}
	replyMAC := *header.Ethernet(p.Frame()).Src()
	if slla != nil {
		replyMAC = *slla
		c.learn(port, src, replyMAC, false, true, true, now)
	}
	c.sendNA(port, target, src, replyMAC, true, proxy)
}

// handleNA learns from a Neighbor Advertisement (RFC 4861 §7.2.5).
func (c *Core) handleNA(p *ports.Packet, port int, ip header.IPv6, icmp header.ICMPv6, now time.Time) {
	na := header.NeighborAdvertisement(icmp)
	if ip.HopLimit() != ndHopLimit || icmp.Code() != 0 || !na.IsValid() {
		c.Stats.Malformed.Add(1)
		return
	}
	_, tlla, ok := na.Options().LinkLayerAddresses()
	if !ok {
		c.Stats.Malformed.Add(1)
		return
	}
	c.Stats.NAReceived.Add(1)
	mac := *header.Ethernet(p.Frame()).Src()
	if tlla != nil {
		mac = *tlla
	}
	c.learn(port, netip.AddrFrom16(*na.TargetAddress()), mac, na.Solicited(), na.Override(), false, now)
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}
