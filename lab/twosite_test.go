package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"shim6d/control/admin"
	"shim6d/control/wire"
)

// The lab hosts' HBA addresses (lab/configs/site-*.toml).
const (
	hbaA  = "2001:db8:1:0:183b:cc4f:5e88:1b6e"
	hbaA2 = "2001:db8:2:0:1873:d9ed:9dc8:9741"
	hbaB  = "2001:db8:3:0:1c07:f9d3:8800:1dc"
	hbaB4 = "2001:db8:4:0:40a:2bee:a813:188f"
)

// TestTwoSitesEstablish: host A's traffic to host B makes shim6d A start a
// Shim6 context (deferred establishment after 3 packets, configured in
// site-a.toml); the two daemons establish it across the lab's Internet
// (RFC 5533 §7), and a capture taken on the link shows the four handshake
// messages, which tshark finds well formed (type, checksum Good) and
// shim6ctl decode decodes without error.
func TestTwoSitesEstablish(t *testing.T) {
	needLab(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("needs tshark (Debian tshark)")
	}
	// At debug level the daemons log every control message they send and
	// receive, for the comparison with the capture below.
	debug := []string{"polling = \"adaptive\"", "polling = \"adaptive\"\nlog_level = \"debug\""}
	bin, a, b := twoSites(t, editedConfig(t, "configs/site-a.toml", "", debug...), editedConfig(t, "configs/site-b.toml", "", debug...))

	capFile := t.TempDir() + "/link.pcap"
	tshark := exec.Command("ip", "netns", "exec", "s6-inet", "tshark", "-i", "i-a1", "-w", capFile, "-f", "ip6 proto 140", "-a", "duration:6")
	var tsErr bytes.Buffer
	tshark.Stderr = &tsErr
	if err := tshark.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // tshark needs a moment to open the interface
	// From host A's HBA ULID to host B's: both announce two locators,
	// which each side verifies as HBAs (RFC 5535).
	out := run(t, "ip", "netns", "exec", "s6a-host", "ping", "-6", "-c", "5", "-i", "0.2", "-W", "3", "-I", hbaA, hbaB)
	if !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("site A's host cannot reach site B's:\n%s", out)
	}

	established := func(d *daemonProc) bool {
		var cs []admin.Context
		return admin.NewClient(d.sock).Get("/contexts", &cs) == nil && len(cs) == 1 && cs[0].State == "ESTABLISHED"
	}
	deadline := time.Now().Add(10 * time.Second)
	for !established(a) || !established(b) {
		if time.Now().After(deadline) {
			t.Fatalf("no established context on both sides within 10 s:\nA: %s\nB: %s",
				run(t, bin+"/shim6ctl", "contexts", "--socket", a.sock), run(t, bin+"/shim6ctl", "contexts", "--socket", b.sock))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ca, cb []admin.Context
	a.get(t, "/contexts", &ca)
	b.get(t, "/contexts", &cb)
	if ca[0].PeerTag != cb[0].LocalTag || cb[0].PeerTag != ca[0].LocalTag {
		t.Fatalf("tags do not cross: A %s/%s, B %s/%s", ca[0].LocalTag, ca[0].PeerTag, cb[0].LocalTag, cb[0].PeerTag)
	}
	// Each side learned and verified the other's two locators.
	want := map[string][]string{"A": {hbaB, hbaB4}, "B": {hbaA, hbaA2}}
	for side, c := range map[string]admin.Context{"A": ca[0], "B": cb[0]} {
		got := fmt.Sprint(c.PeerLocators)
		if len(c.PeerLocators) != 2 || !strings.Contains(got, want[side][0]) || !strings.Contains(got, want[side][1]) {
			t.Fatalf("site %s's peer locators = %s, want %v", side, got, want[side])
		}
	}
	body, err := admin.NewClient(a.sock).GetRaw("/metrics")
	if err != nil || !strings.Contains(string(body), "shim6d_shim6_handshakes_completed_total 1") ||
		!strings.Contains(string(body), "shim6d_shim6_contexts_established 1") {
		t.Fatalf("site A's metrics do not count the handshake (%v):\n%s", err, body)
	}
	if out := run(t, bin+"/shim6ctl", "context", "--socket", a.sock, fmt.Sprint(ca[0].Slot)); !strings.Contains(out, "ESTABLISHED") || !strings.Contains(out, hbaB4) {
		t.Fatalf("shim6ctl context:\n%s", out)
	}
	// Asking again by hand makes no second context.
	exec.Command(bin+"/shim6ctl", "establish", "--socket", a.sock, hbaA, hbaB).Run()
	time.Sleep(300 * time.Millisecond)
	if !established(a) {
		t.Fatal("shim6ctl establish for an established pair disturbed it")
	}
	if err := tshark.Wait(); err != nil {
		t.Fatalf("tshark: %v\n%s", err, tsErr.String())
	}

	// tshark: every message's type and checksum status (fields it reads
	// right; docs/tshark.md says which it does not), each one a message
	// a daemon logged sending and the other receiving, under the same
	// type name.
	fieldsOut, err := exec.Command("tshark", "-r", capFile, "-T", "fields", "-e", "shim6.type", "-e", "shim6.checksum.status",
		"-e", "ipv6.src", "-e", "ipv6.dst").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	fields := string(fieldsOut)
	seen := map[string]bool{}
	logs := a.log.String() + b.log.String()
	for _, line := range strings.Split(strings.TrimSpace(fields), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[1] != "1" {
			t.Fatalf("tshark: message %q does not have checksum status Good\n%s", line, fields)
		}
		seen[f[0]] = true
		var typ uint8
		fmt.Sscan(f[0], &typ)
		name := wire.Type(typ).String()
		for _, dir := range []string{"sent", "received"} {
			want := fmt.Sprintf(`msg="shim6 %s" type=%s src=%s dst=%s`, dir, name, f[2], f[3])
			if !strings.Contains(logs, want) {
				t.Fatalf("tshark saw %s %s → %s, but no daemon logged %q", name, f[2], f[3], want)
			}
		}
	}
	for _, typ := range []string{"1", "2", "3", "4"} { // I1, R1, I2, R2
		if !seen[typ] {
			t.Fatalf("type %s missing from the capture; tshark saw:\n%s", typ, fields)
		}
	}
	dec := run(t, bin+"/shim6ctl", "decode", capFile)
	for _, name := range []string{"I1", "R1", "I2", "R2"} {
		if !strings.Contains(dec, "Shim6 "+name+" ") {
			t.Fatalf("shim6ctl decode did not show %s:\n%s", name, dec)
		}
	}
	if !strings.Contains(dec, " 0 malformed") || strings.Contains(dec, "checksum BAD") {
		t.Fatalf("shim6ctl decode found problems:\n%s", dec)
	}
}

// twoSites brings the two-site lab up (lab/twosite.sh) with shim6d A and B
// on the given config files; the test's end tears it all down.
func twoSites(t *testing.T, cfgA, cfgB string) (bin string, a, b *daemonProc) {
	t.Helper()
	bin = buildAll(t)
	run(t, "./twosite.sh", "up")
	t.Cleanup(func() { exec.Command("./twosite.sh", "down").Run() })
	return bin, startDaemonFile(t, bin, "s6a-box", cfgA), startDaemonFile(t, bin, "s6b-box", cfgB)
}

// transferResult is what tcpcheck serve reports.
type transferResult struct {
	Bytes       int64   `json:"bytes"`
	Verified    bool    `json:"verified"`
	MaxStallMS  float64 `json:"max_stall_ms"`
	Connections int     `json:"connections"`
	Error       string  `json:"error"`
}

// transfer streams n bytes over one TCP connection from host A (hbaA) to
// host B (hbaB), paced at 100 Mbit/s, calls during (if not nil) once the
// sender has started, and returns what the receiver verified.
func transfer(t *testing.T, bin string, n int64, during func()) transferResult {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", "s6b-host", bin+"/tcpcheck", "serve",
		"-listen", "["+hbaB+"]:5001", "-bytes", fmt.Sprint(n), "-timeout", "90s")
	var srvOut bytes.Buffer
	srv.Stdout = &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	snd := exec.Command("ip", "netns", "exec", "s6a-host", bin+"/tcpcheck", "send", "-to", "["+hbaB+"]:5001",
		"-from", hbaA, "-bytes", fmt.Sprint(n), "-mbps", "100", "-timeout", "60s")
	var sndOut bytes.Buffer
	snd.Stdout, snd.Stderr = &sndOut, &sndOut
	if err := snd.Start(); err != nil {
		t.Fatal(err)
	}
	if during != nil {
		during()
	}
	if err := snd.Wait(); err != nil {
		t.Fatalf("sender: %v\n%s", err, sndOut.String())
	}
	srv.Wait()
	var res transferResult
	if err := json.Unmarshal(srvOut.Bytes(), &res); err != nil {
		t.Fatalf("tcpcheck output %q: %v", srvOut.String(), err)
	}
	return res
}

