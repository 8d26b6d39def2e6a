// Package mem is an in-memory ports backend: the same burst interface as the
// DPDK backend, over Go byte slices, for unit tests and for benchmarks of the
// pipeline without EAL.
//
// A test injects frames into a port's rx queues and reads back what was
// transmitted; a benchmark gives a port a replay source (like net_pcap with
// infinite_rx) and a discarding sink (like net_null).
package mem

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"shim6d/ports"
)

// DefaultBufSize is the data room of each buffer, headroom included, the
// same as DPDK's RTE_MBUF_DEFAULT_BUF_SIZE.
const DefaultBufSize = 2048 + ports.Headroom

// Pool is a fixed set of equally sized packet buffers in one Go slice.
// Handles are buffer indices. Alloc and Free take a mutex once per burst,
// which is fine for tests and single-core benchmarks; the DPDK backend uses
// lock-free mempools.
type Pool struct {
	mu      sync.Mutex
	data    []byte
	bufSize int
	free    []uint32
	inUse   []bool // catches double frees, which would corrupt a real mempool
}

// NewPool makes a pool of n buffers of bufSize bytes each; bufSize is at
// most 65535, like an mbuf's.
//
// Packets address their buffers by integer (ports.Packet), so the pool's
// one array must stay where it is while buffers are out: the Pool holds
// it, and Go's collector does not move heap objects.
func NewPool(n, bufSize int) *Pool {
	if bufSize <= ports.Headroom || bufSize > 0xffff {
		panic(fmt.Sprintf("mem: buffer size %d: want %d..65535", bufSize, ports.Headroom+1))
	}
	p := &Pool{
		data:    make([]byte, n*bufSize),
		bufSize: bufSize,
		free:    make([]uint32, n),
		inUse:   make([]bool, n),
	}
	for i := range p.free {
		p.free[i] = uint32(n - 1 - i)
	}
	return p
}

// Name names the pool in the admin API and metrics, as a DPDK mempool's
// name does.
func (p *Pool) Name() string { return "mem" }

// InUse is the number of buffers out of the pool: in packets, queues or
// rings. Avail + InUse is the pool's size.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse) - len(p.free)
}

// Avail is the number of free buffers.
func (p *Pool) Avail() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

func (p *Pool) alloc(pkts []ports.Packet) int {
	p.mu.Lock()
	n := min(len(pkts), len(p.free))
	for i := 0; i < n; i++ {
		h := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		p.inUse[h] = true
		pkts[i] = ports.Packet{
			Handle: uintptr(h),
			Addr:   uintptr(unsafe.Pointer(&p.data[int(h)*p.bufSize])),
			Off:    ports.Headroom,
			BufLen: uint16(p.bufSize),
		}
	}
	p.mu.Unlock()
	return n
}

func (p *Pool) release(pkts []ports.Packet) {
	p.mu.Lock()
	for i := range pkts {
		h := uint32(pkts[i].Handle)
		if int(h) >= len(p.inUse) || !p.inUse[h] {
			p.mu.Unlock()
			panic(fmt.Sprintf("mem: free of buffer %d that is not allocated", h))
		}
		p.inUse[h] = false
		p.free = append(p.free, h)
	}
	p.mu.Unlock()
}

// Config describes an in-memory port.
type Config struct {
	Name     string
	Index    uint16
	MAC      [6]byte
	MTU      int
	RxQueues int
	TxQueues int
	Pool     *Pool
}

// Port is an in-memory port. It implements ports.Port.
type Port struct {
	cfg  Config
	rx   []rxQueue
	tx   []txQueue
	down atomic.Bool

	rxPackets, txPackets atomic.Uint64
	rxBytes, txBytes     atomic.Uint64
	rxMissed             atomic.Uint64
}

type rxQueue struct {
	mu      sync.Mutex
	pending []ports.Packet
	// source, when set, is replayed forever: each RxBurst copies the next
	// frames into fresh buffers, as net_pcap's infinite_rx does.
	source [][]byte
	next   int
}

type txQueue struct {
	mu   sync.Mutex
	sent []ports.Packet
	sink bool
}

// NewPort makes a port; link is up.
func NewPort(cfg Config) *Port {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.Pool == nil {
		cfg.Pool = NewPool(4096, DefaultBufSize)
	}
	return &Port{
		cfg: cfg,
		rx:  make([]rxQueue, max(cfg.RxQueues, 1)),
		tx:  make([]txQueue, max(cfg.TxQueues, 1)),
	}
}

// Name implements ports.Port.
func (p *Port) Name() string { return p.cfg.Name }

// MAC implements ports.Port.
func (p *Port) MAC() [6]byte { return p.cfg.MAC }

// MTU implements ports.Port.
func (p *Port) MTU() int { return p.cfg.MTU }

// Link implements ports.Port.
func (p *Port) Link() ports.LinkStatus { return ports.LinkStatus{Up: !p.down.Load()} }

// SetLink sets the link state a test wants the daemon to see.
func (p *Port) SetLink(up bool) { p.down.Store(!up) }

// Pool returns the port's buffer pool.
func (p *Port) Pool() *Pool { return p.cfg.Pool }

// Stats implements ports.Port.
func (p *Port) Stats() ports.Stats {
	return ports.Stats{
		RxPackets: p.rxPackets.Load(), TxPackets: p.txPackets.Load(),
		RxBytes: p.rxBytes.Load(), TxBytes: p.txBytes.Load(),
		RxMissed: p.rxMissed.Load(),
	}
}

