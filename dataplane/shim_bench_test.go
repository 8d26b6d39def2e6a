package dataplane

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// benchTable fills a table of n contexts with random ULID pairs under the
// site's and a peer's prefixes; every context rewrites via isp2.
func benchTable(b *testing.B, n int) (*ContextTable, [][2][16]byte, []uint64) {
	b.Helper()
	tbl, err := NewContextTable(n)
	if err != nil {
		b.Fatal(err)
	}
	// A fixed pair hash key, set before the first insert: the table's
	// probe collisions, and the retransmission watch's, are then the same
	// in every run, and callgrind's counts repeat to the instruction.
	for i := range tbl.key {
		tbl.key[i] = 0x9e3779b97f4a7c15 * uint64(2*i+1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pairs := make([][2][16]byte, 0, n)
	tags := make([]uint64, 0, n)
	for i := 0; i < n; i++ {
		// A site has far fewer hosts than peers: 256 inside hosts, each
		// with many peers.
		l, p := hostAddr.As16(), peerULID.As16()
		l[15] = byte(i)
		for j := 6; j < 16; j++ {
			p[j] = byte(rng.Uint32())
		}
		ll, pl := l, p
		ll[5], pl[5] = 2, 4 // locators under isp2's and the peer's second prefix
		_, tag, err := tbl.Create(ContextSpec{PeerTag: uint64(i + 1), ULIDLocal: l, ULIDPeer: p, LocLocal: ll, LocPeer: pl, EgressPort: 2})
		if err != nil {
			b.Fatal(err)
		}
		pairs = append(pairs, [2][16]byte{l, p})
		tags = append(tags, tag)
	}
	return tbl, pairs, tags
}

// benchBursts builds 4096 frames (random contexts) and runs the worker's
// classify pass (prefetch included) over bursts of 32, re-copying each frame before it is processed
// because the rewrite changes it in place: ns/pkt includes that copy (a
// 70-byte memmove, a few ns).
func runShimBench(b *testing.B, n int, mk func(pairs [][2][16]byte, tags []uint64, i int) []byte, from uint16) {
	runShimBenchOf(b, n, mk, from, false, nil)
}

// runShimBenchOf is runShimBench with a worker set up by setup (when not
// nil). With attack set, the frames are a flood's, which the worker drops
// or hands to the control core, and the classify pass is all that is
// timed. When the frames are TCP from inside, each frame's sequence
// number moves on at every pass over them by what its flow sent in the
// pass, so that every segment carries new data, in order, as a
// transfer's do.
func runShimBenchOf(b *testing.B, n int, mk func(pairs [][2][16]byte, tags []uint64, i int) []byte, from uint16, attack bool, setup func(w *Worker)) {
	r := newShimRig(b, n, mk, from, attack, setup)
	b.ResetTimer()
	pkts := 0
	for i := 0; pkts < b.N; i++ {
		r.burst(b, i, i*ports.MaxBurst/shimRigFrames)
		pkts += ports.MaxBurst
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts), "ns/pkt")
	// ResetTimer drops user metrics, so this one is reported last.
	b.ReportMetric(r.tbl.BytesPerContext(), "B/ctx")
}

// shimRigFrames is how many frames a shimRig cycles through: a pass.
const shimRigFrames = 4096

// shimRig is a worker with a table of contexts and a pass of frames
// (random contexts), ready to run them burst by burst.
type shimRig struct {
	sb      *shimbed
	tbl     *ContextTable
	f       *Forwarding
	tmpl    [][]byte
	pk      []ports.Packet
	from    uint16
	attack  bool
	tcpData bool
}

func newShimRig(b *testing.B, n int, mk func(pairs [][2][16]byte, tags []uint64, i int) []byte, from uint16, attack bool, setup func(w *Worker)) *shimRig {
	tbl, pairs, tags := benchTable(b, n)
	sb := newShimbed(b, true)
	if setup != nil {
		setup(sb.w)
	}
	sb.w.shim.Contexts = tbl
	sb.w.shim.Feedback = NewFeedback(n)
	sb.w.shim.EstablishAfter = 0
	sb.w.sh.active = true
	f := sb.fwd.Load()
	for h := 0; h < 256; h++ {
		a := hostAddr.As16()
		a[15] = byte(h)
		f.Neighbors[a] = macHost
	}
	rng := rand.New(rand.NewPCG(3, 4))
	tmpl := make([][]byte, shimRigFrames)
	for i := range tmpl {
		tmpl[i] = mk(pairs, tags, rng.IntN(len(pairs)))
	}
	bufs := mem.NewPort(mem.Config{Pool: mem.NewPool(shimRigFrames, 256)})
	pk := make([]ports.Packet, shimRigFrames)
	if bufs.Alloc(pk) != shimRigFrames {
		b.Fatal("pool too small")
	}
	return &shimRig{sb: sb, tbl: tbl, f: f, tmpl: tmpl, pk: pk, from: from, attack: attack,
		tcpData: from == 0 && tmpl[0][frameNextHeader] == header.ProtoTCP}
}

// burst runs burst i of the frames through the worker's classify pass
// (prefetch included), re-copying each frame first because the rewrite
// changes it in place: the time includes that copy (a 70-byte memmove, a
// few ns). TCP frames carry the sequence numbers of pass.
func (r *shimRig) burst(b *testing.B, i, pass int) {
	base := (i * ports.MaxBurst) % shimRigFrames
	for j := base; j < base+ports.MaxBurst; j++ {
		p := &r.pk[j]
		p.Off, p.Len, p.Port = 64, uint16(len(r.tmpl[j])), r.from
		copy(p.Frame(), r.tmpl[j])
		if r.tcpData {
			seq := p.Frame()[fixedHeaders+tcpSeqOff:]
			binary.BigEndian.PutUint32(seq, binary.BigEndian.Uint32(seq)+uint32(pass*shimRigFrames/benchFlows)*benchSegment)
		}
	}
	if out, same := r.sb.w.classifyBurst(r.pk[base:base+ports.MaxBurst], int(r.from), r.f); !r.attack && (out >= outControl || !same) {
		b.Fatalf("burst at %d not forwarded by one port: %d", base, out)
	}
}

// runAdvicePaired times the same TCP frames with the retransmission watch
// off and on in alternate passes, each side's sequence numbers moving on
// only in its own passes (so the watch sees every flow in order), and
// reports each side's ns/pkt and their ratio. The two sides share every
// slow drift of the machine: on a VM whose speed moves by half between
// runs of a second, back-to-back rows could not tell 3% apart.
func runAdvicePaired(b *testing.B, n int, mk func(pairs [][2][16]byte, tags []uint64, i int) []byte) {
	r := newShimRig(b, n, mk, 0, false, nil)
	const bursts = shimRigFrames / ports.MaxBurst // a pass
	var ns, pkts, passes [2]int64
	pass := func(on int) {
		r.sb.w.sh.setAdvice(on == 1)
		t0 := time.Now()
		for i := range bursts {
			r.burst(b, i, int(passes[on]))
		}
		ns[on] += time.Since(t0).Nanoseconds()
		pkts[on] += bursts * ports.MaxBurst
		passes[on]++
	}
	// A pass of each, untimed, warms the caches and fills the watch's
	// table (every flow is new to it in its first pass).
	pass(0)
	pass(1)
	ns, pkts = [2]int64{}, [2]int64{}
	b.ResetTimer()
	for k := 0; pkts[0]+pkts[1] < int64(b.N); k++ {
		pass(k & 1)
	}
	off, on := float64(ns[0])/float64(max(pkts[0], 1)), float64(ns[1])/float64(max(pkts[1], 1))
	b.ReportMetric(off, "ns/pkt-off")
	b.ReportMetric(on, "ns/pkt-on")
	b.ReportMetric(on/off, "on/off")
}

// benchSegment is the data a TCP frame of the benchmarks carries: as
// small as the UDP frames', so the rows compare. benchFlows is how many
// TCP flows the frames belong to, as many as a worker at full speed
// might carry (the retransmission watch's table holds 16 times as many).
const (
	benchSegment = 16
	benchFlows   = 1024
)

func BenchmarkShim(b *testing.B) {
	sizes := []int{1 << 10, 1 << 20}
	if !testing.Short() {
		sizes = append(sizes, 10_000_000)
	}
	for _, n := range sizes {
		name := fmt.Sprintf("%dK", n>>10)
		if n >= 1<<20 {
			name = fmt.Sprintf("%dM", n/1_000_000)
		}
		b.Run("outbound_rewrite_insert/"+name, func(b *testing.B) {
			runShimBench(b, n, func(pairs [][2][16]byte, _ []uint64, i int) []byte {
				return udpFrame(macInside, macHost, netip.AddrFrom16(pairs[i][0]), netip.AddrFrom16(pairs[i][1]), 64, header.ProtoUDP, nil, "0123456789abcdef")
			}, 0)
		})
		// TCP data from inside, one flow a frame: the retransmission
		// watch's cost is the difference between these two.
		for _, advice := range []bool{false, true} {
			b.Run(fmt.Sprintf("outbound_rewrite_tcp_advice_%s/%s", map[bool]string{false: "off", true: "on"}[advice], name), func(b *testing.B) {
				runShimBenchOf(b, n, tcpFlowFrames(), 0, false, func(w *Worker) { w.sh.setAdvice(advice) })
			})
		}
		// The same frames with the watch off and on in alternate passes:
		// the cost as a ratio the machine's drift cannot move.
		b.Run("outbound_rewrite_tcp_advice_paired/"+name, func(b *testing.B) {
			runAdvicePaired(b, n, tcpFlowFrames())
		})
		b.Run("inbound_strip/"+name, func(b *testing.B) {
			runShimBench(b, n, func(pairs [][2][16]byte, tags []uint64, i int) []byte {
				l, p := pairs[i][0], pairs[i][1]
				l[5], p[5] = 2, 4
				f := udpFrame(macIsp2, macNextHop2, netip.AddrFrom16(p), netip.AddrFrom16(l), 64, header.ProtoShim6, shimHeader(header.ProtoUDP, tags[i]), "0123456789abcdef")
				return f
			}, 2)
		})
		b.Run("outbound_passthrough_no_context/"+name, func(b *testing.B) {
			runShimBench(b, n, func(pairs [][2][16]byte, _ []uint64, i int) []byte {
				d := pairs[i][1]
				d[15] ^= 0x55 // a pair with no context
				return udpFrame(macInside, macHost, netip.AddrFrom16(pairs[i][0]), netip.AddrFrom16(d), 64, header.ProtoUDP, nil, "0123456789abcdef")
			}, 0)
		})
	}
}

// tcpFlowFrames makes the TCP rows' frames: benchFlows flows from inside,
// each on the context of its first frame, each sending its next segments
// in order.
func tcpFlowFrames() func(pairs [][2][16]byte, _ []uint64, i int) []byte {
	frame, ctx := 0, make([]int, benchFlows)
	return func(pairs [][2][16]byte, _ []uint64, i int) []byte {
		f := frame % benchFlows
		if frame < benchFlows {
			ctx[f] = i
		}
		l, p := netip.AddrFrom16(pairs[ctx[f]][0]), netip.AddrFrom16(pairs[ctx[f]][1])
		seq := uint32(f)<<20 + uint32(frame/benchFlows)*benchSegment
		frame++
		return pkttest.Frame(macInside, macHost, l, p, 64, header.ProtoTCP,
			tcpSeg(l, p, uint16(1024+f), 443, seq, 0, benchSegment))
	}
}

// BenchmarkFlood is what an uplink flood costs the worker a packet, beside
// BenchmarkShim's good traffic: payload packets with unknown tags (dropped,
// R1bis candidates) and I1s (for the control core).
func BenchmarkFlood(b *testing.B) {
	const n = 1 << 20
	b.Run("unknown_tag", func(b *testing.B) {
		runShimBenchOf(b, n, func(pairs [][2][16]byte, tags []uint64, i int) []byte {
			l, p := pairs[i][0], pairs[i][1]
			l[5], p[5] = 2, 4
			p[15] ^= byte(i) // many sources
			return udpFrame(macIsp2, macNextHop2, netip.AddrFrom16(p), netip.AddrFrom16(l), 64, header.ProtoShim6, shimHeader(header.ProtoUDP, tags[i]^0x5555_5555), "0123456789abcdef")
		}, 2, true, nil)
	})
	b.Run("i1", func(b *testing.B) {
		runShimBenchOf(b, n, func(pairs [][2][16]byte, tags []uint64, i int) []byte {
			l, p := pairs[i][0], pairs[i][1]
			l[5], p[5] = 2, 4
			// An I1 (RFC 5533 §5.3): no checksum check in the worker.
			i1 := []byte{59, 1, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, byte(i)}
			return pkttest.Frame(macIsp2, macNextHop2, netip.AddrFrom16(p), netip.AddrFrom16(l), 64, header.ProtoShim6, i1)
		}, 2, true, nil)
	})
}
