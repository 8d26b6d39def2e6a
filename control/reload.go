package control

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"shim6d/configs"
	"shim6d/control/admin"
	"shim6d/control/hba"
	"shim6d/control/policy"
	"shim6d/control/ratelimit"
	"shim6d/dataplane"
)

// A reload (SIGHUP, `shim6ctl reload`) reads the configuration file again
// and applies what can change under running contexts; configs.Diff says
// what that is, and refuses the whole reload when anything else changed.
// What a reload applies, and how:
//
//   - [[port]] priority, weight, backup: the site policy re-ranks, peers
//     hear the new preferences in Update Requests, and the contexts
//     concerned move through the policy's paced move queue, each after a
//     probe on its new pair (as `shim6ctl uplink` does). Only the keys the
//     file changed are applied: an operator's run-time change to another
//     key stands.
//   - [[hba]] sets: new hosts and new sets are used for contexts made from
//     now on. A host that has contexts keeps the set it announces until it
//     has none left (pinned below): its peers verified that set, and a new
//     one could take away the locator a context uses.
//   - [[context]]: a static context only in the new file is added, one
//     only in the old removed, one in both left alone.
//   - [shim] establish_after, establish_peers, establish_rate, r1_rate,
//     r1_rate_per_prefix, ulp_advice; [daemon] icmp_rate_limit,
//     neighbor_timeout, log_level: from the next packet or round on. The
//     rate limits start again full.
//
// Every reload logs one line (the changes, or why nothing was applied) and
// counts in shim6d_config_reloads_total.

// Reload results, the values of the counters' result label.
const (
	reloadOK = iota
	reloadRefused
	reloadError
	reloadResults
)

var reloadResultNames = [reloadResults]string{"ok", "refused", "error"}

// errEmbedded: the daemon runs the embedded configuration.
var errEmbedded = errors.New("shim6d runs the embedded lab configuration, not a file, so there is nothing to read again; start it with --config FILE to reload")

// ReloadFile reads the daemon's configuration file again and applies it
// (Reload) on the core's goroutine. It may be called from any goroutine
// while the core runs; by says who asked, for the log. An error that
// wraps configs.ErrNeedsRestart is a refusal: the daemon goes on with the
// configuration it had.
func (c *Core) ReloadFile(by string) ([]configs.Change, error) {
	path := c.cfg.ConfigPath
	if path == "" {
		c.reloaded(by, nil, errEmbedded)
		return nil, errEmbedded
	}
	cfg, err := configs.Load(path)
	if err != nil {
		c.reloaded(by, nil, err)
		return nil, err
	}
	var changes []configs.Change
	c.Query(func() { changes, err = c.Reload(cfg, by) })
	return changes, err
}

// Reload applies cfg, a configuration loaded and validated from the same
// file as the running one, without dropping a context, and returns what
// it changed. When a key changed that needs a restart it changes nothing
// and returns configs.Diff's refusal. Core goroutine only (through Query).
func (c *Core) Reload(cfg *configs.Config, by string) ([]configs.Change, error) {
	changes, err := c.reload(cfg)
	c.reloaded(by, changes, err)
	return changes, err
}

func (c *Core) reload(cfg *configs.Config) ([]configs.Change, error) {
	if c.cfg.File == nil {
		return nil, errors.New("this control core was not built from a configuration file")
	}
	changes, err := configs.Diff(c.cfg.File, cfg)
	if err != nil {
		return nil, err
	}
	changed := func(key string) bool {
		for _, ch := range changes {
			if ch.Key == key || strings.HasPrefix(ch.Key, key+"[") || strings.HasPrefix(ch.Key, key+".") {
				return true
			}
		}
		return false
	}
	now := c.cfg.Now()
	// What can fail first, undone if it does, so that a failed reload
	// leaves everything as it was.
	if changed("context") {
		if err := c.reloadContexts(cfg); err != nil {
			return nil, err
		}
	}
	var errs []error
	if changed("port") {
		errs = append(errs, c.reloadUplinks(cfg, changed, now)...)
	}
	if changed("hba") {
		if err := c.reloadHosts(cfg); err != nil {
			errs = append(errs, err)
		}
	}
	d, sh := &cfg.Daemon, &cfg.Shim
	if changed("daemon.icmp_rate_limit") {
		c.cfg.ICMPRate, c.cfg.ICMPRatePerPrefix = d.ICMPRateLimit, max(d.ICMPRateLimit/10, 1)
		c.icmp = ratelimit.NewLimiter(c.cfg.ICMPRate, c.cfg.ICMPRatePerPrefix, icmpPrefixSlots, ratelimit.RandomSecret(), now)
		c.echo = ratelimit.New(c.cfg.ICMPRate, now)
	}
	if changed("daemon.neighbor_timeout") {
		c.cfg.Reachable = d.NeighborTimeout.Duration // from the next confirmation on
	}
	if changed("daemon.log_level") && c.cfg.LogLevel != nil {
		c.cfg.LogLevel.Set(d.LogLevel.Level())
	}
	if changed("shim.establish_peers") {
		c.cfg.EstablishPeers = sh.EstablishPeers
	}
	if changed("shim.establish_rate") {
		c.cfg.EstablishRate = sh.EstablishRate
		c.estab = ratelimit.New(sh.EstablishRate, now)
	}
	if changed("shim.establish_after") {
		for _, w := range c.cfg.Workers {
			w.SetEstablishAfter(sh.EstablishAfter)
		}
	}
	if changed("shim.r1_rate") && c.sig != nil {
		c.sig.SetR1Rate(sh.R1Rate, sh.R1RatePerPrefix)
	}
	if changed("shim.ulp_advice") && c.reap != nil { // the watch feeds REAP alone
		for _, w := range c.cfg.Workers {
			w.SetULPAdvice(sh.ULPAdviceOn())
		}
	}
	// The file is what runs now, even where a part could not be applied
	// (the error says which): the next reload compares with it.
	c.cfg.File = cfg
	return changes, errors.Join(errs...)
}

