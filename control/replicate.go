package control

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"shim6d/control/ha"
	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
)

// The adapter between the control core and control/ha (issue #15): on the
// active box, every context change becomes a record for the standby; on
// the standby, the records become contexts in the same slots, and at
// takeover the signalling and REAP take them over where the active left
// them.
//
// What is replicated is the table's contexts that are settled: those the
// signalling holds ESTABLISHED, with their peer state, and those it does
// not manage at all (static and synthetic contexts). A handshake in
// progress is not: the standby could not finish it (it has neither the
// nonces nor the validator secret), and the peer's retransmission or
// R1bis makes it anew after a takeover.
//
// Changes are not encoded where they happen but collected by slot and
// encoded at the end of the round: a context established and moved by
// REAP in one round costs one record, and the record always says what the
// slot holds now, which is what makes records independent of each other
// (a delete is "the slot holds nothing to replicate").

// Replication budgets per round, so that a million-context snapshot,
// sent or applied, never holds the core past what ND and REAP timers
// tolerate (see synthPartTime).
const (
	replPartTime   = 5 * time.Millisecond
	replClockEvery = 256
)

type replication struct {
	r    *ha.Replicator
	feed *ha.Feed
	// active is the role the core last set.
	active bool
	rec    ha.Record

	// The active's: slots changed since the round's records were made
	// (dirtyBits dedups them), and a snapshot in progress: the next slot
	// it sends and how many contexts it sent.
	dirty     []uint32
	dirtyBits []uint64
	snapshot  bool
	cursor    uint32
	sent      uint32

	// The standby's: which slots hold replicas, the signalling part of
	// each (for Adopt at takeover), and the batch being applied.
	marks *ha.Marks
	sigs  map[uint32]*shim6.Replica
	// adopt holds the slots of sigs still to be adopted after a takeover
	// (adoptPart).
	adopt []uint32
	in    *ha.Inbound
	off   int
	left  uint32
	// refusedConn is the connection whose record the core refused: its
	// later batches are skipped until the reconnection's snapshot.
	refusedConn uint64

	// For ReplicationStatus, from any goroutine.
	replicas      atomic.Int64
	adopted       atomic.Uint64
	recoveredBase atomic.Uint64
	tookOver      atomic.Bool
	// busy is the core's time in replicationRound, in nanoseconds.
	busy atomic.Int64
}

// startReplication builds the replicator; the box starts as standby, as
// the issue asks: without keepalived's word, a box waits to be told.
func (c *Core) startReplication(cfg ha.Config) error {
	if c.cfg.Contexts == nil {
		return fmt.Errorf("replication needs a context table (the shim is off)")
	}
	if cfg.Log == nil {
		cfg.Log = c.cfg.Log
	}
	r, err := ha.New(cfg)
	if err != nil {
		return err
	}
	capacity := c.cfg.Contexts.Capacity()
	c.repl = &replication{
		r: r, feed: r.Feed(), active: true,
		dirtyBits: make([]uint64, (capacity+63)/64),
		marks:     ha.NewMarks(capacity),
		sigs:      map[uint32]*shim6.Replica{},
	}
	c.setReplicationRole(false)
	return nil
}

// Replicator is the core's replicator, nil when replication is off.
func (c *Core) Replicator() *ha.Replicator {
	if c.repl == nil {
		return nil
	}
	return c.repl.r
}

// ReplicationStatus is what `shim6ctl ha` shows of the replication:
// control/ha's Status with the core's replica and takeover counts. Safe
// from any goroutine; zero with Role "off" when replication is off.
func (c *Core) ReplicationStatus() ha.Status {
	if c.repl == nil {
		return ha.Status{Role: "off", State: "off"}
	}
	s := c.repl.r.Status()
	s.Replicas = int(c.repl.replicas.Load())
	s.Adopted = c.repl.adopted.Load()
	s.CoreSeconds = time.Duration(c.repl.busy.Load()).Seconds()
	if c.repl.tookOver.Load() && c.sig != nil {
		s.RecoveredAfterTakeover = c.sig.Stats.RecoveredContexts.Load() + c.sig.Stats.RecoveriesCompleted.Load() - c.repl.recoveredBase.Load()
	}
	return s
}

