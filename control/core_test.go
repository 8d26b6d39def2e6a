package control

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"shim6d/control/wire"
	"shim6d/dataplane"
	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// Short names for pkttest's addressing plan.
var (
	macInside, macUplink, macHost, macRouter     = pkttest.MACInside, pkttest.MACUplink, pkttest.MACHost, pkttest.MACNextHop
	hostAddr, remoteAddr, insideAddr, uplinkAddr = pkttest.HostAddr, pkttest.RemoteAddr, pkttest.InsideAddr, pkttest.UplinkAddr
	routerAddr                                   = pkttest.NextHop
)

type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time          { return f.t }
func (f *fakeClock) advance(d time.Duration) { f.t = f.t.Add(d) }

type bed struct {
	inside, uplink *mem.Port
	ring           *mem.Ring
	fwd            atomic.Pointer[dataplane.Forwarding]
	core           *Core
	clock          *fakeClock
}

func newBed(t *testing.T) *bed { return newBedWith(t, nil) }

// newBedWith is newBed with its core's configuration changed by edit (when
// not nil) before the core is made.
func newBedWith(t *testing.T, edit func(c *Config)) *bed {
	pool := mem.NewPool(128, mem.DefaultBufSize)
	b := &bed{
		inside: mem.NewPort(mem.Config{Name: "inside", Index: 0, MAC: macInside, Pool: pool, TxQueues: 2}),
		uplink: mem.NewPort(mem.Config{Name: "isp1", Index: 1, MAC: macUplink, Pool: pool, TxQueues: 2}),
		ring:   mem.NewRing(64),
		clock:  &fakeClock{t: time.Unix(1000, 0)},
	}
	cfg := Config{
		Ports: []ports.Port{b.inside, b.uplink},
		Setup: []PortSetup{
			{Name: "inside", Role: dataplane.RoleInside, Addresses: []netip.Addr{insideAddr},
				Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/48")}, MTU: 1500},
			{Name: "isp1", Role: dataplane.RoleUplink, Addresses: []netip.Addr{uplinkAddr},
				Prefix: netip.MustParsePrefix("2001:db8:1::/48"), NextHop: routerAddr, MTU: 1500},
		},
		TxQueue: 1, Ring: b.ring, Fwd: &b.fwd, ICMPRate: 100, Now: b.clock.now,
		Log: slog.New(slog.DiscardHandler),
	}
	if edit != nil {
		edit(&cfg)
	}
	b.core = mustNew(t, cfg)
	return b
}

// mustNew is New for tests that expect no error.
func mustNew(t testing.TB, cfg Config) *Core {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// toCore puts frame on the control ring as if a worker received it on port.
func (b *bed) toCore(t *testing.T, port int, frame []byte) {
	t.Helper()
	src := []*mem.Port{b.inside, b.uplink}[port]
	src.Inject(0, frame)
	var p [1]ports.Packet
	if src.RxBurst(0, p[:]) != 1 || b.ring.MpEnqueueBurst(p[:]) != 1 {
		t.Fatal("could not hand the frame to the core")
	}
}

func ipv6Frame(dmac, smac [6]byte, src, dst netip.Addr, nh, hop byte, payload []byte) []byte {
	f := make([]byte, 14+40+len(payload))
	eth := header.Ethernet(f)
	eth.SetAddresses(&dmac, &smac)
	eth.SetEtherType(header.EtherTypeIPv6)
	s, d := src.As16(), dst.As16()
	header.IPv6(f[14:]).Encode(uint16(len(payload)), nh, hop, &s, &d)
	copy(f[54:], payload)
	return f
}

func icmpFrame(dmac, smac [6]byte, src, dst netip.Addr, hop byte, icmp []byte) []byte {
	f := ipv6Frame(dmac, smac, src, dst, header.ProtoICMPv6, hop, icmp)
	ip := header.IPv6(f[14:])
	m := header.ICMPv6(ip[40:])
	m.SetChecksum(m.CalculateChecksum(ip.Src(), ip.Dst()))
	return f
}

func ns(target netip.Addr, slla [6]byte) []byte {
	m := make([]byte, 32)
	m[0] = header.ICMPv6NeighborSolicitation
	t := target.As16()
	copy(m[8:], t[:])
	m[24], m[25] = 1, 1
	copy(m[26:], slla[:])
	return m
}

func na(target netip.Addr, tlla [6]byte, flags byte) []byte {
	m := make([]byte, 32)
	m[0], m[4] = header.ICMPv6NeighborAdvertisement, flags
	t := target.As16()
	copy(m[8:], t[:])
	m[24], m[25] = 2, 1
	copy(m[26:], tlla[:])
	return m
}

func TestStartupResolvesNextHop(t *testing.T) {
	b := newBed(t)
	if f := b.fwd.Load(); f.Uplinks[0].Resolved {
		t.Fatal("next hop resolved before any NA")
	}
	b.core.Poll()
	sent := b.uplink.Sent(1)
	if len(sent) != 1 {
		t.Fatalf("want one NS on the uplink, got %d", len(sent))
	}
	ip := header.IPv6(sent[0][14:])
	if got := netip.AddrFrom16(*ip.Dst()); got != solicitedNode(routerAddr) || ip.HopLimit() != 255 || ip[40] != header.ICMPv6NeighborSolicitation {
		t.Fatalf("NS to %v hop %d type %d", got, ip.HopLimit(), ip[40])
	}
	if !header.ICMPv6(ip[40:]).IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Fatal("NS checksum does not verify")
	}
	// Retransmitted after RetransTimer, not before.
	b.clock.advance(500 * time.Millisecond)
	b.core.Poll()
	if n := len(b.uplink.Sent(1)); n != 0 {
		t.Fatalf("NS retransmitted after 0.5 s (%d)", n)
	}
	b.clock.advance(600 * time.Millisecond)
	b.core.Poll()
	if n := len(b.uplink.Sent(1)); n != 1 {
		t.Fatalf("no NS retransmission after 1.1 s (%d)", n)
	}
	b.toCore(t, 1, icmpFrame(macUplink, macRouter, routerAddr, uplinkAddr, 255, na(routerAddr, macRouter, naFlagSolicited|naFlagRouter)))
	b.core.Poll()
	f := b.fwd.Load()
	if !f.Uplinks[0].Resolved || f.Uplinks[0].NextHopMAC != macRouter {
		t.Fatalf("uplink after NA = %+v", f.Uplinks[0])
	}
}

func TestAnswersNSForOwnAddress(t *testing.T) {
	b := newBed(t)
	b.core.Poll()
	b.uplink.Sent(1)
	b.toCore(t, 0, icmpFrame(multicastMAC(solicitedNode(insideAddr)), macHost, hostAddr, solicitedNode(insideAddr), 255, ns(insideAddr, macHost)))
	b.core.Poll()
	sent := b.inside.Sent(1)
	if len(sent) != 1 {
		t.Fatalf("want one NA, got %d", len(sent))
	}
	eth := header.Ethernet(sent[0])
	ip := header.IPv6(sent[0][14:])
	icmp := ip[40:]
	if *eth.Dst() != macHost || *eth.Src() != macInside || icmp[0] != header.ICMPv6NeighborAdvertisement ||
		icmp[4] != naFlagRouter|naFlagSolicited|naFlagOverride ||
		netip.AddrFrom16(*ip.Src()) != insideAddr || netip.AddrFrom16(*ip.Dst()) != hostAddr ||
		[6]byte(icmp[26:32]) != macInside || !header.ICMPv6(icmp).IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Fatalf("bad NA % x", sent[0])
	}
	// The NS's source link-layer option taught us the host.
	if f := b.fwd.Load(); f.Neighbors[hostAddr.As16()] != macHost {
		t.Fatal("host not learned from its NS")
	}
	// An NS for someone else's address is not answered, nor one with a
	// hop limit below 255.
	b.toCore(t, 0, icmpFrame(macInside, macHost, hostAddr, solicitedNode(remoteAddr), 255, ns(remoteAddr, macHost)))
	b.toCore(t, 0, icmpFrame(macInside, macHost, hostAddr, insideAddr, 254, ns(insideAddr, macHost)))
	b.core.Poll()
	if n := len(b.inside.Sent(1)); n != 0 {
		t.Fatalf("answered %d bad NS", n)
	}
	if b.core.Stats.Malformed.Load() != 1 {
		t.Fatalf("malformed = %d, want 1", b.core.Stats.Malformed.Load())
	}
}

