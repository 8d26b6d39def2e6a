// Package attack builds what an uplink receives when someone aims a flood
// at the box: the frames of the bench's flood rows (bench/pcapgen
// -attack) and of the lab's flood tests (lab/floodgen).
package attack

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"

	"shim6d/control/wire"
	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
)

// Kinds are the floods, by name. Each is what RFC 5533 leaves a responder
// to deal with statelessly:
//
//   - unknown-tag: payload packets (P = 1, RFC 5533 §5.2) with random
//     Receiver Context Tags, to the site's addresses: dropped by the
//     workers, each a candidate for a rate-limited R1bis (§7.17);
//   - i1: I1 messages (§5.3) from random sources, each one a request for a
//     stateless R1 (§7.9), for the control core;
//   - malformed: frames the workers must count and drop: a bad IPv6
//     version, a payload length past the frame, a truncated Shim6 header.
var Kinds = map[string]Frame{
	"unknown-tag": func(rng *rand.Rand, _, size int, dmac, smac [6]byte, src, dst netip.Addr) ([]byte, error) {
		rest := pkttest.ShimPayload(header.ProtoUDP, rng.Uint64()&(1<<47-1))
		udp := make([]byte, max(8, size-14-40-len(rest)))
		binary.BigEndian.PutUint16(udp[0:], 1000)
		binary.BigEndian.PutUint16(udp[2:], 2000)
		binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
		return pkttest.Frame(dmac, smac, src, dst, 60, header.ProtoShim6, append(rest, udp...)), nil
	},
	"i1": func(rng *rand.Rand, _, _ int, dmac, smac [6]byte, src, dst netip.Addr) ([]byte, error) {
		msg, err := wire.Marshal(&wire.I1{InitiatorContextTag: rng.Uint64() & (1<<47 - 1), InitiatorNonce: rng.Uint32()})
		if err != nil {
			return nil, err
		}
		return pkttest.Frame(dmac, smac, src, dst, 60, header.ProtoShim6, msg), nil
	},
	"malformed": func(rng *rand.Rand, i, size int, dmac, smac [6]byte, src, dst netip.Addr) ([]byte, error) {
		f := pkttest.Frame(dmac, smac, src, dst, 60, header.ProtoUDP, make([]byte, max(8, size-14-40)))
		switch i % 3 {
		case 0:
			f[14] = 0x40 // IPv4's version in an IPv6 EtherType
		case 1:
			binary.BigEndian.PutUint16(f[14+4:], 1400) // payload past the frame
		case 2:
			f[14+6] = header.ProtoShim6 // a Shim6 header cut short
			f = f[:14+40+4]
			binary.BigEndian.PutUint16(f[14+4:], 4)
		}
		return f, nil
	},
}

// Frame returns the i-th frame of a flood, of about size bytes, from src
// to dst, Ethernet addressed from smac to dmac; rng supplies its random
// fields (tags, nonces).
type Frame func(rng *rand.Rand, i, size int, dmac, smac [6]byte, src, dst netip.Addr) ([]byte, error)

// RandomIn draws an address under p with random host bits.
func RandomIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As16()
	var r [16]byte
	binary.BigEndian.PutUint64(r[:8], rng.Uint64())
	binary.BigEndian.PutUint64(r[8:], rng.Uint64())
	for i := 0; i < 16; i++ {
		bits := p.Bits() - i*8
		switch {
		case bits >= 8:
			r[i] = a[i]
		case bits > 0:
			m := byte(0xff << (8 - bits))
			r[i] = a[i]&m | r[i]&^m
		}
	}
	return netip.AddrFrom16(r)
}

// Lookup returns the flood named kind, or an error naming the kinds.
func Lookup(kind string) (Frame, error) {
	f, ok := Kinds[kind]
	if !ok {
		return nil, fmt.Errorf("flood %q: want unknown-tag, i1 or malformed", kind)
	}
	return f, nil
}
