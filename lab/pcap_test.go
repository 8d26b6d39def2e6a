package lab

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"shim6d/control/admin"
	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
)

const pcapConfig = `
[eal]
args = ["-l", "0-1", "--no-huge", "--no-pci", "-m", "512", "--file-prefix", "shim6d-pcaptest"]
[daemon]
workers = 1
admin_socket = "%[1]s/admin.sock"
metrics_listen = ""
[shim]
contexts = 4096
[[port]]
name = "inside"
role = "inside"
device = "net_pcap0"
devargs = "rx_pcap=%[1]s/in0.pcap,tx_pcap=%[1]s/out0.pcap"
addresses = ["2001:db8:1::1"]
[[port]]
name = "isp1"
role = "uplink"
device = "net_pcap1"
devargs = "rx_pcap=%[1]s/in1.pcap,tx_pcap=%[1]s/out1.pcap"
prefix = "2001:db8:1::/48"
next_hop = "2001:db8:ffff:1::1"
next_hop_mac = "02:00:00:00:00:20"
[[port]]
name = "isp2"
role = "uplink"
device = "net_pcap2"
devargs = "rx_pcap=%[1]s/in2.pcap,tx_pcap=%[1]s/out2.pcap"
prefix = "2001:db8:2::/48"
next_hop = "2001:db8:ffff:2::1"
next_hop_mac = "02:00:00:00:00:21"
[[neighbor]]
port = "inside"
address = "2001:db8:1::10"
mac = "02:00:00:00:00:10"
[[context]]
local_ulid = "2001:db8:1::10"
peer_ulid = "2001:db8:3::20"
local_locator = "2001:db8:2::10"
peer_locator = "2001:db8:4::20"
local_tag = 0x1001
peer_tag = 0x2002
`

func writePcap(t *testing.T, path string, frames ...[]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for _, fr := range frames {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(fr), Length: len(fr)}, fr)
	}
	f.Close()
}

func readPcap(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return out
		}
		out = append(out, append([]byte(nil), data...))
	}
}

func mac(s string) [6]byte {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return [6]byte(m)
}

