package ha

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Role is the replication side a box takes.
type Role uint8

// Roles.
const (
	// RoleOff replicates nothing.
	RoleOff Role = iota
	// RoleActive listens for the standby and streams the table to it.
	RoleActive
	// RoleStandby connects to the active and receives its table.
	RoleStandby
)

// String names the role.
func (r Role) String() string {
	switch r {
	case RoleActive:
		return "active"
	case RoleStandby:
		return "standby"
	}
	return "off"
}

// MinKey is the shortest key accepted: HMAC-SHA256's own block of
// strength, and what the [ha] section's key_file must hold.
const MinKey = 32

// Config sets up a Replicator. It is the package's own, so that it does
// not depend on the configuration file's shape (control/setup.go maps
// configs.HA onto it).
type Config struct {
	// Listen is where the active side listens, on the management link.
	Listen netip.AddrPort
	// Peer is the other box's Listen, where the standby side connects.
	Peer netip.AddrPort
	// Key is the shared secret of the HMACs, at least MinKey octets.
	Key []byte
	// QueueChunks and ChunkBytes size the active's queue: that many
	// batches of up to that many octets (64 and 64 KiB when 0). A
	// snapshot keeps a quarter of them free for live changes.
	QueueChunks, ChunkBytes int
	// Heartbeat is how often an idle active says it is alive and a
	// standby acknowledges (100 ms when 0); DeadAfter how long either
	// side waits on a silent peer before it drops the connection (1 s
	// when 0).
	Heartbeat, DeadAfter time.Duration
	// Log receives connection events; nil: slog.Default.
	Log *slog.Logger
}

// Stats are the replication's counters, safe from any goroutine.
type Stats struct {
	// RecordsSent counts records written to the standby; RecordsApplied
	// records the standby's control core applied.
	RecordsSent, RecordsApplied atomic.Uint64
	// BytesSent counts frame octets written.
	BytesSent atomic.Uint64
	// Resyncs counts full snapshots: begun on the active, received on
	// the standby.
	Resyncs atomic.Uint64
	// Overflows counts the times the active's queue was full and a
	// change was lost (each started a resync).
	Overflows atomic.Uint64
	// BadMACs, SequenceGaps and Malformed count frames refused (each
	// ended its connection, and so started a resync).
	BadMACs, SequenceGaps, Malformed atomic.Uint64
	// Connections counts connections that passed the Hello exchange;
	// Disconnects those that ended for any reason.
	Connections, Disconnects atomic.Uint64
	// Refused counts records the standby's core could not apply (a slot
	// out of its table, a capacity that differs): each starts a resync.
	Refused atomic.Uint64
}

// Status is what operators see of the replication (`shim6ctl ha`).
type Status struct {
	// Role is "active", "standby" or "off".
	Role string `json:"role"`
	// State is the stream's: "off"; on the active "listening" (no
	// standby), "snapshot" or "streaming"; on the standby "connecting",
	// "snapshot", "in-sync" or "stale" (nothing heard for DeadAfter).
	State string `json:"state"`
	// Peer is the address of the connected other side, if any.
	Peer string `json:"peer,omitempty"`
	// LagSeconds: on the active, the age of the oldest batch the standby
	// has not acknowledged (0 when all are); on the standby, the time
	// since it last applied a batch or heartbeat, which bounds how old
	// its copy may be.
	LagSeconds float64 `json:"lag_seconds"`
	// RecordsSent and the counters after it are Stats' (Resyncs the
	// full snapshots, LastResync when the last began).
	RecordsSent    uint64    `json:"records_sent"`
	RecordsApplied uint64    `json:"records_applied"`
	Resyncs        uint64    `json:"resyncs"`
	LastResync     time.Time `json:"last_resync,omitzero"`
	Overflows      uint64    `json:"queue_overflows"`
	BadMACs        uint64    `json:"bad_macs"`
	SequenceGaps   uint64    `json:"sequence_gaps"`
	Malformed      uint64    `json:"malformed"`
	Refused        uint64    `json:"refused"`
	Connections    uint64    `json:"connections"`
	// Replicas, on a standby, is how many contexts it holds from the
	// active; Adopted how many the last takeover took over, and
	// RecoveredAfterTakeover how many contexts the signalling re-made by
	// R1bis/I2bis since (those the replication had not carried). The
	// control core fills these three.
	Replicas               int    `json:"replicas"`
	Adopted                uint64 `json:"adopted"`
	RecoveredAfterTakeover uint64 `json:"recovered_after_takeover"`
	// CoreSeconds is the control core's time spent on the replication:
	// making records (active) or applying them (standby).
	CoreSeconds float64 `json:"core_seconds"`
}

