package control

import (
	"bytes"
	"net"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"shim6d/configs"
	"shim6d/control/ha"
	"shim6d/control/reap"
	"shim6d/control/shim6"
	"shim6d/dataplane"
	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
	"shim6d/ports"
)

var haKey = bytes.Repeat([]byte{0x42}, ha.MinKey)

func haPort(t testing.TB) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// withReplication sets a site up for replication at at (both boxes
// name the same loopback address: the active listens on it, the standby
// connects to it).
func withReplication(at netip.AddrPort, key []byte, queueChunks, chunkBytes int) func(*Config) {
	return func(c *Config) {
		c.Replication = &ha.Config{Listen: at, Peer: at, Key: key, QueueChunks: queueChunks, ChunkBytes: chunkBytes,
			Heartbeat: 20 * time.Millisecond, DeadAfter: 500 * time.Millisecond}
	}
}

// haSites is the two-site harness with site A doubled: A (active, on the
// network) and A2 (its standby, replicating over loopback TCP), and
// hostsA×hostsB contexts established between A and B.
func haSites(t testing.TB, hostsA, hostsB, capacity, queueChunks, chunkBytes int) (n *tnet, a, a2, b *tsite) {
	t.Helper()
	clock := &fakeClock{t: time.Unix(1000, 0)}
	at := haPort(t)
	a = newTSite(t, clock, "A", 0xa1, 0xa2, capacity, configs.FailbackStay, time.Minute, false, 1, 1, withReplication(at, haKey, queueChunks, chunkBytes))
	a2 = newTSite(t, clock, "A2", 0xa1, 0xa2, capacity, configs.FailbackStay, time.Minute, false, 1, 1, withReplication(at, haKey, queueChunks, chunkBytes))
	b = newTSite(t, clock, "B", 0xb1, 0xb2, capacity, configs.FailbackStay, time.Minute, false, 1, 1)
	t.Cleanup(func() { a.core.Replicator().Close(); a2.core.Replicator().Close() })
	a.core.setReplicationRole(true)
	n = &tnet{t: t, clock: clock, sites: []*tsite{a, b}, step: 10 * time.Millisecond}
	n.establish(a, hostsA, hostsB)
	return n, a, a2, b
}

// settle polls the active and the standby cores (real time: the
// replication runs over TCP) until cond holds.
func settle(t testing.TB, a, s *tsite, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: active %+v\nstandby %+v", a.core.ReplicationStatus(), s.core.ReplicationStatus())
		}
		a.core.Poll()
		s.core.Poll()
		time.Sleep(200 * time.Microsecond)
	}
}

