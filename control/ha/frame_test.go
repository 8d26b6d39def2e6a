package ha

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
)

var testKey = bytes.Repeat([]byte{0x5a}, MinKey)

func sealed(s *sealer, t FrameType, n uint32, body []byte) []byte {
	h, m := s.seal(t, n, body)
	return append(append(append([]byte(nil), h...), body...), m...)
}

func TestFrameOpens(t *testing.T) {
	s, o := newSealer(testKey), newOpener(testKey)
	body, _ := Append(nil, &Record{Kind: KindDelete, Slot: 3, LocalTag: 3})
	for i := 1; i <= 3; i++ {
		var f frame
		if err := o.open(sealed(s, FrameBatch, 1, body), &f); err != nil {
			t.Fatal(err)
		}
		if f.typ != FrameBatch || f.seq != uint64(i) || f.records != 1 || !bytes.Equal(f.body, body) {
			t.Fatalf("frame %d: %+v", i, f)
		}
	}
	var f frame
	if err := o.open(sealed(s, FrameHeartbeat, 0, nil), &f); err != nil || f.seq != 4 {
		t.Fatalf("heartbeat: %v %+v", err, f)
	}
}

func TestFrameRefused(t *testing.T) {
	body, _ := Append(nil, &Record{Kind: KindDelete, Slot: 3, LocalTag: 3})
	good := sealed(newSealer(testKey), FrameBatch, 1, body)
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"body bit", flip(frameHeader + 2), ErrBadMAC},
		{"sequence bit", flip(15), ErrBadMAC},
		{"MAC bit", flip(len(good) - 1), ErrBadMAC},
		{"other key", sealed(newSealer(bytes.Repeat([]byte{1}, MinKey)), FrameBatch, 1, body), ErrBadMAC},
		{"length", flip(3), ErrBadFrame},
		{"short", good[:frameHeader], ErrBadFrame},
	}
	for _, tt := range tests {
		var f frame
		if err := newOpener(testKey).open(tt.b, &f); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	// A frame lost on the way (or replayed) breaks the sequence.
	s, o := newSealer(testKey), newOpener(testKey)
	var f frame
	first := sealed(s, FrameBatch, 1, body)
	if err := o.open(first, &f); err != nil {
		t.Fatal(err)
	}
	sealed(s, FrameBatch, 1, body) // lost
	if err := o.open(sealed(s, FrameBatch, 1, body), &f); !errors.Is(err, ErrSequenceGap) {
		t.Errorf("gap: %v", err)
	}
	if err := o.open(first, &f); !errors.Is(err, ErrSequenceGap) {
		t.Errorf("replay: %v", err)
	}
}

// TestSessionKeys: a frame sealed on one connection does not open on
// another, though the configured key is the same.
func TestSessionKeys(t *testing.T) {
	a, b := sessionKey(testKey, nonce(), nonce()), sessionKey(testKey, nonce(), nonce())
	var f frame
	if err := newOpener(b).open(sealed(newSealer(a), FrameBatch, 0, nil), &f); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("%v", err)
	}
}

func newTestReplicator(t testing.TB, cfg Config) *Replicator {
	if cfg.Key == nil {
		cfg.Key = testKey
	}
	cfg.Log = slog.New(slog.DiscardHandler)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// TestFeedDecisions: the Feed makes nothing without a standby, asks for
// a snapshot when one connects, counts an overflow once and asks for a
// snapshot again as soon as a chunk is free.
func TestFeedDecisions(t *testing.T) {
	r := newTestReplicator(t, Config{Listen: freePort(t), Peer: freePort(t), QueueChunks: 4, ChunkBytes: 1024})
	f := r.Feed()
	rec := Record{Kind: KindDelete, Slot: 1, LocalTag: 1}
	if s, snap := f.Round(); s || snap || f.Add(&rec) {
		t.Fatal("fed with no standby")
	}
	r.want.Store(1)
	if s, snap := f.Round(); !s || !snap {
		t.Fatal("no snapshot for a new standby")
	}
	if _, snap := f.Round(); snap {
		t.Fatal("second snapshot without cause")
	}
	n := 0
	for f.Add(&rec) {
		n++
	}
	if want := 4 * 1024 / deleteSize; n != want || r.Stats.Overflows.Load() != 1 {
		t.Fatalf("%d records before the overflow (want %d), %d overflows", n, want, r.Stats.Overflows.Load())
	}
	f.Add(&rec)
	f.Add(&rec)
	if r.Stats.Overflows.Load() != 1 {
		t.Fatal("one episode counted more than once")
	}
	if _, snap := f.Round(); snap {
		t.Fatal("snapshot asked for while the queue is full")
	}
	r.free <- <-r.full // the sender sends one
	if _, snap := f.Round(); !snap {
		t.Fatal("no snapshot after the overflow")
	}
	if !f.Add(&rec) {
		t.Fatal("the snapshot's first record refused")
	}
	r.want.Store(0)
	if s, _ := f.Round(); s || f.Add(&rec) {
		t.Fatal("fed after the standby left")
	}
}

func TestMarks(t *testing.T) {
	m := NewMarks(8)
	for _, s := range []uint32{1, 2, 3} {
		m.Set(s)
	}
	m.Begin()
	m.Set(1)
	m.Set(5)
	m.Clear(2)
	var stale []uint32
	m.Stale(func(s uint32) { stale = append(stale, s) })
	if len(stale) != 1 || stale[0] != 3 || m.Len() != 2 || !m.Has(1) || !m.Has(5) || m.Has(3) {
		t.Fatalf("stale %v, %d left", stale, m.Len())
	}
}
