package shim6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"shim6d/control/wire"
)

// fuzzAddrs are the addresses a fuzzed message comes from and goes to:
// both sites' ULIDs and locators, and one nobody owns.
var fuzzAddrs = []netip.Addr{ulidA, locA2, ulidA3, ulidB, locB2, ap("2001:db8:ee::1")}

// fuzzStates are the moments a fuzzed message can arrive at: no context
// at either end, A waiting for R1 (its I1 lost), A and B established, and
// an update A sent that B has not answered.
const (
	fuzzNone = iota
	fuzzI1Sent
	fuzzEstablished
	fuzzUpdating
	numFuzzStates
)

// fuzzPair builds a pair of sites at one of fuzzStates.
func fuzzPair(t testing.TB, state int) (*network, *node, *node) {
	n, a, b := pairNet(t)
	n.record = false
	if state == fuzzNone {
		return n, a, b
	}
	if err := a.m.Establish(ulidA, ulidB); err != nil {
		t.Fatal(err)
	}
	if state == fuzzI1Sent {
		n.queue = n.queue[:0]
		return n, a, b
	}
	n.run()
	if state == fuzzUpdating {
		a.hosts[ulidA] = multihomed(ulidA)
		if err := a.m.RefreshLocalLocators(); err != nil {
			t.Fatal(err)
		}
		n.queue = n.queue[:0]
	}
	return n, a, b
}

// FuzzHandleMessage hands the machine that owns the destination any bytes
// as a Shim6 control message, from any address in play, at each moment of
// a context's life; then the network and the timers run on for a while.
// Its checksum is made correct first (see below), so that mutations reach
// the options and the state machine.
// Whatever the message, nothing may panic and both machines must keep
// their invariants (checkInvariants: every context's table record, tag
// list, nonce, handshake state and timers agree). Seeded with every
// message of an exchange: I1, R1, I2, R2, Update Request and Ack, R1bis,
// I2bis.
func FuzzHandleMessage(f *testing.F) {
	n, a, b := pairNet(f)
	_ = a.m.Establish(ulidA, ulidB)
	n.run()
	a.hosts[ulidA] = multihomed(ulidA)
	_ = a.m.RefreshLocalLocators()
	n.run()
	n.restart(b, 64, nil)
	b.m.HandleEvent(unknownTag(ctxOf(f, a, ulidA, ulidB).PeerTag, ulidA, ulidB))
	n.run()
	index := func(x netip.Addr) uint8 {
		for i, y := range fuzzAddrs {
			if x == y {
				return uint8(i)
			}
		}
		return uint8(len(fuzzAddrs) - 1)
	}
	seen := map[wire.Type]bool{}
	for _, s := range n.log {
		seen[s.t] = true
		for state := range uint8(numFuzzStates) {
			f.Add(state, index(s.src), index(s.dst), s.b)
		}
	}
	for _, want := range []wire.Type{wire.TypeI1, wire.TypeR1, wire.TypeI2, wire.TypeR2,
		wire.TypeUpdateRequest, wire.TypeUpdateAck, wire.TypeR1bis, wire.TypeI2bis} {
		if !seen[want] {
			f.Fatalf("the seed exchange has no %v", want)
		}
	}
	f.Fuzz(func(t *testing.T, state, from, to uint8, msg []byte) {
		// The checksum is a gate a fuzzer rarely passes by mutation; the
		// codec's own fuzz target covers what lies before it. So the
		// message gets a correct one, unless the state's top bit asks for
		// the bytes as they are.
		if len(msg) >= 6 && state&0x80 == 0 {
			msg = bytes.Clone(msg)
			n := min((int(msg[1])+1)*8, len(msg))
			binary.BigEndian.PutUint16(msg[4:], wire.ComputeChecksum(msg[:n]))
		}
		n, a, b := fuzzPair(t, int(state&0x7f)%numFuzzStates)
		src, dst := fuzzAddrs[int(from)%len(fuzzAddrs)], fuzzAddrs[int(to)%len(fuzzAddrs)]
		dstNode := b
		if n.owner[dst] == a {
			dstNode = a
		}
		dstNode.m.HandleMessage(src, dst, msg)
		n.run()
		n.advance(3 * time.Second)
		checkInvariants(t, a)
		checkInvariants(t, b)
	})
}
