package header

import (
	"testing"
)

var (
	addrHost1 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 15: 0x01} // 2001:db8:1::1
	addrHost2 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 15: 0x02} // 2001:db8:2::2
	// addrSolicitedHost2 is ff02::1:ff00:2, host 2's solicited-node group.
	addrSolicitedHost2 = [16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: 0x00, 14: 0x00, 15: 0x02}
	macHost1           = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	macHost2           = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

// goldenNS is host 1 asking for host 2's link-layer address (RFC 4861
// §4.3), sent from 2001:db8:1::1 to ff02::1:ff00:2, with a Source
// Link-Layer Address option (§4.6.1) and the checksum over that pair
// (0x1c24).
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Type=135    |    Code=0     |          Checksum             |
//	|                           Reserved                            |
//	|                  Target Address (2001:db8:2::2)               |
//	|    Type=1     |   Length=1    |    Link-Layer Address ...     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
var goldenNS = []byte{
	0x87, 0x00, 0x1c, 0x24,
	0x00, 0x00, 0x00, 0x00,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
}

// goldenNA is host 2's answer (RFC 4861 §4.4) from 2001:db8:2::2 to
// 2001:db8:1::1: Solicited and Override set, Router clear, with a Target
// Link-Layer Address option and the checksum over that pair (0x8a6c).
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Type=136    |    Code=0     |          Checksum             |
//	|R|S|O|                     Reserved                            |
//	|                  Target Address (2001:db8:2::2)               |
//	|    Type=2     |   Length=1    |    Link-Layer Address ...     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
var goldenNA = []byte{
	0x88, 0x00, 0x8a, 0x6c,
	0x60, 0x00, 0x00, 0x00,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
}

func TestNeighborSolicitationGolden(t *testing.T) {
	m := ICMPv6(goldenNS)
	if !m.IsValid() || m.Type() != ICMPv6NeighborSolicitation || m.Code() != 0 || m.Checksum() != 0x1c24 {
		t.Fatalf("type %d code %d checksum %#04x", m.Type(), m.Code(), m.Checksum())
	}
	if !m.IsChecksumValid(&addrHost1, &addrSolicitedHost2) {
		t.Errorf("checksum does not verify")
	}
	if got := m.CalculateChecksum(&addrHost1, &addrSolicitedHost2); got != 0x1c24 {
		t.Errorf("CalculateChecksum = %#04x, want 0x1c24", got)
	}
	// A different pseudo-header (the address pair is covered) fails.
	if m.IsChecksumValid(&addrHost1, &addrHost2) {
		t.Errorf("checksum verifies with the wrong destination")
	}
	ns := NeighborSolicitation(goldenNS)
	if !ns.IsValid() || *ns.TargetAddress() != addrHost2 {
		t.Errorf("target %x", *ns.TargetAddress())
	}
	src, tgt, ok := ns.Options().LinkLayerAddresses()
	if !ok || src == nil || *src != macHost1 || tgt != nil {
		t.Errorf("LinkLayerAddresses = %v, %v, %v", src, tgt, ok)
	}
}

func TestNeighborAdvertisementGolden(t *testing.T) {
	m := ICMPv6(goldenNA)
	if m.Type() != ICMPv6NeighborAdvertisement || !m.IsChecksumValid(&addrHost2, &addrHost1) {
		t.Fatalf("type %d, checksum %#04x does not verify", m.Type(), m.Checksum())
	}
	na := NeighborAdvertisement(goldenNA)
	if !na.IsValid() || na.Router() || !na.Solicited() || !na.Override() || *na.TargetAddress() != addrHost2 {
		t.Errorf("R %v S %v O %v target %x", na.Router(), na.Solicited(), na.Override(), *na.TargetAddress())
	}
	src, tgt, ok := na.Options().LinkLayerAddresses()
	if !ok || src != nil || tgt == nil || *tgt != macHost2 {
		t.Errorf("LinkLayerAddresses = %v, %v, %v", src, tgt, ok)
	}

	// Build the same message from nothing with the setters.
	b := make([]byte, len(goldenNA))
	for i := range b {
		b[i] = 0xee // the setters must overwrite everything they own
	}
	out := NeighborAdvertisement(b)
	ICMPv6(out).SetType(ICMPv6NeighborAdvertisement)
	ICMPv6(out).SetCode(0)
	out.SetFlags(false, true, true)
	out.SetTargetAddress(&addrHost2)
	if n := PutLinkLayerAddressOption(out.Options(), NDOptionTargetLinkLayerAddress, &macHost2); n != 8 {
		t.Fatalf("PutLinkLayerAddressOption = %d, want 8", n)
	}
	ICMPv6(out).SetChecksum(ICMPv6(out).CalculateChecksum(&addrHost2, &addrHost1))
	if string(b) != string(goldenNA) {
		t.Errorf("built NA\n got % x\nwant % x", b, goldenNA)
	}
}

func TestNAFlags(t *testing.T) {
	na := NeighborAdvertisement(make([]byte, NeighborAdvertisementMinimumSize))
	for _, f := range [][3]bool{{true, false, false}, {false, true, false}, {false, false, true}, {true, true, true}, {}} {
		na.SetFlags(f[0], f[1], f[2])
		if got := [3]bool{na.Router(), na.Solicited(), na.Override()}; got != f {
			t.Errorf("SetFlags(%v) reads back %v", f, got)
		}
	}
}

