package control

import (
	"net/netip"
	"testing"

	"shim6d/control/ha"
	"shim6d/control/shim6"
	"shim6d/dataplane"
)

// standbyCore is a core of 64 slots with the replication's standby state
// and no connection: the fuzz target applies records to it directly.
func standbyCore(t testing.TB) *Core {
	c := stoppedSynthCore(t, false, 64)
	at := netip.MustParseAddrPort("127.0.0.1:9")
	r, err := ha.New(ha.Config{Listen: at, Peer: at, Key: haKey, QueueChunks: 1, ChunkBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	c.repl = &replication{r: r, feed: r.Feed(), marks: ha.NewMarks(64), sigs: map[uint32]*shim6.Replica{}}
	return c
}

// FuzzApplyRecords: whatever records an authenticated active sends (a
// bug there, or a box configured unlike this one), the standby refuses
// what it cannot apply with an error and never breaks its table: every
// replica is in the slot its tag names, found by its tag and its ULID
// pair, the marks count what the table holds, and signalling state is
// kept only for replicas.
func FuzzApplyRecords(f *testing.F) {
	seed := func(recs ...ha.Record) []byte {
		var b []byte
		for i := range recs {
			b, _ = ha.Append(b, &recs[i])
		}
		return b
	}
	u := func(x byte) [16]byte { return [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: x} }
	ctx := func(slot uint32, tag uint64, l, p byte) ha.Record {
		return ha.Record{Kind: ha.KindContext, Slot: slot, LocalTag: tag, PeerTag: 5, EgressPort: 1,
			ULIDLocal: u(l), ULIDPeer: u(p), LocLocal: u(l), LocPeer: u(p)}
	}
	f.Add(seed(ha.Record{Kind: ha.KindSnapshotBegin, Capacity: 64}, ctx(1, 1|64, 1, 2), ctx(2, 2|128, 1, 3), ha.Record{Kind: ha.KindSnapshotEnd, Count: 2}))
	f.Add(seed(ctx(1, 1|64, 1, 2), ctx(1, 1|128, 1, 2), ctx(3, 3|64, 1, 2), ha.Record{Kind: ha.KindDelete, Slot: 3}))
	f.Add(seed(ctx(70, 6|64, 1, 2), ctx(5, 6|64, 1, 2), ctx(5, 0, 1, 2), ha.Record{Kind: ha.KindSnapshotBegin, Capacity: 32}))
	sig := ctx(4, 4|64, 1, 4)
	sig.LocLocal = u(9)
	sig.Sig = ha.Signalling{State: uint8(shim6.Established), PeerLocators: []ha.Locator{{Addr: u(4)}}, PeerParameters: []byte("p")}
	f.Add(seed(sig, ha.Record{Kind: ha.KindSnapshotBegin, Capacity: 64}, ha.Record{Kind: ha.KindSnapshotEnd}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := standbyCore(t)
		var r ha.Record
		for len(b) > 0 {
			n, err := ha.Decode(b, &r)
			if err != nil {
				break
			}
			b = b[n:]
			_ = c.apply(&r) // refusals are the point; the invariants below are the test
		}
		p, table := c.repl, c.cfg.Contexts
		held := 0
		p.marks.Each(func(slot uint32) {
			held++
			var x, y dataplane.Context
			if !table.Get(slot, &x) {
				t.Fatalf("slot %d marked, empty", slot)
			}
			if !table.LookupTag(x.LocalTag, &y) || y.Slot != slot {
				t.Fatalf("slot %d: its tag %#x does not find it", slot, x.LocalTag)
			}
			if !table.LookupULIDs(&x.ULIDLocal, &x.ULIDPeer, &y) || y.Slot != slot {
				t.Fatalf("slot %d: its ULID pair does not find it", slot)
			}
		})
		if held != p.marks.Len() || held != table.Len() {
			t.Fatalf("%d marked, marks count %d, table holds %d", held, p.marks.Len(), table.Len())
		}
		for slot := range p.sigs {
			if !p.marks.Has(slot) {
				t.Fatalf("signalling kept for slot %d, which holds no replica", slot)
			}
		}
	})
}
