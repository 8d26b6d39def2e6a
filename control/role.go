package control

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"shim6d/control/admin"
	"shim6d/dataplane/header"
)

// The box's role in an active/standby pair (issue #15). keepalived elects
// the active box over the management link and its notify scripts tell the
// daemon (`shim6ctl ha active|standby|fault`); shim6d never elects itself.
//
// A standby box keeps its data ports up but takes nothing from them (the
// workers drop every frame, counted as ha_standby) and sends nothing on
// them: every packet the core builds (ND, REAP probes, signalling, ICMPv6)
// is freed at transmission and counted, so its machines may run on as
// they like. The active box answers and sends from the ports' virtual
// MACs, and on becoming active announces itself with unsolicited
// Neighbor Advertisements (RFC 4861 §7.2.6). fault is standby that also
// says the box is broken, which is what keepalived's FAULT state means.
//
// keepalived tells only transitions, and a keepalived that crashed tells
// nobody: an active box would forward on beside the new active one. So the
// active role is a lease (HASetup.Lease): a vrrp_script in keepalived runs
// `shim6ctl ha lease` every second or so, and an active box whose lease
// runs out drops to standby by itself. The same script failing (shim6d
// dead or wedged) is what tells keepalived to give up the role. roleState
// is that machine, with injected time.

// Role is the box's part in an HA pair.
type Role uint8

// Roles. The zero value is standby, where an HA box starts.
const (
	RoleStandby Role = iota
	RoleActive
	RoleFault
	numRoles
)

var roleNames = [numRoles]string{"standby", "active", "fault"}

// String returns the role as operators and keepalived's scripts write it.
func (r Role) String() string {
	if r < numRoles {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// ParseRole reads a role as String writes it.
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if n == s {
			return Role(r), nil
		}
	}
	return 0, fmt.Errorf("%q is not a role; write active, standby or fault", s)
}

// HASetup is the HA part of Config: nil, the box is alone and always
// active.
type HASetup struct {
	// Listen and Peer are the replication endpoints, for operators.
	Listen, Peer netip.AddrPort
	// Replication says whether contexts are copied to the standby.
	Replication bool
	// Lease is how long an active role lasts unless renewed; 0: for ever.
	Lease time.Duration
	// AnnounceRefresh is the interval of the active box's announcements
	// after the first three; 0: none.
	AnnounceRefresh time.Duration
}

// Announcements on becoming active: RFC 4861 §7.2.6 allows up to
// MAX_NEIGHBOR_ADVERTISEMENT (3) unsolicited advertisements, at least
// RetransTimer (1 s) apart. The first goes at once; the others cover its
// loss.
const (
	announceCount   = 3
	announceSpacing = retransTimer
)

// roleState is the role machine: the role, since when and why, and the
// lease.
type roleState struct {
	role   Role
	since  time.Time
	reason string
	lease  time.Duration
	// until is when an active role lapses without a renewal (zero: no
	// lease running); renewed is the last renewal.
	until   time.Time
	renewed time.Time
	changes uint64
}

// set moves to role r for why; it reports whether the role changed. A
// move to active starts the lease.
func (s *roleState) set(r Role, why string, now time.Time) bool {
	if r == RoleActive {
		s.renew(now)
	}
	if r == s.role {
		return false
	}
	s.role, s.since, s.reason = r, now, why
	s.changes++
	return true
}

// renew extends the lease from now: keepalived is alive and this box is
// what it says.
func (s *roleState) renew(now time.Time) {
	s.renewed = now
	if s.lease > 0 {
		s.until = now.Add(s.lease)
	}
}

// expire drops an active role whose lease ran out to standby, and reports
// whether it did.
func (s *roleState) expire(now time.Time) bool {
	if s.role != RoleActive || s.lease == 0 || s.until.IsZero() || now.Before(s.until) {
		return false
	}
	last := "never"
	if !s.renewed.IsZero() {
		last = now.Sub(s.renewed).Round(time.Millisecond).String() + " ago"
	}
	return s.set(RoleStandby, "lease expired: keepalived silent (last renewal "+last+")", now)
}

