package dataplane

import (
	"net/netip"
	"testing"

	"shim6d/dataplane/header"
)

// A reload's establish_after reaches a running worker at its next round:
// 0 stops the counting, another threshold counts to it.
func TestSetEstablishAfterTakesEffect(t *testing.T) {
	b := newShimbed(t, false)
	b.w.SetEstablishAfter(0)
	other := netip.MustParseAddr("2001:db8:9::1")
	for i := 0; i < 5; i++ {
		b.run(t, 0, udpFrame(macInside, macHost, hostAddr, other, 64, header.ProtoUDP, nil, "x"))
	}
	var e Event
	if b.events.Pop(&e) {
		t.Fatalf("establish_after = 0 still raised %+v", e)
	}
	b.w.SetEstablishAfter(2)
	third := netip.MustParseAddr("2001:db8:9::2")
	for i := 0; i < 2; i++ {
		b.run(t, 0, udpFrame(macInside, macHost, hostAddr, third, 64, header.ProtoUDP, nil, "x"))
	}
	if !b.events.Pop(&e) || e.Kind != EventEstablish || netip.AddrFrom16(e.Dst) != third {
		t.Fatalf("establish_after = 2: no event after 2 packets (%+v)", e)
	}
}
