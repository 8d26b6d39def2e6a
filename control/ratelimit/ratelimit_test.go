package ratelimit

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	now := time.Unix(100, 0)
	b := New(100, now) // burst 10
	n := 0
	for i := 0; i < 50; i++ {
		if b.Take(now) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("burst allowed %d, want 10", n)
	}
	if b.Take(now.Add(-time.Second)) {
		t.Fatal("a clock stepping back refilled the bucket")
	}
	now = now.Add(50 * time.Millisecond) // 5 tokens
	n = 0
	for i := 0; i < 50; i++ {
		if b.Take(now) {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("after 50 ms allowed %d, want 5", n)
	}
	if z := New(1, now); !z.Take(now) || z.Take(now) {
		t.Fatal("a rate of 1/s must allow a burst of exactly 1")
	}
}
