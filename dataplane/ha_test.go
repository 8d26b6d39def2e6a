package dataplane

import (
	"net/netip"
	"testing"

	"shim6d/dataplane/header"
)

// TestAccepts holds Forwarding.Accepts to what a NIC out of promiscuous
// mode delivers: the port's own MAC, its virtual MAC while set,
// all-nodes, and the solicited-node groups of its addresses (all of them
// on a port that proxies ND).
func TestAccepts(t *testing.T) {
	own := [6]byte{0x02, 0, 0, 0, 0, 1}
	virt := [6]byte{0, 0, 0x5e, 0, 2, 7}
	addr := netip.MustParseAddr("2001:db8:1::1:2:3")
	f := &Forwarding{Ports: []PortInfo{
		{MAC: own, Solicited: []uint32{SolicitedLow(addr)}},
		{MAC: own, Virtual: virt},
		{MAC: own, AnySolicited: true},
	}}
	group := netip.MustParseAddr("ff02::1:ff02:3") // addr's solicited-node group
	g := group.As16()
	solicited := header.MulticastEthernetAddress(&g)
	for _, tt := range []struct {
		port uint16
		dst  [6]byte
		want bool
	}{
		{0, own, true},
		{0, virt, false}, // no virtual MAC on this port (or not active)
		{1, virt, true},
		{1, own, true},
		{0, [6]byte{0x02, 0, 0, 0, 0, 2}, false},
		{0, [6]byte{}, false},
		{1, [6]byte{}, false},
		{0, [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false},
		{0, [6]byte{0x33, 0x33, 0, 0, 0, 1}, true},  // all-nodes
		{0, [6]byte{0x33, 0x33, 0, 0, 0, 2}, false}, // all-routers: no RAs sent
		{0, [6]byte{0x33, 0x33, 0, 0, 0, 0x16}, false},
		{0, solicited, true},
		{1, solicited, false},
		{2, solicited, true},
		{2, [6]byte{0x33, 0x33, 0xff, 9, 9, 9}, true},
		{0, [6]byte{0x33, 0x33, 0xff, 9, 9, 9}, false},
		{0, [6]byte{0x01, 0x00, 0x5e, 0, 0, 1}, false}, // IPv4 multicast
		{3, own, false},                                // no such port
	} {
		if got := f.Accepts(tt.port, &tt.dst); got != tt.want {
			t.Errorf("port %d, dst %x: Accepts = %v, want %v", tt.port, tt.dst, got, tt.want)
		}
	}
}

// TestStandbyDropsEverything: a standby worker forwards nothing and hands
// the control core nothing, from any port, and counts every frame by
// reason and port; no buffer is lost.
func TestStandbyDropsEverything(t *testing.T) {
	b := newShimbed(t, true)
	f := *b.fwd.Load()
	f.Standby = true
	b.fwd.Store(&f)
	pool := b.ports[0].Pool()
	inUse := pool.InUse()
	frames := []struct {
		from  int
		frame []byte
	}{
		{0, udpFrame(macInside, macHost, hostAddr, peerULID, 64, header.ProtoUDP, nil, "data")},
		{0, udpFrame(macInside, macHost, hostAddr, insideAddr, 64, header.ProtoICMPv6, nil, "ping")},
		{2, udpFrame(macIsp2, macNextHop2, peerLoc4, hostLoc2, 64, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag), "data")},
		{1, udpFrame([6]byte{0x33, 0x33, 0, 0, 0, 1}, macNextHop, remoteAddr, netip.MustParseAddr("ff02::1"), 255, header.ProtoICMPv6, nil, "na")},
	}
	for _, fr := range frames {
		outs, nctl := b.run(t, fr.from, fr.frame)
		for port, o := range outs {
			if len(o) != 0 {
				t.Fatalf("standby sent %d frames on port %d", len(o), port)
			}
		}
		if nctl != 0 {
			t.Fatalf("standby handed %d frames to the control core", nctl)
		}
	}
	b.w.Counters.publish()
	if n := b.w.Counters.Load(DropCounter(DropHAStandby)); n != uint64(len(frames)) {
		t.Errorf("ha_standby drops = %d, want %d", n, len(frames))
	}
	if n := b.w.Counters.Load(PortCounter(0, PortDrops)); n != 2 {
		t.Errorf("port 0 drops = %d, want 2", n)
	}
	if got := pool.InUse(); got != inUse {
		t.Errorf("buffers in use %d after, %d before", got, inUse)
	}

	// Active again: the same traffic is forwarded.
	g := f
	g.Standby = false
	b.fwd.Store(&g)
	if outs, _ := b.run(t, 0, frames[0].frame); len(outs[2]) != 1 {
		t.Fatal("active worker did not forward")
	}
}

