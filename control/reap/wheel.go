package reap

// wheel is a hashed timing wheel over the context records: each record is
// on at most one slot's intrusive doubly linked list (indices, not
// pointers), so arming, re-arming and cancelling cost O(1) and the wheel
// holds no pointers for the garbage collector to scan. A slot holds the
// records whose deadline rounds up to one of its ticks; a record whose
// deadline lies beyond one turn of the wheel is visited and re-linked once
// per turn until it is due.
type wheel struct {
	heads []uint32 // per slot, the first record or none
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
	w := wheel{heads: make([]uint32, n), mask: uint64(n - 1), gran: gran}
	for i := range w.heads {
		w.heads[i] = none
	}
	w.next = uint64(now/gran) + 1
	return w
}

// tickOf is the first tick at or after deadline ns, never before w.next.
func (w *wheel) tickOf(ns int64) uint64 {
	t := uint64((ns + w.gran - 1) / w.gran)
	if t < w.next {
		t = w.next
	}
	return t
}

func (m *Machine) link(id uint32) {
	r := &m.recs[id]
	s := uint32(m.wheel.tickOf(r.due) & m.wheel.mask)
	r.wslot = s
	r.wprev = none
	r.wnext = m.wheel.heads[s]
	if r.wnext != none {
		m.recs[r.wnext].wprev = id
	}
	m.wheel.heads[s] = id
}

func (m *Machine) unlink(id uint32) {
	r := &m.recs[id]
	if r.wslot == none {
		return
	}
	if r.wprev != none {
		m.recs[r.wprev].wnext = r.wnext
	} else {
		m.wheel.heads[r.wslot] = r.wnext
	}
	if r.wnext != none {
		m.recs[r.wnext].wprev = r.wprev
	}
	r.wslot, r.wnext, r.wprev = none, none, none
}

// schedule re-arms record id for its due time.
func (m *Machine) schedule(id uint32) {
	m.unlink(id)
	if m.recs[id].due != never {
		m.link(id)
	}
}
