package control

import (
	"time"

	"shim6d/dataplane/header"
	"shim6d/ports"
)

// echoReply answers an Echo Request to one of our unicast addresses in
// place (RFC 4443 §4.2), rate-limited like every message the core
// originates, and reports whether it took the packet over.
func (c *Core) echoReply(p *ports.Packet, port int, ip header.IPv6, icmp header.ICMPv6, now time.Time) bool {
	if ip.Dst()[0] == 0xff || !c.echo.Take(now) {
		c.Stats.ICMPRateLimited.Add(1)
		return false
	}
	// Swap addresses and MACs, change the type.
	s, d := *ip.Src(), *ip.Dst()
	ip.SetSrc(&d)
	ip.SetDst(&s)
	ip.SetHopLimit(errorHopLimit)
	icmp.SetType(header.ICMPv6EchoReply)
	icmp.SetChecksum(icmp.CalculateChecksum(ip.Src(), ip.Dst()))
	eth := header.Ethernet(p.Frame())
	es, ed := *eth.Src(), *eth.Dst()
	eth.SetAddresses(&es, &ed)
	c.Stats.EchoReplies.Add(1)
	c.send(port, *p)
	return true
}