// An ISP router resolving a site address on the uplink (it treats the
// site's prefix as on-link) gets the box's MAC, as from the site's edge,
// without the Override flag (RFC 4861 §7.2.8). Not on the inside port,
// where the host answers for itself, and not for foreign addresses.
func TestProxyNDOnUplink(t *testing.T) {
	b := newBed(t)
	b.core.Poll()
	b.uplink.Sent(1)
	b.toCore(t, 1, icmpFrame(multicastMAC(solicitedNode(hostAddr)), macRouter, routerAddr, solicitedNode(hostAddr), 255, ns(hostAddr, macRouter)))
	b.core.Poll()
	sent := b.uplink.Sent(1)
	if len(sent) != 1 {
		t.Fatalf("want one NA on the uplink, got %d", len(sent))
	}
	ip := header.IPv6(sent[0][14:])
	icmp := ip[40:]
	if icmp[0] != header.ICMPv6NeighborAdvertisement || icmp[4] != naFlagRouter|naFlagSolicited ||
		[16]byte(icmp[8:24]) != hostAddr.As16() || [6]byte(icmp[26:32]) != macUplink ||
		netip.AddrFrom16(*ip.Dst()) != routerAddr || !header.ICMPv6(icmp).IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Fatalf("bad proxy NA % x", sent[0])
	}
	if b.core.Stats.NDProxied.Load() != 1 {
		t.Fatal("proxy answer not counted")
	}
	b.toCore(t, 1, icmpFrame(multicastMAC(solicitedNode(remoteAddr)), macRouter, routerAddr, solicitedNode(remoteAddr), 255, ns(remoteAddr, macRouter)))
	b.toCore(t, 0, icmpFrame(multicastMAC(solicitedNode(hostAddr)), macHost, insideAddr, solicitedNode(hostAddr), 255, ns(hostAddr, macHost)))
	b.core.Poll()
	if n := len(b.uplink.Sent(1)) + len(b.inside.Sent(1)); n != 0 {
		t.Fatalf("answered %d NS that are not the edge's to answer", n)
	}
}

