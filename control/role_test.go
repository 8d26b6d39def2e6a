package control

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"shim6d/configs"
	"shim6d/control/admin"
	"shim6d/dataplane/header"
	"shim6d/ports/mem"
)

// The pair's virtual MACs on the bed's two ports.
var (
	vmacInside = [6]byte{0, 0, 0x5e, 0, 2, 1}
	vmacUplink = [6]byte{0, 0, 0x5e, 0, 2, 2}
)

// newHABed is newBed for one box of an HA pair with a 3 s lease, its
// ports with virtual MACs.
func newHABed(t *testing.T) *bed {
	return newBedWith(t, func(c *Config) {
		c.Setup[0].VirtualMAC, c.Setup[1].VirtualMAC = vmacInside, vmacUplink
		c.HA = &HASetup{Listen: netip.MustParseAddrPort("[fd00:aa::1]:7600"), Peer: netip.MustParseAddrPort("[fd00:aa::2]:7600"),
			Replication: true, Lease: 3 * time.Second}
	})
}

// TestRoleMachine drives roleState alone, with injected time.
func TestRoleMachine(t *testing.T) {
	t0 := time.Unix(100, 0)
	s := roleState{lease: 3 * time.Second, since: t0}
	if s.expire(t0.Add(time.Hour)) {
		t.Fatal("a standby role expired")
	}
	if !s.set(RoleActive, "notify", t0) || s.role != RoleActive || s.changes != 1 {
		t.Fatalf("set active: %+v", s)
	}
	if s.set(RoleActive, "again", t0.Add(time.Second)) || s.reason != "notify" {
		t.Fatal("setting the same role counted as a change, or changed the reason")
	}
	// Setting active again renewed the lease from t0+1s.
	if s.expire(t0.Add(3900 * time.Millisecond)) {
		t.Fatal("expired before the renewed lease ran out")
	}
	s.renew(t0.Add(3 * time.Second))
	if s.expire(t0.Add(5999 * time.Millisecond)) {
		t.Fatal("expired before the lease renewed at 3s ran out")
	}
	if !s.expire(t0.Add(6*time.Second)) || s.role != RoleStandby || !strings.Contains(s.reason, "lease expired") ||
		!strings.Contains(s.reason, "last renewal 3s ago") {
		t.Fatalf("lease ran out: %+v", s)
	}
	if s.since != t0.Add(6*time.Second) || s.changes != 2 {
		t.Fatalf("since %v changes %d", s.since, s.changes)
	}

	// Without a lease an active role lasts.
	n := roleState{}
	n.set(RoleActive, "notify", t0)
	if n.expire(t0.Add(1000 * time.Hour)) {
		t.Fatal("expired without a lease")
	}
	for _, r := range []Role{RoleStandby, RoleActive, RoleFault} {
		if got, err := ParseRole(r.String()); got != r || err != nil {
			t.Errorf("ParseRole(%q) = %v, %v", r, got, err)
		}
	}
	if _, err := ParseRole("master"); err == nil {
		t.Error("ParseRole(master) accepted")
	}
}

// TestHAStandbySendsNothing: an HA box starts standby; its snapshot drops
// everything, and what its machines send (here the next hop's NS) never
// leaves, counted.
func TestHAStandbySendsNothing(t *testing.T) {
	b := newHABed(t)
	for range 3 {
		b.core.Poll()
		b.clock.advance(time.Second)
	}
	if n := len(b.uplink.SentAll()) + len(b.inside.SentAll()); n != 0 {
		t.Fatalf("standby sent %d frames", n)
	}
	// What the machines build (here an NS) ends at transmission, counted.
	b.core.sendNS(1, routerAddr, nil)
	b.core.flush()
	if n := len(b.uplink.SentAll()); n != 0 || b.core.Stats.HASuppressed.Load() != 1 {
		t.Fatalf("standby sent %d frames, suppressed %d; want 0 and 1", n, b.core.Stats.HASuppressed.Load())
	}
	f := b.fwd.Load()
	if !f.Standby || f.Ports[0].Virtual != ([6]byte{}) || f.Ports[1].Virtual != ([6]byte{}) {
		t.Fatalf("standby snapshot: standby %v, virtual MACs %x %x", f.Standby, f.Ports[0].Virtual, f.Ports[1].Virtual)
	}
	// The link-local address both boxes share derives from the virtual MAC.
	if want := linkLocalFromMAC(vmacInside); b.core.linkLocs[0] != want {
		t.Fatalf("inside link-local %v, want %v", b.core.linkLocs[0], want)
	}
	if err := b.core.SetRole(RoleFault, "keepalived FAULT"); err != nil {
		t.Fatal(err)
	}
	b.core.Poll()
	if f := b.fwd.Load(); !f.Standby || len(b.uplink.SentAll()) != 0 {
		t.Fatal("a faulty box takes or sends")
	}
}