// setReplicationRole switches the replication to the active side (true)
// or the standby side. control/role.go calls it on every role change.
//
// Becoming active, the core first applies every batch already received
// (the newest table beats a short round), then hands each replicated
// ESTABLISHED context to the signalling (shim6.Machine.Adopt), which
// tells REAP through OnEstablished: REAP resumes in Operational on the
// replicated current pair, and no handshake is sent. The fast path
// already forwards from the replicated table.
//
// Becoming standby, the core gives up its own contexts without a word to
// their peers (the new active holds them) and takes every context left
// in its table as a replica, so that the first snapshot removes what the
// active does not have.
func (c *Core) setReplicationRole(active bool) {
	p := c.repl
	if p == nil || p.active == active {
		return
	}
	p.active = active
	if active {
		for c.applyInbound(time.Time{}) {
		}
		c.cfg.Log.Info("ha: taking over the replicated contexts", "contexts", p.marks.Len(), "signalling", len(p.sigs))
		p.adopt = p.adopt[:0]
		if c.sig != nil {
			for slot := range p.sigs {
				p.adopt = append(p.adopt, slot)
			}
			p.recoveredBase.Store(c.sig.Stats.RecoveredContexts.Load() + c.sig.Stats.RecoveriesCompleted.Load())
		} else {
			clear(p.sigs)
		}
		p.adopted.Store(0)
		p.tookOver.Store(true)
		p.marks = ha.NewMarks(p.marks.Capacity())
		p.replicas.Store(0)
		p.r.SetRole(ha.RoleActive)
		c.adoptPart(time.Now().Add(replPartTime))
		return
	}
	p.r.SetRole(ha.RoleStandby)
	p.snapshot, p.dirty, p.adopt = false, p.dirty[:0], p.adopt[:0]
	clear(p.sigs)
	clear(p.dirtyBits)
	if c.sig != nil {
		c.sig.Slots(func(slot uint32) { c.sig.Forget(slot) })
	}
	c.cfg.Contexts.Each(func(t *dataplane.Context) bool {
		p.marks.Set(t.Slot)
		return true
	})
	p.replicas.Store(int64(p.marks.Len()))
}

// adoptPart hands the signalling the next replicated contexts of a
// takeover, until the deadline: about 5 µs each, so a million would hold
// the core for seconds (ND, the unsolicited advertisements of the new
// role) if done at once. The fast path forwards them all meanwhile; a
// context not yet adopted only waits for its REAP watch. It reports
// whether any are left.
func (c *Core) adoptPart(deadline time.Time) bool {
	p := c.repl
	for n := 0; len(p.adopt) > 0; n++ {
		if n%64 == 63 && time.Now().After(deadline) {
			return true
		}
		slot := p.adopt[len(p.adopt)-1]
		p.adopt = p.adopt[:len(p.adopt)-1]
		rs := p.sigs[slot]
		delete(p.sigs, slot)
		if rs == nil {
			continue
		}
		if _, err := c.sig.Adopt(slot, rs); err != nil {
			c.cfg.Log.Warn("replicated context not taken over", "slot", slot, "err", err)
			continue
		}
		p.adopted.Add(1)
	}
	if len(p.sigs) > 0 {
		clear(p.sigs)
	}
	return false
}

// replChanged notes that slot's context was made, changed or removed.
// Every writer of the table in the core calls it (contexts.go, and the
// signalling's hooks for what the machine writes itself).
func (c *Core) replChanged(slot uint32) {
	p := c.repl
	if p == nil || !p.active || !p.feed.Streaming() {
		return
	}
	w, b := slot/64, uint64(1)<<(slot%64)
	if int(w) >= len(p.dirtyBits) || p.dirtyBits[w]&b != 0 {
		return
	}
	p.dirtyBits[w] |= b
	p.dirty = append(p.dirty, slot)
}