func TestEchoReply(t *testing.T) {
	b := newBed(t)
	echo := []byte{header.ICMPv6EchoRequest, 0, 0, 0, 0x12, 0x34, 0, 1, 'h', 'i'}
	b.toCore(t, 0, icmpFrame(macInside, macHost, hostAddr, insideAddr, 64, echo))
	b.core.Poll()
	sent := b.inside.Sent(1)
	if len(sent) != 1 {
		t.Fatalf("want one echo reply, got %d", len(sent))
	}
	ip := header.IPv6(sent[0][14:])
	if ip[40] != header.ICMPv6EchoReply || netip.AddrFrom16(*ip.Dst()) != hostAddr || string(ip[48:]) != "hi" || !header.ICMPv6(ip[40:]).IsChecksumValid(ip.Src(), ip.Dst()) {
		t.Fatalf("bad echo reply % x", sent[0])
	}
}

func TestTimeExceededAndPacketTooBig(t *testing.T) {
	b := newBed(t)
	udp := make([]byte, 8+1500)
	big := ipv6Frame(macInside, macHost, hostAddr, remoteAddr, header.ProtoUDP, 64, udp)
	b.toCore(t, 0, ipv6Frame(macInside, macHost, hostAddr, remoteAddr, header.ProtoUDP, 1, udp[:16]))
	b.toCore(t, 0, big)
	b.core.Poll()
	sent := b.inside.Sent(1)
	if len(sent) != 2 {
		t.Fatalf("want 2 ICMPv6 errors, got %d", len(sent))
	}
	for i, want := range []struct {
		typ   byte
		param uint32
		quote int
	}{{header.ICMPv6TimeExceeded, 0, 40 + 16}, {header.ICMPv6PacketTooBig, 1500, 1280 - 48}} {
		ip := header.IPv6(sent[i][14:])
		icmp := ip[40:]
		if icmp[0] != want.typ || binary.BigEndian.Uint32(icmp[4:]) != want.param || len(icmp)-8 != want.quote ||
			netip.AddrFrom16(*ip.Dst()) != hostAddr || netip.AddrFrom16(*ip.Src()) != insideAddr ||
			*header.Ethernet(sent[i]).Dst() != macHost || !header.ICMPv6(icmp).IsChecksumValid(ip.Src(), ip.Dst()) || 40+len(icmp) > 1280 {
			t.Fatalf("error %d: type %d param %d quote %d", i, icmp[0], binary.BigEndian.Uint32(icmp[4:]), len(icmp)-8)
		}
	}
}