// Inbound is a verified batch (or heartbeat, Records 0) on the standby,
// for its control core; Body holds exactly Records encoded records.
type Inbound struct {
	Seq     uint64
	Records uint32
	Body    []byte
	// Conn names the connection it came on: after refusing one record,
	// the core skips the rest of that connection's batches.
	Conn uint64
}

// Replicator runs one box's side of the replication: the transport's
// goroutines, and the queues between them and the control core.
type Replicator struct {
	cfg Config
	log *slog.Logger
	// Stats are the counters.
	Stats Stats

	// The active's queue (see chunk): free chunks, and chunks for the
	// sender. Each has room for all of them.
	free, full chan *chunk
	// want is the epoch of the connected standby's stream, 0 when none:
	// a new connection takes a new one, which tells the Feed to snapshot.
	want   atomic.Uint64
	epochs atomic.Uint64
	feed   Feed

	// The standby's: verified batches for the core, and their buffers.
	in     chan *Inbound
	inFree chan *Inbound
	conns  atomic.Uint64 // connection ids, so acks count per connection
	// applied is the last applied frame's sequence number on the current
	// connection (appliedConn); lastApplied when (UnixNano).
	applied, appliedConn atomic.Uint64
	lastApplied          atomic.Int64
	connected            atomic.Bool
	synced               atomic.Bool // a snapshot ended on this connection
	everSynced           atomic.Bool
	snapshotting         atomic.Bool
	// holdoff is how long the standby waits before it connects again
	// after its core refused a record: doubled by each refusal, cleared
	// by a snapshot applied whole, so that a standby that cannot take
	// the active's table (a smaller capacity) does not reconnect in a
	// loop.
	holdoff atomic.Int64

	// roleMu serialises role changes (held while the old role's
	// goroutines stop); mu guards the fields below it, briefly.
	roleMu sync.Mutex
	stop   context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	role       Role
	peer       string
	lastResync time.Time
	inflight   []inflight // active: sent and not yet acknowledged
}

type inflight struct {
	seq uint64
	at  time.Time
}

// New makes a Replicator in RoleOff.
func New(cfg Config) (*Replicator, error) {
	if !cfg.Listen.IsValid() || !cfg.Peer.IsValid() {
		return nil, fmt.Errorf("ha: want both addresses, ours to listen on (%v) and the peer's (%v)", cfg.Listen, cfg.Peer)
	}
	if len(cfg.Key) < MinKey {
		return nil, fmt.Errorf("ha: the key has %d octets, want at least %d", len(cfg.Key), MinKey)
	}
	if cfg.QueueChunks <= 0 {
		cfg.QueueChunks = 64
	}
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = 64 << 10
	}
	if cfg.ChunkBytes > MaxFrame-frameHeader-macSize-(64<<10) {
		return nil, fmt.Errorf("ha: chunk of %d octets: a frame is at most %d", cfg.ChunkBytes, MaxFrame)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 100 * time.Millisecond
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	r := &Replicator{
		cfg: cfg, log: cfg.Log,
		free: make(chan *chunk, cfg.QueueChunks), full: make(chan *chunk, cfg.QueueChunks),
		in: make(chan *Inbound, cfg.QueueChunks), inFree: make(chan *Inbound, cfg.QueueChunks),
	}
	for range cfg.QueueChunks {
		r.free <- &chunk{buf: make([]byte, 0, cfg.ChunkBytes)}
		r.inFree <- &Inbound{Body: make([]byte, 0, cfg.ChunkBytes)}
	}
	r.feed = Feed{r: r, reserve: cfg.QueueChunks / 4}
	return r, nil
}

