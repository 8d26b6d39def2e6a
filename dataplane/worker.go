// Package dataplane is the fast path: poll-mode workers that receive bursts,
// classify and forward them, and hand what they cannot handle to the control
// core over a ring.
package dataplane

import (
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"shim6d/dataplane/header"
	"shim6d/ports"
)

// PollMode chooses how a worker waits when its queues are empty.
type PollMode uint8

const (
	// PollBusy spins on the rx queues: lowest latency, one core per worker
	// at 100% whatever the load. For dedicated, isolated cores.
	PollBusy PollMode = iota
	// PollAdaptive backs off with growing sleeps when the queues stay empty,
	// so several daemons (or a lab on two cores) can share CPUs.
	PollAdaptive
)

// Adaptive polling: after idleSpins empty rounds the worker starts sleeping,
// doubling from minSleep to maxSleep. The first packet resets it. maxSleep
// bounds the latency an idle worker adds to the first packet of a burst; at
// 200 µs a 1024-descriptor rx ring absorbs 5 Mpps meanwhile.
const (
	idleSpins = 256
	minSleep  = 5 * time.Microsecond
	maxSleep  = 200 * time.Microsecond
	// publishEvery bounds how stale the published counters may be, in bursts.
	publishEvery = 64
)

// outControl and outDrop are the pseudo egress ports of classify.
const (
	outControl = MaxPorts
	outDrop    = MaxPorts + 1
)

// WorkerConfig sets up a worker. Ports are indexed as in config; every port
// gives the worker rx queue RxQueue and tx queue TxQueue.
type WorkerConfig struct {
	ID      int
	Ports   []ports.Port
	RxQueue uint16
	TxQueue uint16
	Control ports.Ring
	Fwd     *atomic.Pointer[Forwarding]
	Polling PollMode
	// Handoff, indexed by port, is set on worker 0 for ports whose device
	// has no spare tx queue for the control core; see Handoff.
	Handoff []*Handoff
	// Shim connects the worker to the context table; zero value: no shim.
	Shim ShimConfig
}

type txBuf struct {
	n    int
	pkts [ports.MaxBurst]ports.Packet
}

// Worker is one poll-mode forwarding loop. Everything it touches in the loop
// is allocated in NewWorker, so the loop itself allocates nothing.
type Worker struct {
	cfg  WorkerConfig
	stop atomic.Bool

	// Counters are this worker's; read them with Counters.Load.
	Counters Counters

	rx     [ports.MaxBurst]ports.Packet
	next   [ports.MaxBurst]uint16 // classify's verdict per packet
	res    [ports.MaxBurst]fastResult
	tx     [MaxPorts]txBuf
	ctl    txBuf
	drop   txBuf
	bursts uint64
	shim   ShimConfig
	sh     shimState
	// nb is the current snapshot's Neighbors, flattened.
	nb neighborTable
	// fp is the current snapshot as the fast paths read it.
	fp fastFwd
}

// NewWorker makes a worker; Run starts it.
func NewWorker(cfg WorkerConfig) *Worker {
	if len(cfg.Ports) > MaxPorts {
		panic("dataplane: more than MaxPorts ports")
	}
	w := &Worker{cfg: cfg, shim: cfg.Shim}
	if w.shim.Contexts != nil && w.shim.Feedback == nil {
		w.shim.Feedback = NewFeedback(w.shim.Contexts.Capacity())
	}
	if w.shim.Tick == nil {
		w.shim.Tick = new(atomic.Uint32)
	}
	return w
}

// Stop asks Run to return after its current round.
func (w *Worker) Stop() { w.stop.Store(true) }

// Run polls until Stop. The caller decides the thread: the daemon locks it
// to an OS thread pinned to the worker's core.
func (w *Worker) Run() {
	idle := 0
	sleep := minSleep
	for !w.stop.Load() {
		if w.Poll() > 0 {
			idle, sleep = 0, minSleep
			continue
		}
		w.Counters.local[CounterIdlePolls]++
		idle++
		if idle == idleSpins {
			// Going idle: make the counters exact for whoever scrapes now.
			w.Counters.publish()
		}
		if w.cfg.Polling == PollBusy || idle < idleSpins {
			continue
		}
		if idle == idleSpins {
			runtime.Gosched()
			continue
		}
		// An idle worker still sends what the control core hands it:
		// keep the published counters exact while it naps.
		w.Counters.publish()
		time.Sleep(sleep)
		sleep = min(sleep*2, maxSleep)
	}
	w.Counters.publish()
}