func TestICMPErrorsAreRateLimited(t *testing.T) {
	b := newBed(t) // 100/s: a burst of 10
	expired := ipv6Frame(macInside, macHost, hostAddr, remoteAddr, header.ProtoUDP, 1, make([]byte, 8))
	for round := 0; round < 2; round++ {
		for i := 0; i < 20; i++ {
			b.toCore(t, 0, expired)
			if i%8 == 7 {
				b.core.Poll()
			}
		}
		b.core.Poll()
		if n := len(b.inside.Sent(1)); n != 10 {
			t.Fatalf("round %d: %d errors sent, want the burst of 10", round, n)
		}
		b.clock.advance(time.Second)
	}
	if got := b.core.Stats.ICMPRateLimited.Load(); got != 20 {
		t.Fatalf("rate-limited = %d, want 20", got)
	}
	// No error about an error.
	te := ipv6Frame(macInside, macHost, hostAddr, remoteAddr, header.ProtoICMPv6, 1, []byte{header.ICMPv6TimeExceeded, 0, 0, 0, 0, 0, 0, 0})
	b.toCore(t, 0, te)
	b.core.Poll()
	if n := len(b.inside.Sent(1)); n != 0 {
		t.Fatalf("sent %d errors about an ICMPv6 error", n)
	}
}

func TestResolutionQueuesAndReleases(t *testing.T) {
	b := newBed(t)
	b.core.Poll()
	b.uplink.Sent(1)
	// A packet for an unknown inside host waits for ND; four of them keep
	// the newest three.
	for i := 0; i < 4; i++ {
		b.toCore(t, 1, ipv6Frame(macUplink, macRouter, remoteAddr, hostAddr, header.ProtoUDP, byte(10+i), make([]byte, 8)))
	}
	b.core.Poll()
	sent := b.inside.Sent(1)
	if len(sent) != 1 || header.IPv6(sent[0][14:])[40] != header.ICMPv6NeighborSolicitation {
		t.Fatalf("want one NS for the host, got %d frames", len(sent))
	}
	if b.core.Stats.NDQueueDrops.Load() != 1 {
		t.Fatalf("queue drops = %d, want 1", b.core.Stats.NDQueueDrops.Load())
	}
	b.toCore(t, 0, icmpFrame(macInside, macHost, hostAddr, insideAddr, 255, na(hostAddr, macHost, naFlagSolicited|naFlagOverride)))
	b.core.Poll()
	sent = b.inside.Sent(1)
	if len(sent) != 3 {
		t.Fatalf("released %d packets, want 3", len(sent))
	}
	for i, f := range sent {
		if *header.Ethernet(f).Dst() != macHost || header.IPv6(f[14:]).HopLimit() != byte(10+i) {
			t.Fatalf("released packet %d: dst %x hop %d", i, *header.Ethernet(f).Dst(), header.IPv6(f[14:]).HopLimit())
		}
	}
	if f := b.fwd.Load(); f.Neighbors[hostAddr.As16()] != macHost {
		t.Fatal("resolved host not published")
	}
	// Unanswered resolution gives up after three solicitations.
	other := netip.MustParseAddr("2001:db8:1::77")
	b.toCore(t, 1, ipv6Frame(macUplink, macRouter, remoteAddr, other, header.ProtoUDP, 64, make([]byte, 8)))
	for i := 0; i < 5; i++ {
		b.core.Poll()
		b.clock.advance(1100 * time.Millisecond)
	}
	b.core.Poll()
	if n := len(b.inside.Sent(1)); n != 3 {
		t.Fatalf("%d NS for an absent host, want 3", n)
	}
	var left int
	for _, n := range b.core.Neighbors() {
		if n.Address == other {
			left++
		}
	}
	// The sender hears of it (RFC 4861 §7.2.2): Address Unreachable,
	// quoting its packet, back the way it came.
	checkUnreachable(t, b.uplink.Sent(1), macRouter, remoteAddr, other)
	if left != 0 || b.inside.Pool().Avail() != 128 {
		t.Fatalf("absent host still in table (%d) or buffers leaked (%d free)", left, b.inside.Pool().Avail())
	}
	if n := b.core.Stats.AddressUnreachable.Load(); n != 1 {
		t.Fatalf("address_unreachable = %d, want 1", n)
	}
}

