// Package ratelimit is the token bucket the control plane limits what it
// originates with: ICMPv6 errors (RFC 4443 §2.4(f)), R1, R1bis and Shim6
// Error messages (RFC 5533 §7.10, §7.17, §5.14), handshakes from deferred
// establishment; and PrefixTable, the same bucket per source /64, which
// the replies to unauthenticated packets take before the global one.
// Time is passed in, so tests drive it with a fake clock.
package ratelimit

import "time"

// Bucket allows Rate events a second with a burst of a tenth of that (at
// least one). The zero value allows nothing; use New. Not safe for
// concurrent use: each user is one goroutine.
type Bucket struct {
	tokens, rate, burst float64
	last                time.Time
}

// New makes a full bucket for perSecond events a second.
func New(perSecond int, now time.Time) Bucket {
	b := float64(max(perSecond/10, 1))
	return Bucket{tokens: b, rate: float64(perSecond), burst: b, last: now}
}

// Take reports whether one more event is allowed at now, and counts it if
// so. A clock that steps back adds nothing.
func (t *Bucket) Take(now time.Time) bool {
	if now.After(t.last) {
		t.tokens = min(t.burst, t.tokens+now.Sub(t.last).Seconds()*t.rate)
		t.last = now
	}
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}