// replicationRound runs the round's replication: on the active, the
// records of the round's changes and a part of a snapshot; on the
// standby, a part of the batches received.
func (c *Core) replicationRound(now time.Time) {
	p := c.repl
	if p == nil {
		return
	}
	start := time.Now()
	defer func() { p.busy.Add(int64(time.Since(start))) }()
	if !p.active {
		c.applyInbound(time.Now().Add(replPartTime))
		return
	}
	if len(p.adopt) > 0 {
		c.adoptPart(time.Now().Add(replPartTime))
	}
	streaming, snap := p.feed.Round()
	if !streaming {
		p.snapshot = false
		c.clearDirty()
		return
	}
	if snap {
		// The snapshot visits every slot, so it covers the changes
		// collected so far.
		c.clearDirty()
		p.r.SnapshotBegun()
		p.snapshot, p.cursor, p.sent = true, 0, 0
		p.rec = ha.Record{Kind: ha.KindSnapshotBegin, Capacity: uint32(c.cfg.Contexts.Capacity())}
		p.feed.Add(&p.rec)
	}
	for _, slot := range p.dirty {
		c.recordOf(slot)
		if !p.feed.Add(&p.rec) {
			break // an overflow: the snapshot that follows covers the rest
		}
	}
	c.clearDirty()
	if p.snapshot {
		c.snapshotPart()
	}
	p.feed.Flush()
}

func (c *Core) clearDirty() {
	p := c.repl
	for _, s := range p.dirty {
		p.dirtyBits[s/64] = 0
	}
	p.dirty = p.dirty[:0]
}

// snapshotPart sends the snapshot's next slots, as far as the queue's
// room and the round's time allow.
func (c *Core) snapshotPart() {
	p := c.repl
	capacity := uint32(c.cfg.Contexts.Capacity())
	start := time.Now()
	var t dataplane.Context
	for n := 0; p.cursor < capacity; n++ {
		if n%replClockEvery == replClockEvery-1 && time.Since(start) > replPartTime || !p.feed.Spare() {
			return
		}
		slot := p.cursor
		if c.cfg.Contexts.Get(slot, &t) && c.replicable(slot) {
			c.recordOf(slot)
			if !p.feed.Add(&p.rec) {
				return // overflow: the next round starts over
			}
			p.sent++
		}
		p.cursor++
	}
	p.rec = ha.Record{Kind: ha.KindSnapshotEnd, Count: p.sent}
	if p.feed.Add(&p.rec) {
		p.snapshot = false
		p.r.SnapshotEnded()
	}
}

// replicable reports whether the context in slot is one the standby
// should hold: see the comment at the top.
func (c *Core) replicable(slot uint32) bool {
	return c.sig == nil || !c.sig.Managed(slot) || c.sig.State(slot) == shim6.Established
}

// recordOf makes p.rec say what slot holds now.
func (c *Core) recordOf(slot uint32) {
	p := c.repl
	var t dataplane.Context
	if !c.cfg.Contexts.Get(slot, &t) || !c.replicable(slot) {
		p.rec = ha.Record{Kind: ha.KindDelete, Slot: slot, LocalTag: t.LocalTag}
		return
	}
	sig := p.rec.Sig
	p.rec = ha.Record{Kind: ha.KindContext, Slot: slot, LocalTag: t.LocalTag, PeerTag: t.PeerTag, EgressPort: t.EgressPort,
		ULIDLocal: t.ULIDLocal, ULIDPeer: t.ULIDPeer, LocLocal: t.LocLocal, LocPeer: t.LocPeer}
	var r shim6.Replica
	switch {
	case c.sig == nil:
		return
	case c.sig.Managed(slot):
		var err error
		if r, err = c.sig.Export(slot); err != nil {
			return
		}
	case p.sigs[slot] != nil:
		r = *p.sigs[slot] // taken over, not yet adopted
	default:
		return
	}
	s := ha.Signalling{State: uint8(shim6.Established), PeerKeepalive: r.PeerKeepaliveTimeout, PeerGeneration: r.PeerGeneration,
		PeerLocators: sig.PeerLocators[:0], PeerPreferences: sig.PeerPreferences[:0], PeerParameters: append(sig.PeerParameters[:0], r.PeerParameters...)}
	if r.PeerLocators == nil {
		s.PeerLocators = nil
	}
	for _, l := range r.PeerLocators {
		s.PeerLocators = append(s.PeerLocators, ha.Locator{Addr: l.Addr.As16(), Method: uint8(l.Method)})
	}
	for _, e := range r.PeerPreferences {
		s.PeerPreferences = append(s.PeerPreferences, ha.Preference{Flags: uint8(e.Flags), Priority: e.Priority, Weight: e.Weight})
	}
	p.rec.Sig = s
}