// checkUnreachable wants sent to hold, among NS and the like, exactly one
// ICMPv6 Destination Unreachable, code 3, to dst at dmac, quoting a packet
// for target.
func checkUnreachable(t *testing.T, sent [][]byte, dmac [6]byte, dst, target netip.Addr) {
	t.Helper()
	n := 0
	for _, f := range sent {
		ip := header.IPv6(f[14:])
		if ip.NextHeader() != header.ProtoICMPv6 || ip[40] != header.ICMPv6DestinationUnreachable {
			continue
		}
		n++
		quoted := header.IPv6(ip[48:])
		if *header.Ethernet(f).Dst() != dmac || netip.AddrFrom16(*ip.Dst()) != dst || ip[41] != 3 ||
			netip.AddrFrom16(*quoted.Dst()) != target || !header.ICMPv6(ip[40:]).IsChecksumValid(ip.Src(), ip.Dst()) {
			t.Fatalf("bad Destination Unreachable % x", f)
		}
	}
	if n != 1 {
		t.Fatalf("%d Destination Unreachable errors, want 1", n)
	}
}

// TestNextHopFailureReleasesQueue: the uplink's next hop never answers.
// It is solicited for ever, but a packet waiting on it is answered with
// Address Unreachable and freed once resolution has failed, not held
// until the router comes back.
func TestNextHopFailureReleasesQueue(t *testing.T) {
	b := newBed(t)
	b.core.Poll()
	b.toCore(t, 0, ipv6Frame(macInside, macHost, hostAddr, remoteAddr, header.ProtoUDP, 64, make([]byte, 8)))
	var inside, uplink [][]byte
	for i := 0; i < 5; i++ {
		b.core.Poll()
		inside = append(inside, b.inside.Sent(1)...)
		uplink = append(uplink, b.uplink.Sent(1)...)
		b.clock.advance(1100 * time.Millisecond)
	}
	checkUnreachable(t, inside, macHost, hostAddr, remoteAddr)
	if b.inside.Pool().Avail() != 128 {
		t.Fatalf("%d buffers held", 128-b.inside.Pool().Avail())
	}
	if len(uplink) < 4 {
		t.Fatalf("%d NS for the next hop in 5 s; it must be solicited on", len(uplink))
	}
}

// NA flags (RFC 4861 §4.4).
const (
	naFlagRouter    = 0x80
	naFlagSolicited = 0x40
	naFlagOverride  = 0x20
)

func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16(header.SolicitedNodeMulticast(&b))
}

func multicastMAC(a netip.Addr) [6]byte {
	b := a.As16()
	return header.MulticastEthernetAddress(&b)
}

// TestICMPErrorQuotingRewrittenPacket: a router on the path answers a
// packet this box rewrote (locators, payload header with the peer's tag)
// with Packet Too Big. The host must get the error as if there were no
// shim (RFC 5533 §8, Figure 9): to its ULID, quoting its own packet with
// ULIDs and without the payload header, and an MTU 8 octets lower.
func TestICMPErrorQuotingRewrittenPacket(t *testing.T) {
	b, hostLoc, peerLoc, peerULID, router := rewritingBed(t)
	udp := pkttest.UDP(macRouter, macUplink, hostLoc, peerLoc, 63, header.ProtoShim6, pkttest.ShimPayload(header.ProtoUDP, 0x2002), "data", hostAddr, peerULID)
	sent := udp[14:] // what we sent, as the router quotes it
	ptb := append([]byte{header.ICMPv6PacketTooBig, 0, 0, 0, 0, 0, 0x05, 0x00}, sent...)
	b.toCore(t, 1, icmpFrame(macUplink, macRouter, router, hostLoc, 60, ptb))
	b.core.Poll()
	got := b.inside.SentAll()
	if len(got) != 1 {
		t.Fatalf("want the translated error inside, got %d frames", len(got))
	}
	// Expected, written out: the host's own datagram as it sent it.
	orig := pkttest.UDP(macRouter, macUplink, hostAddr, peerULID, 63, header.ProtoUDP, nil, "data", hostAddr, peerULID)[14:]
	wantICMP := append([]byte{header.ICMPv6PacketTooBig, 0, 0, 0, 0, 0, 0x04, 0xf8}, orig...)
	want := icmpFrame(macHost, macInside, router, hostAddr, 59, wantICMP)
	if !bytes.Equal(got[0], want) {
		t.Fatalf("translated error\n got %x\nwant %x", got[0], want)
	}
	if b.core.Stats.ICMPTranslated.Load() != 1 {
		t.Fatal("translation not counted")
	}
	// An error quoting a packet of no context passes untranslated (it is
	// for a locator no host has, so it goes nowhere).
	other := append([]byte{header.ICMPv6PacketTooBig, 0, 0, 0, 0, 0, 0x05, 0x00}, sent...)
	other[8+40+7] ^= 1 // another tag
	b.toCore(t, 1, icmpFrame(macUplink, macRouter, router, hostLoc, 60, other))
	b.core.Poll()
	if b.core.Stats.ICMPTranslated.Load() != 1 {
		t.Fatal("error for an unknown context was translated")
	}
}