func TestICMPv6Checksum(t *testing.T) {
	// A Packet Too Big (RFC 4443 §3.2) whose checksum we compute, store
	// and verify; odd lengths go through the pad-with-zero path.
	for _, n := range []int{8, 9, 48, 49} {
		m := ICMPv6(make([]byte, n))
		for i := range m {
			m[i] = byte(i*37 + 1)
		}
		m.SetType(ICMPv6PacketTooBig)
		m.SetCode(0)
		m.SetMTU(1280 - 8)
		if m.MTU() != 1272 {
			t.Fatalf("MTU %d", m.MTU())
		}
		m.SetChecksum(m.CalculateChecksum(&addrHost1, &addrHost2))
		if !m.IsChecksumValid(&addrHost1, &addrHost2) {
			t.Errorf("len %d: computed checksum does not verify", n)
		}
		m[n-1] ^= 1
		if m.IsChecksumValid(&addrHost1, &addrHost2) {
			t.Errorf("len %d: a flipped bit still verifies", n)
		}
	}
	// Short messages neither panic nor verify.
	for n := range ICMPv6MinimumSize {
		m := ICMPv6(make([]byte, n))
		_ = m.CalculateChecksum(&addrHost1, &addrHost2)
		if m.IsValid() || m.IsChecksumValid(&addrHost1, &addrHost2) {
			t.Errorf("len %d: valid", n)
		}
	}
}

func TestNDOptions(t *testing.T) {
	slla := []byte{1, 1, 2, 0, 0, 0, 0, 1}
	tlla := []byte{2, 1, 2, 0, 0, 0, 0, 2}
	mtu := []byte{5, 1, 0, 0, 0, 0, 0x05, 0xdc}
	// A two-unit option (e.g. a 16-octet link-layer address) is skipped as
	// a whole.
	long := []byte{9, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	tests := []struct {
		name     string
		opts     []byte
		src, tgt *[6]byte
		ok       bool
		count    int
	}{
		{"none", nil, nil, nil, true, 0},
		{"source", slla, &macHost1, nil, true, 1},
		{"target after others", cat(mtu, long, tlla), nil, &macHost2, true, 3},
		{"both", cat(tlla, slla), &macHost1, &macHost2, true, 2},
		{"first of two wins", cat(slla, []byte{1, 1, 9, 9, 9, 9, 9, 9}), &macHost1, nil, true, 2},
		{"zero length", cat(slla, []byte{3, 0, 0, 0, 0, 0, 0, 0}), nil, nil, false, 1},
		{"zero length first", []byte{1, 0, 2, 0, 0, 0, 0, 1}, nil, nil, false, 0},
		{"length past the end", cat(slla, []byte{2, 2, 2, 0, 0, 0, 0, 2}), nil, nil, false, 1},
		{"one trailing byte", cat(slla, []byte{1}), nil, nil, false, 1},
		{"option cut short", slla[:7], nil, nil, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, tgt, ok := NDOptions(tt.opts).LinkLayerAddresses()
			if ok != tt.ok || !sameMAC(src, tt.src) || !sameMAC(tgt, tt.tgt) {
				t.Errorf("LinkLayerAddresses = %v, %v, %v; want %v, %v, %v", src, tgt, ok, tt.src, tt.tgt, tt.ok)
			}
			it := NDOptions(tt.opts).Iterator()
			n := 0
			for {
				o, more := it.Next()
				if !more {
					break
				}
				if len(o) < 8 || len(o)%8 != 0 || len(o.Body()) != len(o)-2 {
					t.Errorf("option %d has length %d", n, len(o))
				}
				n++
			}
			if n != tt.count || it.Malformed() == tt.ok {
				t.Errorf("iterated %d options, malformed %v; want %d, %v", n, it.Malformed(), tt.count, !tt.ok)
			}
			if _, more := it.Next(); more {
				t.Errorf("Next after the end returned an option")
			}
		})
	}
	var zero NDOptionIterator
	if _, more := zero.Next(); more || zero.Malformed() {
		t.Errorf("zero iterator yields an option")
	}
}

func sameMAC(a, b *[6]byte) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestSolicitedNodeMulticast(t *testing.T) {
	a := [16]byte{0xfe, 0x80, 8: 0x02, 9: 0x11, 10: 0x22, 11: 0xff, 12: 0xfe, 13: 0x33, 14: 0x44, 15: 0x55}
	got := SolicitedNodeMulticast(&a)
	want := [16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: 0x33, 14: 0x44, 15: 0x55} // ff02::1:ff33:4455
	if got != want {
		t.Fatalf("SolicitedNodeMulticast = %x, want %x", got, want)
	}
	if s := SolicitedNodeMulticast(&addrHost2); s != addrSolicitedHost2 {
		t.Errorf("host 2: %x", s)
	}
	if !IsSolicitedNodeMulticast(&got) || IsSolicitedNodeMulticast(&a) {
		t.Errorf("IsSolicitedNodeMulticast wrong")
	}
	allNodes := [16]byte{0xff, 0x02, 15: 0x01}
	if IsSolicitedNodeMulticast(&allNodes) {
		t.Errorf("ff02::1 taken for solicited-node")
	}
	if mac := MulticastEthernetAddress(&got); mac != [6]byte{0x33, 0x33, 0xff, 0x33, 0x44, 0x55} {
		t.Errorf("MulticastEthernetAddress = % x", mac)
	}
	if mac := MulticastEthernetAddress(&allNodes); mac != [6]byte{0x33, 0x33, 0, 0, 0, 1} {
		t.Errorf("all-nodes MAC = % x", mac)
	}
}

func TestNDNoAllocs(t *testing.T) {
	opts := NeighborSolicitation(goldenNS).Options()
	if n := testing.AllocsPerRun(100, func() {
		_, _, _ = opts.LinkLayerAddresses()
		_ = ICMPv6(goldenNS).IsChecksumValid(&addrHost1, &addrSolicitedHost2)
		g := SolicitedNodeMulticast(&addrHost2)
		_ = MulticastEthernetAddress(&g)
	}); n != 0 {
		t.Errorf("ND helpers allocate %v times", n)
	}
}
