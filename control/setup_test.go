package control

import (
	"net/netip"
	"testing"
	"time"

	"shim6d/configs"
	"shim6d/control/wire"
)

// [shim] r1_rate and r1_rate_per_prefix reach the signalling's limits:
// FromConfig puts them in ShimSetup, and the core's machine answers one
// /64 at its per-prefix burst and everyone at the global one.
func TestR1LimitsFromConfig(t *testing.T) {
	cfg := configs.Default()
	cfg.Shim.R1Rate, cfg.Shim.R1RatePerPrefix = 50, 3 // bursts of 5 and 3
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cc, err := FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Shim.R1Rate != 50 || cc.Shim.R1RatePerPrefix != 3 {
		t.Fatalf("ShimSetup has r1_rate %d, r1_rate_per_prefix %d; want 50, 3", cc.Shim.R1Rate, cc.Shim.R1RatePerPrefix)
	}
	clock := &fakeClock{t: time.Unix(1000, 0)}
	s := newSiteWith(t, clock, [6]byte{2, 0, 0, 0, 0, 0xa}, "2001:db8:1::/48", netip.MustParseAddr("2001:db8:1::1"),
		netip.MustParseAddr("2001:db8:ffff::1"), [6]byte{2, 0, 0, 0, 0, 0xb}, cc.Shim)
	i1, err := wire.Marshal(&wire.I1{InitiatorContextTag: 7, InitiatorNonce: 9})
	if err != nil {
		t.Fatal(err)
	}
	ulid := netip.MustParseAddr("2001:db8:1::10")
	for i := range 10 { // one /64
		src := netip.MustParseAddr("2001:db8:77:1::").As16()
		src[15] = byte(i + 1)
		s.sig.HandleMessage(netip.AddrFrom16(src), ulid, i1)
	}
	for i := range 10 { // ten other /64s
		src := netip.MustParseAddr("2001:db8:77::1").As16()
		src[7] = byte(i + 2)
		s.sig.HandleMessage(netip.AddrFrom16(src), ulid, i1)
	}
	st := &s.sig.Stats
	if st.Out(wire.TypeR1) != 5 || st.R1RateLimited.Load() != 15 || st.R1RateLimitedPrefix.Load() < 7 {
		t.Fatalf("%d R1s, %d I1s limited (%d by their /64); want the global burst of 5 (3 to the first /64), 15, at least 7",
			st.Out(wire.TypeR1), st.R1RateLimited.Load(), st.R1RateLimitedPrefix.Load())
	}
}