// Feed is the control core's end of the active side.
func (r *Replicator) Feed() *Feed { return &r.feed }

// Role is the current role.
func (r *Replicator) Role() Role {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.role
}

// SetRole stops the current role's goroutines (closing its connection)
// and starts role's: the active listens on Config.Listen, the standby
// connects to Config.Peer and retries until it gets through. Setting the
// current role again does nothing.
func (r *Replicator) SetRole(role Role) {
	r.roleMu.Lock()
	defer r.roleMu.Unlock()
	if role == r.Role() {
		return
	}
	r.restart(role)
}

// restart stops the running role's goroutines and starts role's. The
// caller holds roleMu; mu is taken only around the fields, since the
// goroutines being stopped take it on their way out.
func (r *Replicator) restart(role Role) {
	if r.stop != nil {
		r.stop()
		<-r.done
		r.stop, r.done = nil, nil
	}
	r.mu.Lock()
	r.role = role
	r.inflight = r.inflight[:0]
	r.mu.Unlock()
	r.want.Store(0)
	r.connected.Store(false)
	r.synced.Store(false)
	r.snapshotting.Store(false)
	if role == RoleOff {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan struct{})
	switch role {
	case RoleActive:
		go r.runActive(ctx, r.done)
	case RoleStandby:
		go r.runStandby(ctx, r.done)
	}
}

// Close stops everything.
func (r *Replicator) Close() { r.SetRole(RoleOff) }

// Status reports the replication's state and counters; the core adds
// its own three fields.
func (r *Replicator) Status() Status {
	r.mu.Lock()
	role, peer, last := r.role, r.peer, r.lastResync
	var lag time.Duration
	now := time.Now()
	if role == RoleActive && len(r.inflight) > 0 {
		lag = now.Sub(r.inflight[0].at)
	}
	r.mu.Unlock()
	if role == RoleStandby {
		if at := r.lastApplied.Load(); at != 0 {
			lag = now.Sub(time.Unix(0, at))
		}
	}
	s := Status{Role: role.String(), Peer: peer, LagSeconds: max(lag, 0).Seconds(), LastResync: last}
	switch role {
	case RoleOff:
		s.State = "off"
	case RoleActive:
		switch {
		case r.want.Load() == 0:
			s.State = "listening"
		case r.snapshotting.Load():
			s.State = "snapshot"
		default:
			s.State = "streaming"
		}
	case RoleStandby:
		switch {
		case !r.connected.Load() || r.synced.Load() && lag > r.cfg.DeadAfter:
			s.State = "connecting"
			if r.everSynced.Load() {
				s.State = "stale"
			}
		case r.snapshotting.Load() || !r.synced.Load():
			s.State = "snapshot"
		default:
			s.State = "in-sync"
		}
	}
	st := &r.Stats
	s.RecordsSent, s.RecordsApplied, s.Resyncs = st.RecordsSent.Load(), st.RecordsApplied.Load(), st.Resyncs.Load()
	s.Overflows, s.BadMACs, s.SequenceGaps, s.Malformed = st.Overflows.Load(), st.BadMACs.Load(), st.SequenceGaps.Load(), st.Malformed.Load()
	s.Refused, s.Connections = st.Refused.Load(), st.Connections.Load()
	return s
}

// Lag is Status's lag, for the metrics.
func (r *Replicator) Lag() time.Duration {
	return time.Duration(r.Status().LagSeconds * float64(time.Second))
}

// SnapshotBegun and SnapshotEnded mark a snapshot's ends as the control
// core produced (active) or applied (standby) them: the resync count,
// the state operators see.
func (r *Replicator) SnapshotBegun() {
	r.Stats.Resyncs.Add(1)
	r.snapshotting.Store(true)
	r.mu.Lock()
	r.lastResync = time.Now()
	r.mu.Unlock()
}