// cutISP1 silently drops everything through isp1's link in the Internet
// namespace, both ways: no link goes down, nothing tells the daemons.
func cutISP1(t *testing.T) {
	t.Helper()
	run(t, "ip", "netns", "exec", "s6-inet", "nft", "add", "table", "ip6", "cut")
	run(t, "ip", "netns", "exec", "s6-inet", "nft", "add", "chain", "ip6", "cut", "c", "{ type filter hook forward priority 0; }")
	run(t, "ip", "netns", "exec", "s6-inet", "nft", "add", "rule", "ip6", "cut", "c", "iifname", "i-a1", "drop")
	run(t, "ip", "netns", "exec", "s6-inet", "nft", "add", "rule", "ip6", "cut", "c", "oifname", "i-a1", "drop")
}

// blackholeISP1 makes the Internet drop what it would send to isp1's
// prefix: site A's packets still leave by isp1, nothing comes back that
// way (a one-way failure).
func blackholeISP1(t *testing.T) {
	t.Helper()
	run(t, "ip", "netns", "exec", "s6-inet", "ip", "-6", "route", "replace", "blackhole", "2001:db8:1::/48")
}

// TestTwoSitesFailover is the mission: a TCP connection between the two
// sites' hosts carries on when ISP1 silently stops carrying packets, both
// ways or one way. REAP (RFC 5534, Send Timeout 1 s in the lab) notices,
// probes the other pairs, and both daemons move the context to a pair
// through isp2; the same connection delivers every byte in order, with a
// stall under 2 s.
func TestTwoSitesFailover(t *testing.T) {
	t.Run("both ways (nftables drop)", func(t *testing.T) {
		failover(t, failoverCase{cut: cutISP1, maxStall: 2 * time.Second})
	})
	// ISP1's link goes down: site A's af_packet port loses carrier, the
	// daemon sees it within 100 ms and explores at once (RFC 5534 §3.2),
	// without waiting for the Send Timeout.
	t.Run("link down", func(t *testing.T) {
		failover(t, failoverCase{cut: func(t *testing.T) {
			run(t, "ip", "netns", "exec", "s6-inet", "ip", "link", "set", "i-a1", "down")
		}, maxStall: time.Second})
	})
	t.Run("one way (blackhole toward isp1)", func(t *testing.T) {
		failover(t, failoverCase{cut: blackholeISP1, maxStall: 2 * time.Second})
	})
	// Site B announces isp4's locator, but nothing gets through isp4: REAP
	// must find the pair through isp2 and isp3 and never use b4 for data.
	t.Run("a peer locator that is announced but unreachable", func(t *testing.T) {
		failover(t, failoverCase{before: func(t *testing.T) { drop(t, "i-b4") }, cut: cutISP1, wantPeer: hbaB})
	})
	// After a failover, site B's daemon crashes and comes back with no
	// state: A's packets meet an unknown context tag, B answers R1bis, A
	// recovers the context with I2bis (RFC 5533 §7.5), and the
	// connection goes on.
	t.Run("site B restarts with no state", func(t *testing.T) {
		failover(t, failoverCase{cut: cutISP1, crashB: true, bytes: 100 << 20})
	})
	// Both of site A's uplinks fail; the connection stalls and resumes
	// when isp2 comes back.
	t.Run("both uplinks down, then one back", func(t *testing.T) {
		failover(t, failoverCase{cut: func(t *testing.T) {
			drop(t, "i-a1")
			drop(t, "i-a2")
			time.Sleep(3 * time.Second)
			run(t, "ip", "netns", "exec", "s6-inet", "nft", "delete", "table", "ip6", "cut-i-a2")
		}})
	})
	// ISP1 comes back: after failback_hold (3 s in the lab) the context
	// returns to its preferred pair, the ULIDs through isp1 and isp3.
	t.Run("failback when isp1 returns", func(t *testing.T) {
		failover(t, failoverCase{bytes: 120 << 20, maxStall: 2 * time.Second, wantLocal: hbaA, wantPeer: hbaB,
			cut: func(t *testing.T) {
				cutISP1(t)
				time.Sleep(2 * time.Second)
				run(t, "ip", "netns", "exec", "s6-inet", "nft", "delete", "table", "ip6", "cut")
			}})
	})
}