// applyInbound applies received batches until none is left or, with a
// non-zero deadline, the deadline passes (checked every replClockEvery
// records). It reports whether it stopped with work left.
func (c *Core) applyInbound(deadline time.Time) bool {
	p := c.repl
	for n := 0; ; {
		if p.in == nil {
			if p.in = p.r.Next(); p.in == nil {
				return false
			}
			if p.in.Conn == p.refusedConn {
				p.r.Discard(p.in)
				p.in = nil
				continue
			}
			p.off, p.left = 0, p.in.Records
		}
		for p.left > 0 {
			if n++; n%replClockEvery == 0 && !deadline.IsZero() && time.Now().After(deadline) {
				return true
			}
			sz, err := ha.Decode(p.in.Body[p.off:], &p.rec)
			if err != nil {
				// The receiver decoded the batch before handing it
				// over: this is a bug, and a resync repairs it.
				c.cfg.Log.Error("ha: a verified batch does not decode", "err", err)
				c.refuse()
				break
			}
			p.off += sz
			p.left--
			if err := c.apply(&p.rec); err != nil {
				c.cfg.Log.Warn("ha: replicated record refused; resyncing", "kind", p.rec.Kind, "slot", p.rec.Slot, "err", err)
				c.refuse()
			}
		}
		p.r.Done(p.in)
		p.in = nil
		p.replicas.Store(int64(p.marks.Len()))
	}
}

// refuse gives up on the current connection's stream: the rest of it is
// skipped, and the replicator reconnects, which brings a snapshot.
func (c *Core) refuse() {
	p := c.repl
	p.left = 0
	p.refusedConn = p.in.Conn
	p.r.Refused()
}

// apply writes one record into the table.
func (c *Core) apply(r *ha.Record) error {
	p := c.repl
	table := c.cfg.Contexts
	switch r.Kind {
	case ha.KindSnapshotBegin:
		if int(r.Capacity) != table.Capacity() {
			return fmt.Errorf("the active's table holds %d contexts, ours %d: tags would name other slots (set the same capacity on both boxes)", r.Capacity, table.Capacity())
		}
		p.marks.Begin()
		p.r.SnapshotBegun()
	case ha.KindSnapshotEnd:
		p.marks.Stale(func(slot uint32) { c.dropReplica(slot) })
		p.r.SnapshotEnded()
	case ha.KindDelete:
		if int(r.Slot) < table.Capacity() && p.marks.Has(r.Slot) {
			c.dropReplica(r.Slot)
		}
	case ha.KindContext:
		return c.applyContext(r)
	}
	return nil
}