// SnapshotEnded: see SnapshotBegun.
func (r *Replicator) SnapshotEnded() {
	r.snapshotting.Store(false)
	if r.Role() == RoleStandby {
		r.synced.Store(true)
		r.everSynced.Store(true)
		r.holdoff.Store(0)
	}
}

// Next returns the next verified batch for the standby's core, nil when
// none waits. The core calls Done with it once it applied it all.
func (r *Replicator) Next() *Inbound {
	select {
	case in := <-r.in:
		return in
	default:
		return nil
	}
}

// Done tells the receiver the core applied in: its acknowledgement goes
// to the active with the next Ack.
func (r *Replicator) Done(in *Inbound) {
	r.Stats.RecordsApplied.Add(uint64(in.Records))
	if in.Conn == r.appliedConn.Load() {
		r.applied.Store(in.Seq)
	}
	r.lastApplied.Store(time.Now().UnixNano())
	in.Body = in.Body[:0]
	r.inFree <- in
}

// Discard returns a batch the core skipped (see Inbound.Conn) unapplied.
func (r *Replicator) Discard(in *Inbound) {
	in.Body = in.Body[:0]
	r.inFree <- in
}

// Refused counts a record the core could not apply, and drops the
// connection so that the standby reconnects and gets a snapshot.
func (r *Replicator) Refused() {
	r.Stats.Refused.Add(1)
	r.holdoff.Store(int64(min(2*max(time.Duration(r.holdoff.Load()), r.cfg.Heartbeat), 30*time.Second)))
	r.roleMu.Lock()
	defer r.roleMu.Unlock()
	if r.Role() == RoleStandby {
		r.restart(RoleStandby)
	}
}

// count sorts a connection's end into the counters.
func (r *Replicator) count(err error) {
	r.Stats.Disconnects.Add(1)
	switch {
	case errors.Is(err, ErrBadMAC):
		r.Stats.BadMACs.Add(1)
	case errors.Is(err, ErrSequenceGap):
		r.Stats.SequenceGaps.Add(1)
	case errors.Is(err, ErrBadFrame), errors.Is(err, ErrBadRecord), errors.Is(err, ErrTruncated), errors.Is(err, ErrUnknownKind):
		r.Stats.Malformed.Add(1)
	}
}

func nonce() []byte {
	b := make([]byte, nonceSize)
	if _, err := rand.Read(b); err != nil {
		panic("ha: random source failed: " + err.Error())
	}
	return b
}

// writeFrame seals and writes one frame.
func (r *Replicator) writeFrame(c net.Conn, s *sealer, t FrameType, records uint32, body []byte) error {
	h, m := s.seal(t, records, body)
	bufs := net.Buffers{h, body, m}
	n, err := bufs.WriteTo(c)
	r.Stats.BytesSent.Add(uint64(n))
	return err
}

// readHello reads the other side's Hello and checks it with the key
// keyFor derives from its nonce.
func readHello(c net.Conn, keyFor func(nonce []byte) []byte) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	const size = frameHeader + nonceSize + macSize
	if binary.BigEndian.Uint32(l[:]) != size-4 {
		return nil, fmt.Errorf("%w: hello of %d octets", ErrBadFrame, binary.BigEndian.Uint32(l[:]))
	}
	b := make([]byte, size)
	copy(b, l[:])
	if _, err := io.ReadFull(c, b[4:]); err != nil {
		return nil, err
	}
	n := b[frameHeader : frameHeader+nonceSize]
	var f frame
	if err := newOpener(keyFor(n)).open(b, &f); err != nil {
		return nil, err
	}
	if f.typ != FrameHello {
		return nil, fmt.Errorf("%w: type %d before hello", ErrBadFrame, f.typ)
	}
	return n, nil
}

