// Package synth generates the synthetic host-pair contexts that benchmarks
// and capacity tests load into a running shim6d, and the traffic that
// matches them: context i's ULID pair is a pure function of (seed, i), so
// the daemon (through `shim6ctl contexts synth`) and the pcap generator
// agree without exchanging a list of a million pairs.
//
// It lives beside the control core, not under bench/, because the daemon
// itself builds the contexts (the table has one writer); a daemon loads
// them only when its configuration says `[daemon] allow_synthetic = true`.
package synth

import (
	"encoding/binary"
	"net/netip"
)

// Plan says where synthetic addresses come from. Every prefix must be a /64
// or shorter; the generated part is the low 64 bits.
type Plan struct {
	Seed uint64
	// LocalULIDs and PeerULIDs hold the ULID pairs; LocalLocators and
	// PeerLocators the locators the contexts rewrite to.
	LocalULIDs, PeerULIDs       netip.Prefix
	LocalLocators, PeerLocators netip.Prefix
}

// DefaultPlan is the benchmark's: site hosts and their locators under
// isp1's prefix 2001:db8:1::/48 (so one uplink carries everything), peers
// under 2001:db8:3::/48 rewritten to 2001:db8:4::/48.
var DefaultPlan = Plan{
	Seed:          1,
	LocalULIDs:    netip.MustParsePrefix("2001:db8:1:1::/64"),
	PeerULIDs:     netip.MustParsePrefix("2001:db8:3:1::/64"),
	LocalLocators: netip.MustParsePrefix("2001:db8:1:2::/64"),
	PeerLocators:  netip.MustParsePrefix("2001:db8:4:1::/64"),
}

// Context is one synthetic context's addresses and tags.
type Context struct {
	LocalULID, PeerULID       netip.Addr
	LocalLocator, PeerLocator netip.Addr
	PeerTag                   uint64
}

// At returns context i of the plan. Local hosts number 65536 (a site has
// far fewer hosts than peers); each host pair is unique.
func (p Plan) At(i uint64) Context {
	h := splitmix(p.Seed ^ i*0x9e3779b97f4a7c15)
	host := uint64(i % 65536)
	peer := h
	return Context{
		LocalULID:    withIID(p.LocalULIDs, host+1),
		PeerULID:     withIID(p.PeerULIDs, peer),
		LocalLocator: withIID(p.LocalLocators, host+1),
		PeerLocator:  withIID(p.PeerLocators, peer),
		PeerTag:      splitmix(h)&(1<<47-1) | 1,
	}
}

func withIID(p netip.Prefix, iid uint64) netip.Addr {
	a := p.Masked().Addr().As16()
	binary.BigEndian.PutUint64(a[8:], iid)
	return netip.AddrFrom16(a)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
