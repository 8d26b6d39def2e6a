package hba_test

import (
	"context"
	"crypto/sha1"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"shim6d/control/hba"
)

// searchParams is the known-answer structure with the modifier set to start.
func searchParams(t testing.TB, start [16]byte) []byte {
	p := katParams(t, 0)
	copy(p, start[:])
	return p
}

// TestSearchModifierKnownAnswer runs the Sec 1 search of RFC 3972 §4 steps
// 2–3 from katStart with one worker: it must try the modifiers in order and
// stop at the one the independent search found, after exactly as many
// hashes (about 0.1 s).
func TestSearchModifierKnownAnswer(t *testing.T) {
	m, n, err := hba.SearchModifier(context.Background(), searchParams(t, katStart), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m != katModifier || n != katSearchLen {
		t.Fatalf("SearchModifier = %x after %d hashes, want %x after %d", m, n, katModifier, katSearchLen)
	}
}

// TestSearchModifierSec1 searches from random modifiers, with one and two
// workers, and checks the result independently: Hash2's 16 leftmost bits are
// zero and the generated CGA verifies (RFC 3972 §4, §5).
func TestSearchModifierSec1(t *testing.T) {
	key := testKey(t, "rsa1024").Public
	for _, workers := range []int{1, 2} {
		a, params, err := hba.GenerateCGA(context.Background(), katPrefix, key, 1, &hba.Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		h2 := sha1.Sum(cat(params[:16], make([]byte, 9), key))
		if h2[0] != 0 || h2[1] != 0 {
			t.Fatalf("workers %d: Hash2 %x does not start with 16 zero bits", workers, h2)
		}
		if hba.SecOf(a) != 1 {
			t.Fatalf("workers %d: Sec of %v is %d", workers, a, hba.SecOf(a))
		}
		if err := hba.VerifyCGA(a, params); err != nil {
			t.Fatalf("workers %d: %v does not verify: %v", workers, a, err)
		}
	}
}

// TestSearchModifierWorkersPartition checks that two workers split the
// modifiers between them without skipping any: from a start just before
// the known answer, whichever worker wins, the answer is the known one.
func TestSearchModifierWorkersPartition(t *testing.T) {
	for back := range uint8(4) {
		start := katModifier
		start[15] -= back
		m, _, err := hba.SearchModifier(context.Background(), searchParams(t, start), 1, &hba.Options{Workers: 2})
		if err != nil || m != katModifier {
			t.Fatalf("start %d before: %x %v, want %x", back, m, err, katModifier)
		}
	}
	// The carry from the low 64 bits into the high 64 bits.
	start := [16]byte{15: 0xff, 14: 0xff, 13: 0xff, 12: 0xff, 11: 0xff, 10: 0xff, 9: 0xff, 8: 0xff}
	m, _, err := hba.SearchModifier(context.Background(), searchParams(t, start), 1, &hba.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if h := hba.Hash2(searchParams(t, m)); h[0]|h[1] != 0 {
		t.Fatalf("modifier %x after the carry: Hash2 %x", m, h)
	}
}

// TestSearchModifierCancel starts a Sec 2 search (about 2^32 hashes, an hour
// or more) and cancels it; it must stop promptly with the context's error,
// having reported progress on the way.
func TestSearchModifierCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var reports atomic.Int32
	var last hba.Progress
	opts := &hba.Options{
		Workers:          2,
		ProgressInterval: 20 * time.Millisecond,
		Progress: func(p hba.Progress) {
			if reports.Add(1) == 3 {
				cancel()
			}
			last = p
		},
	}
	start := time.Now()
	_, n, err := hba.SearchModifier(ctx, searchParams(t, katStart), 2, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancelled search took %v", d)
	}
	if reports.Load() < 3 || last.Sec != 2 || last.Hashes == 0 || last.Rate() <= 0 || n < last.Hashes {
		t.Fatalf("progress: %d reports, last %+v, total %d", reports.Load(), last, n)
	}
	if hba.ExpectedHashes(2) != 1<<32 || hba.ExpectedHashes(0) != 1 {
		t.Fatalf("ExpectedHashes(2) = %v", hba.ExpectedHashes(2))
	}

	// A context that is already done stops the search before it starts
	// in earnest.
	if _, _, err := hba.GenerateCGA(ctx, katPrefix, testKey(t, "rsa1024").Public, 2, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("GenerateCGA with a cancelled context: %v", err)
	}
}

// TestSearchModifierNoAllocsPerHash checks that the hash loop does not
// allocate: a search of thousands of hashes allocates exactly what a search
// of one hash does (goroutine and channel setup).
func TestSearchModifierNoAllocsPerHash(t *testing.T) {
	near := katModifier
	far := katModifier
	far[14] -= 0x20 // 8192 modifiers earlier
	pNear, pFar := searchParams(t, near), searchParams(t, far)
	var nFar uint64
	allocs := func(p []byte, n *uint64) float64 {
		return testing.AllocsPerRun(5, func() {
			m, k, err := hba.SearchModifier(context.Background(), p, 1, nil)
			if err != nil || m != katModifier {
				t.Fatalf("%x %v", m, err)
			}
			if n != nil {
				*n = k
			}
		})
	}
	aNear, aFar := allocs(pNear, nil), allocs(pFar, &nFar)
	if nFar != 8193 {
		t.Fatalf("far search took %d hashes, want 8193", nFar)
	}
	if aFar != aNear {
		t.Fatalf("%v allocations for 8193 hashes, %v for 1: the loop allocates", aFar, aNear)
	}
}

func TestGenerateErrors(t *testing.T) {
	ctx := context.Background()
	key := testKey(t, "rsa1024").Public
	if _, _, err := hba.GenerateCGA(ctx, netip.MustParsePrefix("2001:db8::/48"), key, 0, nil); err == nil {
		t.Error("a /48 accepted")
	}
	if _, _, err := hba.GenerateCGA(ctx, katPrefix, key, 8, nil); !errors.Is(err, hba.ErrSec) {
		t.Errorf("Sec 8: %v", err)
	}
	if _, _, err := hba.GenerateCGA(ctx, katPrefix, nil, 0, nil); err == nil {
		t.Error("no key accepted")
	}
	em, _ := hba.ExtendedModifier(bytesReader(make([]byte, 48)))
	if _, _, err := hba.GenerateCGA(ctx, katPrefix, em, 0, nil); err == nil {
		t.Error("a 384-bit Extended Modifier accepted as a CGA key")
	}
	if _, _, err := hba.SearchModifier(ctx, make([]byte, 10), 1, nil); err == nil {
		t.Error("a 10-octet structure searched")
	}
}
