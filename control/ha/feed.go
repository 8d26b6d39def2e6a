package ha

import "time"

// chunk is a batch in the making: records the control core encoded, on
// their way to the sender goroutine. The Replicator owns a fixed number
// of them (Config.QueueChunks), which is what bounds the queue.
type chunk struct {
	epoch uint64 // the connection it was made for (see Replicator.want)
	buf   []byte
	n     uint32
	at    time.Time // when its first record was encoded, for the lag
}

// Feed is the control core's end of the active side. It is not safe for
// concurrent use: the control core alone calls it, once a round Round,
// then Add for the round's records, then Flush. Nothing in it waits.
type Feed struct {
	r        *Replicator
	epoch    uint64 // the stream being fed; 0: no standby, encode nothing
	cur      *chunk
	overflow bool // a record was lost since the last snapshot began
	resync   bool // a snapshot must start as soon as there is room
	reserve  int  // chunks a snapshot leaves to live changes
}

// Round starts a round. streaming says whether a standby takes records
// at all (if not, the caller need not make any); snapshot says that the
// caller must start a full snapshot now, before any other record: a
// standby has just connected, or a record was lost to an overflow since
// the last snapshot began. A snapshot that cannot start for lack of room
// is asked for again next round.
func (f *Feed) Round() (streaming, snapshot bool) {
	want := f.r.want.Load()
	switch {
	case want == 0:
		f.epoch, f.overflow, f.resync = 0, false, false
		f.discard()
		return false, false
	case want != f.epoch:
		f.epoch, f.overflow, f.resync = want, true, true
		f.discard()
	}
	// Starting while the queue is still full would only lose the
	// snapshot's first records: wait for a free chunk.
	if f.resync && len(f.r.free) > 0 {
		f.resync, f.overflow = false, false
		return true, true
	}
	return true, false
}

// Add queues a record for the standby. It returns false when the record
// was lost: no standby, or no room in the queue (counted as an overflow,
// once per episode: until the snapshot that repairs it begins, records
// are dropped uncounted, since it will cover them). Records that
// cannot be encoded are a caller's bug and count as malformed.
func (f *Feed) Add(r *Record) bool {
	if f.epoch == 0 || f.overflow {
		return false
	}
	sz := r.Size()
	if f.cur != nil && len(f.cur.buf)+sz > cap(f.cur.buf) {
		f.push()
	}
	if f.cur == nil {
		select {
		case c := <-f.r.free:
			c.epoch, c.buf, c.n, c.at = f.epoch, c.buf[:0], 0, time.Now()
			f.cur = c
		default:
			f.overflow, f.resync = true, true
			f.r.Stats.Overflows.Add(1)
			return false
		}
	}
	b, err := Append(f.cur.buf, r)
	if err != nil {
		f.r.Stats.Malformed.Add(1)
		return false
	}
	f.cur.buf = b
	f.cur.n++
	return true
}

// Spare reports whether a snapshot may add another record this round:
// the current chunk has room, or more chunks are free than the reserve
// that live changes keep.
func (f *Feed) Spare() bool {
	if f.epoch == 0 || f.overflow {
		return false
	}
	if f.cur != nil && cap(f.cur.buf)-len(f.cur.buf) >= 1024 {
		return true
	}
	return len(f.r.free) > f.reserve
}

// Flush hands the round's records to the sender. The core calls it at
// the end of every round, so a change waits for no later one.
func (f *Feed) Flush() {
	if f.cur != nil && f.cur.n > 0 {
		f.push()
	}
}

// Streaming reports whether a standby takes records (as of Round).
func (f *Feed) Streaming() bool { return f.epoch != 0 }

// push hands the current chunk over. full has room for every chunk
// there is, so this never waits.
func (f *Feed) push() {
	f.r.full <- f.cur
	f.cur = nil
}

// discard returns the current chunk unsent: its stream is gone.
func (f *Feed) discard() {
	if f.cur != nil {
		f.r.free <- f.cur
		f.cur = nil
	}
}
