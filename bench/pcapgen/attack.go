package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"

	"shim6d/control/wire"
	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
)

// Attack traffic for the bench's flood rows: what an uplink receives from
// the Internet when someone aims at the box. Each kind is what RFC 5533
// leaves a responder to deal with statelessly:
//
//   - unknown-tag: payload packets (P = 1, RFC 5533 §5.2) with random
//     Receiver Context Tags, to the site's addresses: dropped by the
//     workers, each a candidate for a rate-limited R1bis (§7.17);
//   - i1: I1 messages (§5.3) from random sources, each one a request for a
//     stateless R1 (§7.9), for the control core;
//   - malformed: frames the workers must count and drop: a bad IPv6
//     version, a payload length past the frame, a truncated Shim6 header.
var attackKinds = map[string]func(rng *rand.Rand, i, size int, src, dst netip.Addr) ([]byte, error){
	"unknown-tag": func(rng *rand.Rand, _, size int, src, dst netip.Addr) ([]byte, error) {
		rest := pkttest.ShimPayload(header.ProtoUDP, rng.Uint64()&(1<<47-1))
		udp := make([]byte, max(8, size-14-40-len(rest)))
		binary.BigEndian.PutUint16(udp[0:], 1000)
		binary.BigEndian.PutUint16(udp[2:], 2000)
		binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
		return pkttest.Frame(benchUplinkMAC, attackerMAC, src, dst, 60, header.ProtoShim6, append(rest, udp...)), nil
	},
	"i1": func(rng *rand.Rand, _, _ int, src, dst netip.Addr) ([]byte, error) {
		msg, err := wire.Marshal(&wire.I1{InitiatorContextTag: rng.Uint64() & (1<<47 - 1), InitiatorNonce: rng.Uint32()})
		if err != nil {
			return nil, err
		}
		return pkttest.Frame(benchUplinkMAC, attackerMAC, src, dst, 60, header.ProtoShim6, msg), nil
	},
	"malformed": func(rng *rand.Rand, i, size int, src, dst netip.Addr) ([]byte, error) {
		f := pkttest.Frame(benchUplinkMAC, attackerMAC, src, dst, 60, header.ProtoUDP, make([]byte, max(8, size-14-40)))
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

var (
	// benchUplinkMAC is any unicast MAC: the bench's ports take every
	// frame (promiscuous), as a real uplink's switch port delivers them.
	benchUplinkMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	attackerMAC    = [6]byte{0x02, 0, 0, 0, 0, 0xee}
)

// attack writes n frames of kind: from random sources under srcP (the
// Internet) to random site addresses under dstP.
func attack(w packetWriter, kind string, n, size int, srcP, dstP netip.Prefix) error {
	gen, ok := attackKinds[kind]
	if !ok {
		return fmt.Errorf("-attack %q: want unknown-tag, i1 or malformed", kind)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < n; i++ {
		src, dst := randomIn(rng, srcP), randomIn(rng, dstP)
		f, err := gen(rng, i, size, netip.AddrFrom16(src), netip.AddrFrom16(dst))
		if err != nil {
			return err
		}
		if err := w.WritePacket(gopacketCaptureInfo(len(f)), f); err != nil {
			return err
		}
	}
	return nil
}
