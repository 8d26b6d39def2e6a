package mem

import (
	"bytes"
	"testing"

	"shim6d/ports"
)

// TestRounderSendsThenReceives runs the generic Rounder over two
// in-memory ports: a round sends what waits and then receives, a round
// without rx leaves what was received alone, and a port that refuses its
// burst leaves it to the caller.
func TestRounderSendsThenReceives(t *testing.T) {
	pool := NewPool(16, DefaultBufSize)
	a := NewPort(Config{Name: "a", Index: 0, Pool: pool})
	b := NewPort(Config{Name: "b", Index: 1, Pool: pool})
	rd := ports.NewRounder([]ports.Port{a, b}, 0, 0)
	var r ports.Round
	r.Init()

	a.Inject(0, []byte{1, 2, 3})
	a.Inject(0, []byte{4})
	if got := rd.Round(&r, true); got != 2 || r.NRx[0] != 2 || r.NRx[1] != 0 || r.RxBytes[0] != 4 {
		t.Fatalf("Round = %d, NRx = %v, RxBytes = %v; want 2 packets, 4 bytes received on port 0", got, r.NRx[:2], r.RxBytes[:2])
	}
	// Hand port 0's burst to port 1 by swapping buffers, as a worker does.
	r.RxBuf[0], r.TxBuf[1] = r.TxBuf[1], r.RxBuf[0]
	r.NTx[1] = 2
	b.Inject(0, []byte{9})
	if got := rd.Round(&r, true); got != 1 || r.Sent[1] != 2 || r.Sent[0] != 0 || r.NRx[1] != 1 || r.NRx[0] != 0 {
		t.Fatalf("Round = %d, Sent = %v, NRx = %v; want port 1 to send 2 and receive 1", got, r.Sent[:2], r.NRx[:2])
	}
	if r.TxBytes[1] != 4 {
		t.Errorf("TxBytes = %v, want 4 on port 1", r.TxBytes[:2])
	}
	if sent := b.Sent(0); len(sent) != 2 || !bytes.Equal(sent[0], []byte{1, 2, 3}) || !bytes.Equal(sent[1], []byte{4}) {
		t.Errorf("port 1 sent %x, want [010203 04]", sent)
	}
	if f := r.Rx(1)[0].Frame(); !bytes.Equal(f, []byte{9}) {
		t.Errorf("port 1 received %x, want 09", f)
	}

	// Without rx: the received burst stays as it was.
	r.NTx[1] = 0
	b.SetLink(false)
	r.Bufs[r.TxBuf[0]][0] = r.Rx(1)[0]
	r.NTx[0] = 1
	a.SetLink(false)
	if got := rd.Round(&r, false); got != 0 || r.NRx[1] != 1 || r.Sent[0] != 0 {
		t.Fatalf("Round(rx=false) = %d, NRx = %v, Sent = %v; want NRx kept and nothing sent by a down port",
			got, r.NRx[:2], r.Sent[:2])
	}
	a.Free(r.Tx(0))
	if pool.Avail() != 16 {
		t.Errorf("pool: %d of 16 free", pool.Avail())
	}
}