// failoverCase is one failure of the two-site lab.
type failoverCase struct {
	before, cut func(*testing.T)
	// maxStall bounds the transfer's longest stall (0: no bound).
	maxStall time.Duration
	// bytes is the transfer's size at 100 Mbit/s; 60 MB (5 s) if 0.
	bytes int64
	// wantLocal is site A's local locator at the end (isp2's, hbaA2, if
	// ""); wantPeer its peer locator (any if "").
	wantLocal, wantPeer string
	// crashB: once the cut has moved the context off the ULIDs (so that
	// packets carry the payload header), site B's daemon is killed and
	// started again with no state.
	crashB bool
}

// drop makes the Internet drop everything through one of its links, both
// ways, in a table of its own so it can be lifted again.
func drop(t *testing.T, link string) {
	t.Helper()
	table := "cut-" + link
	run(t, "ip", "netns", "exec", "s6-inet", "nft", "add", "table", "ip6", table)
	run(t, "ip", "netns", "exec", "s6-inet", "nft", "add", "chain", "ip6", table, "c", "{ type filter hook forward priority 0; }")
	run(t, "ip", "netns", "exec", "s6-inet", "nft", "add", "rule", "ip6", table, "c", "iifname", link, "drop")
	run(t, "ip", "netns", "exec", "s6-inet", "nft", "add", "rule", "ip6", table, "c", "oifname", link, "drop")
}