// applyContext puts r's context in its slot: in place when the slot
// already holds it (same tag and ULIDs), else anew, with its own tag, so
// the receiver tag the peer uses goes on naming it.
func (c *Core) applyContext(r *ha.Record) error {
	p := c.repl
	table := c.cfg.Contexts
	if int(r.Slot) >= table.Capacity() {
		return fmt.Errorf("slot %d out of a table of %d", r.Slot, table.Capacity())
	}
	if r.Sig.State != 0 && r.Sig.State != uint8(shim6.Established) {
		return fmt.Errorf("signalling state %d is not ESTABLISHED", r.Sig.State)
	}
	if r.LocalTag == 0 {
		return fmt.Errorf("no local tag")
	}
	// A context that rewrites leaves by its egress port, which must be
	// an uplink here too; one that does not (locators = ULIDs) never
	// uses it.
	rewrites := r.LocLocal != r.ULIDLocal || r.LocPeer != r.ULIDPeer
	if int(r.EgressPort) >= len(c.cfg.Setup) || rewrites && c.cfg.Setup[r.EgressPort].Role != dataplane.RoleUplink {
		return fmt.Errorf("egress port %d is not an uplink here (are both boxes' ports configured alike?)", r.EgressPort)
	}
	var t dataplane.Context
	same := false
	if table.Get(r.Slot, &t) {
		same = t.LocalTag == r.LocalTag && t.ULIDLocal == r.ULIDLocal && t.ULIDPeer == r.ULIDPeer
		if !same {
			c.dropReplica(r.Slot)
		}
	}
	if same {
		if t.PeerTag != r.PeerTag {
			if err := table.SetPeerTag(r.Slot, r.PeerTag); err != nil {
				return err
			}
		}
		if t.LocLocal != r.LocLocal || t.LocPeer != r.LocPeer || t.EgressPort != r.EgressPort {
			if err := c.SetContextLocators(r.Slot, &r.LocLocal, &r.LocPeer, r.EgressPort); err != nil {
				return err
			}
		}
		c.reindexPeer(r.Slot)
	} else {
		// The pair may still sit in another slot, from before a
		// reconnection: the active moved it (deleted, made anew).
		if table.LookupULIDs(&r.ULIDLocal, &r.ULIDPeer, &t) {
			c.dropReplica(t.Slot)
		}
		slot, _, err := c.AddContext(dataplane.ContextSpec{
			LocalTag: r.LocalTag, PeerTag: r.PeerTag, EgressPort: r.EgressPort,
			ULIDLocal: r.ULIDLocal, ULIDPeer: r.ULIDPeer, LocLocal: r.LocLocal, LocPeer: r.LocPeer,
		})
		if err != nil {
			return err
		}
		if slot != r.Slot {
			_ = c.DeleteContext(slot)
			return fmt.Errorf("tag %#x names slot %d here, not %d", r.LocalTag, slot, r.Slot)
		}
	}
	p.marks.Set(r.Slot)
	if r.Sig.State == 0 {
		delete(p.sigs, r.Slot)
		return nil
	}
	rs := p.sigs[r.Slot]
	if rs == nil {
		rs = new(shim6.Replica)
		p.sigs[r.Slot] = rs
	}
	*rs = shim6.Replica{PeerGeneration: r.Sig.PeerGeneration, PeerKeepaliveTimeout: r.Sig.PeerKeepalive}
	if len(r.Sig.PeerLocators) > 0 {
		rs.PeerLocators = make([]wire.Locator, len(r.Sig.PeerLocators))
		for i, l := range r.Sig.PeerLocators {
			rs.PeerLocators[i] = wire.Locator{Addr: netip.AddrFrom16(l.Addr), Method: wire.VerificationMethod(l.Method)}
		}
	}
	for _, e := range r.Sig.PeerPreferences {
		rs.PeerPreferences = append(rs.PeerPreferences, wire.Preference{Flags: wire.PreferenceFlags(e.Flags), Priority: e.Priority, Weight: e.Weight})
	}
	if len(r.Sig.PeerParameters) > 0 {
		rs.PeerParameters = append([]byte(nil), r.Sig.PeerParameters...)
	}
	return nil
}

// dropReplica removes whatever slot holds, the signalling's own context
// included (a box that was active until a moment ago may still make one).
func (c *Core) dropReplica(slot uint32) {
	delete(c.repl.sigs, slot)
	c.repl.marks.Clear(slot)
	if c.sig != nil && c.sig.Forget(slot) {
		return
	}
	_ = c.DeleteContext(slot)
}
