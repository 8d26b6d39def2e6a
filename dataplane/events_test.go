package dataplane

import (
	"sync"
	"testing"
)

func TestEventRingFullAndOrder(t *testing.T) {
	r := NewEventRing(4)
	for i := 0; i < 4; i++ {
		if !r.Push(&Event{Kind: EventEstablish, Tag: uint64(i)}) {
			t.Fatalf("push %d refused", i)
		}
	}
	if r.Push(&Event{}) || r.Dropped.Load() != 1 {
		t.Fatal("full ring took an event")
	}
	var e Event
	for i := 0; i < 4; i++ {
		if !r.Pop(&e) || e.Tag != uint64(i) {
			t.Fatalf("pop %d = %+v", i, e)
		}
	}
	if r.Pop(&e) {
		t.Fatal("empty ring gave an event")
	}
}

func TestEventRingConcurrentProducers(t *testing.T) {
	r := NewEventRing(64)
	const per = 5000
	var wg sync.WaitGroup
	for p := 0; p < 3; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; {
				if r.Push(&Event{Port: uint16(p), Tag: uint64(i)}) {
					i++
				}
			}
		}()
	}
	next := [3]uint64{}
	var e Event
	for got := 0; got < 3*per; {
		if !r.Pop(&e) {
			continue
		}
		if e.Tag != next[e.Port] {
			t.Fatalf("producer %d: got %d, want %d", e.Port, e.Tag, next[e.Port])
		}
		next[e.Port]++
		got++
	}
	wg.Wait()
}
