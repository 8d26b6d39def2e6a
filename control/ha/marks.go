package ha

// Marks is the standby's note of which slots hold a replica and which
// snapshot last named each, so that the end of a snapshot finds the
// contexts the active no longer has (deleted while the stream was down,
// or lost to an overflow) without a second pass over the stream. The
// core marks a slot whenever it applies a context to it, snapshot or
// live: a live change after the snapshot began is as current as the
// snapshot.
type Marks struct {
	gen []uint32 // per slot: 0 no replica, else the snapshot that last named it
	cur uint32
	n   int
}

// NewMarks makes marks for a table of capacity slots.
func NewMarks(capacity int) *Marks { return &Marks{gen: make([]uint32, capacity), cur: 1} }

// Begin starts a snapshot: every replica is unnamed until marked again.
func (m *Marks) Begin() {
	m.cur++
	if m.cur == 0 { // wrapped: start the numbering over
		for i, g := range m.gen {
			if g != 0 {
				m.gen[i] = 1
			}
		}
		m.cur = 2
	}
}

// Set marks slot as holding a replica named by the current snapshot.
func (m *Marks) Set(slot uint32) {
	if m.gen[slot] == 0 {
		m.n++
	}
	m.gen[slot] = m.cur
}

// Clear notes that slot holds no replica.
func (m *Marks) Clear(slot uint32) {
	if m.gen[slot] != 0 {
		m.n--
		m.gen[slot] = 0
	}
}

// Has reports whether slot holds a replica.
func (m *Marks) Has(slot uint32) bool { return m.gen[slot] != 0 }

// Stale calls f with every slot holding a replica the current snapshot
// did not name, and clears it; the caller removes the context.
func (m *Marks) Stale(f func(slot uint32)) {
	for i, g := range m.gen {
		if g != 0 && g != m.cur {
			m.gen[i] = 0
			m.n--
			f(uint32(i))
		}
	}
}

// Each calls f with every slot that holds a replica.
func (m *Marks) Each(f func(slot uint32)) {
	for i, g := range m.gen {
		if g != 0 {
			f(uint32(i))
		}
	}
}

// Len is the number of replicas.
func (m *Marks) Len() int { return m.n }

// Capacity is the number of slots.
func (m *Marks) Capacity() int { return len(m.gen) }