// staticSpec is a [[context]] table as the fast path's table takes it.
func staticSpec(setup []PortSetup, x *configs.Context) dataplane.ContextSpec {
	egress := -1
	for i, s := range setup {
		if s.Role == dataplane.RoleUplink && s.Prefix.Contains(x.LocalLocator) {
			egress = i
		}
	}
	return dataplane.ContextSpec{
		LocalTag: x.LocalTag, PeerTag: x.PeerTag, EgressPort: uint16(egress),
		ULIDLocal: x.LocalULID.As16(), ULIDPeer: x.PeerULID.As16(),
		LocLocal: x.LocalLocator.As16(), LocPeer: x.PeerLocator.As16(),
	}
}

// reloadContexts removes the static contexts only in the running file and
// adds those only in cfg; if one cannot be added (its tag's slot or its
// ULID pair taken by a context the signalling made), it undoes what it did.
func (c *Core) reloadContexts(cfg *configs.Config) error {
	if c.cfg.Contexts == nil {
		return errors.New("context: the shim is off, so there is no context table for static contexts")
	}
	in := func(x *configs.Context, list []configs.Context) bool {
		for i := range list {
			if list[i] == *x {
				return true
			}
		}
		return false
	}
	var removed []dataplane.ContextSpec
	var added []uint32
	undo := func() {
		for _, slot := range added {
			c.DeleteContext(slot)
		}
		for _, spec := range removed {
			c.AddContext(spec)
		}
	}
	old := c.cfg.File.Contexts
	for i := range old {
		if in(&old[i], cfg.Contexts) {
			continue
		}
		spec := staticSpec(c.cfg.Setup, &old[i])
		var t dataplane.Context
		// Only the static context itself: the pair may have been taken
		// over since by one the signalling made, which stays.
		if c.cfg.Contexts.LookupULIDs(&spec.ULIDLocal, &spec.ULIDPeer, &t) && t.LocalTag == spec.LocalTag {
			if err := c.DeleteContext(t.Slot); err == nil {
				removed = append(removed, spec)
			}
		}
	}
	for i := range cfg.Contexts {
		x := &cfg.Contexts[i]
		if in(x, old) {
			continue
		}
		slot, _, err := c.AddContext(staticSpec(c.cfg.Setup, x))
		if err != nil {
			undo()
			return cfg.ErrorAt(fmt.Sprintf("context[%d]", i), "cannot add the context (%s <-> %s): %v; the reload changed nothing",
				x.LocalULID, x.PeerULID, err)
		}
		added = append(added, slot)
	}
	return nil
}

// reloadUplinks applies the uplinks' priority, weight and backup that the
// file changed. Uplinks that stop being backup go first, so that a file
// that swaps the backup role never leaves, even for a moment, no primary
// (which the policy refuses).
func (c *Core) reloadUplinks(cfg *configs.Config, changed func(string) bool, now time.Time) []error {
	var errs []error
	moved := false
	for _, pass := range []bool{false, true} {
		for i := range cfg.Ports {
			p := &cfg.Ports[i]
			key := fmt.Sprintf("port[%d]", i)
			if p.Role != configs.RoleUplink || p.Backup != pass || !changed(key) {
				continue
			}
			var ch policy.Change
			prio, weight := uint8(p.Priority), uint8(p.Weight)
			if changed(key + ".backup") {
				ch.Backup = &p.Backup
			}
			// The policy restores the priority it started with when
			// backup ends; the file's is the one to restore.
			if !p.Backup && (changed(key+".priority") || changed(key+".backup")) {
				ch.Priority = &prio
			}
			if changed(key + ".weight") {
				ch.Weight = &weight
			}
			ok, err := c.policy.Set(i, ch, now)
			if err != nil {
				errs = append(errs, cfg.ErrorAt(key, "uplink %q not changed: %v", p.Name, err))
				continue
			}
			// c.cfg.Setup keeps the start's values: the policy holds the
			// uplinks' state from then on, and the admin API reads Setup
			// without asking the core.
			moved = moved || ok
		}
	}
	if moved {
		c.policyChanged(true)
	}
	return errs
}