// rewritingBed is a bed whose host has a context on a locator pair, with
// the host and the uplink's router resolved.
func rewritingBed(t *testing.T) (b *bed, hostLoc, peerLoc, peerULID, router netip.Addr) {
	b = newBed(t)
	tbl, _ := dataplane.NewContextTable(64)
	b.core.cfg.Contexts = tbl
	peerULID = netip.MustParseAddr("2001:db8:3::20")
	hostLoc = netip.MustParseAddr("2001:db8:1::99")
	peerLoc = netip.MustParseAddr("2001:db8:4::20")
	router = netip.MustParseAddr("2001:db8:77::1")
	if _, _, err := b.core.AddContext(dataplane.ContextSpec{PeerTag: 0x2002, ULIDLocal: hostAddr.As16(), ULIDPeer: peerULID.As16(),
		LocLocal: hostLoc.As16(), LocPeer: peerLoc.As16(), EgressPort: 1}); err != nil {
		t.Fatal(err)
	}
	b.core.Poll()
	b.toCore(t, 0, icmpFrame(macInside, macHost, hostAddr, insideAddr, 255, ns(insideAddr, macHost)))
	b.core.Poll()
	b.inside.SentAll()
	b.uplink.SentAll()
	return b, hostLoc, peerLoc, peerULID, router
}

// TestICMPErrorTranslationDetails: the parts of an error that point into
// the quote follow it when the payload header leaves (RFC 5533 §8, found
// in review): Parameter Problem's Pointer past the payload header goes
// down by 8, RFC 4884's Length of the quote down by one unit; an error
// about the shim's own headers, or one whose checksum is wrong, is not
// translated.
func TestICMPErrorTranslationDetails(t *testing.T) {
	b, hostLoc, peerLoc, peerULID, router := rewritingBed(t)
	sent := pkttest.UDP(macRouter, macUplink, hostLoc, peerLoc, 63, header.ProtoShim6, pkttest.ShimPayload(header.ProtoUDP, 0x2002), "data", hostAddr, peerULID)[14:]
	for _, tc := range []struct {
		name      string
		head      []byte // type, code, and the 32-bit field
		corrupt   bool
		translate bool
		wantField []byte
	}{
		{"pointer into the UDP header", []byte{header.ICMPv6ParameterProblem, 0, 0, 0, 0, 0, 0, 50}, false, true, []byte{0, 0, 0, 42}},
		{"pointer at the Next Header that says Shim6", []byte{header.ICMPv6ParameterProblem, 1, 0, 0, 0, 0, 0, 6}, false, false, nil},
		{"pointer into the payload header", []byte{header.ICMPv6ParameterProblem, 0, 0, 0, 0, 0, 0, 41}, false, false, nil},
		{"RFC 4884 length", []byte{header.ICMPv6TimeExceeded, 0, 0, 0, 8, 0, 0, 0}, false, true, []byte{7, 0, 0, 0}},
		{"bad checksum", []byte{header.ICMPv6TimeExceeded, 0, 0, 0, 0, 0, 0, 0}, true, false, nil},
	} {
		before := b.core.Stats.ICMPTranslated.Load()
		quote := sent
		if tc.head[0] == header.ICMPv6TimeExceeded && tc.head[4] != 0 {
			quote = append(append([]byte(nil), sent...), make([]byte, int(tc.head[4])*8-len(sent))...)
		}
		f := icmpFrame(macUplink, macRouter, router, hostLoc, 60, append(append([]byte(nil), tc.head...), quote...))
		if tc.corrupt {
			f[14+40+2] ^= 0xff
		}
		b.toCore(t, 1, f)
		b.core.Poll()
		got := b.inside.SentAll()
		translated := b.core.Stats.ICMPTranslated.Load() != before
		if translated != tc.translate {
			t.Fatalf("%s: translated %v, want %v", tc.name, translated, tc.translate)
		}
		if !tc.translate {
			continue
		}
		if len(got) != 1 {
			t.Fatalf("%s: %d frames inside", tc.name, len(got))
		}
		ip := header.IPv6(got[0][14:])
		if icmp := header.ICMPv6(ip[40:]); !bytes.Equal(icmp[4:8], tc.wantField) || !icmp.IsChecksumValid(ip.Src(), ip.Dst()) {
			t.Fatalf("%s: field % x, want % x", tc.name, icmp[4:8], tc.wantField)
		}
	}
}

