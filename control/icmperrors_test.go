package control

import (
	"net/netip"
	"testing"
	"time"

	"shim6d/dataplane/header"
)

// ICMPv6 errors toward the uplinks take the source /64's bucket before the
// global one: a flood of expiring packets from one /64 (or spoofing one
// victim's) gets that /64's burst, other /64s are still answered, and the
// inside hosts take only the global cap.
func TestICMPErrorsToUplinkPerPrefix(t *testing.T) {
	b := newBed(t)
	cfg := b.core.cfg
	cfg.ICMPRate, cfg.ICMPRatePerPrefix = 1000, 5 // global burst 100, per /64 5
	b.core = mustNew(t, cfg)
	b.core.Poll()
	b.uplink.SentAll()
	b.inside.SentAll()
	flood := netip.MustParseAddr("2001:db8:9:1::1").As16()
	slot := b.core.icmp.Prefix.Slot(netip.AddrFrom16(flood))
	expired := func(port int, src netip.Addr) []byte {
		mac, dst := macRouter, hostAddr
		if port == 0 {
			mac, dst = macHost, remoteAddr
		}
		return ipv6Frame([][6]byte{macInside, macUplink}[port], mac, src, dst, header.ProtoUDP, 1, make([]byte, 8))
	}
	send := func(port int, srcs []netip.Addr) int {
		t.Helper()
		for i, src := range srcs {
			b.toCore(t, port, expired(port, src))
			if i%8 == 7 {
				b.core.Poll()
			}
		}
		b.core.Poll()
		n := 0
		for _, f := range [][][]byte{b.inside.SentAll(), b.uplink.SentAll()}[port] {
			if ip := header.IPv6(f[14:]); ip.NextHeader() == header.ProtoICMPv6 && ip[40] == header.ICMPv6TimeExceeded {
				n++
			}
		}
		return n
	}
	var srcs []netip.Addr
	for i := range 50 {
		a := flood
		a[15] = byte(i + 1)
		a[14] = byte(i * 7) // another interface identifier, the same /64
		srcs = append(srcs, netip.AddrFrom16(a))
	}
	if got := send(1, srcs); got != 5 || b.core.Stats.ICMPRateLimited.Load() != 45 {
		t.Fatalf("50 expired packets from one /64: %d errors, %d limited; want the /64's burst of 5, 45", got, b.core.Stats.ICMPRateLimited.Load())
	}
	if got := b.core.Stats.ICMPRateLimitedPrefix.Load(); got != 45 {
		t.Fatalf("%d refusals counted as the /64's, want 45", got)
	}
	srcs = srcs[:0]
	for i := 2; len(srcs) < 20; i++ {
		a := flood
		a[7] = byte(i) // 2001:db8:9:i::1, another /64
		if b.core.icmp.Prefix.Slot(netip.AddrFrom16(a)) != slot {
			srcs = append(srcs, netip.AddrFrom16(a))
		}
	}
	if got := send(1, srcs); got != 20 {
		t.Fatalf("20 other /64s during the flood got %d errors, want 20", got)
	}
	// The inside hosts take the global bucket only: 100 from one /64 get
	// the 75 tokens left of its burst.
	srcs = srcs[:0]
	for i := range 100 {
		a := hostAddr.As16()
		a[15] = byte(i + 1)
		srcs = append(srcs, netip.AddrFrom16(a))
	}
	if got := send(0, srcs); got != 75 {
		t.Fatalf("100 expired packets from inside hosts got %d errors, want the 75 the global burst has left", got)
	}
	// One second later the flooding /64 has its burst again, no more.
	b.clock.advance(time.Second)
	for i := range srcs {
		srcs[i] = netip.AddrFrom16(flood)
	}
	if got := send(1, srcs); got != 5 {
		t.Fatalf("a second later the /64 got %d errors, want 5", got)
	}
}