// haState is the core's HA state: the role machine and the announcements
// due.
type haState struct {
	roleState
	announceLeft int
	announceNext time.Time
}

// initRole starts the role: standby for an HA box, active for one alone.
func (c *Core) initRole(now time.Time) {
	c.ha.since = now
	if c.cfg.HA == nil {
		c.ha.role, c.ha.reason = RoleActive, "no [ha]: a box on its own"
		c.roleNow.Store(uint32(RoleActive))
		return
	}
	c.ha.role, c.ha.reason = RoleStandby, "started: waiting for keepalived"
	c.ha.lease = c.cfg.HA.Lease
	c.roleNow.Store(uint32(RoleStandby))
}

// active reports whether the box may use its data ports.
func (c *Core) active() bool { return c.ha.role == RoleActive }

// ErrNoHA is what role changes answer on a box without [ha].
var ErrNoHA = errors.New("this box has no [ha] section: it is alone and always active")

// SetRole makes the box r, for why (logged and shown by `shim6ctl ha`).
// Call it through Query. It publishes a snapshot that takes or drops the
// data ports, tells the replication, and on becoming active announces the
// box. Setting the role it has renews the lease.
func (c *Core) SetRole(r Role, why string) error {
	if c.cfg.HA == nil {
		return ErrNoHA
	}
	if r >= numRoles {
		return fmt.Errorf("no role %d", r)
	}
	now := c.cfg.Now()
	was := c.ha.role
	if !c.ha.set(r, why, now) {
		return nil
	}
	c.roleChanged(was, now)
	return nil
}

// RenewLease extends an active role's lease (keepalived's vrrp_script,
// `shim6ctl ha lease`). Call it through Query.
func (c *Core) RenewLease() error {
	if c.cfg.HA == nil {
		return ErrNoHA
	}
	c.ha.renew(c.cfg.Now())
	return nil
}

// roleTick runs the role's timers: the lease, and the announcements due:
// the first three a second apart, then one round every AnnounceRefresh.
// The refresh is for the switches: after both boxes were active for a
// moment, a switch sends frames for a virtual MAC to whichever box sent
// from it last, and if that box went standby, nothing else corrects it.
func (c *Core) roleTick(now time.Time) {
	was := c.ha.role
	if c.ha.expire(now) {
		c.roleChanged(was, now)
	}
	if c.cfg.HA == nil || !c.active() || now.Before(c.ha.announceNext) {
		return
	}
	switch refresh := c.cfg.HA.AnnounceRefresh; {
	case c.ha.announceLeft > 0:
		c.announce()
		c.ha.announceLeft--
		c.ha.announceNext = now.Add(announceSpacing)
		if c.ha.announceLeft == 0 && refresh > 0 {
			c.ha.announceNext = now.Add(refresh)
		}
	case refresh > 0:
		c.announce()
		c.ha.announceNext = now.Add(refresh)
	}
}

// roleChanged does what a new role needs: the snapshot, the replication,
// the log, and for an active box the announcements and resolution at
// once (what resolution it tried as standby was never sent).
func (c *Core) roleChanged(was Role, now time.Time) {
	c.Stats.HARoleChanges.Add(1)
	c.roleNow.Store(uint32(c.ha.role))
	c.dirty = true
	active := c.active()
	c.setReplicationRole(active)
	c.ha.announceLeft = 0
	if active {
		c.ha.announceLeft, c.ha.announceNext = announceCount, now
		c.nd.hurry(now)
	}
	log := c.cfg.Log.Info
	if c.ha.role == RoleFault || was == RoleActive {
		log = c.cfg.Log.Warn
	}
	log("HA role", "role", c.ha.role.String(), "was", was.String(), "reason", c.ha.reason)
}

// announce sends one unsolicited Neighbor Advertisement with Override for
// every address on every port, to all-nodes, from the port's virtual MAC
// (RFC 4861 §7.2.6): hosts and routers that cached the other box's MAC
// take ours, and switches learn where the virtual MAC now is.
func (c *Core) announce() {
	allNodes := netip.IPv6LinkLocalAllNodes()
	a := allNodes.As16()
	dmac := header.MulticastEthernetAddress(&a)
	for port := range c.cfg.Ports {
		targets := append([]netip.Addr{c.linkLocs[port]}, c.cfg.Setup[port].Addresses...)
		for _, t := range targets {
			c.sendNA(port, t, allNodes, dmac, false, false)
			c.Stats.HAAnnouncements.Add(1)
		}
	}
}