// TestBecomingActive: the snapshot takes the ports and their virtual
// MACs, the next hop is solicited at once, and every address of every
// port is announced three times, a second apart, with Override, from the
// virtual MAC (RFC 4861 §7.2.6).
func TestBecomingActive(t *testing.T) {
	b := newHABed(t)
	b.core.Poll()
	b.clock.advance(300 * time.Millisecond)
	if err := b.core.SetRole(RoleActive, "keepalived MASTER"); err != nil {
		t.Fatal(err)
	}
	b.core.Poll()
	f := b.fwd.Load()
	if f.Standby || f.Ports[0].Virtual != vmacInside || f.Ports[1].Virtual != vmacUplink || f.Ports[0].MAC != macInside {
		t.Fatalf("active snapshot: standby %v, ports %+v", f.Standby, f.Ports)
	}
	// checkAnnounced checks a round of announcements and returns the
	// NSs sent beside them.
	checkAnnounced := func(round int) (nss int) {
		t.Helper()
		for port, p := range []*mem.Port{b.inside, b.uplink} {
			vmac := []([6]byte){vmacInside, vmacUplink}[port]
			want := map[netip.Addr]bool{b.core.linkLocs[port]: true, []netip.Addr{insideAddr, uplinkAddr}[port]: true}
			for _, fr := range p.Sent(1) {
				eth := header.Ethernet(fr)
				ip := header.IPv6(fr[14:])
				icmp := ip[40:]
				if icmp[0] == header.ICMPv6NeighborSolicitation && port == 1 && [16]byte(icmp[8:24]) == routerAddr.As16() {
					nss++
					continue
				}
				target := netip.AddrFrom16([16]byte(icmp[8:24]))
				if *eth.Src() != vmac || *eth.Dst() != [6]byte{0x33, 0x33, 0, 0, 0, 1} ||
					netip.AddrFrom16(*ip.Dst()) != netip.IPv6LinkLocalAllNodes() || ip.HopLimit() != 255 ||
					icmp[4] != naFlagRouter|naFlagOverride || [6]byte(icmp[26:32]) != vmac ||
					!header.ICMPv6(icmp).IsChecksumValid(ip.Src(), ip.Dst()) || !want[target] {
					t.Fatalf("round %d, port %d: bad announcement % x", round, port, fr)
				}
				delete(want, target)
			}
			if len(want) != 0 {
				t.Fatalf("round %d, port %d: not announced: %v", round, port, want)
			}
		}
		return nss
	}
	// The next hop, never solicited while standby, is at once.
	if n := checkAnnounced(1); n != 1 {
		t.Fatalf("%d NS for the next hop on becoming active, want 1", n)
	}
	b.clock.advance(500 * time.Millisecond)
	b.core.Poll()
	if n := len(b.inside.Sent(1)); n != 0 {
		t.Fatalf("%d announcements half a second after the first", n)
	}
	// The second a second after the first, the third a second later.
	for round, wait := range []time.Duration{500 * time.Millisecond, time.Second} {
		b.clock.advance(wait)
		b.core.RenewLease()
		b.core.Poll()
		checkAnnounced(round + 2)
	}
	b.clock.advance(time.Second)
	b.core.RenewLease()
	b.core.Poll()
	if n := len(b.inside.Sent(1)); n != 0 {
		t.Fatalf("a fourth announcement: %d frames", n)
	}
	if got := b.core.Stats.HAAnnouncements.Load(); got != 12 {
		t.Fatalf("announcements = %d, want 3 rounds of 2 ports × 2 addresses", got)
	}

	// An NS is answered from the virtual MAC, with it as the target's.
	b.toCore(t, 0, icmpFrame(multicastMAC(solicitedNode(insideAddr)), macHost, hostAddr, solicitedNode(insideAddr), 255, ns(insideAddr, macHost)))
	b.core.Poll()
	sent := b.inside.Sent(1)
	if len(sent) != 1 || [6]byte(sent[0][6:12]) != vmacInside || [6]byte(sent[0][14+40+26:14+40+32]) != vmacInside {
		t.Fatalf("NS answered with %x", sent)
	}
}

