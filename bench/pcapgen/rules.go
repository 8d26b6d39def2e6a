package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"

	"shim6d/control/synth"
)

const (
	// discardPort is every bench packet's UDP destination port (RFC 863).
	discardPort = 9
	// GenSourcePort is the UDP source port of every packet
	// bench/gen/shim6gen.c stamps (its GEN_SPORT); below the pcaps' 1024+i,
	// so a generator rule never repeats a pcap packet's.
	GenSourcePort = 1000
)

// ruleWriter writes l3fwd's exact-match IPv6 rules, as its em_route_parse.c
// (DPDK 22.11) reads them: "R<dst> <src> <dst port> <src port> <proto>
// <port out>". Every rule sends its 5-tuple to port 1, the bench's sink; a
// packet without a rule leaves by the port it came in on, where the bench
// counts it as a miss. A nil *ruleWriter writes nothing.
type ruleWriter struct {
	f *os.File
	w *bufio.Writer
}

func createRules(path string) (*ruleWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &ruleWriter{f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
}

func (r *ruleWriter) add(src, dst [16]byte, sport, dport uint16) {
	if r == nil {
		return
	}
	fmt.Fprintf(r.w, "R%s %s %d %d 17 1\n", netip.AddrFrom16(dst), netip.AddrFrom16(src), dport, sport)
}

func (r *ruleWriter) close() error {
	if r == nil {
		return nil
	}
	if err := r.w.Flush(); err != nil {
		r.f.Close()
		return err
	}
	return r.f.Close()
}

// genRules writes the rules for shim6gen's packets of contexts 0..n-1.
func genRules(path string, n uint64, plan synth.Plan) error {
	if path == "" {
		return fmt.Errorf("-gen writes rules only: give -rules FILE")
	}
	rw, err := createRules(path)
	if err != nil {
		return err
	}
	for k := range n {
		c := plan.At(k)
		rw.add(c.LocalULID.As16(), c.PeerULID.As16(), GenSourcePort, discardPort)
	}
	return rw.close()
}