// srcMAC is the MAC the core's frames leave port from: the pair's
// virtual MAC when there is one (a standby box sends nothing, so only the
// active box ever uses it), else the port's own.
func (c *Core) srcMAC(port int) [6]byte {
	if v := c.cfg.Setup[port].VirtualMAC; v != ([6]byte{}) {
		return v
	}
	return c.cfg.Ports[port].MAC()
}

// replicationStatus is the replication's state for `shim6ctl ha`, nil
// without replication.
func (c *Core) replicationStatus() any {
	if c.repl == nil {
		return nil
	}
	return c.ReplicationStatus()
}

// HAInfo is the role as `shim6ctl ha` shows it. Call it through Query.
func (c *Core) HAInfo() admin.HA {
	now := c.cfg.Now()
	h := admin.HA{
		Enabled: c.cfg.HA != nil, Role: c.ha.role.String(), Since: c.ha.since,
		SinceSec: now.Sub(c.ha.since).Seconds(), Reason: c.ha.reason, Changes: c.ha.changes,
		Announcements:  c.Stats.HAAnnouncements.Load(),
		SuppressedSent: c.Stats.HASuppressed.Load(),
	}
	for i, s := range c.cfg.Setup {
		if s.VirtualMAC != ([6]byte{}) {
			h.VirtualMACs = append(h.VirtualMACs, admin.HAPort{Port: c.cfg.Setup[i].Name, MAC: macString(s.VirtualMAC)})
		}
	}
	if hs := c.cfg.HA; hs != nil {
		h.Listen, h.Peer, h.Replication = hs.Listen.String(), hs.Peer.String(), hs.Replication
		h.LeaseSec = hs.Lease.Seconds()
		if c.ha.role == RoleActive && !c.ha.until.IsZero() {
			h.LeaseLeftSec = max(c.ha.until.Sub(now).Seconds(), 0)
		}
		if !c.ha.renewed.IsZero() {
			h.RenewedSecAgo = now.Sub(c.ha.renewed).Seconds()
		}
		h.ReplicationState = c.replicationStatus()
	}
	return h
}

// The admin API's HA routes (admin.HASource).

func (v adminView) HA() admin.HA {
	var h admin.HA
	v.c.Query(func() { h = v.c.HAInfo() })
	return h
}

func (v adminView) SetRole(role, why string) error {
	r, err := ParseRole(role)
	if err != nil {
		return &admin.StatusError{Code: http.StatusBadRequest, Err: err}
	}
	if why == "" {
		why = "shim6ctl ha " + role
	}
	v.c.Query(func() { err = v.c.SetRole(r, why) })
	return err
}

func (v adminView) RenewLease() error {
	var err error
	v.c.Query(func() { err = v.c.RenewLease() })
	return err
}

// haRoleDesc is shim6d_ha_role: one series per role, 1 for the box's.
var haRoleDesc = prometheus.NewDesc("shim6d_ha_role", haRoleHelp, []string{"role"}, nil)

const haRoleHelp = "the box's role in its HA pair: 1 for the current role (active, standby or fault), 0 for the others; absent without [ha]"

// roleCollector exports shim6d_ha_role from Core.roleNow, so that a
// scrape never waits for the core.
type roleCollector struct{ c *Core }

// Describe implements prometheus.Collector.
func (r roleCollector) Describe(ch chan<- *prometheus.Desc) { ch <- haRoleDesc }

// Collect implements prometheus.Collector.
func (r roleCollector) Collect(ch chan<- prometheus.Metric) {
	if r.c.cfg.HA == nil {
		return
	}
	role := Role(r.c.roleNow.Load())
	for x := Role(0); x < numRoles; x++ {
		v := 0.0
		if x == role {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(haRoleDesc, prometheus.GaugeValue, v, x.String())
	}
}