// TestAnnounceRefresh: after the three announcements on becoming active,
// an active box repeats one round every AnnounceRefresh, so that a switch
// that learnt a virtual MAC from the other box (both active for a moment)
// learns it back; a standby box stops.
func TestAnnounceRefresh(t *testing.T) {
	b := newHABed(t)
	b.core.cfg.HA.AnnounceRefresh = 5 * time.Second
	b.core.SetRole(RoleActive, "keepalived MASTER")
	nas := func() (n int) {
		for _, fr := range b.inside.Sent(1) {
			if fr[14+40] == header.ICMPv6NeighborAdvertisement {
				n++
			}
		}
		return n
	}
	// Per second: 2 inside addresses, the first three seconds; then one
	// round 5 s after the third, and every 5 s.
	var got []int
	for range 18 {
		b.core.RenewLease()
		b.core.Poll()
		got = append(got, nas())
		b.clock.advance(time.Second)
	}
	want := []int{2, 2, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2}
	if !slices.Equal(got, want) {
		t.Fatalf("announcements inside, second by second: %v, want %v", got, want)
	}
	b.inside.SentAll()
	b.uplink.SentAll()
	b.core.SetRole(RoleStandby, "keepalived BACKUP")
	for range 10 {
		b.core.Poll()
		b.clock.advance(time.Second)
	}
	if n := len(b.inside.SentAll()) + len(b.uplink.SentAll()); n != 0 {
		t.Fatalf("a standby box sent %d frames", n)
	}
	// Active again: three a second apart first, as at the start.
	b.core.SetRole(RoleActive, "keepalived MASTER")
	b.core.Poll()
	if n := nas(); n != 2 {
		t.Fatalf("%d announcements on becoming active again", n)
	}
}

// TestLeaseLapses: an active box whose keepalived stops renewing drops to
// standby by itself, and stops taking and sending.
func TestLeaseLapses(t *testing.T) {
	b := newHABed(t)
	b.core.SetRole(RoleActive, "keepalived MASTER")
	for range 10 {
		b.clock.advance(time.Second)
		if err := b.core.RenewLease(); err != nil {
			t.Fatal(err)
		}
		b.core.Poll()
	}
	if !b.core.active() {
		t.Fatal("renewed every second, the 3 s lease lapsed")
	}
	b.clock.advance(2999 * time.Millisecond)
	b.core.Poll()
	if !b.core.active() {
		t.Fatal("lapsed early")
	}
	b.clock.advance(time.Millisecond)
	b.core.Poll()
	h := b.core.HAInfo()
	if b.core.active() || h.Role != "standby" || !strings.Contains(h.Reason, "lease expired") || !b.fwd.Load().Standby {
		t.Fatalf("after the lease: %+v, standby snapshot %v", h, b.fwd.Load().Standby)
	}
	b.inside.SentAll()
	b.uplink.SentAll()
	b.clock.advance(time.Second)
	b.core.Poll()
	if n := len(b.inside.SentAll()) + len(b.uplink.SentAll()); n != 0 {
		t.Fatalf("lapsed box sent %d frames", n)
	}
}