// reloadHosts makes cfg's HBA sets the ones new contexts use, and pins the
// set each host with contexts had, for as long as it has them.
func (c *Core) reloadHosts(cfg *configs.Config) error {
	if c.sig == nil || c.hosts == nil {
		return errors.New("hba: the sets were not taken from the configuration, so a reload cannot change them")
	}
	hosts, err := hbaHosts(cfg)
	if err != nil {
		return err
	}
	if c.pinned == nil {
		c.pinned = hba.HostSet{}
	}
	pin := func(ulid netip.Addr) {
		if _, done := c.pinned[ulid]; !done && c.sig.HasHost(ulid) {
			c.pinned[ulid] = c.hosts[ulid] // nil: the host had its ULID alone
		}
	}
	for ulid := range c.hosts {
		pin(ulid)
	}
	for ulid := range hosts {
		pin(ulid)
	}
	c.hosts = hosts
	return nil
}

// hostSet is the set to look ulid up in: the one pinned for it while the
// signalling holds the host, else the configured sets. A pin whose host
// has no context left goes.
func (c *Core) hostSet(ulid netip.Addr) hba.HostSet {
	if _, ok := c.pinned[ulid]; ok {
		if c.sig != nil && c.sig.HasHost(ulid) {
			return c.pinned
		}
		delete(c.pinned, ulid)
	}
	return c.hosts
}

// reloaded counts a reload and logs its one line.
func (c *Core) reloaded(by string, changes []configs.Change, err error) {
	result := reloadOK
	switch {
	case errors.Is(err, configs.ErrNeedsRestart):
		result = reloadRefused
	case err != nil:
		result = reloadError
	}
	c.reloads[result].Add(1)
	log := c.cfg.Log.With("by", by, "file", c.cfg.ConfigPath)
	switch result {
	case reloadOK:
		c.lastReload.Store(c.cfg.Now().UnixNano())
		log.Info("configuration reloaded", "changed", ChangeList(changes))
	case reloadRefused:
		log.Warn("configuration reload refused; running on the old configuration", "refused", err.Error())
	default:
		if len(changes) > 0 {
			log.Warn("configuration reloaded in part", "changed", ChangeList(changes), "err", err.Error())
			return
		}
		log.Warn("configuration reload failed; running on the old configuration", "err", err.Error())
	}
}

// ChangeList is changes as one line, "nothing" when there are none.
func ChangeList(changes []configs.Change) string {
	if len(changes) == 0 {
		return "nothing"
	}
	s := make([]string, len(changes))
	for i, ch := range changes {
		s[i] = ch.String()
	}
	return strings.Join(s, "; ")
}

// reloadCollector exports the reload counters.
type reloadCollector struct {
	c              *Core
	reloads, since *prometheus.Desc
}

func newReloadCollector(c *Core) reloadCollector {
	return reloadCollector{c: c,
		reloads: prometheus.NewDesc("shim6d_config_reloads_total",
			"Configuration reloads (SIGHUP, shim6ctl reload) by result: ok (applied), refused (a key needs a restart), error (the file unreadable or invalid, or a part not applied).",
			[]string{"result"}, nil),
		since: prometheus.NewDesc("shim6d_config_last_reload_success_timestamp_seconds",
			"Unix time of the last configuration reload that was applied; 0 if none was.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (r reloadCollector) Describe(ch chan<- *prometheus.Desc) { ch <- r.reloads; ch <- r.since }

// Collect implements prometheus.Collector.
func (r reloadCollector) Collect(ch chan<- prometheus.Metric) {
	for i, name := range reloadResultNames {
		ch <- prometheus.MustNewConstMetric(r.reloads, prometheus.CounterValue, float64(r.c.reloads[i].Load()), name)
	}
	ts := 0.0
	if ns := r.c.lastReload.Load(); ns != 0 {
		ts = float64(ns) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(r.since, prometheus.GaugeValue, ts)
}

// Reload is the admin API's POST /reload: ReloadFile, its refusal a 409
// and any other failure a 422, each with its one line.
func (v adminView) Reload() (admin.Reload, error) {
	changes, err := v.c.ReloadFile("admin API")
	if err != nil {
		code := http.StatusUnprocessableEntity
		if errors.Is(err, configs.ErrNeedsRestart) {
			code = http.StatusConflict
		}
		return admin.Reload{}, &admin.StatusError{Code: code, Err: err}
	}
	res := admin.Reload{Changed: []string{}}
	for _, ch := range changes {
		res.Changed = append(res.Changed, ch.String())
	}
	return res, nil
}
