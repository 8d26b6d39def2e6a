package mem

import (
	"bytes"
	"testing"

	"shim6d/ports"
)

func TestInjectRxTxSent(t *testing.T) {
	pool := NewPool(8, DefaultBufSize)
	p := NewPort(Config{Name: "a", Index: 3, RxQueues: 1, TxQueues: 2, Pool: pool})
	frames := [][]byte{{1, 2, 3}, {4, 5, 6, 7}}
	for _, f := range frames {
		if err := p.Inject(0, f); err != nil {
			t.Fatal(err)
		}
	}
	if pool.Avail() != 6 || pool.InUse() != 2 {
		t.Fatalf("pool with 2 frames queued: %d free, %d in use of 8", pool.Avail(), pool.InUse())
	}
	var b [ports.MaxBurst]ports.Packet
	n := p.RxBurst(0, b[:])
	if n != 2 {
		t.Fatalf("RxBurst = %d, want 2", n)
	}
	for i := 0; i < n; i++ {
		if b[i].Port != 3 || b[i].Off != ports.Headroom || !bytes.Equal(b[i].Frame(), frames[i]) {
			t.Fatalf("packet %d = port %d off %d %x", i, b[i].Port, b[i].Off, b[i].Frame())
		}
	}
	// A prepend goes into the headroom and shows up on tx.
	fr, ok := b[0].Prepend(2)
	if !ok {
		t.Fatal("Prepend(2) failed with full headroom")
	}
	fr[0], fr[1] = 9, 9
	if got := p.TxBurst(1, b[:n]); got != n {
		t.Fatalf("TxBurst = %d", got)
	}
	sent := p.Sent(1)
	if len(sent) != 2 || !bytes.Equal(sent[0], []byte{9, 9, 1, 2, 3}) {
		t.Fatalf("sent = %x", sent)
	}
	if pool.Avail() != 8 || pool.InUse() != 0 {
		t.Fatalf("pool leaked: %d free, %d in use of 8", pool.Avail(), pool.InUse())
	}
	if s := p.Stats(); s.RxPackets != 2 || s.TxPackets != 2 || s.TxBytes != 9 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestLinkDownStopsIO(t *testing.T) {
	p := NewPort(Config{Name: "a"})
	p.Inject(0, []byte{1})
	p.SetLink(false)
	var b [4]ports.Packet
	if p.RxBurst(0, b[:]) != 0 || p.Link().Up {
		t.Fatal("down port received")
	}
	p.SetLink(true)
	if p.RxBurst(0, b[:]) != 1 {
		t.Fatal("up port did not receive")
	}
	p.SetLink(false)
	if p.TxBurst(0, b[:1]) != 0 {
		t.Fatal("down port transmitted")
	}
	p.Free(b[:1])
}

func TestDoubleFreePanics(t *testing.T) {
	p := NewPort(Config{Name: "a"})
	var b [1]ports.Packet
	p.Alloc(b[:])
	p.Free(b[:])
	defer func() {
		if recover() == nil {
			t.Fatal("double free did not panic")
		}
	}()
	p.Free(b[:])
}

func TestRingWrapAndFull(t *testing.T) {
	r := NewRing(4)
	var in, out [6]ports.Packet
	for i := range in {
		in[i].Handle = uintptr(i + 1)
	}
	if n := r.MpEnqueueBurst(in[:3]); n != 3 {
		t.Fatalf("enqueue 3 = %d", n)
	}
	if n := r.ScDequeueBurst(out[:2]); n != 2 || out[0].Handle != 1 || out[1].Handle != 2 {
		t.Fatalf("dequeue = %d %v", n, out[:2])
	}
	if n := r.MpEnqueueBurst(in[3:6]); n != 3 {
		t.Fatalf("enqueue after wrap = %d, want 3", n)
	}
	if n := r.MpEnqueueBurst(in[:1]); n != 0 {
		t.Fatalf("enqueue into full ring = %d", n)
	}
	n := r.ScDequeueBurst(out[:])
	if n != 4 || out[0].Handle != 3 || out[3].Handle != 6 || r.Count() != 0 {
		t.Fatalf("dequeue = %d %v", n, out[:n])
	}
}

func TestReplaySourceAndSinkAllocateNothing(t *testing.T) {
	p := NewPort(Config{Name: "a"})
	p.SetSource(0, [][]byte{{1, 2}, {3}})
	p.SetSink(0, true)
	var b [ports.MaxBurst]ports.Packet
	allocs := testing.AllocsPerRun(100, func() {
		n := p.RxBurst(0, b[:])
		p.TxBurst(0, b[:n])
	})
	if allocs != 0 {
		t.Fatalf("rx+tx burst allocates %v per run", allocs)
	}
	n := p.RxBurst(0, b[:3])
	if n != 3 || b[2].Len != 2 {
		t.Fatalf("replay gave %d packets, third len %d", n, b[2].Len)
	}
	p.Free(b[:n])
}
