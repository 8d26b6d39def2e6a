// Command pcapgen writes the benchmark's traffic: Ethernet/IPv6/UDP packets
// from many inside sources to many remote destinations, as a pcap that
// net_pcap replays with infinite_rx=1.
//
//	pcapgen -o FILE [-n 1024] [-size 78] [-src 2001:db8:1::/48] [-dst 2001:db8:ff::/48]
//	pcapgen -o FILE -attack unknown-tag|i1|malformed [-n 8192] [-src INTERNET] [-dst SITE]
//	pcapgen -o FILE -synth N [-rules RULES]
//	pcapgen -gen N -rules RULES
//
// With -attack it writes what an uplink receives in a flood instead (see
// bench/attack), from -src to -dst.
//
// -rules also writes, for DPDK's l3fwd -E --ipv6 (--rule_ipv6), one
// exact-match rule sending each packet's 5-tuple to port 1: for the packets
// of the pcap, or with -gen for the N packets bench/gen/shim6gen stamps
// from synthetic contexts 0..N-1 (source port GenSourcePort). The bench
// joins both kinds in one table, as shim6d holds one table of contexts.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"shim6d/bench/attack"
	"shim6d/control/synth"
	"shim6d/dataplane/header"
)

func main() {
	out := flag.String("o", "", "output pcap file")
	n := flag.Int("n", 1024, "distinct packets (distinct source/destination pairs)")
	size := flag.Int("size", 78, "frame size in bytes (>= 62)")
	srcP := flag.String("src", "2001:db8:1::/48", "prefix the sources are drawn from")
	dstP := flag.String("dst", "2001:db8:ff::/48", "prefix the destinations are drawn from")
	nsynth := flag.Uint64("synth", 0, "draw the pairs from the first N synthetic contexts (control/synth) instead of -src/-dst")
	seed := flag.Uint64("seed", 1, "the synthetic plan's seed, as given to shim6ctl synth")
	kind := flag.String("attack", "", "write attack traffic of this kind (unknown-tag, i1, malformed) from -src to -dst")
	rules := flag.String("rules", "", "also write l3fwd exact-match rules (to port 1) for the packets' 5-tuples to this file")
	gen := flag.Uint64("gen", 0, "write only -rules, for the N packets shim6gen stamps from synthetic contexts 0..N-1")
	flag.Parse()
	plan := synth.DefaultPlan
	plan.Seed = *seed
	if *gen > 0 {
		if err := genRules(*rules, *gen, plan); err != nil {
			fmt.Fprintln(os.Stderr, "pcapgen:", err)
			os.Exit(1)
		}
		return
	}
	if *kind != "" {
		if err := runAttack(*out, *kind, *n, *size, *srcP, *dstP); err != nil {
			fmt.Fprintln(os.Stderr, "pcapgen:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*out, *n, *size, *srcP, *dstP, *nsynth, plan, *rules); err != nil {
		fmt.Fprintln(os.Stderr, "pcapgen:", err)
		os.Exit(1)
	}
}

// open parses the two prefixes and creates out as an Ethernet pcap.
func open(out, srcP, dstP string) (sp, dp netip.Prefix, f *os.File, w *pcapgo.Writer, err error) {
	if out == "" {
		return sp, dp, nil, nil, fmt.Errorf("-o is required")
	}
	if sp, err = netip.ParsePrefix(srcP); err != nil {
		return
	}
	if dp, err = netip.ParsePrefix(dstP); err != nil {
		return
	}
	if f, err = os.Create(out); err != nil {
		return
	}
	w = pcapgo.NewWriter(f)
	err = w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	return
}

func run(out string, n, size int, srcP, dstP string, nsynth uint64, plan synth.Plan, rules string) error {
	if size < 14+40+8 || size > 1514 {
		return fmt.Errorf("-size %d: want 62..1514", size)
	}
	sp, dp, f, w, err := open(out, srcP, dstP)
	if err != nil {
		return err
	}
	var rw *ruleWriter
	if rules != "" {
		if rw, err = createRules(rules); err != nil {
			return err
		}
	}
	// Fixed seed: the same file every run, so runs compare.
	rng := rand.New(rand.NewPCG(1, 2))
	frame := make([]byte, size)
	for i := 0; i < n; i++ {
		src, dst := randomIn(rng, sp), randomIn(rng, dp)
		if nsynth > 0 {
			c := plan.At(rng.Uint64N(nsynth))
			src, dst = c.LocalULID.As16(), c.PeerULID.As16()
		}
		build(frame, &src, &dst, uint16(1024+i))
		ci := gopacketCaptureInfo(len(frame))
		if err := w.WritePacket(ci, frame); err != nil {
			return err
		}
		rw.add(src, dst, uint16(1024+i), discardPort)
	}
	if err := rw.close(); err != nil {
		return err
	}
	return f.Close()
}

func runAttack(out, kind string, n, size int, srcP, dstP string) error {
	sp, dp, f, w, err := open(out, srcP, dstP)
	if err != nil {
		return err
	}
	gen, err := attack.Lookup(kind)
	if err != nil {
		return err
	}
	// To the uplink's own MAC, as a switch delivers a flood aimed at the
	// box: shim6d takes only frames addressed to a port (what else
	// arrives is dropped as not_for_us, which would make every flood
	// the cheapest one). The bench's uplink is its second pcap device.
	dmac, smac := pcapMAC(1), [6]byte{0x02, 0, 0, 0, 0, 0xee}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < n; i++ {
		fr, err := gen(rng, i, size, dmac, smac, attack.RandomIn(rng, sp), attack.RandomIn(rng, dp))
		if err != nil {
			return err
		}
		if err := w.WritePacket(gopacketCaptureInfo(len(fr)), fr); err != nil {
			return err
		}
	}
	return f.Close()
}

// pcapMAC is the MAC DPDK's pcap driver gives the i-th net_pcap device a
// process creates (02:70:63:61:70 is "\x02pcap"): the driver cannot
// take another, so the frames are sent to it.
func pcapMAC(i byte) [6]byte { return [6]byte{0x02, 0x70, 0x63, 0x61, 0x70, i} }

// randomIn draws an address under p with random host bits.
func randomIn(rng *rand.Rand, p netip.Prefix) [16]byte { return attack.RandomIn(rng, p).As16() }

func build(frame []byte, src, dst *[16]byte, sport uint16) {
	eth := header.Ethernet(frame)
	// To the inside port's MAC, the bench's first pcap device: shim6d
	// takes only frames addressed to it.
	dmac, smac := pcapMAC(0), [6]byte{0x02, 0, 0, 0, 0, 0x10}
	eth.SetAddresses(&dmac, &smac)
	eth.SetEtherType(header.EtherTypeIPv6)
	ulen := len(frame) - 14 - 40
	ip := header.IPv6(frame[14:])
	ip.Encode(uint16(ulen), header.ProtoUDP, 64, src, dst)
	udp := frame[54:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], discardPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(ulen))
	binary.BigEndian.PutUint16(udp[6:], 0)
	for i := 8; i < ulen; i++ {
		udp[i] = byte(i)
	}
	sum := header.PseudoHeaderSum(src, dst, uint32(ulen), header.ProtoUDP)
	c := ^header.ChecksumFold(header.ChecksumAdd(sum, udp))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
}
