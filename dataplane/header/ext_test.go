package header

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWalkExtensionsChains(t *testing.T) {
	// Chains the goldens do not cover, mostly about where the insertion
	// point stops (RFC 5533 §4.6).
	tests := []struct {
		name string
		pkt  []byte
		want Chain
	}{{
		name: "destination options then routing, no hop-by-hop",
		pkt: cat(ipv6Fixed(52, ProtoDestOpts),
			optionsHeader(ProtoRouting), // 40..47
			routingType2(ProtoTCP),      // 48..71
			tcpSYN),
		want: Chain{NextHeader: ProtoTCP, Extensions: 2, Offset: 72, NextHeaderField: 48,
			InsertOffset: 72, InsertNextHeaderField: 48},
	}, {
		// A destination options header that does not precede a routing
		// header freezes the insertion point, even though a (misordered)
		// routing header comes later.
		name: "hbh, final dest-opts, fragment, routing",
		pkt: cat(ipv6Fixed(68, ProtoHopByHop),
			optionsHeader(ProtoDestOpts),    // 40..47
			optionsHeader(ProtoFragment),    // 48..55
			fragmentHeader(ProtoRouting, 0), // 56..63
			routingType2(ProtoTCP),          // 64..87
			tcpSYN),
		want: Chain{NextHeader: ProtoTCP, Extensions: 4, Fragmented: true, Offset: 88, NextHeaderField: 64,
			InsertOffset: 48, InsertNextHeaderField: 40},
	}, {
		name: "fragment before routing",
		pkt: cat(ipv6Fixed(52, ProtoFragment),
			fragmentHeader(ProtoRouting, 0), // 40..47
			routingType2(ProtoTCP),          // 48..71
			tcpSYN),
		want: Chain{NextHeader: ProtoTCP, Extensions: 2, Fragmented: true, Offset: 72, NextHeaderField: 48,
			InsertOffset: 40, InsertNextHeaderField: 6},
	}, {
		name: "two routing headers",
		pkt: cat(ipv6Fixed(68, ProtoRouting),
			routingType2(ProtoRouting), // 40..63
			routingType2(ProtoTCP),     // 64..87
			tcpSYN),
		want: Chain{NextHeader: ProtoTCP, Extensions: 2, Offset: 88, NextHeaderField: 64,
			InsertOffset: 88, InsertNextHeaderField: 64},
	}, {
		name: "shim6 control message after hop-by-hop",
		pkt:  cat(ipv6Fixed(24, ProtoHopByHop), optionsHeader(ProtoShim6), shim6I1),
		want: Chain{NextHeader: ProtoShim6, Extensions: 1, Offset: 48, NextHeaderField: 40,
			InsertOffset: 48, InsertNextHeaderField: 40},
	}, {
		name: "ULP with an empty payload",
		pkt:  ipv6Fixed(0, ProtoTCP),
		want: Chain{NextHeader: ProtoTCP, Offset: 40, NextHeaderField: 6, InsertOffset: 40, InsertNextHeaderField: 6},
	}, {
		name: "padding after the packet is ignored",
		pkt:  cat(ipv6Fixed(8, ProtoDestOpts), optionsHeader(ProtoUDP), make([]byte, 18)),
		want: Chain{NextHeader: ProtoUDP, Extensions: 1, Offset: 48, NextHeaderField: 40,
			InsertOffset: 40, InsertNextHeaderField: 6},
	}, {
		name: "exactly MaxExtensionHeaders",
		pkt:  destOptsChain(MaxExtensionHeaders),
		want: Chain{NextHeader: ProtoNoNext, Extensions: MaxExtensionHeaders,
			Offset: 40 + 8*MaxExtensionHeaders, NextHeaderField: 40 + 8*(MaxExtensionHeaders-1),
			InsertOffset: 40, InsertNextHeaderField: 6},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, e := WalkExtensions(IPv6(tt.pkt))
			if e != ChainOK {
				t.Fatalf("WalkExtensions: %v", e)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("chain (-want +got):\n%s", d)
			}
		})
	}
}