// Poll runs one round: one rx burst from each port, processed and
// transmitted. It returns the number of packets received. Tests drive it
// directly.
func (w *Worker) Poll() int {
	c := &w.Counters.local
	c[CounterPolls]++
	fwd := w.cfg.Fwd.Load()
	w.sh.tick = w.shim.Tick.Load()
	total, handed := 0, 0
	for pi, p := range w.cfg.Ports {
		n := p.RxBurst(w.cfg.RxQueue, w.rx[:])
		if n == 0 {
			continue
		}
		total += n
		c[PortCounter(pi, PortRxPackets)] += uint64(n)
		w.processBurst(w.rx[:n], pi, fwd)
	}
	for pi, h := range w.cfg.Handoff {
		if h == nil {
			continue
		}
		// The control core's packets join this worker's tx burst.
		b := &w.tx[pi]
		k := h.Dequeue(b.pkts[b.n:])
		b.n += k
		handed += k
	}
	w.flush()
	if handed > 0 && total == 0 {
		w.Counters.publish() // rare: control traffic on an idle worker
	}
	if total > 0 {
		c[CounterRxPackets] += uint64(total)
		w.bursts++
		if w.bursts%publishEvery == 0 {
			w.Counters.publish()
		}
	}
	return total
}

// processBurst classifies the whole burst, then dispatches it: two passes, so
// the classify loop stays small and hot and the dispatch loop touches only
// the tx buffers.
func (w *Worker) processBurst(pkts []ports.Packet, port int, fwd *Forwarding) {
	c := &w.Counters.local
	first, same := w.classifyBurst(pkts, port, fwd)
	if same && w.tx[first].n == 0 {
		// The usual case: the whole burst leaves by one port. Send it from
		// the rx array as it is, without copying it into a tx buffer.
		w.transmit(int(first), pkts)
		return
	}
	for i := range pkts {
		switch out := w.next[i]; out {
		case outDrop:
			c[PortCounter(port, PortDrops)]++
			w.put(&w.drop, pkts[i])
		case outControl:
			w.put(&w.ctl, pkts[i])
		default:
			w.put(&w.tx[out], pkts[i])
		}
	}
}

// classifyBurst is processBurst's first pass: it classifies (and rewrites)
// every packet of a non-empty burst into w.next, and reports the first
// packet's verdict and whether every packet leaves by that same port.
func (w *Worker) classifyBurst(pkts []ports.Packet, port int, fwd *Forwarding) (uint16, bool) {
	c := &w.Counters.local
	if w.nb.of != fwd {
		w.nb.adopt(fwd)
	}
	if t := w.shim.Contexts; t != nil {
		w.sh.active = !t.Empty()
		if w.sh.active {
			w.prefetch(pkts, uint16(port) == fwd.Inside)
		}
	}
	if w.fp.of != fwd {
		w.fp.adopt(fwd)
	}
	// Counted before the paths, which trim Ethernet padding and add or
	// strip headers: the port counts what it received.
	var rxBytes uint64
	for i := range pkts {
		rxBytes += uint64(pkts[i].Len)
	}
	if uint16(port) == fwd.Inside {
		w.fastOut(pkts, &w.fp)
	} else {
		w.fastIn(pkts, &w.fp)
	}
	// route takes what the fast paths left: packets are independent, and
	// tx keeps the burst's order whichever path classified them.
	next := w.next[:len(pkts)]
	var rewritten, stripped, slow uint64
	for i := range pkts {
		switch w.res[i] {
		case fastSlow:
			next[i] = w.slowRoute(&pkts[i], fwd, i)
			slow++
		case fastRewrote:
			rewritten++
		case fastStripped:
			stripped++
		}
	}
	first, same := next[0], true
	for _, out := range next[1:] {
		same = same && out == first
	}
	c[PortCounter(port, PortRxBytes)] += rxBytes
	c[CounterRewritten] += rewritten
	c[CounterStripped] += stripped
	c[CounterSlowPath] += slow
	return first, same && first < outControl
}

// slowRoute is route for packet i of the burst being classified, with the
// hash prefetch made of its pair, counting a drop's reason.
func (w *Worker) slowRoute(p *ports.Packet, fwd *Forwarding, i int) uint16 {
	w.sh.hashed = w.sh.active && w.sh.kinds[i] == keyPair
	w.sh.hash = w.sh.keys[i]
	out, why := w.route(p, fwd)
	w.sh.hashed = false
	if why != DropNone {
		w.Counters.local[DropCounter(why)]++
	}
	return out
}

func (w *Worker) put(b *txBuf, p ports.Packet) {
	if b.n == len(b.pkts) {
		w.flush()
	}
	b.pkts[b.n] = p
	b.n++
}

// flush transmits every buffered packet, hands control packets to the ring
// and frees the drops. Whatever a queue or the ring does not take is counted
// and freed: a worker never waits.
func (w *Worker) flush() {
	for pi := range w.cfg.Ports {
		if b := &w.tx[pi]; b.n > 0 {
			w.transmit(pi, b.pkts[:b.n])
			b.n = 0
		}
	}
	c := &w.Counters.local
	if w.ctl.n > 0 {
		took := w.cfg.Control.MpEnqueueBurst(w.ctl.pkts[:w.ctl.n])
		c[CounterToControl] += uint64(took)
		if took < w.ctl.n {
			c[DropCounter(DropControlRingFull)] += uint64(w.ctl.n - took)
			w.freePkts(w.ctl.pkts[took:w.ctl.n])
		}
		w.ctl.n = 0
	}
	if w.drop.n > 0 {
		w.freePkts(w.drop.pkts[:w.drop.n])
		w.drop.n = 0
	}
}