// runActive listens and serves one standby at a time: a new connection
// replaces the old one (a standby reconnects when its side of a
// connection broke first).
func (r *Replicator) runActive(ctx context.Context, done chan struct{}) {
	defer close(done)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", r.cfg.Listen.String())
		if err != nil {
			r.log.Warn("ha: cannot listen for the standby", "listen", r.cfg.Listen, "err", err)
			sleep(ctx, r.cfg.DeadAfter)
			continue
		}
		stopLn := context.AfterFunc(ctx, func() { ln.Close() })
		var cur context.CancelFunc
		var curDone chan struct{}
		for {
			c, err := ln.Accept()
			if err != nil {
				break
			}
			// One sender at a time: the old one must be gone before the
			// new one reads the queue, or it could take (and drop, as not
			// its own) the first chunks made for the new connection.
			if cur != nil {
				cur()
				<-curDone
			}
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			cur, curDone = cancel, done
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(done)
				defer cancel()
				r.serve(cctx, c)
			}()
		}
		stopLn()
		ln.Close()
		if cur != nil {
			cur()
		}
	}
}

// serve streams the table to one standby until either side stops.
func (r *Replicator) serve(ctx context.Context, c net.Conn) {
	defer c.Close()
	stopConn := context.AfterFunc(ctx, func() { c.Close() })
	defer stopConn()
	an := nonce()
	hello := newSealer(r.cfg.Key)
	c.SetDeadline(time.Now().Add(r.cfg.DeadAfter))
	if err := r.writeFrame(c, hello, FrameHello, 0, an); err != nil {
		return
	}
	var key []byte
	if _, err := readHello(c, func(sn []byte) []byte { key = sessionKey(r.cfg.Key, an, sn); return key }); err != nil {
		r.count(err)
		r.log.Warn("ha: standby refused", "from", c.RemoteAddr(), "err", err)
		return
	}
	c.SetDeadline(time.Time{})
	r.Stats.Connections.Add(1)
	epoch := r.epochs.Add(1)
	r.mu.Lock()
	r.peer, r.inflight = c.RemoteAddr().String(), r.inflight[:0]
	r.mu.Unlock()
	r.want.Store(epoch)
	r.log.Info("ha: standby connected", "from", c.RemoteAddr())
	defer func() {
		r.want.CompareAndSwap(epoch, 0)
		r.mu.Lock()
		r.peer, r.inflight = "", r.inflight[:0]
		r.mu.Unlock()
	}()

	errc := make(chan error, 1)
	go func() { errc <- r.readAcks(c, newOpener(key)) }()
	s := newSealer(key)
	hb := time.NewTicker(r.cfg.Heartbeat)
	defer hb.Stop()
	last := time.Now()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case err = <-errc:
		case ch := <-r.full:
			if ch.epoch != epoch {
				r.free <- ch // made for an earlier connection
				continue
			}
			r.mu.Lock()
			r.inflight = append(r.inflight, inflight{s.seq + 1, ch.at})
			r.mu.Unlock()
			c.SetWriteDeadline(time.Now().Add(4 * r.cfg.DeadAfter))
			err = r.writeFrame(c, s, FrameBatch, ch.n, ch.buf)
			if err == nil {
				r.Stats.RecordsSent.Add(uint64(ch.n))
			}
			r.free <- ch
			last = time.Now()
		case now := <-hb.C:
			if now.Sub(last) >= r.cfg.Heartbeat {
				c.SetWriteDeadline(now.Add(4 * r.cfg.DeadAfter))
				err = r.writeFrame(c, s, FrameHeartbeat, 0, nil)
				last = now
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				r.count(err)
				r.log.Warn("ha: standby connection ended", "from", c.RemoteAddr(), "err", err)
			}
			return
		}
	}
}

// readAcks reads the standby's Acks and retires what they cover.
func (r *Replicator) readAcks(c net.Conn, o *opener) error {
	var f frame
	for {
		c.SetReadDeadline(time.Now().Add(r.cfg.DeadAfter))
		if err := o.readFrame(c, &f); err != nil {
			return err
		}
		if f.typ != FrameAck {
			return fmt.Errorf("%w: type %d from the standby", ErrBadFrame, f.typ)
		}
		acked := binary.BigEndian.Uint64(f.body)
		r.mu.Lock()
		i := 0
		for i < len(r.inflight) && r.inflight[i].seq <= acked {
			i++
		}
		r.inflight = append(r.inflight[:0], r.inflight[i:]...)
		r.mu.Unlock()
	}
}