// TestVirtualMAC: an active port takes frames to its virtual MAC and sends
// from it; once the virtual MAC is withdrawn (standby), frames to it are
// another station's.
func TestVirtualMAC(t *testing.T) {
	b := newShimbed(t, true)
	virt := [6]byte{0, 0, 0x5e, 0, 2, 9}
	virtIn := [6]byte{0, 0, 0x5e, 0, 2, 8}
	f := *b.fwd.Load()
	f.Ports = append([]PortInfo(nil), f.Ports...)
	f.Ports[2].Virtual, f.Ports[0].Virtual = virt, virtIn
	b.fwd.Store(&f)

	// Outbound, to the inside's virtual MAC: rewritten, out isp2 from its
	// virtual MAC.
	outs, _ := b.run(t, 0, udpFrame(virtIn, macHost, hostAddr, peerULID, 64, header.ProtoUDP, nil, "data"))
	if len(outs[2]) != 1 || [6]byte(outs[2][0][6:12]) != virt {
		t.Fatalf("outbound to the virtual MAC: %d frames out isp2 %x", len(outs[2]), outs)
	}
	// Inbound to isp2's virtual MAC: delivered from the inside's.
	outs, _ = b.run(t, 2, udpFrame(virt, macNextHop2, peerLoc4, hostLoc2, 64, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag), "data"))
	if len(outs[0]) != 1 || [6]byte(outs[0][0][6:12]) != virtIn {
		t.Fatalf("inbound to the virtual MAC: %x", outs[0])
	}

	// A new snapshot, as the control core publishes one.
	g := f
	g.Ports = append([]PortInfo(nil), f.Ports...)
	g.Ports[2].Virtual = [6]byte{}
	b.fwd.Store(&g)
	outs, _ = b.run(t, 2, udpFrame(virt, macNextHop2, peerLoc4, hostLoc2, 64, header.ProtoShim6, shimHeader(header.ProtoUDP, b.tag), "data"))
	if len(outs[0]) != 0 {
		t.Fatal("frame to a withdrawn virtual MAC delivered")
	}
	b.w.Counters.publish()
	if n := b.w.Counters.Load(DropCounter(DropNotForUs)); n != 1 {
		t.Fatalf("not_for_us drops = %d, want 1", n)
	}
}

// TestRefusingAllocatesNothing: frames for other stations, to groups not
// joined, and everything while standby are dropped without allocating.
func TestRefusingAllocatesNothing(t *testing.T) {
	tb := newTestbed(t)
	tb.inside.SetSource(0, [][]byte{
		frame(macForeign, macHost, hostAddr, remoteAddr, 64),
		frame([6]byte{0x33, 0x33, 0xff, 0, 0, 0x99}, macHost, hostAddr, remoteAddr, 64),
		frame(macInside, macHost, hostAddr, remoteAddr, 64),
	})
	tb.uplink.SetSource(0, [][]byte{frame(macForeign, macNextHop, remoteAddr, hostAddr, 64)})
	tb.inside.SetSink(0, true)
	tb.uplink.SetSink(0, true)
	if a := testing.AllocsPerRun(200, func() { tb.w.Poll() }); a != 0 {
		t.Fatalf("Poll allocates %v times per round", a)
	}
	tb.w.Counters.publish()
	if tb.w.Counters.Load(DropCounter(DropNotForUs)) == 0 {
		t.Fatal("no not_for_us drops: the test dropped nothing")
	}
	f := *tb.fwd.Load()
	f.Standby = true
	tb.fwd.Store(&f)
	if a := testing.AllocsPerRun(200, func() { tb.w.Poll() }); a != 0 {
		t.Fatalf("standby Poll allocates %v times per round", a)
	}
	tb.w.Counters.publish()
	if tb.w.Counters.Load(DropCounter(DropHAStandby)) == 0 {
		t.Fatal("no ha_standby drops")
	}
}