// sameTables reports where the standby's table differs from the
// active's: every context at the same slot with the same tags, ULIDs,
// locators and uplink, and nothing more.
func sameTables(a, s *tsite) string {
	var diff string
	a.table.Each(func(c *dataplane.Context) bool {
		var r dataplane.Context
		if !s.table.Get(c.Slot, &r) {
			diff = "slot " + itoa(int(c.Slot)) + " missing"
			return false
		}
		if r != *c {
			diff = "slot " + itoa(int(c.Slot)) + " differs"
			return false
		}
		return true
	})
	if diff == "" && a.table.Len() != s.table.Len() {
		diff = "standby holds " + itoa(s.table.Len()) + ", active " + itoa(a.table.Len())
	}
	return diff
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestReplicationTakeover is issue #15's items 3 and 4 end to end, on two
// Cores over loopback TCP: contexts established on the active appear at
// the standby in the same slots with the same tags and locators; a
// REAP switch and deletions follow; a standby that reconnects gets a
// snapshot that also removes what was deleted meanwhile; and the
// standby, switched to active, forwards a packet of a replicated context
// with the right rewrite, with REAP watching the context on its
// replicated pair and no handshake sent.
func TestReplicationTakeover(t *testing.T) {
	n, a, a2, b := haSites(t, 4, 5, 256, 0, 0)
	settle(t, a, a2, func() bool { return a2.core.ReplicationStatus().State == "in-sync" && sameTables(a, a2) == "" })
	if st := a2.core.ReplicationStatus(); st.Replicas != 20 || st.Resyncs != 1 {
		t.Fatalf("standby %+v", st)
	}

	// REAP moves one context to the second uplinks (a2::1 ↔ b2::1):
	// its new pair reaches the standby.
	ha1, hb1, a21, b21 := taddr(0xa1, 1), taddr(0xb1, 1), taddr(0xa2, 1), taddr(0xb2, 1)
	ci, _ := a.sig.Context(ha1, hb1)
	if !a.reap.TryPair(reap.ID(ci.Slot), a21, b21) {
		t.Fatal("the move did not start")
	}
	n.run(3 * time.Second)
	if ci, _ = a.sig.Context(ha1, hb1); ci.LocalLocator != a21 || ci.PeerLocator != b21 {
		t.Fatalf("active's context on %v–%v", ci.LocalLocator, ci.PeerLocator)
	}
	// A context of the table alone, then its deletion.
	static := dataplane.ContextSpec{PeerTag: 77, ULIDLocal: taddr(0xa1, 99).As16(), ULIDPeer: taddr(0xb1, 99).As16(),
		LocLocal: taddr(0xa1, 99).As16(), LocPeer: taddr(0xb1, 99).As16(), EgressPort: 1}
	slot, _, err := a.core.AddContext(static)
	if err != nil {
		t.Fatal(err)
	}
	settle(t, a, a2, func() bool { return sameTables(a, a2) == "" })
	if err := a.core.DeleteContext(slot); err != nil {
		t.Fatal(err)
	}
	settle(t, a, a2, func() bool { return sameTables(a, a2) == "" })

	// The standby loses its connection; meanwhile the active drops a
	// context (gone for good) and makes another. The reconnection's
	// snapshot brings both.
	a2.core.Replicator().SetRole(ha.RoleOff)
	var gone uint32
	a.table.Each(func(c *dataplane.Context) bool {
		if netip.AddrFrom16(c.ULIDLocal) != ha1 {
			gone = c.Slot
			return false
		}
		return true
	})
	a.sig.Forget(gone)
	static.ULIDPeer = taddr(0xb1, 98).As16()
	static.LocPeer = static.ULIDPeer
	if _, _, err := a.core.AddContext(static); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		a.core.Poll()
	}
	if sameTables(a, a2) == "" {
		t.Fatal("the standby changed while disconnected")
	}
	a2.core.Replicator().SetRole(ha.RoleStandby)
	settle(t, a, a2, func() bool { return a2.core.ReplicationStatus().Resyncs == 2 && sameTables(a, a2) == "" })
	if st := a.core.ReplicationStatus(); st.Resyncs != 2 || st.Overflows != 0 || st.BadMACs != 0 {
		t.Fatalf("active %+v", st)
	}
	// The acknowledgements retire what was sent.
	settle(t, a, a2, func() bool { return a.core.ReplicationStatus().LagSeconds == 0 })
	sent, applied := a.core.ReplicationStatus().RecordsSent, a2.core.ReplicationStatus().RecordsApplied
	// Records written into the first connection as it closed were sent
	// and never applied: the snapshot made up for them.
	if applied == 0 || applied > sent {
		t.Fatalf("%d records sent, %d applied", sent, applied)
	}
	for _, want := range []string{
		"shim6d_ha_records_total{direction=\"sent\"} " + itoa(int(sent)) + "\n",
		"shim6d_ha_resyncs_total 2\n",
		"shim6d_ha_replication_lag_seconds 0\n",
		"shim6d_ha_queue_overflows_total 0\n",
		"shim6d_ha_frames_refused_total{reason=\"bad_mac\"} 0\n",
	} {
		if m := scrape(t, a.core); !strings.Contains(m, want) {
			t.Errorf("the active's /metrics lacks %q:\n%s", want, m)
		}
	}
	for _, want := range []string{
		"shim6d_ha_records_total{direction=\"applied\"} " + itoa(int(applied)) + "\n",
		"shim6d_ha_replicas " + itoa(a.table.Len()) + "\n",
	} {
		if m := scrape(t, a2.core); !strings.Contains(m, want) {
			t.Errorf("the standby's /metrics lacks %q:\n%s", want, m)
		}
	}

	// A's replication dies first; A establishes one more context, which
	// A2 therefore never hears of; then A dies. A2 takes over.
	established := int(a.sig.Stats.Contexts(shim6.Established))
	a.core.Replicator().Close()
	late, lateB := taddr(0xa1, 9), taddr(0xb1, 9)
	if err := a.sig.Establish(late, lateB); err != nil {
		t.Fatal(err)
	}
	n.run(time.Second)
	lateCtx, ok := a.sig.Context(late, lateB)
	if !ok || lateCtx.State != shim6.Established {
		t.Fatalf("the late context: %+v", lateCtx)
	}
	handshakes := a2.sig.Stats.HandshakesStarted.Load() + b.sig.Stats.HandshakesStarted.Load()
	recoveries := b.sig.Stats.RecoveriesStarted.Load()
	a2.core.setReplicationRole(true)
	n.sites[0] = a2
	if got := int(a2.sig.Stats.Contexts(shim6.Established)); got != established || a2.core.ReplicationStatus().Adopted != uint64(established) {
		t.Fatalf("took over %d contexts (status %+v), the active had %d", got, a2.core.ReplicationStatus(), established)
	}
	ci2, ok := a2.sig.Context(ha1, hb1)
	if !ok || ci2.Slot != ci.Slot || ci2.LocalTag != ci.LocalTag || ci2.PeerTag != ci.PeerTag || ci2.LocalLocator != a21 {
		t.Fatalf("taken over as %+v, was %+v", ci2, ci)
	}
	if l, p := a2.reap.Current(reap.ID(ci.Slot)); l != a21 || p != b21 || a2.reap.State(reap.ID(ci.Slot)) != reap.Operational {
		t.Fatalf("REAP on %v–%v in %v", l, p, a2.reap.State(reap.ID(ci.Slot)))
	}

	// A2's fast path forwards the host's packet by the replicated
	// context: locators a2::1 → b2::1, the payload header with B's tag.
	w := dataplane.NewWorker(dataplane.WorkerConfig{
		Ports: []ports.Port{a2.ports[0], a2.ports[1], a2.ports[2]}, Control: ports.Ring(a2.core.cfg.Ring), Fwd: &a2.fwd,
		Shim: dataplane.ShimConfig{Contexts: a2.table},
	})
	a2.ports[0].Inject(0, pkttest.UDP(a2.ports[0].MAC(), [6]byte{2, 9, 9, 9, 9, 9}, ha1, hb1, 64, header.ProtoUDP, nil, "data", ha1, hb1))
	w.Poll()
	out := a2.ports[2].Sent(0)
	if len(out) != 1 {
		t.Fatalf("uplink u2 sent %d frames", len(out))
	}
	ip := header.IPv6(out[0][14:])
	if src, dst := netip.AddrFrom16(*ip.Src()), netip.AddrFrom16(*ip.Dst()); src != a21 || dst != b21 || ip.NextHeader() != header.ProtoShim6 {
		t.Fatalf("sent %v → %v, next header %d", src, dst, ip.NextHeader())
	}
	if tag := header.Shim6Payload(ip[header.IPv6MinimumSize:]).ContextTag(); tag != ci.PeerTag {
		t.Fatalf("payload header tag %#x, want B's %#x", tag, ci.PeerTag)
	}

	// B's next payload packet of the late context reaches A2 with a tag
	// A2 does not know: its worker raises the event, A2 answers R1bis,
	// B recovers the context with I2bis (RFC 5533 §7.17-§7.20). It is
	// the one recovery the takeover costs, and it is counted.
	a2.core.cfg.Events.Push(&dataplane.Event{Kind: dataplane.EventUnknownTag, Port: 1, Tag: lateCtx.LocalTag,
		Src: lateB.As16(), Dst: late.As16()})
	n.run(20 * time.Second)
	if h := a2.sig.Stats.HandshakesStarted.Load() + b.sig.Stats.HandshakesStarted.Load() - handshakes; h != 0 {
		t.Fatalf("%d handshakes after the takeover", h)
	}
	st := a2.core.ReplicationStatus()
	if r := b.sig.Stats.RecoveriesStarted.Load() - recoveries; r != 1 || st.RecoveredAfterTakeover != 1 {
		t.Fatalf("%d recoveries started by B after the takeover, %d counted by A2; want 1 (the late context)", r, st.RecoveredAfterTakeover)
	}
	if got := int(a2.sig.Stats.Contexts(shim6.Established)); got != established+1 {
		t.Fatalf("%d contexts established after 20 s, want %d", got, established+1)
	}
	if m := scrape(t, a2.core); !strings.Contains(m, "shim6d_ha_recovered_after_takeover 1\n") || !strings.Contains(m, "shim6d_ha_adopted_contexts "+itoa(established)+"\n") {
		t.Errorf("A2's /metrics:\n%s", m)
	}

	// A comes back as standby: it gives its own contexts up (no word to
	// B), and the snapshot from A2 makes its table A2's.
	a.core.setReplicationRole(false)
	if a.sig.Len() != 0 || a.core.ReplicationStatus().Role != "standby" {
		t.Fatalf("A back as standby still holds %d contexts", a.sig.Len())
	}
	settle(t, a2, a, func() bool { return a.core.ReplicationStatus().State == "in-sync" && sameTables(a2, a) == "" })
	if h := a2.sig.Stats.HandshakesStarted.Load() + b.sig.Stats.HandshakesStarted.Load() - handshakes; h != 0 {
		t.Fatalf("%d handshakes after A's return", h)
	}
}