// destOptsChain is an IPv6 packet of n destination options headers ending
// in No Next Header.
func destOptsChain(n int) []byte {
	nh := uint8(ProtoNoNext)
	if n > 0 {
		nh = ProtoDestOpts
	}
	p := ipv6Fixed(uint16(8*n), nh)
	for i := range n {
		next := uint8(ProtoDestOpts)
		if i == n-1 {
			next = ProtoNoNext
		}
		p = append(p, optionsHeader(next)...)
	}
	return p
}

// truncatedTo returns a copy of the IPv6 packet p with the payload
// length set to n and the buffer cut to match.
func truncatedTo(p []byte, n int) []byte {
	q := append([]byte(nil), p[:IPv6MinimumSize+n]...)
	IPv6(q).SetPayloadLength(uint16(n))
	return q
}

func TestWalkExtensionsBad(t *testing.T) {
	tcpExt := goldenPackets()[0].plain
	ahPkt := goldenPackets()[4].plain
	withByte := func(p []byte, i int, v byte) []byte {
		q := append([]byte(nil), p...)
		q[i] = v
		return q
	}
	tests := []struct {
		name string
		pkt  []byte
		want ChainError
	}{
		{"empty", nil, ChainTruncated},
		{"shorter than the fixed header", ipv6Fixed(0, ProtoTCP)[:39], ChainTruncated},
		{"payload length past the buffer", ipv6Fixed(1, ProtoTCP), ChainTruncated},
		{"payload length past the buffer with ext", tcpExt[:len(tcpExt)-1], ChainTruncated},
		{"hop-by-hop Hdr Ext Len past the end", withByte(tcpExt, 41, 9), ChainTruncated},
		{"routing Hdr Ext Len past the end", withByte(tcpExt, 57, 8), ChainTruncated},
		{"routing Hdr Ext Len 255", withByte(tcpExt, 57, 255), ChainTruncated},
		{"AH Payload Len past the end", withByte(ahPkt, 65, 10), ChainTruncated},
		{"extension header with nothing behind it", ipv6Fixed(0, ProtoDestOpts), ChainTruncated},
		{"fragment header cut short", cat(ipv6Fixed(7, ProtoFragment), fragmentHeader(ProtoTCP, 0)[:7]), ChainTruncated},
		{"shim6 header cut short", cat(ipv6Fixed(7, ProtoShim6), shim6PayloadGolden(ProtoTCP)[:7]), ChainTruncated},
		{"shim6 Hdr Ext Len past the end", cat(ipv6Fixed(8, ProtoShim6), shim6I1[:8]), ChainTruncated},
		{"hop-by-hop after destination options", cat(ipv6Fixed(16, ProtoDestOpts),
			optionsHeader(ProtoHopByHop), optionsHeader(ProtoNoNext)), ChainHopByHopNotFirst},
		{"hop-by-hop twice", cat(ipv6Fixed(16, ProtoHopByHop),
			optionsHeader(ProtoHopByHop), optionsHeader(ProtoNoNext)), ChainHopByHopNotFirst},
		{"one more than MaxExtensionHeaders", destOptsChain(MaxExtensionHeaders + 1), ChainTooLong},
	}
	// Cut the §4.6 golden at every byte inside its extension headers: the
	// walk must notice every one (a cut behind them leaves a short TCP
	// header, which is the ULP's business, not the walk's).
	for n := range 48 {
		tests = append(tests, struct {
			name string
			pkt  []byte
			want ChainError
		}{fmt.Sprintf("tcp ext cut to payload %d", n), truncatedTo(tcpExt, n), ChainTruncated})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := WalkExtensions(IPv6(tt.pkt)); got != tt.want {
				t.Errorf("WalkExtensions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestChainErrorString(t *testing.T) {
	for e := range NumChainErrors + 1 {
		if e.String() == "" {
			t.Errorf("ChainError(%d) has no name", e)
		}
	}
}
