package hba

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Options tunes CGA and HBA-set generation (RFC 3972 §4, RFC 5535 §6). A nil
// *Options or its zero value gives a random modifier from crypto/rand, one
// search goroutine, no progress reports and no duplicate address detection.
type Options struct {
	// Rand is the source of the initial modifier and of Extended
	// Modifiers; crypto/rand when nil (RFC 3972 §4 step 1).
	Rand io.Reader
	// Modifier, when set, is where the modifier search starts instead of
	// a random value (for known-answer tests, or to reuse a modifier as
	// RFC 3972 §4 allows when only the prefix changes).
	Modifier *[16]byte
	// Workers is the number of goroutines of the modifier search; 0 means
	// one. Each searches its own residue class of modifiers.
	Workers int
	// Progress, when set, is called about every ProgressInterval while the
	// modifier search runs, from the goroutine that called the generator.
	Progress func(Progress)
	// ProgressInterval is the time between Progress calls; 0 means one
	// second.
	ProgressInterval time.Duration
	// InUse, when set, is duplicate address detection (RFC 3972 §4 step
	// 8, RFC 5535 §6 step 6.4): it reports whether an address is taken,
	// and the collision count goes up.
	InUse func(netip.Addr) bool
}

func (o *Options) rand() io.Reader {
	if o == nil || o.Rand == nil {
		return rand.Reader
	}
	return o.Rand
}

// ErrCollisions is returned when duplicate address detection reported a
// collision for three collision counts in a row (RFC 3972 §4 step 8).
var ErrCollisions = errors.New("hba: address collision with collision counts 0, 1 and 2 (RFC 3972 §4 step 8)")

// ErrSec is returned for a Sec the generator cannot use: above 7 for a CGA
// (RFC 3972 §2), above 2 for an HBA set (RFC 5535 §6).
var ErrSec = errors.New("hba: Sec out of range")

// Progress is a report from a running modifier search (RFC 3972 §4 steps
// 2–3).
type Progress struct {
	// Sec is the security parameter searched for.
	Sec Sec
	// Hashes is the number of Hash2 computations so far.
	Hashes uint64
	// Elapsed is the time since the search started.
	Elapsed time.Duration
}

// Rate returns the Hash2 computations (RFC 3972 §4 step 2) per second so
// far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Hashes) / p.Elapsed.Seconds()
}

// ExpectedHashes returns the mean number of Hash2 computations a modifier
// search for sec takes: each try succeeds with probability 2^(−16·Sec) (RFC
// 3972 §4, "O(2^(16*Sec)) iterations"). The search has no memory, so this
// is also the expected number still to go at any point.
func ExpectedHashes(sec Sec) float64 { return math.Ldexp(1, 16*int(sec)) }

// searchBatch is how many hashes a worker computes between looks at the
// stop flag: about a millisecond, so cancelling is prompt and the shared
// counter is touched rarely.
const searchBatch = 2048

// SearchModifier runs the modifier search of RFC 3972 §4 steps 2–3 (RFC 5535
// §6 steps 3–4) over params, an encoded CGA Parameters data structure whose
// Modifier field is the starting value: it returns the first modifier found
// whose Hash2 has its 16·Sec leftmost bits zero, and the number of hashes
// computed. With one worker the modifiers are tried in the RFC's order
// (increment by one); with n workers, worker i tries start+i, start+i+n, ...
// and the first hit wins, which RFC 3972 §4 allows ("optimized or otherwise
// modified versions"). For Sec 0 it returns the starting modifier.
//
// The search stops with ctx.Err() when ctx is done. The hash loop does not
// allocate.
func SearchModifier(ctx context.Context, params []byte, sec Sec, opts *Options) ([16]byte, uint64, error) {
	if len(params) < publicKeyOff {
		return [16]byte{}, 0, ReasonMalformedParameters
	}
	start := [16]byte(params[:modifierLen])
	if sec > MaxSec {
		return start, 0, ErrSec
	}
	if sec == 0 {
		return start, 0, nil
	}
	workers := 1
	interval := time.Second
	var progress func(Progress)
	if opts != nil {
		if opts.Workers > 1 {
			workers = opts.Workers
		}
		if opts.ProgressInterval > 0 {
			interval = opts.ProgressInterval
		}
		progress = opts.Progress
	}

	var (
		stop   atomic.Bool
		hashes atomic.Uint64
		wg     sync.WaitGroup
		found  = make(chan [16]byte, workers)
		mask   = hash2Masks[sec]
		hi0    = binary.BigEndian.Uint64(start[:8])
		lo0    = binary.BigEndian.Uint64(start[8:])
	)
	for w := range workers {
		// The Hash2 input is the structure with its Subnet Prefix and
		// Collision Count zeroed (RFC 3972 §3): each worker gets its own
		// copy and rewrites only the modifier in it.
		buf := append([]byte(nil), params...)
		clear(buf[subnetPrefixOff:publicKeyOff])
		hi, lo := hi0, lo0+uint64(w)
		if lo < lo0 {
			hi++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			searchWorker(buf, hi, lo, uint64(workers), mask, &stop, &hashes, found)
		}()
	}

	began := time.Now()
	var tick <-chan time.Time
	if progress != nil {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	finish := func() uint64 {
		stop.Store(true)
		wg.Wait()
		return hashes.Load()
	}
	for {
		select {
		case m := <-found:
			return m, finish(), nil
		case <-ctx.Done():
			return start, finish(), ctx.Err()
		case <-tick:
			progress(Progress{Sec: sec, Hashes: hashes.Load(), Elapsed: time.Since(began)})
		}
	}
}

// searchWorker hashes buf with modifiers hi:lo, hi:lo+stride, ... until one
// passes mask or stop is set. It allocates nothing: sha1.Sum works on a
// stack array and buf is reused.
func searchWorker(buf []byte, hi, lo, stride uint64, mask [2]uint64, stop *atomic.Bool, hashes *atomic.Uint64, found chan<- [16]byte) {
	for !stop.Load() {
		for i := range searchBatch {
			binary.BigEndian.PutUint64(buf[0:8], hi)
			binary.BigEndian.PutUint64(buf[8:16], lo)
			h := sha1.Sum(buf)
			if binary.BigEndian.Uint64(h[0:8])&mask[0] == 0 && binary.BigEndian.Uint64(h[8:16])&mask[1] == 0 {
				hashes.Add(uint64(i + 1))
				found <- [16]byte(buf[:modifierLen])
				return
			}
			// Increment the 128-bit modifier (RFC 3972 §4 step 3).
			next := lo + stride
			if next < lo {
				hi++
			}
			lo = next
		}
		hashes.Add(searchBatch)
	}
}