// scrape returns what the core's replication collector exports (the
// others Query the core, which these tests poll by hand).
func scrape(t *testing.T, c *Core) string {
	reg := prometheus.NewRegistry()
	reg.MustRegister(haCollector{c})
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestReplicationStalledStandby: the standby's core stops applying while
// the active makes thousands of changes through a small queue. The
// active's rounds go on (they would hang here if they waited), the
// overflow is counted, and when the standby runs again a resync makes
// its table whole.
func TestReplicationStalledStandby(t *testing.T) {
	_, a, a2, _ := haSites(t, 1, 2, 1<<15, 4, 4096)
	settle(t, a, a2, func() bool { return a2.core.ReplicationStatus().State == "in-sync" && sameTables(a, a2) == "" })
	// Changes in rounds of 5,000 (420 KB of records for a 16 KB queue)
	// until the queue overflows: how much the transport drains while a
	// round is written depends on the machine (under -race the core is
	// slow enough for it to keep up with smaller rounds), so the test
	// goes on until the overflow it is about, within the table.
	added := 0
	for added < 30000 && a.core.ReplicationStatus().Overflows == 0 {
		for range 5000 {
			spec := dataplane.ContextSpec{PeerTag: uint64(added + 1), ULIDLocal: taddr(0xa1, 200).As16(), ULIDPeer: taddr(0xb1, added+1000).As16(), EgressPort: 1}
			spec.LocLocal, spec.LocPeer = spec.ULIDLocal, spec.ULIDPeer
			if _, _, err := a.core.AddContext(spec); err != nil {
				t.Fatal(err)
			}
			added++
		}
		a.core.Poll()
	}
	for range 50 {
		a.core.Poll()
	}
	if a.core.ReplicationStatus().Overflows == 0 {
		t.Fatalf("no overflow: the queue held %d changes", added)
	}
	settle(t, a, a2, func() bool { return a2.core.ReplicationStatus().State == "in-sync" && sameTables(a, a2) == "" })
	if st := a2.core.ReplicationStatus(); st.Replicas != added+2 || st.Resyncs < 2 {
		t.Fatalf("standby after %d changes: %+v", added, st)
	}
}

// TestReplicationCapacityMismatch: a standby whose table is smaller than
// the active's cannot hold its tags in the same slots; it refuses the
// snapshot (counted), holds nothing, and backs off instead of
// reconnecting in a loop.
func TestReplicationCapacityMismatch(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	at := haPort(t)
	a := newTSite(t, clock, "A", 0xa1, 0xa2, 256, configs.FailbackStay, time.Minute, false, 1, 1, withReplication(at, haKey, 0, 0))
	a2 := newTSite(t, clock, "A2", 0xa1, 0xa2, 128, configs.FailbackStay, time.Minute, false, 1, 1, withReplication(at, haKey, 0, 0))
	t.Cleanup(func() { a.core.Replicator().Close(); a2.core.Replicator().Close() })
	a.core.setReplicationRole(true)
	if _, _, err := a.core.AddContext(dataplane.ContextSpec{PeerTag: 1, ULIDLocal: taddr(0xa1, 1).As16(), ULIDPeer: taddr(0xb1, 1).As16(),
		LocLocal: taddr(0xa1, 1).As16(), LocPeer: taddr(0xb1, 1).As16()}); err != nil {
		t.Fatal(err)
	}
	settle(t, a, a2, func() bool { return a2.core.ReplicationStatus().Refused > 0 })
	end := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		a.core.Poll()
		a2.core.Poll()
		time.Sleep(time.Millisecond)
	}
	st := a2.core.ReplicationStatus()
	if a2.table.Len() != 0 || st.Connections > 5 || st.State == "in-sync" {
		t.Fatalf("standby with a smaller table: %d contexts, %+v", a2.table.Len(), st)
	}
}