// TestNoHAIsActive: a box without [ha] is active for good, and says so.
func TestNoHAIsActive(t *testing.T) {
	b := newBed(t)
	if !b.core.active() || b.fwd.Load().Standby {
		t.Fatal("a box alone is not active")
	}
	if err := b.core.SetRole(RoleStandby, "x"); err != ErrNoHA {
		t.Fatalf("SetRole = %v, want ErrNoHA", err)
	}
	if err := b.core.RenewLease(); err != ErrNoHA {
		t.Fatalf("RenewLease = %v, want ErrNoHA", err)
	}
	if got := haRoleSeries(t, b.core); len(got) != 0 {
		t.Fatalf("shim6d_ha_role without [ha]: %v", got)
	}
}

// TestHAAdminAndMetric: the admin routes keepalived's scripts call, and
// shim6d_ha_role, on a running core.
func TestHAAdminAndMetric(t *testing.T) {
	b := newHABed(t)
	go b.core.Run()
	t.Cleanup(b.core.Stop)
	srv := httptest.NewServer(admin.Handler(b.core.Admin(), nil))
	t.Cleanup(srv.Close)
	post := func(route string) (int, admin.HA) {
		t.Helper()
		resp, err := http.Post(srv.URL+route, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h admin.HA
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, h
	}
	roleMetric := func(want string) {
		t.Helper()
		exp := map[string]float64{"active": 0, "standby": 0, "fault": 0}
		exp[want] = 1
		got := haRoleSeries(t, b.core)
		if len(got) != len(exp) {
			t.Fatalf("shim6d_ha_role = %v, want %v", got, exp)
		}
		for r, v := range exp {
			if got[r] != v {
				t.Fatalf("shim6d_ha_role = %v, want %v", got, exp)
			}
		}
	}
	roleMetric("standby")
	if code, h := post("/ha/role?role=active&why=keepalived+MASTER"); code != 200 || h.Role != "active" || h.Reason != "keepalived MASTER" ||
		h.LeaseLeftSec <= 0 || h.Peer != "[fd00:aa::2]:7600" || len(h.VirtualMACs) != 2 {
		t.Fatalf("POST /ha/role active: %d %+v", code, h)
	}
	roleMetric("active")
	if code, h := post("/ha/lease"); code != 200 || h.Role != "active" {
		t.Fatalf("POST /ha/lease: %d %+v", code, h)
	}
	if code, _ := post("/ha/role?role=master"); code != http.StatusBadRequest {
		t.Fatalf("POST /ha/role?role=master: %d, want 400", code)
	}
	if code, h := post("/ha/role?role=fault"); code != 200 || h.Role != "fault" || h.Reason != "shim6ctl ha fault" {
		t.Fatalf("POST /ha/role fault: %d %+v", code, h)
	}
	roleMetric("fault")
}

// haRoleSeries gathers shim6d_ha_role from c's collector, by role.
func haRoleSeries(t *testing.T, c *Core) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(roleCollector{c})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "shim6d_ha_role" || mf.GetHelp() != haRoleHelp {
			t.Fatalf("unexpected family %s (%q)", mf.GetName(), mf.GetHelp())
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestHAFromConfig: [ha] and the ports' virtual MACs reach the core's
// Config; without [ha] the core gets none.
func TestHAFromConfig(t *testing.T) {
	if c, err := FromConfig(configs.Default()); err != nil || c.HA != nil {
		t.Fatalf("lab config: HA %+v, %v; want none", c.HA, err)
	}
	cfg := configs.Default()
	cfg.HA = configs.HA{Enabled: true, Listen: netip.MustParseAddrPort("[fd00:aa::1]:7600"), Peer: netip.MustParseAddrPort("[fd00:aa::2]:7600"),
		Replication: true, Lease: configs.Duration{Duration: 2 * time.Second}}
	cfg.Ports[0].VirtualMAC = configs.MAC(vmacInside)
	c, err := FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.HA == nil || c.HA.Lease != 2*time.Second || c.HA.Peer != cfg.HA.Peer || !c.HA.Replication {
		t.Fatalf("HA %+v", c.HA)
	}
	if c.Setup[0].VirtualMAC != vmacInside || c.Setup[1].VirtualMAC != ([6]byte{}) {
		t.Fatalf("virtual MACs %x %x", c.Setup[0].VirtualMAC, c.Setup[1].VirtualMAC)
	}
}