// TestStaticContextsThroughDPDK runs shim6d on net_pcap ports with a static
// context: what it writes to the output pcaps must equal, byte for byte,
// the frames written here from the RFC layouts.
func TestStaticContextsThroughDPDK(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (DPDK EAL)")
	}
	bin := buildAll(t)
	dir := t.TempDir()
	var (
		host, peer     = netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:3::20")
		hostLoc        = netip.MustParseAddr("2001:db8:2::10")
		peerLoc        = netip.MustParseAddr("2001:db8:4::20")
		server         = netip.MustParseAddr("2001:db8:ff::1")
		macHost        = mac("02:00:00:00:00:10")
		macNH1, macNH2 = mac("02:00:00:00:00:20"), mac("02:00:00:00:00:21")
		// The ports' MACs, as DPDK's pcap driver makes them ("\x02pcap"
		// and the device's number; it cannot take another): a port
		// takes only frames to it. Checked below against the ports.
		mac0, mac1, mac2 = mac("02:70:63:61:70:00"), mac("02:70:63:61:70:01"), mac("02:70:63:61:70:02")
		anyMAC           = mac("02:00:00:00:00:99")
	)
	syn := pkttest.TCPSyn(host, server, 1460)
	// Inside: A (context, rewritten via isp2), B (no context, plain via
	// isp1), C (a SYN whose MSS is clamped).
	inA := pkttest.UDP(mac0, macHost, host, peer, 64, header.ProtoUDP, nil, "context", host, peer)
	inB := pkttest.UDP(mac0, macHost, host, server, 64, header.ProtoUDP, nil, "plain", host, server)
	inC := pkttest.Frame(mac0, macHost, host, server, 64, header.ProtoTCP, syn)
	// F: B again, but to another station's MAC (a switch's flood): not
	// for this port, dropped and counted (issue #15: not promiscuous in
	// effect).
	inF := pkttest.UDP(anyMAC, macHost, host, server, 64, header.ProtoUDP, nil, "plain", host, server)
	// isp2: D, a payload packet for our tag; isp1: E, an unknown tag.
	inD := pkttest.UDP(mac2, macNH2, peerLoc, hostLoc, 60, header.ProtoShim6, pkttest.ShimPayload(header.ProtoUDP, 0x1001), "reply", peer, host)
	inE := pkttest.UDP(mac1, macNH1, peerLoc, hostLoc, 60, header.ProtoShim6, pkttest.ShimPayload(header.ProtoUDP, 0x7777), "stale", peer, host)
	writePcap(t, dir+"/in0.pcap", inA, inF, inB, inC)
	writePcap(t, dir+"/in1.pcap", inE)
	writePcap(t, dir+"/in2.pcap", inD)
	cfg := filepath.Join(dir, "pcap.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(pcapConfig, dir)), 0o644)

	cmd := exec.Command(bin+"/shim6d", "--config", cfg)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("shim6d log:\n%s", log.String())
		}
	}()
	cl := admin.NewClient(dir + "/admin.sock")
	var ports []admin.Port
	var st admin.Stats
	deadline := time.Now().Add(20 * time.Second)
	for {
		if cl.Get("/ports", &ports) == nil && cl.Get("/stats", &st) == nil && len(st.Workers) > 0 && st.Workers[0].TxPackets >= 5 && st.Control["signal_sent"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("shim6d did not forward the 4 packets and answer the unknown tag within 20 s (stats %+v)", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shim6d exit: %v", err)
	}
	if st.Drops["unknown_tag"] != 1 {
		t.Errorf("unknown_tag drops = %d, want 1", st.Drops["unknown_tag"])
	}
	if st.Drops["not_for_us"] != 1 {
		t.Errorf("not_for_us drops = %d, want 1 (the frame to another station)", st.Drops["not_for_us"])
	}
	portMAC := func(i int) [6]byte { return mac(ports[i].MAC) }
	if portMAC(0) != mac0 || portMAC(1) != mac1 || portMAC(2) != mac2 {
		t.Fatalf("the pcap ports' MACs are %s %s %s, not what the input frames were sent to", ports[0].MAC, ports[1].MAC, ports[2].MAC)
	}

	wantA := pkttest.UDP(macNH2, portMAC(2), hostLoc, peerLoc, 63, header.ProtoShim6, pkttest.ShimPayload(header.ProtoUDP, 0x2002), "context", host, peer)
	wantB := pkttest.UDP(macNH1, portMAC(1), host, server, 63, header.ProtoUDP, nil, "plain", host, server)
	wantC := pkttest.Frame(macNH1, portMAC(1), host, server, 63, header.ProtoTCP, pkttest.TCPSyn(host, server, 1500-40-20-8))
	wantD := pkttest.UDP(macHost, portMAC(0), peer, host, 59, header.ProtoUDP, nil, "reply", peer, host)
	for _, tt := range []struct {
		file string
		want [][]byte
	}{{"out0.pcap", [][]byte{wantD}}, {"out1.pcap", [][]byte{wantB, wantC}}, {"out2.pcap", [][]byte{wantA}}} {
		got := readPcap(t, filepath.Join(dir, tt.file))
		if tt.file == "out2.pcap" {
			// The unknown tag (E) is answered with R1bis (RFC 5533
			// §7.17) from the locator it was sent to, which isp2 owns.
			// Its nonce and validator are random, so it is checked by
			// its header and set aside.
			var rest [][]byte
			r1bis := 0
			for _, f := range got {
				ip := header.IPv6(f[14:])
				if ip.NextHeader() == header.ProtoShim6 && len(ip) > 42 && ip[42]&0x80 == 0 && ip[42]&0x7f == 5 {
					if netip.AddrFrom16(*ip.Src()) != hostLoc || netip.AddrFrom16(*ip.Dst()) != peerLoc {
						t.Errorf("R1bis from %v to %v, want %v to %v", netip.AddrFrom16(*ip.Src()), netip.AddrFrom16(*ip.Dst()), hostLoc, peerLoc)
					}
					r1bis++
					continue
				}
				rest = append(rest, f)
			}
			if r1bis != 1 {
				t.Errorf("out2.pcap: %d R1bis for the unknown tag, want 1", r1bis)
			}
			got = rest
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: %d packets, want %d", tt.file, len(got), len(tt.want))
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i], tt.want[i]) {
				t.Errorf("%s packet %d\n got %s\nwant %s", tt.file, i, hex.EncodeToString(got[i]), hex.EncodeToString(tt.want[i]))
			}
		}
	}
}
