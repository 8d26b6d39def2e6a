package lab

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"shim6d/control/admin"
)

// floodCase is one flood at site A's isp1 uplink, from the lab's Internet.
type floodCase struct {
	kind string
	// dst is where the flood is aimed: site A's addresses.
	dst string
}

// The floods of the outside tester's report (issue 16), each aimed at site
// A's isp1 uplink from spoofed sources all over 2001:db8:ee::/48.
var floods = []floodCase{
	{kind: "i1", dst: "2001:db8:1::/48"},
	{kind: "unknown-tag", dst: "2001:db8:1::/48"},
	{kind: "malformed", dst: "2001:db8:1::/48"},
}

// floodFor is how long each flood lasts, and floodMax how many frames it
// sends at most: the test stays short and its load bounded.
const (
	floodFor = 6 * time.Second
	floodMax = 3_000_000
)

// TestTwoSitesUnderFlood: while each flood runs at site A's isp1 uplink,
// a new context between the sites still establishes, a verified TCP
// transfer across them completes, site A's admin socket answers
// throughout, the flood creates no context, and what site A sends back
// toward the spoofed sources stays within its limits. The figures are
// logged for the note (go test -v).
func TestTwoSitesUnderFlood(t *testing.T) {
	needLab(t)
	bin, a, _ := twoSites(t, "configs/site-a.toml", "configs/site-b.toml")
	if out, err := exec.Command("go", "build", "-o", bin+"/", "shim6d/lab/floodgen").CombinedOutput(); err != nil {
		t.Fatalf("building floodgen: %v\n%s", err, out)
	}
	var ports []admin.Port
	a.get(t, "/ports", &ports)
	uplinkMAC := ""
	for _, p := range ports {
		if p.Name == "isp1" {
			uplinkMAC = p.MAC
		}
	}
	if uplinkMAC == "" {
		t.Fatalf("site A has no isp1 port: %+v", ports)
	}

	// Unflooded, for comparison: one handshake and one transfer.
	base := handshakeTime(t, bin, a, "2001:db8:1::10", "2001:db8:3::20")
	res := transfer(t, bin, 20<<20, nil)
	if !res.Verified {
		t.Fatalf("transfer before any flood: %+v", res)
	}
	t.Logf("no flood: handshake %v, 20 MB transfer longest stall %.0f ms", base, res.MaxStallMS)

	for i, fc := range floods {
		t.Run(fc.kind, func(t *testing.T) {
			before := controlCounters(t, a)
			contexts := len(contextsOf(t, a))
			flood := exec.Command("ip", "netns", "exec", "s6-inet", bin+"/floodgen", "-iface", "i-a1", "-dmac", uplinkMAC,
				"-kind", fc.kind, "-dst", fc.dst, "-count", fmt.Sprint(floodMax), "-seconds", fmt.Sprint(floodFor.Seconds()))
			var floodOut lockedBuffer
			flood.Stdout, flood.Stderr = &floodOut, &floodOut
			if err := flood.Start(); err != nil {
				t.Fatal(err)
			}
			// The admin socket, polled throughout.
			stop := make(chan struct{})
			worst := make(chan time.Duration, 1)
			go func() {
				var w time.Duration
				for {
					select {
					case <-stop:
						worst <- w
						return
					case <-time.After(200 * time.Millisecond):
					}
					t0 := time.Now()
					var st admin.Status
					if err := admin.NewClient(a.sock).Get("/status", &st); err != nil {
						w = time.Hour
					}
					w = max(w, time.Since(t0))
				}
			}()
			time.Sleep(500 * time.Millisecond) // the flood is on
			// A new ULID pair each flood: host A's HBA address i+2 is not
			// configured, so use ULIDs of the site's plain hosts.
			hs := handshakeTime(t, bin, a, fmt.Sprintf("2001:db8:1::%x", 0x100+i), "2001:db8:3::20")
			res := transfer(t, bin, 20<<20, nil)
			flood.Wait()
			close(stop)
			adminWorst := <-worst
			after := controlCounters(t, a)
			t.Logf("%s flood: %s; handshake %v (unflooded %v); 20 MB transfer verified %v, longest stall %.0f ms; admin answered within %v; replies sent %d, R1 %d, R1bis %d, ICMPv6 errors %d, ring full %d",
				fc.kind, strings.TrimSpace(floodOut.String()), hs, base, res.Verified, res.MaxStallMS, adminWorst,
				after["signal_sent"]-before["signal_sent"], after["shim6_out_r1"]-before["shim6_out_r1"],
				after["shim6_out_r1bis"]-before["shim6_out_r1bis"],
				after["time_exceeded"]+after["packet_too_big"]+after["address_unreachable"]-before["time_exceeded"]-before["packet_too_big"]-before["address_unreachable"],
				after["control_ring_full"]-before["control_ring_full"])
			if !res.Verified {
				t.Errorf("transfer under the flood: %+v", res)
			}
			if adminWorst >= 2*time.Second {
				t.Errorf("the admin socket took %v to answer during the flood", adminWorst)
			}
			if got := len(contextsOf(t, a)); got != contexts+1 {
				t.Errorf("%d contexts after the flood, want %d (the one established by hand)", got, contexts+1)
			}
		})
	}
}

// handshakeTime starts a context from local to peer on d by hand and
// returns how long it took to become ESTABLISHED.
func handshakeTime(t *testing.T, bin string, d *daemonProc, local, peer string) time.Duration {
	t.Helper()
	t0 := time.Now()
	run(t, bin+"/shim6ctl", "establish", "--socket", d.sock, local, peer)
	var last string
	waitFor(t, 10*time.Second, func() bool {
		for _, c := range contextsOf(t, d) {
			if c.LocalULID.String() == local && c.PeerULID.String() == peer {
				last = c.State
				return c.State == "ESTABLISHED"
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("context %s → %s not established within 10 s (state %q)", local, peer, last)
	})
	return time.Since(t0).Round(time.Millisecond)
}

func contextsOf(t *testing.T, d *daemonProc) []admin.Context {
	t.Helper()
	var cs []admin.Context
	d.get(t, "/contexts", &cs)
	return cs
}

// controlCounters is d's control-core, signalling and drop counters by
// name, and each message type sent (shim6_out_TYPE).
func controlCounters(t *testing.T, d *daemonProc) map[string]uint64 {
	t.Helper()
	var st admin.Stats
	d.get(t, "/stats", &st)
	m := map[string]uint64{}
	for k, v := range st.Control {
		m[k] = v
	}
	for k, v := range st.Drops {
		m[k] = v
	}
	return m
}