// TestReplicationWrongKey: a standby whose key differs gets nothing; the
// active refuses its Hello and counts the bad MAC.
func TestReplicationWrongKey(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	at := haPort(t)
	a := newTSite(t, clock, "A", 0xa1, 0xa2, 64, configs.FailbackStay, time.Minute, false, 1, 1, withReplication(at, haKey, 0, 0))
	a2 := newTSite(t, clock, "A2", 0xa1, 0xa2, 64, configs.FailbackStay, time.Minute, false, 1, 1, withReplication(at, bytes.Repeat([]byte{1}, ha.MinKey), 0, 0))
	t.Cleanup(func() { a.core.Replicator().Close(); a2.core.Replicator().Close() })
	a.core.setReplicationRole(true)
	if _, _, err := a.core.AddContext(dataplane.ContextSpec{PeerTag: 1, ULIDLocal: taddr(0xa1, 1).As16(), ULIDPeer: taddr(0xb1, 1).As16(),
		LocLocal: taddr(0xa1, 1).As16(), LocPeer: taddr(0xb1, 1).As16()}); err != nil {
		t.Fatal(err)
	}
	settle(t, a, a2, func() bool { return a2.core.ReplicationStatus().BadMACs > 0 })
	for range 20 {
		a.core.Poll()
		a2.core.Poll()
	}
	if a2.table.Len() != 0 || a.core.ReplicationStatus().Connections != 0 {
		t.Fatalf("standby with the wrong key: %d contexts, active %+v", a2.table.Len(), a.core.ReplicationStatus())
	}
}