// transmit sends pkts on port pi's tx queue; what the queue does not take
// is counted and freed: a worker never waits.
func (w *Worker) transmit(pi int, pkts []ports.Packet) {
	c := &w.Counters.local
	sent := w.cfg.Ports[pi].TxBurst(w.cfg.TxQueue, pkts)
	var bytes uint64
	for i := 0; i < sent; i++ {
		bytes += uint64(pkts[i].Len)
	}
	c[CounterTxPackets] += uint64(sent)
	c[PortCounter(pi, PortTxPackets)] += uint64(sent)
	c[PortCounter(pi, PortTxBytes)] += bytes
	if sent < len(pkts) {
		c[DropCounter(DropTxFull)] += uint64(len(pkts) - sent)
		c[PortCounter(pi, PortDrops)] += uint64(len(pkts) - sent)
		w.freePkts(pkts[sent:])
	}
}

// freePkts frees packets that were dropped or refused. Buffers of any port
// can be freed through any port: they come from one pool per socket, and
// the backends free to the buffer's own pool.
func (w *Worker) freePkts(pkts []ports.Packet) {
	if len(pkts) > 0 {
		w.cfg.Ports[0].Free(pkts)
	}
}

// fixedHeaders is what every routed frame starts with: Ethernet and the
// fixed IPv6 header.
const fixedHeaders = header.EthernetMinimumSize + header.IPv6MinimumSize

// fixed is the fixed headers of a frame route has checked. Views of it have
// constant lengths, so the compiler drops the bounds checks of their
// accessors: the common paths read and write only these 54 bytes and take
// the whole packet (packetIP) only where they need more.
type fixed [fixedHeaders]byte

func (h *fixed) eth() header.Ethernet { return h[:header.EthernetMinimumSize] }

// ip is the fixed IPv6 header alone, not the packet.
func (h *fixed) ip() header.IPv6 { return h[header.EthernetMinimumSize:] }

// headers returns the fixed headers of p, or nil when the frame is too
// short to hold them: the fast paths' view, a pointer into the buffer
// rather than a slice.
func headers(p *ports.Packet) *fixed {
	if p.Len < fixedHeaders {
		return nil
	}
	return (*fixed)(unsafe.Add(*(*unsafe.Pointer)(unsafe.Pointer(&p.Addr)), p.Off))
}

// packetIP returns the IPv6 packet of a frame route has checked and
// trimmed.
func packetIP(p *ports.Packet) header.IPv6 {
	return header.IPv6(p.Frame()[header.EthernetMinimumSize:])
}

// route decides one packet's fate and, for packets it forwards, rewrites
// them for their egress. It returns the egress port index, outControl or
// outDrop, and a drop's reason, which the caller counts.
func (w *Worker) route(p *ports.Packet, f *Forwarding) (uint16, DropReason) {
	frame := p.Frame()
	if len(frame) < fixedHeaders {
		return outDrop, shortFrame(frame)
	}
	h := (*fixed)(frame)
	if h.eth().EtherType() != header.EtherTypeIPv6 {
		return outDrop, DropNotIPv6
	}
	ip := h.ip()
	if ip.Version() != 6 {
		return outDrop, DropBadVersion
	}
	// Drop Ethernet padding, so that what we forward (and rewrite) is
	// exactly the IPv6 packet.
	n := fixedHeaders + int(ip.PayloadLength())
	if n > len(frame) {
		return outDrop, DropBadLength
	}
	p.Len = uint16(n)
	src, dst := ip.Src(), ip.Dst()
	if dst[0] == 0xff {
		// Multicast: Neighbor Discovery and MLD go to the control core, the
		// rest is not ours to route.
		if nh := ip.NextHeader(); nh == header.ProtoICMPv6 || nh == header.ProtoHopByHop {
			return outControl, DropNone
		}
		return outDrop, DropMulticast
	}
	if f.IsLocal(dst) {
		return outControl, DropNone
	}
	if isLinkLocal(dst) || isLinkLocal(src) {
		return outDrop, DropLinkLocal
	}
	if p.Port == f.Inside {
		return w.outbound(p, h, f)
	}
	return w.inbound(p, h, f)
}

// shortFrame says why a frame too short for the fixed headers is dropped.
func shortFrame(frame []byte) DropReason {
	switch {
	case len(frame) < header.EthernetMinimumSize:
		return DropTruncatedEthernet
	case header.Ethernet(frame).EtherType() != header.EtherTypeIPv6:
		return DropNotIPv6
	}
	return DropTruncatedIPv6
}

func isLinkLocal(a *[16]byte) bool { return a[0] == 0xfe && a[1]&0xc0 == 0x80 }

// ID is the worker's number.
func (w *Worker) ID() int { return w.cfg.ID }