// failover streams from host A to host B, applies fc.before (if any)
// first and fc.cut mid-transfer, and checks that the same connection
// delivers every byte within fc.maxStall, and where both contexts end.
func failover(t *testing.T, fc failoverCase) {
	needLab(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (Debian nftables)")
	}
	bin, a, b := twoSites(t, "configs/site-a.toml", "configs/site-b.toml")
	if fc.before != nil {
		fc.before(t)
	}
	if fc.wantLocal == "" {
		fc.wantLocal = hbaA2
	}
	n := fc.bytes
	if n == 0 {
		n = 60 << 20 // 60 MB at 100 Mbit/s: about 5 s
	}
	run(t, "ip", "netns", "exec", "s6a-host", "ping", "-6", "-c", "5", "-i", "0.2", "-W", "3", "-I", hbaA, hbaB)
	var cutAt time.Time
	res := transfer(t, bin, n, func() {
		time.Sleep(1500 * time.Millisecond)
		cutAt = time.Now()
		fc.cut(t)
		if fc.crashB {
			time.Sleep(3 * time.Second)
			b.cmd.Process.Kill()
			b.cmd.Wait()
			b = startDaemonFile(t, bin, "s6b-box", "configs/site-b.toml")
		}
	})
	t.Logf("cut at %s; transfer: %d bytes, verified %v, one connection %v, stall %.0f ms",
		cutAt.Format("15:04:05.000"), res.Bytes, res.Verified, res.Connections == 1, res.MaxStallMS)
	if !res.Verified || res.Bytes != n || res.Connections != 1 {
		t.Fatalf("the connection did not survive: %+v", res)
	}
	if fc.maxStall > 0 && res.MaxStallMS >= float64(fc.maxStall.Milliseconds()) {
		t.Fatalf("stall %.0f ms, want under %v", res.MaxStallMS, fc.maxStall)
	}
	if fc.crashB {
		// Recovered (RFC 5533 §7.5): one context each, tags crossed.
		var ca, cb []admin.Context
		a.get(t, "/contexts", &ca)
		b.get(t, "/contexts", &cb)
		if len(ca) != 1 || len(cb) != 1 || cb[0].State != "ESTABLISHED" || ca[0].PeerTag != cb[0].LocalTag || cb[0].PeerTag != ca[0].LocalTag {
			t.Fatalf("after B's restart: A %+v, B %+v", ca, cb)
		}
		return
	}
	// Both sides agree on where site A's end of the pair is now.
	for side, d := range map[string]*daemonProc{"A": a, "B": b} {
		var cs []admin.Context
		d.get(t, "/contexts", &cs)
		if len(cs) != 1 || (side == "A" && cs[0].LocalLocator.String() != fc.wantLocal) || (side == "B" && cs[0].PeerLocator.String() != fc.wantLocal) {
			t.Fatalf("site %s context after the cut: %+v", side, cs)
		}
		if side == "A" && fc.wantPeer != "" && cs[0].PeerLocator.String() != fc.wantPeer {
			t.Fatalf("site A uses peer locator %s, want %s", cs[0].PeerLocator, fc.wantPeer)
		}
	}
}
