package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"shim6d/control"
	"shim6d/control/admin"
	"shim6d/dataplane"
)

// uplinks answers GET /uplinks: each uplink's policy and condition, and
// the contexts on it. The count walks the context table (lock-free, off
// the core): a cost per request, none on the data path.
func (d *daemon) uplinks() []admin.Uplink {
	var st []control.UplinkStatus
	d.core.Query(func() { st = d.core.Uplinks() })
	count := d.contextsPerPort()
	out := make([]admin.Uplink, 0, len(st))
	for _, u := range st {
		out = append(out, admin.Uplink{Name: u.Name, Prefix: u.Prefix, Priority: u.Priority, Weight: u.Weight,
			Backup: u.Backup, Down: u.Down, Drained: u.Drained, Withdrawn: u.Withdrawn, Contexts: count[u.Port]})
	}
	return out
}

// contextsPerPort counts the contexts by the uplink whose prefix holds
// their current local locator.
func (d *daemon) contextsPerPort() []int {
	count := make([]int, len(d.cfg.Ports))
	fwd := d.fwd.Load()
	d.contexts.Each(func(c *dataplane.Context) bool {
		if up := fwd.UplinkFor(&c.LocLocal); up != nil && int(up.Port) < len(count) {
			count[up.Port]++
		}
		return true
	})
	return count
}

func (d *daemon) getUplinks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(d.uplinks())
}

// setUplink changes an uplink's policy at run time:
// POST /uplinks/{name}?priority=N&weight=N&backup=BOOL&drained=BOOL, any
// of them. Peers hear it in Update Requests, and the contexts it concerns
// move after a probe on their new pair.
func (d *daemon) setUplink(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var p control.UplinkPolicy
	for _, f := range []struct {
		key string
		set func(string) error
	}{
		{"priority", func(v string) error {
			n, err := strconv.ParseUint(v, 10, 8)
			x := uint8(n)
			p.Priority = &x
			return err
		}},
		{"weight", func(v string) error { n, err := strconv.ParseUint(v, 10, 8); x := uint8(n); p.Weight = &x; return err }},
		{"backup", func(v string) error { b, err := strconv.ParseBool(v); p.Backup = &b; return err }},
		{"drained", func(v string) error { b, err := strconv.ParseBool(v); p.Drained = &b; return err }},
	} {
		if v := q.Get(f.key); v != "" {
			if err := f.set(v); err != nil {
				http.Error(w, fmt.Sprintf("%s=%q: want a number 0..255 for priority and weight, true or false for backup and drained", f.key, v), http.StatusBadRequest)
				return
			}
		}
	}
	name := r.PathValue("name")
	var err error
	d.core.Query(func() { err = d.core.SetUplinkPolicy(name, p) })
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	d.getUplinks(w, r)
}

// uplinkCollector exports the spread and the policy per uplink.
type uplinkCollector struct{ d *daemon }

var (
	uplinkContextsDesc = prometheus.NewDesc("shim6d_uplink_contexts",
		"contexts whose current local locator is under the uplink's prefix (the spread)", []string{"uplink"}, nil)
	uplinkPriorityDesc = prometheus.NewDesc("shim6d_uplink_priority",
		"the uplink's announced Locator Preferences priority (lower preferred, 255 backup)", []string{"uplink"}, nil)
	uplinkWeightDesc = prometheus.NewDesc("shim6d_uplink_weight",
		"the uplink's announced Locator Preferences weight", []string{"uplink"}, nil)
	uplinkUsableDesc = prometheus.NewDesc("shim6d_uplink_usable",
		"1 while the uplink is up, its next hop reachable and it is not drained", []string{"uplink"}, nil)
)

func (c uplinkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- uplinkContextsDesc
	ch <- uplinkPriorityDesc
	ch <- uplinkWeightDesc
	ch <- uplinkUsableDesc
}

func (c uplinkCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c.d.uplinks() {
		usable := 1.0
		if u.Down || u.Drained {
			usable = 0
		}
		ch <- prometheus.MustNewConstMetric(uplinkContextsDesc, prometheus.GaugeValue, float64(u.Contexts), u.Name)
		ch <- prometheus.MustNewConstMetric(uplinkPriorityDesc, prometheus.GaugeValue, float64(u.Priority), u.Name)
		ch <- prometheus.MustNewConstMetric(uplinkWeightDesc, prometheus.GaugeValue, float64(u.Weight), u.Name)
		ch <- prometheus.MustNewConstMetric(uplinkUsableDesc, prometheus.GaugeValue, usable, u.Name)
	}
}
