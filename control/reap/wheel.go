package reap

// wheel is a hashed timing wheel over the context records. Each slot is a
// flat array of record indices (no pointers inside, appended to, walked in
// order), so a visit streams through the array and the processor can
// overlap the loads of the records it names instead of chasing a linked
// list. A record remembers the one tick it is queued for (wtick); entries
// left behind by re-arming are stale and dropped when their slot is
// visited, which makes cancelling free. A record whose tick lies beyond
// one turn of the wheel stays in its slot until its turn comes.
type wheel struct {
	slots [][]uint32
	spare []uint32
	mask  uint64
	gran  int64  // nanoseconds per tick
	next  uint64 // the next tick Tick has to process
}

const none = ^uint32(0)

func newWheel(slots int, gran int64, now int64) wheel {
	n := 1
	for n < slots {
		n <<= 1
	}
	return wheel{slots: make([][]uint32, n), mask: uint64(n - 1), gran: gran, next: uint64(now/gran) + 1}
}

// tickOf is the first tick at or after deadline ns, never before w.next.
func (w *wheel) tickOf(ns int64) uint64 {
	t := uint64((ns + w.gran - 1) / w.gran)
	if t < w.next {
		t = w.next
	}
	return t
}

// schedule queues record id for its due time, unless it already is.
func (m *Machine) schedule(id uint32) {
	r := &m.recs[id]
	if r.due == never {
		r.wtick = 0
		return
	}
	t := m.wheel.tickOf(r.due)
	if t == r.wtick {
		return
	}
	r.wtick = t
	s := t & m.wheel.mask
	m.wheel.slots[s] = append(m.wheel.slots[s], id)
}

// unschedule cancels record id's timer; its entry goes stale.
func (m *Machine) unschedule(id uint32) { m.recs[id].wtick = 0 }

// Tick runs every timer that is due. Call it about every Granularity.
func (m *Machine) Tick() {
	now := m.now()
	w := &m.wheel
	target := uint64(now / w.gran)
	if target < w.next {
		return
	}
	n := target - w.next + 1
	if n > uint64(len(w.slots)) {
		n = uint64(len(w.slots))
	}
	// w.next moves past target first, so that every record queued below
	// lands on a tick still to come.
	first := target + 1 - n
	w.next = target + 1
	for t := first; t <= target; t++ {
		s := t & w.mask
		list := w.slots[s]
		w.slots[s] = w.spare[:0]
		for i, id := range list {
			if i%touchBatch == 0 {
				m.touch(list[i:min(i+touchBatch, len(list))])
			}
			r := &m.recs[id]
			switch {
			case r.wtick == 0 || r.wtick&w.mask != s:
				// stale: cancelled or re-armed elsewhere
			case r.wtick > target:
				w.slots[s] = append(w.slots[s], id) // a later turn
			default:
				r.wtick = 0
				if r.due <= now {
					m.fire(id, r, now)
				} else {
					m.schedule(id)
				}
			}
		}
		w.spare = list[:0]
	}
}

// touchBatch is how many records Tick loads ahead of handling them.
const touchBatch = 32

// touch loads the records of a batch with independent loads, so that
// their cache misses overlap (Go has no prefetch intrinsic; this is the
// "stages over a burst" habit): the handling pass that follows hits.
func (m *Machine) touch(ids []uint32) {
	var acc uint64
	for _, id := range ids {
		acc += m.recs[id].wtick
	}
	m.sink = acc
}