// runStandby connects to the active, receives, and reconnects after any
// failure, a little later each time up to DeadAfter.
func (r *Replicator) runStandby(ctx context.Context, done chan struct{}) {
	defer close(done)
	wait := r.cfg.Heartbeat
	sleep(ctx, time.Duration(r.holdoff.Load()))
	for ctx.Err() == nil {
		d := net.Dialer{Timeout: r.cfg.DeadAfter}
		c, err := d.DialContext(ctx, "tcp", r.cfg.Peer.String())
		if err == nil {
			var ok bool
			ok, err = r.receive(ctx, c)
			if ok {
				wait = r.cfg.Heartbeat
			}
			if ctx.Err() == nil {
				r.count(err)
				r.log.Warn("ha: connection to the active ended", "peer", r.cfg.Peer, "err", err)
			}
		}
		sleep(ctx, wait)
		wait = min(2*wait, r.cfg.DeadAfter)
	}
}

// receive runs one connection to the active: Hellos, then frames in,
// verified, to the core, and Acks out. ok says the Hellos passed.
func (r *Replicator) receive(ctx context.Context, c net.Conn) (ok bool, err error) {
	defer c.Close()
	stopConn := context.AfterFunc(ctx, func() { c.Close() })
	defer stopConn()
	c.SetDeadline(time.Now().Add(r.cfg.DeadAfter))
	an, err := readHello(c, func([]byte) []byte { return r.cfg.Key })
	if err != nil {
		return false, err
	}
	sn := nonce()
	key := sessionKey(r.cfg.Key, an, sn)
	if err := r.writeFrame(c, newSealer(key), FrameHello, 0, sn); err != nil {
		return false, err
	}
	c.SetDeadline(time.Time{})
	conn := r.conns.Add(1)
	r.appliedConn.Store(conn)
	r.applied.Store(0)
	r.Stats.Connections.Add(1)
	r.mu.Lock()
	r.peer = c.RemoteAddr().String()
	r.mu.Unlock()
	r.connected.Store(true)
	r.synced.Store(false)
	defer func() {
		r.connected.Store(false)
		r.synced.Store(false)
		r.mu.Lock()
		r.peer = ""
		r.mu.Unlock()
	}()
	r.log.Info("ha: connected to the active", "peer", c.RemoteAddr())

	acksDone := make(chan struct{})
	actx, stopAcks := context.WithCancel(ctx)
	defer func() { stopAcks(); <-acksDone }()
	go func() {
		defer close(acksDone)
		s := newSealer(key)
		t := time.NewTicker(r.cfg.Heartbeat)
		defer t.Stop()
		var body [8]byte
		for {
			select {
			case <-actx.Done():
				return
			case <-t.C:
			}
			// An Ack every heartbeat, new or not: it is also how the
			// active knows this side lives.
			binary.BigEndian.PutUint64(body[:], r.applied.Load())
			c.SetWriteDeadline(time.Now().Add(r.cfg.DeadAfter))
			if r.writeFrame(c, s, FrameAck, 0, body[:]) != nil {
				c.Close()
				return
			}
		}
	}()

	o := newOpener(key)
	var f frame
	var rec Record
	for {
		c.SetReadDeadline(time.Now().Add(r.cfg.DeadAfter))
		if err := o.readFrame(c, &f); err != nil {
			return true, err
		}
		switch f.typ {
		case FrameBatch:
			if err := Walk(f.body, f.records, &rec, nil); err != nil {
				return true, fmt.Errorf("%w: %w", ErrBadFrame, err)
			}
		case FrameHeartbeat:
		default:
			return true, fmt.Errorf("%w: type %d from the active", ErrBadFrame, f.typ)
		}
		var in *Inbound
		select {
		case in = <-r.inFree:
		case <-ctx.Done():
			return true, ctx.Err()
		}
		in.Seq, in.Records, in.Conn = f.seq, f.records, conn
		in.Body = append(in.Body[:0], f.body...)
		select {
		case r.in <- in:
		case <-ctx.Done():
			r.inFree <- in
			return true, ctx.Err()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
