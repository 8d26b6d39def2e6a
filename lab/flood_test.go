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
	bin, a, b := twoSites(t, "configs/site-a.toml", "configs/site-b.toml")
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

	// Unflooded, for comparison: a handshake each way and one transfer.
	// A handshake from B has site A answer with R1 (RFC 5533 §7.10), the
	// reply the I1 flood competes for.
	base := handshakeTime(t, bin, a, "2001:db8:1::10", "2001:db8:3::20")
	baseIn := handshakeTime(t, bin, b, "2001:db8:3::f0", "2001:db8:1::f0")
	res := transfer(t, bin, 20<<20, nil)
	if !res.Verified {
		t.Fatalf("transfer before any flood: %+v", res)
	}
	t.Logf("no flood: handshake from A %v, from B %v, 20 MB transfer longest stall %.0f ms", base, baseIn, res.MaxStallMS)

	for i, fc := range floods {
		t.Run(fc.kind, func(t *testing.T) {
			before, beforeB := controlCounters(t, a), controlCounters(t, b)
			inUse := buffersInUse(t, a)
			contexts := len(contextsOf(t, a))
			start := time.Now()
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
			hsIn := handshakeTime(t, bin, b, fmt.Sprintf("2001:db8:3::%x", 0x100+i), fmt.Sprintf("2001:db8:1::%x", 0x200+i))
			res := transfer(t, bin, 20<<20, nil)
			flood.Wait()
			close(stop)
			adminWorst := <-worst
			secs := time.Since(start).Seconds()
			after, afterB := controlCounters(t, a), controlCounters(t, b)
			d := func(k string) uint64 { return after[k] - before[k] }
			icmp := d("time_exceeded") + d("packet_too_big") + d("address_unreachable")
			t.Logf("%s flood: %s; handshake from A %v (unflooded %v), from B %v (unflooded %v, %d I1 retransmissions); 20 MB transfer verified %v, longest stall %.0f ms; admin answered within %v; over %.1f s site A sent %d control messages: R1 %d (%d I1s limited, %d from known peers), R1bis %d, ICMPv6 errors %d; ring full %d",
				fc.kind, strings.TrimSpace(floodOut.String()), hs, base, hsIn, baseIn, afterB["shim6_retransmissions"]-beforeB["shim6_retransmissions"],
				res.Verified, res.MaxStallMS, adminWorst, secs, d("signal_sent"), d("shim6_out_r1"), d("shim6_r1_rate_limited"),
				d("shim6_r1_known_peer"), d("shim6_out_r1bis"), icmp, d("control_ring_full"))
			if !res.Verified {
				t.Errorf("transfer under the flood: %+v", res)
			}
			// The replies to what the flood sent stay within their caps
			// (lab.toml defaults: R1 1000/s with a burst of 100, R1bis and
			// ICMPv6 errors 100/s with a burst of 10), whatever it offers.
			if r1 := d("shim6_out_r1"); float64(r1) > 1000*secs+100+10 {
				t.Errorf("%d R1s in %.1f s: over the cap of 1000 a second", r1, secs)
			}
			if r := d("shim6_out_r1bis"); float64(r) > 100*secs+10 {
				t.Errorf("%d R1bis in %.1f s: over the cap of 100 a second", r, secs)
			}
			if float64(icmp) > 100*secs+10 {
				t.Errorf("%d ICMPv6 errors in %.1f s: over the cap of 100 a second", icmp, secs)
			}
			// B's handshake is answered by site A during the flood: B is
			// a known peer, so its I1 is not dropped at the cap the flood
			// spends (its first retransmission would come 4 s later). A's
			// control core sees each of B's I1s that reaches it as a
			// known peer's: one, answered at once. An I1 lost before the
			// control core, to a control ring the flood keeps nearly full
			// (each loss counted), costs B one retransmission: the lab's
			// two CPUs stall the control core now and then, and the cap
			// has no say in it. A's control core having seen B's first
			// I1 and let B retransmit is the failure.
			retx := afterB["shim6_retransmissions"] - beforeB["shim6_retransmissions"]
			seen := d("shim6_r1_known_peer")
			switch {
			case retx == 0 && seen == 1:
			case retx == 1 && seen == 1 && d("control_ring_full") > 0:
				t.Logf("%s flood: B's first I1 did not reach A's control core (A's control ring turned %d packets away); its retransmission was answered", fc.kind, d("control_ring_full"))
			default:
				t.Errorf("site B retransmitted %d times to establish a context with A during the flood; A's control core saw %d I1s from known peers", retx, seen)
			}
			if adminWorst >= 2*time.Second {
				t.Errorf("the admin socket took %v to answer during the flood", adminWorst)
			}
			// Every buffer the flood took comes back: within a few
			// seconds site A holds no more than it did before, give or
			// take what traffic in flight holds.
			var now int
			waitFor(t, 5*time.Second, func() bool { now = buffersInUse(t, a); return now <= inUse+64 },
				func() string { return fmt.Sprintf("buffers in use %d after the flood, %d before", now, inUse) })
			t.Logf("%s flood: buffers in use %d before, %d after", fc.kind, inUse, now)
			if got := len(contextsOf(t, a)); got != contexts+2 {
				t.Errorf("%d contexts after the flood, want %d (the two established by hand)", got, contexts+2)
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

// buffersInUse is how many packet buffers d's pools have out.
func buffersInUse(t *testing.T, d *daemonProc) int {
	t.Helper()
	var st admin.Status
	d.get(t, "/status", &st)
	if len(st.Pools) == 0 {
		t.Fatal("the daemon reports no buffer pool")
	}
	n := 0
	for _, p := range st.Pools {
		n += p.InUse
	}
	return n
}