// Alloc implements ports.Port.
func (p *Port) Alloc(pkts []ports.Packet) int { return p.cfg.Pool.alloc(pkts) }

// Free implements ports.Port.
func (p *Port) Free(pkts []ports.Packet) { p.cfg.Pool.release(pkts) }

// Inject copies frame into a buffer and queues it for reception on queue q.
func (p *Port) Inject(q int, frame []byte) error {
	var pk [1]ports.Packet
	if p.cfg.Pool.alloc(pk[:]) == 0 {
		p.rxMissed.Add(1)
		return ports.ErrNoBuffers
	}
	if !pk[0].SetLen(len(frame)) {
		p.cfg.Pool.release(pk[:])
		return fmt.Errorf("mem: frame of %d bytes does not fit a buffer", len(frame))
	}
	copy(pk[0].Frame(), frame)
	r := &p.rx[q]
	r.mu.Lock()
	r.pending = append(r.pending, pk[0])
	r.mu.Unlock()
	return nil
}

// SetSource makes rx queue q replay frames forever.
func (p *Port) SetSource(q int, frames [][]byte) {
	r := &p.rx[q]
	r.mu.Lock()
	r.source, r.next = frames, 0
	r.mu.Unlock()
}

// SetSink makes tx queue q free what it is given instead of keeping it.
func (p *Port) SetSink(q int, sink bool) {
	t := &p.tx[q]
	t.mu.Lock()
	t.sink = sink
	t.mu.Unlock()
}

// RxBurst implements ports.Port.
func (p *Port) RxBurst(q uint16, pkts []ports.Packet) int {
	if p.down.Load() {
		return 0
	}
	r := &p.rx[q]
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	if len(r.source) > 0 {
		n = p.cfg.Pool.alloc(pkts)
		for i := 0; i < n; i++ {
			f := r.source[r.next]
			r.next++
			if r.next == len(r.source) {
				r.next = 0
			}
			pkts[i].SetLen(len(f))
			copy(pkts[i].Frame(), f)
		}
	} else {
		n = copy(pkts, r.pending)
		r.pending = r.pending[:copy(r.pending, r.pending[n:])]
	}
	var bytes uint64
	for i := 0; i < n; i++ {
		pkts[i].Port = p.cfg.Index
		bytes += uint64(pkts[i].Len)
	}
	p.rxPackets.Add(uint64(n))
	p.rxBytes.Add(bytes)
	return n
}

// TxBurst implements ports.Port. It takes every packet while the link is up.
func (p *Port) TxBurst(q uint16, pkts []ports.Packet) int {
	if p.down.Load() {
		return 0
	}
	t := &p.tx[q]
	var bytes uint64
	for i := range pkts {
		bytes += uint64(pkts[i].Len)
	}
	p.txPackets.Add(uint64(len(pkts)))
	p.txBytes.Add(bytes)
	t.mu.Lock()
	if t.sink {
		t.mu.Unlock()
		p.cfg.Pool.release(pkts)
		return len(pkts)
	}
	t.sent = append(t.sent, pkts...)
	t.mu.Unlock()
	return len(pkts)
}

// Sent returns copies of the frames transmitted on queue q since the last
// call, oldest first, and frees their buffers.
func (p *Port) Sent(q int) [][]byte {
	t := &p.tx[q]
	t.mu.Lock()
	sent := t.sent
	t.sent = nil
	t.mu.Unlock()
	out := make([][]byte, len(sent))
	for i := range sent {
		out[i] = append([]byte(nil), sent[i].Frame()...)
	}
	p.cfg.Pool.release(sent)
	return out
}

// SentAll drains every tx queue, in queue order.
func (p *Port) SentAll() [][]byte {
	var out [][]byte
	for q := range p.tx {
		out = append(out, p.Sent(q)...)
	}
	return out
}

// Ring is an in-memory multi-producer, single-consumer packet ring. It
// implements ports.Ring with a mutex, which the race detector understands;
// the DPDK backend uses rte_ring.
type Ring struct {
	mu   sync.Mutex
	buf  []ports.Packet
	head int // next to dequeue
	n    int
}

// NewRing makes a ring holding up to size packets.
func NewRing(size int) *Ring { return &Ring{buf: make([]ports.Packet, size)} }

// MpEnqueueBurst implements ports.Ring.
func (r *Ring) MpEnqueueBurst(pkts []ports.Packet) int {
	r.mu.Lock()
	k := min(len(pkts), len(r.buf)-r.n)
	for i := 0; i < k; i++ {
		r.buf[(r.head+r.n+i)%len(r.buf)] = pkts[i]
	}
	r.n += k
	r.mu.Unlock()
	return k
}

// ScDequeueBurst implements ports.Ring.
func (r *Ring) ScDequeueBurst(pkts []ports.Packet) int {
	r.mu.Lock()
	k := min(len(pkts), r.n)
	for i := 0; i < k; i++ {
		j := (r.head + i) % len(r.buf)
		pkts[i] = r.buf[j]
		r.buf[j] = ports.Packet{}
	}
	r.head = (r.head + k) % len(r.buf)
	r.n -= k
	r.mu.Unlock()
	return k
}

// Count implements ports.Ring.
func (r *Ring) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Cap implements ports.Ring.
func (r *Ring) Cap() int { return len(r.buf) }

var (
	_ ports.Port = (*Port)(nil)
	_ ports.Ring = (*Ring)(nil)
)