// TestShortNDIsMalformed: an NS or NA shorter than its fixed part, with a
// valid checksum, from anywhere on the Internet, is counted as malformed
// (RFC 4861 §7.1.1: 24 octets or more), not read past its end (a review
// found the options sliced before the length was checked: a panic that
// ended the daemon).
func TestShortNDIsMalformed(t *testing.T) {
	b := newBed(t)
	b.core.Poll()
	b.uplink.Sent(1)
	for _, m := range [][]byte{
		{header.ICMPv6NeighborSolicitation, 0, 0, 0, 0, 0, 0, 0},
		{header.ICMPv6NeighborAdvertisement, 0, 0, 0, 0x60, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8},
	} {
		b.toCore(t, 1, icmpFrame(macUplink, macRouter, remoteAddr, uplinkAddr, 255, m))
	}
	b.core.Poll()
	if n := b.core.Stats.Malformed.Load(); n != 2 {
		t.Fatalf("malformed = %d, want 2", n)
	}
	if n := len(b.uplink.Sent(1)); n != 0 {
		t.Fatalf("%d answers to short ND messages", n)
	}
}

// TestNoErrorForAnError: an ICMPv6 error gets no error back, even behind
// extension headers (RFC 4443 §2.4(e.1); a review found the check looked
// only at the fixed header's Next Header), while an echo request behind
// the same header still does.
func TestNoErrorForAnError(t *testing.T) {
	b := newBed(t)
	for _, tc := range []struct {
		icmp []byte
		want int
	}{
		{[]byte{header.ICMPv6DestinationUnreachable, 3, 0, 0, 0, 0, 0, 0}, 0},
		{[]byte{header.ICMPv6EchoRequest, 0, 0, 0, 0, 1, 0, 1}, 1},
	} {
		// Destination Options (PadN) before the ICMPv6 message.
		payload := append([]byte{header.ProtoICMPv6, 0, 1, 4, 0, 0, 0, 0}, tc.icmp...)
		b.toCore(t, 0, ipv6Frame(macInside, macHost, hostAddr, remoteAddr, header.ProtoDestOpts, 1, payload))
		b.core.Poll()
		if got := len(b.inside.Sent(1)); got != tc.want {
			t.Fatalf("type %d behind Destination Options at hop limit 1: %d errors, want %d", tc.icmp[0], got, tc.want)
		}
	}
}

