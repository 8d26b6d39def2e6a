package shim6

import "time"

// The timers are a hashed timing wheel (Varghese and Lauck): a ring of
// wheelSlots lists, a timer due at tick t hangs in list t mod wheelSlots,
// and each tick visits one list and fires what is due. Arming and cancelling
// are O(1); a tick costs the length of one list, about
// contexts/wheelSlots entries, so a million contexts with an idle timer each
// cost a few hundred visits a tick. A timer further out than one turn of
// the wheel stays in its list and is passed over until its turn comes.
//
// Why not a heap: with one or two timers per context and most of them
// re-armed (the idle timer on every check, retransmissions on every try),
// O(1) arm and cancel beat a heap's O(log n), and the wheel needs no
// per-timer index maintenance. Why not Go timers: they would need a
// goroutine or channel per context, and tests could not drive them with a
// fake clock.
//
// The lists are intrusive and pointer-free: a timer is a node inside its
// context record (two per context, timerState and timerIdle), named by
// slot<<1 | kind, and linked by those names. The garbage collector never
// scans them.

const (
	wheelBits  = 12
	wheelSlots = 1 << wheelBits
	wheelMask  = wheelSlots - 1

	none = ^uint32(0) // end of an intrusive list
)

// Timer kinds: each context has one node of each.
const (
	// timerState is the timer of the current state: a retransmission
	// (I1, I2, I2bis, Update Request) or a hold-down (E-FAILED,
	// NO-SUPPORT), RFC 5533 §14.
	timerState = iota
	// timerIdle is the idle check of an established context (RFC 5533 §9).
	timerIdle
	numTimers
)

// Node states.
const (
	nodeIdle   = iota // not armed; the zero value
	nodeLinked        // in a wheel list
	nodeDue           // taken off its list by this tick, not fired yet
)

// timerNode is one timer, kept in its context record.
type timerNode struct {
	next, prev uint32
	when       uint32 // the tick it is due
	state      uint8
}

// wheel is the ring of list heads and the last tick run.
type wheel struct {
	heads [wheelSlots]uint32
	now   uint32
	due   []uint32 // scratch: nodes taken off this tick
}

func (w *wheel) init() {
	for i := range w.heads {
		w.heads[i] = none
	}
}

func (m *Machine) node(id uint32) *timerNode { return &m.ctxAt(id >> 1).timers[id&1] }

// arm (re)starts timer kind of slot to fire after delta ticks (at least
// one: a timer never fires in the tick that armed it).
func (m *Machine) arm(slot uint32, kind int, delta uint32) {
	m.cancel(slot, kind)
	when := m.cur + max(delta, 1)
	if when <= m.wheel.now {
		when = m.wheel.now + 1
	}
	id := slot<<1 | uint32(kind)
	n := m.node(id)
	s := when & wheelMask
	n.when, n.state, n.prev, n.next = when, nodeLinked, none, m.wheel.heads[s]
	if n.next != none {
		m.node(n.next).prev = id
	}
	m.wheel.heads[s] = id
}

// cancel stops timer kind of slot, wherever it is.
func (m *Machine) cancel(slot uint32, kind int) {
	id := slot<<1 | uint32(kind)
	n := m.node(id)
	switch n.state {
	case nodeLinked:
		m.unlink(id, n)
	case nodeDue:
		n.state = nodeIdle
	}
}

func (m *Machine) unlink(id uint32, n *timerNode) {
	if n.prev != none {
		m.node(n.prev).next = n.next
	} else {
		m.wheel.heads[n.when&wheelMask] = n.next
	}
	if n.next != none {
		m.node(n.next).prev = n.prev
	}
	n.state, n.next, n.prev = nodeIdle, none, none
}

// armed reports whether timer kind of slot is pending.
func (m *Machine) armed(slot uint32, kind int) bool {
	return m.node(slot<<1|uint32(kind)).state != nodeIdle
}

// runTimers fires every timer due by tick cur. It first takes all due
// nodes off their lists and then fires them, so a firing that cancels or
// arms other timers (a context removed, a state entered) cannot disturb
// the walk; a node cancelled before its turn is skipped.
func (m *Machine) runTimers(cur uint32) {
	w := &m.wheel
	if cur <= w.now {
		return
	}
	end := cur
	if cur-w.now > wheelSlots {
		end = w.now + wheelSlots // one full turn visits every list
	}
	for t := w.now + 1; t <= end; t++ {
		for id := w.heads[t&wheelMask]; id != none; {
			n := m.node(id)
			next := n.next
			if n.when <= cur {
				m.unlink(id, n)
				n.state = nodeDue
				w.due = append(w.due, id)
			}
			id = next
		}
	}
	w.now = cur
	for i, id := range w.due {
		if n := m.node(id); n.state == nodeDue {
			n.state = nodeIdle
			if m.testFire != nil {
				m.testFire(id>>1, int(id&1))
			} else {
				m.fire(id>>1, int(id&1))
			}
		}
		w.due[i] = 0
	}
	w.due = w.due[:0]
}

// ticks converts a duration to wheel ticks, rounding up.
func (m *Machine) ticks(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	t := (d + m.res - 1) / m.res
	if t > 1<<31 {
		t = 1 << 31
	}
	return uint32(t)
}

// tickOf is the wheel tick of time t: ticks since the machine started,
// plus one so that zero can mean "never".
func (m *Machine) tickOf(t time.Time) uint32 {
	if t.IsZero() || t.Before(m.epoch) {
		return 0
	}
	return uint32(t.Sub(m.epoch)/m.res) + 1
}

// backoff is a retransmission delay: base doubled per try already made
// (binary exponential backoff), capped at limit when limit > 0, then
// randomised over [0.5, 1.5) of that value (RFC 5533 §7.8, §10.2, §14:
// randomisation after backoff).
func (m *Machine) backoff(base time.Duration, try uint8, limit time.Duration) uint32 {
	d := base << min(try, 20)
	if limit > 0 && d > limit {
		d = limit
	}
	f := 0.5 + float64(m.rand.uint32())/(1<<32)
	return m.ticks(time.Duration(float64(d) * f))
}
