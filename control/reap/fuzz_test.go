package reap

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"shim6d/control/wire"
)

// FuzzHandleMessages hands a context, Operational, Exploring or InboundOk,
// up to four arbitrary messages; those that decode as Probes or Keepalives
// reach HandleProbe or HandleKeepalive, from and to any of the addresses
// in play, with the clock moving on between them so the machine answers.
// Whatever the peer (or anyone forging the peer's tag) says, REAP must
// only ever probe, and switch to, pairs from the context's own locator
// sets: an address outside them would make this box a reflector, or move
// a context to a locator nobody verified.
func FuzzHandleMessages(f *testing.F) {
	seeds := []*wire.Probe{
		peerProbe(wire.ReapExploring), peerProbe(wire.ReapInboundOK), peerProbe(wire.ReapOperational),
		{State: wire.ReapInboundOK, Sent: []wire.ProbeReport{{Source: b2, Destination: a2, Nonce: 9}},
			Received: []wire.ProbeReport{{Source: a2, Destination: b2, Nonce: 1}}},
	}
	var all []byte
	for _, p := range seeds {
		p.ReceiverContextTag = 0x1234 + uint64(ctx)
		b, err := wire.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		all = append(all, b...)
		for s := range uint8(3) {
			f.Add(s, uint8(2), uint8(0), b)
		}
	}
	ka, err := wire.Marshal(&wire.Keepalive{ReceiverContextTag: 0x1234 + uint64(ctx)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(1), uint8(2), uint8(0), ka)
	f.Add(uint8(1), uint8(3), uint8(1), all)
	addrs := []netip.Addr{a1, a2, b1, b2, netip.MustParseAddr("2001:db8:ee::1")}
	locals, peers := []netip.Addr{a1, a2}, []netip.Addr{b1, b2}
	f.Fuzz(func(t *testing.T, state, from, to uint8, in []byte) {
		fx := newFixture(t, Config{})
		fx.enter([]State{Operational, Exploring, InboundOk}[int(state&0x7f)%3])
		check := func() {
			t.Helper()
			if l, p := fx.m.Current(ctx); !slices.Contains(locals, l) || !slices.Contains(peers, p) {
				t.Fatalf("current pair (%v, %v) is not from the locator sets", l, p)
			}
			for _, e := range fx.out.events {
				if e.kind != "keepalive" && (!slices.Contains(locals, e.src) || !slices.Contains(peers, e.dst)) {
					t.Fatalf("%s on (%v, %v), outside the locator sets", e.kind, e.src, e.dst)
				}
			}
			if s := fx.m.State(ctx); s != Operational && s != Exploring && s != InboundOk {
				t.Fatalf("state %v", s)
			}
		}
		src, dst := addrs[int(from)%len(addrs)], addrs[int(to)%len(addrs)]
		for k := 0; k < 4 && len(in) >= 8; k++ {
			n := min((int(in[1])+1)*8, len(in))
			msg := in[:n]
			in = in[n:]
			// A correct checksum unless the state's top bit says not: the
			// codec's fuzz target covers the bytes that fail it.
			if state&0x80 == 0 {
				msg = bytes.Clone(msg)
				binary.BigEndian.PutUint16(msg[4:], wire.ComputeChecksum(msg))
			}
			m, err := wire.Decode(msg)
			if err != nil {
				continue
			}
			switch m := m.(type) {
			case *wire.Probe:
				fx.m.HandleProbe(ctx, src, dst, m)
			case *wire.Keepalive:
				fx.m.HandleKeepalive(ctx, src, dst, m)
			}
			check()
			fx.run(700 * time.Millisecond)
			check()
			// The next message comes the other way, so one input tries both.
			src, dst = dst, src
		}
		fx.run(5 * time.Second)
		check()
	})
}