// TestControlMessageBehindFragmentOrAH: a Shim6 control message from an
// uplink is the core's however its chain looks. Behind AH it reaches the
// signalling; in a (first, here atomic) fragment, which is not
// reassembled, it is dropped and counted. Neither goes inside (a review
// found both routed to the inside host as ordinary packets).
func TestControlMessageBehindFragmentOrAH(t *testing.T) {
	b := newBed(t)
	b.core.Poll()
	b.uplink.Sent(1)
	msg, err := wire.Marshal(&wire.I1{InitiatorContextTag: 7, InitiatorNonce: 9})
	if err != nil {
		t.Fatal(err)
	}
	frag := append([]byte{header.ProtoShim6, 0, 0, 0, 0, 0, 0, 1}, msg...)
	ah := append([]byte{header.ProtoShim6, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, msg...)
	b.toCore(t, 1, ipv6Frame(macUplink, macRouter, remoteAddr, hostAddr, header.ProtoFragment, 64, frag))
	b.toCore(t, 1, ipv6Frame(macUplink, macRouter, remoteAddr, hostAddr, header.ProtoAH, 64, ah))
	for range 5 {
		b.core.Poll()
		b.clock.advance(time.Second)
	}
	for _, f := range b.inside.Sent(1) {
		if header.IPv6(f[14:]).NextHeader() != header.ProtoICMPv6 {
			t.Fatalf("a control message went inside: % x", f)
		}
	}
	if b.core.Stats.Malformed.Load() != 1 || b.core.Stats.SignalReceived.Load() != 1 {
		t.Fatalf("malformed %d, signal received %d; want 1 and 1", b.core.Stats.Malformed.Load(), b.core.Stats.SignalReceived.Load())
	}
}

// TestNAWithoutOverrideKeepsTheMAC: an unsolicited NA without the
// Override flag, naming another MAC for a resolved neighbour, changes
// nothing but its state (RFC 4861 §7.2.5; a review found it overwrote the
// MAC, so any host on the link could take over a neighbour's address).
// With Override it does update.
func TestNAWithoutOverrideKeepsTheMAC(t *testing.T) {
	b := newBed(t)
	b.core.Poll()
	b.uplink.Sent(1)
	b.toCore(t, 1, ipv6Frame(macUplink, macRouter, remoteAddr, hostAddr, header.ProtoUDP, 64, make([]byte, 8)))
	b.core.Poll()
	b.inside.Sent(1)
	b.toCore(t, 0, icmpFrame(macInside, macHost, hostAddr, insideAddr, 255, na(hostAddr, macHost, naFlagSolicited|naFlagOverride)))
	b.core.Poll()
	b.inside.Sent(1)
	other := [6]byte{0x02, 0, 0, 0, 0, 0x66}
	b.toCore(t, 0, icmpFrame(macInside, other, hostAddr, insideAddr, 255, na(hostAddr, other, 0)))
	b.core.Poll()
	if got := b.fwd.Load().Neighbors[hostAddr.As16()]; got != macHost {
		t.Fatalf("an NA without Override moved the host to %x", got)
	}
	b.toCore(t, 0, icmpFrame(macInside, other, hostAddr, insideAddr, 255, na(hostAddr, other, naFlagOverride)))
	b.core.Poll()
	if got := b.fwd.Load().Neighbors[hostAddr.As16()]; got != other {
		t.Fatalf("an NA with Override left the host at %x", got)
	}
}

// TestICMPErrorForAReusedSlot: the signalling frees a context and its slot
// is reused at once, without the error index hearing of it. An error that
// quotes the old context's packet must not be translated with the new
// context's ULIDs (a review found it was).
func TestICMPErrorForAReusedSlot(t *testing.T) {
	b, hostLoc, peerLoc, peerULID, router := rewritingBed(t)
	var old dataplane.Context
	if !b.core.cfg.Contexts.Get(0, &old) {
		t.Fatal("no context in slot 0")
	}
	if err := b.core.cfg.Contexts.Delete(0); err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddr("2001:db8:5::50")
	slot, _, err := b.core.cfg.Contexts.Create(dataplane.ContextSpec{PeerTag: 0x3003, ULIDLocal: hostAddr.As16(), ULIDPeer: other.As16(),
		LocLocal: hostLoc.As16(), LocPeer: netip.MustParseAddr("2001:db8:6::50").As16(), EgressPort: 1})
	if err != nil || slot != 0 {
		t.Fatalf("slot %d, %v: the test needs slot 0 reused", slot, err)
	}
	sent := pkttest.UDP(macRouter, macUplink, hostLoc, peerLoc, 63, header.ProtoShim6, pkttest.ShimPayload(header.ProtoUDP, 0x2002), "data", hostAddr, peerULID)[14:]
	b.toCore(t, 1, icmpFrame(macUplink, macRouter, router, hostLoc, 60, append([]byte{header.ICMPv6PacketTooBig, 0, 0, 0, 0, 0, 0x05, 0x00}, sent...)))
	b.core.Poll()
	if n := b.core.Stats.ICMPTranslated.Load(); n != 0 {
		t.Fatalf("an error about the freed context was translated (%d)", n)
	}
}
