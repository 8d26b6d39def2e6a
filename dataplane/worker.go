// Package dataplane is the fast path: poll-mode workers that receive bursts,
// classify and forward them, and hand what they cannot handle to the control
// core over a ring.
package dataplane

import (
	"encoding/binary"
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
	// advice is the ULP advice switch (SetULPAdvice), read once a round.
	advice atomic.Bool
	// establishAfter is ShimConfig.EstablishAfter as a reload sets it
	// (SetEstablishAfter), copied into shim once a round.
	establishAfter atomic.Uint32
	// capture is the running capture's ring for this worker, nil when
	// none runs (SetCapture); read once a burst.
	capture atomic.Pointer[CaptureRing]

	// Counters are this worker's; read them with Counters.Load.
	Counters Counters

	// rd holds every port's rx burst and tx burst; rounder moves it
	// through the ports in one call a round (see round).
	rd      ports.Round
	rounder ports.Rounder
	next    [ports.MaxBurst]uint16 // classify's verdict per packet
	res     [ports.MaxBurst]fastResult
	why     [ports.MaxBurst]DropReason // slowRoute's drop reasons, for a capture
	ctl     txBuf
	drop    txBuf
	bursts  uint64
	shim    ShimConfig
	sh      shimState
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
	w.rd.Init()
	w.sh.setAdvice(false)
	w.establishAfter.Store(cfg.Shim.EstablishAfter)
	w.rounder = ports.NewRounder(cfg.Ports, cfg.RxQueue, cfg.TxQueue)
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
		if w.round() > 0 {
			// What it forwarded leaves with the next round's call.
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
	w.flush()
	w.Counters.publish()
}

// Poll runs one round and sends what it forwarded: one rx burst from each
// port, processed and transmitted. It returns the number of packets
// received. Tests drive it directly.
func (w *Worker) Poll() int {
	n := w.round()
	w.flush()
	return n
}

// round runs one round and leaves what it forwarded waiting in w.rd. One
// Rounder call sends what the last round left and receives every port's
// burst: for DPDK, one crossing into C a round, which is why a busy
// worker sends a round's packets with the next round's call. An idle
// round (nothing received) sends what it was handed at once, because an
// idle worker may sleep before its next round.
func (w *Worker) round() int {
	c := &w.Counters.local
	c[CounterPolls]++
	fwd := w.cfg.Fwd.Load()
	w.sh.tick = w.shim.Tick.Load()
	w.sh.setAdvice(w.advice.Load())
	w.shim.EstablishAfter = w.establishAfter.Load()
	r := &w.rd
	total := w.rounder.Round(r, true)
	w.sent()
	if total > 0 {
		for pi := range w.cfg.Ports {
			if n := r.NRx[pi]; n > 0 {
				c[PortCounter(pi, PortRxPackets)] += uint64(n)
				c[PortCounter(pi, PortRxBytes)] += uint64(r.RxBytes[pi])
				w.processBurst(pi, fwd)
			}
		}
	}
	handed := 0
	for pi, h := range w.cfg.Handoff {
		if h == nil {
			continue
		}
		// The control core's packets join this worker's tx burst.
		n := int(r.NTx[pi])
		k := h.Dequeue(r.Bufs[r.TxBuf[pi]][n:])
		r.NTx[pi] = uint16(n + k)
		handed += k
	}
	w.flushLocal()
	if handed > 0 && total == 0 {
		w.flush()
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

// processBurst classifies port's rx burst, then dispatches it: two passes,
// so the classify loop stays small and hot and the dispatch loop touches
// only the tx buffers.
func (w *Worker) processBurst(port int, fwd *Forwarding) {
	c := &w.Counters.local
	r := &w.rd
	pkts := r.Rx(port)
	if fwd.Standby {
		// The standby box of an HA pair takes nothing: one test a burst.
		c[DropCounter(DropHAStandby)] += uint64(len(pkts))
		c[PortCounter(port, PortDrops)] += uint64(len(pkts))
		w.freePkts(pkts)
		return
	}
	first, same := w.classifyBurst(pkts, port, fwd)
	if same && r.NTx[first] == 0 {
		// The usual case: the whole burst leaves by one port. The rx
		// buffer becomes that port's tx buffer, and the empty tx buffer
		// takes the next round's rx burst: nothing is copied.
		r.RxBuf[port], r.TxBuf[first] = r.TxBuf[first], r.RxBuf[port]
		r.NTx[first] = uint16(len(pkts))
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
			if r.NTx[out] == ports.MaxBurst {
				w.flush()
			}
			r.Bufs[r.TxBuf[out]][r.NTx[out]] = pkts[i]
			r.NTx[out]++
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
	var sum fastSum
	if uint16(port) == fwd.Inside {
		sum = w.fastOut(pkts, &w.fp)
		if w.sh.late != 0 {
			// Here rather than at the end of fastOut: a call there
			// keeps the loop's sums out of registers.
			w.retxLate(pkts)
		}
	} else {
		sum = w.fastIn(pkts, &w.fp)
	}
	if uint16(port) == fwd.Inside {
		c[CounterRewritten] += uint64(sum.done)
	} else {
		c[CounterStripped] += uint64(sum.done)
	}
	next := w.next[:len(pkts)]
	if sum.taken == len(pkts) {
		// The usual burst: the fast paths took it all, and say by which
		// ports it leaves. One with drops or packets for the control
		// core (a flood's) leaves by no one port: processBurst sorts it
		// packet by packet, with no pass here over what route would
		// have had. A capture copies the burst first: this load and
		// branch are all a burst pays for capture while none runs.
		whole := sum.dropped == 0
		if cr := w.capture.Load(); cr != nil {
			w.captureBurst(cr, pkts, port, whole)
		}
		return next[0], whole && sum.out&(sum.out-1) == 0
	}
	// route takes what the fast paths left: packets are independent, and
	// tx keeps the burst's order whichever path classified them.
	for i := range pkts {
		if w.res[i] == fastSlow {
			next[i] = w.slowRoute(&pkts[i], fwd, i)
		}
	}
	c[CounterSlowPath] += uint64(len(pkts) - sum.taken)
	if cr := w.capture.Load(); cr != nil {
		w.captureBurst(cr, pkts, port, false)
	}
	first, same := next[0], true
	for _, out := range next[1:] {
		same = same && out == first
	}
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
		w.why[i] = why
	}
	return out
}

func (w *Worker) put(b *txBuf, p ports.Packet) {
	if b.n == len(b.pkts) {
		w.flushLocal()
	}
	b.pkts[b.n] = p
	b.n++
}

// flush sends every waiting tx burst now, and what flushLocal handles.
func (w *Worker) flush() {
	r := &w.rd
	for pi := range w.cfg.Ports {
		if r.NTx[pi] > 0 {
			w.rounder.Round(r, false)
			w.sent()
			break
		}
	}
	w.flushLocal()
}

// sent accounts for the tx bursts the last Rounder call sent: what a
// queue did not take is counted and freed, because a worker never waits.
func (w *Worker) sent() {
	c := &w.Counters.local
	r := &w.rd
	for pi := range w.cfg.Ports {
		n := int(r.NTx[pi])
		if n == 0 {
			continue
		}
		r.NTx[pi] = 0
		pkts := r.Bufs[r.TxBuf[pi]][:n]
		k := min(int(r.Sent[pi]), n)
		c[CounterTxPackets] += uint64(k)
		c[PortCounter(pi, PortTxPackets)] += uint64(k)
		c[PortCounter(pi, PortTxBytes)] += uint64(r.TxBytes[pi])
		if k < n {
			c[DropCounter(DropTxFull)] += uint64(n - k)
			c[PortCounter(pi, PortDrops)] += uint64(n - k)
			w.captureRefused(pkts[k:], pi, DropTxFull)
			w.freePkts(pkts[k:])
		}
	}
}

// flushLocal hands control packets to the ring and frees the drops.
// Whatever the ring does not take is counted and freed.
func (w *Worker) flushLocal() {
	c := &w.Counters.local
	if w.ctl.n > 0 {
		took := w.cfg.Control.MpEnqueueBurst(w.ctl.pkts[:w.ctl.n])
		c[CounterToControl] += uint64(took)
		if took < w.ctl.n {
			c[DropCounter(DropControlRingFull)] += uint64(w.ctl.n - took)
			w.captureRefused(w.ctl.pkts[took:w.ctl.n], -1, DropControlRingFull)
			w.freePkts(w.ctl.pkts[took:w.ctl.n])
		}
		w.ctl.n = 0
	}
	if w.drop.n > 0 {
		w.freePkts(w.drop.pkts[:w.drop.n])
		w.drop.n = 0
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

// Where the fields the fast paths and prefetch load and store directly
// sit in a frame's fixed headers. Addresses are handled as two big-endian
// words, their upper (Hi) and lower (Lo) halves.
const (
	frameEtherType     = header.EthernetTypeOffset
	framePayloadLength = header.EthernetMinimumSize + header.IPv6PayloadLengthOffset
	frameNextHeader    = header.EthernetMinimumSize + header.IPv6NextHeaderOffset
	frameHopLimit      = header.EthernetMinimumSize + header.IPv6HopLimitOffset
	frameSrcHi         = header.EthernetMinimumSize + header.IPv6SrcAddrOffset
	frameSrcLo         = frameSrcHi + header.IPv6AddressSize/2
	frameDstHi         = header.EthernetMinimumSize + header.IPv6DstAddrOffset
	frameDstLo         = frameDstHi + header.IPv6AddressSize/2
)

// macPairSize is the length of the frame's first field pair, the
// destination then the source MAC, which a forwarded frame gets anew.
const macPairSize = 2 * header.EthernetAddressSize

// keptSize is what a payload header's insertion or removal moves
// unchanged: the EtherType and IPv6's first word (version, traffic class,
// flow label), which run from frameEtherType to framePayloadLength.
const keptSize = framePayloadLength - frameEtherType

func (h *fixed) eth() header.Ethernet { return h[:header.EthernetMinimumSize] }

// srcDst returns the IPv6 source and destination addresses as big-endian
// words, upper half first.
func (h *fixed) srcDst() (src0, src1, dst0, dst1 uint64) {
	return binary.BigEndian.Uint64(h[frameSrcHi:]), binary.BigEndian.Uint64(h[frameSrcLo:]),
		binary.BigEndian.Uint64(h[frameDstHi:]), binary.BigEndian.Uint64(h[frameDstLo:])
}

// src and dst are the IPv6 source and destination addresses.
func (h *fixed) src() *[16]byte { return (*[16]byte)(h[frameSrcHi:]) }
func (h *fixed) dst() *[16]byte { return (*[16]byte)(h[frameDstHi:]) }

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
	if f.Standby {
		return outDrop, DropHAStandby
	}
	frame := p.Frame()
	if len(frame) < header.EthernetMinimumSize {
		return outDrop, DropTruncatedEthernet
	}
	// A frame for another station goes no further, whatever it carries:
	// the port is not promiscuous in effect, whatever the device is.
	if !f.Accepts(p.Port, (*[header.EthernetAddressSize]byte)(frame)) {
		return outDrop, DropNotForUs
	}
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
