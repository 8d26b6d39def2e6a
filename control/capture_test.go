package control

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"shim6d/control/admin"
	"shim6d/dataplane"
	"shim6d/dataplane/header"
	"shim6d/dataplane/pkttest"
	"shim6d/ports"
	"shim6d/ports/mem"
)

// captureBed is newBed's two ports with a worker in front of the core, so
// that a capture sees the workers' verdicts and the core's sends.
type captureBed struct {
	*bed
	w *dataplane.Worker
}

func newCaptureBed(t *testing.T) *captureBed {
	pool := mem.NewPool(256, mem.DefaultBufSize)
	b := &captureBed{bed: &bed{
		inside: mem.NewPort(mem.Config{Name: "inside", Index: 0, MAC: macInside, Pool: pool, TxQueues: 2}),
		uplink: mem.NewPort(mem.Config{Name: "isp1", Index: 1, MAC: macUplink, Pool: pool, TxQueues: 2}),
		ring:   mem.NewRing(64),
		clock:  &fakeClock{t: time.Unix(1000, 0)},
	}}
	pp := []ports.Port{b.inside, b.uplink}
	b.w = dataplane.NewWorker(dataplane.WorkerConfig{Ports: pp, Control: b.ring, Fwd: &b.fwd})
	router := macRouter
	b.core = mustNew(t, Config{
		Ports: pp,
		Setup: []PortSetup{
			{Name: "inside", Device: "net_inside", Role: dataplane.RoleInside, Addresses: []netip.Addr{insideAddr},
				Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/48")}, MTU: 1500},
			{Name: "isp1", Device: "net_isp1", Role: dataplane.RoleUplink, Addresses: []netip.Addr{uplinkAddr},
				Prefix: netip.MustParsePrefix("2001:db8:1::/48"), NextHop: routerAddr, NextHopMAC: &router, MTU: 1500},
		},
		TxQueue: 1, Ring: b.ring, Fwd: &b.fwd, ICMPRate: 100, Now: b.clock.now,
		Log: slog.New(slog.DiscardHandler), Workers: []*dataplane.Worker{b.w},
	})
	return b
}

// startedBuffer is the capture's output: a buffer that says when the
// capture has written its header, and so has set the workers' rings.
type startedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	once    sync.Once
	started chan struct{}
}

func (s *startedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.once.Do(func() { close(s.started) })
	return s.buf.Write(p)
}

func (s *startedBuffer) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.buf.Bytes())
}

type captureRun struct {
	out  *startedBuffer
	res  admin.CaptureResult
	err  error
	done chan struct{}
}

// startCapture runs c.Capture on its own goroutine and waits until its
// rings are in place.
func startCapture(t *testing.T, c *Core, req admin.CaptureRequest) *captureRun {
	t.Helper()
	r := &captureRun{out: &startedBuffer{started: make(chan struct{})}, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = c.Capture(context.Background(), req, r.out, func() {})
	}()
	select {
	case <-r.out.started:
	case <-r.done:
		t.Fatalf("capture ended before it started: %v", r.err)
	case <-time.After(5 * time.Second):
		t.Fatal("capture did not start")
	}
	return r
}

func (r *captureRun) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("capture did not end by itself")
	}
}

// traffic sends one packet of each kind through the worker and the core:
// a packet forwarded inside → isp1, an NS for our uplink address from the
// router (to the core, which answers with an NA on isp1), and a packet to
// a link-local address, dropped on inside.
func (b *captureBed) traffic(t *testing.T) {
	t.Helper()
	b.inside.Inject(0, pkttest.UDP(macInside, macHost, hostAddr, remoteAddr, 64, header.ProtoUDP, nil, "data", hostAddr, remoteAddr))
	b.inside.Inject(0, pkttest.UDP(macInside, macHost, hostAddr, netip.MustParseAddr("fe80::9"), 64, header.ProtoUDP, nil, "ll", hostAddr, netip.MustParseAddr("fe80::9")))
	b.uplink.Inject(0, icmpFrame(macUplink, macRouter, routerAddr, uplinkAddr, 255, ns(uplinkAddr, macRouter)))
	b.w.Poll()
	if b.core.Poll() != 1 {
		t.Fatal("the NS did not reach the core")
	}
	b.inside.SentAll()
	b.uplink.SentAll()
}

// ngPacket is a packet of a pcapng file with its interface and comment.
type ngPacket struct {
	ifc     int
	data    []byte
	comment string
	flags   uint32
}

// readNg reads a capture back: with gopacket's reader for the interfaces
// and the packets, and with a walk of its own over the enhanced packet
// blocks' options, which that reader skips, for comments and flags.
func readNg(t *testing.T, file []byte) ([]pcapgo.NgInterface, []ngPacket) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(file), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("gopacket cannot read the capture: %v", err)
	}
	var pkts []ngPacket
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkts = append(pkts, ngPacket{ifc: ci.InterfaceIndex, data: data})
	}
	var ifs []pcapgo.NgInterface
	for i := range r.NInterfaces() {
		ifc, _ := r.Interface(i)
		ifs = append(ifs, ifc)
	}
	le := binary.LittleEndian
	n := 0
	for off := 0; off+12 <= len(file); {
		typ, blen := le.Uint32(file[off:]), int(le.Uint32(file[off+4:]))
		if blen < 12 || off+blen > len(file) || le.Uint32(file[off+blen-4:]) != uint32(blen) {
			t.Fatalf("block at %d: bad length %d", off, blen)
		}
		if typ == 6 {
			body := file[off+8 : off+blen-4]
			opts := body[20+(int(le.Uint32(body[12:]))+3)&^3:]
			for len(opts) >= 4 {
				code, l := le.Uint16(opts), int(le.Uint16(opts[2:]))
				v := opts[4 : 4+l]
				switch code {
				case 1:
					pkts[n].comment = string(v)
				case 2:
					pkts[n].flags = le.Uint32(v)
				}
				opts = opts[4+(l+3)&^3:]
				if code == 0 {
					break
				}
			}
			n++
		}
		off += blen
	}
	if n != len(pkts) {
		t.Fatalf("%d packet blocks, gopacket read %d packets", n, len(pkts))
	}
	return ifs, pkts
}

// TestCaptureWritesPcapng captures each kind of packet and reads the file
// back: an interface per port with its name, the packets on their ports,
// the drop's reason and the core's part as comments, the direction flags.
func TestCaptureWritesPcapng(t *testing.T) {
	b := newCaptureBed(t)
	run := startCapture(t, b.core, admin.CaptureRequest{Seconds: 0.3, Count: 100})
	b.traffic(t)
	run.wait(t)
	if run.err != nil || run.res.End != admin.CaptureEndSeconds || run.res.Packets != 4 || run.res.Overflow != 0 {
		t.Fatalf("capture = %+v, %v; want 4 packets, ended by its seconds", run.res, run.err)
	}
	file := run.out.bytes()
	ifs, pkts := readNg(t, file)
	if len(ifs) != 2 || ifs[0].Name != "inside" || ifs[1].Name != "isp1" || ifs[1].Description != "uplink net_isp1" ||
		ifs[0].LinkType != layers.LinkTypeEthernet || ifs[0].SnapLength != CaptureDefaultSnaplen {
		t.Fatalf("interfaces: %+v", ifs)
	}
	type kind struct {
		ifc     int
		comment string
		flags   uint32
	}
	got := map[kind]int{}
	for _, p := range pkts {
		got[kind{p.ifc, p.comment, p.flags}]++
	}
	want := map[kind]int{
		{1, "", ngOutbound}:                     1, // forwarded out isp1
		{0, "drop: link_local", ngInbound}:      1,
		{1, "to control core", ngInbound}:       1, // the NS
		{1, "sent by control core", ngOutbound}: 1, // the NA
	}
	if len(got) != len(want) {
		t.Fatalf("packets %+v, want %+v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("packets %+v, want %+v", got, want)
		}
	}
	if b.core.Stats.CapturePackets.Load() != 4 {
		t.Fatalf("capture_packets = %d", b.core.Stats.CapturePackets.Load())
	}
	// tshark, where it is installed, reads the same file and comments.
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Logf("tshark not found (%v): the file is checked with gopacket only", err)
		return
	}
	path := filepath.Join(t.TempDir(), "c.pcapng")
	os.WriteFile(path, file, 0o644)
	out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment", "-e", "ipv6.dst").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "inside\tdrop: link_local\tfe80::9") || !strings.Contains(string(out), "isp1\t\t"+remoteAddr.String()) {
		t.Fatalf("tshark reads:\n%s", out)
	}
	// The README's filter for the drops.
	drops, err := exec.Command(tshark, "-r", path, "-Y", `frame.comment contains "drop"`, "-T", "fields", "-e", "ipv6.dst").Output()
	if err != nil || strings.TrimSpace(string(drops)) != "fe80::9" {
		t.Fatalf("tshark -Y 'frame.comment contains \"drop\"': %v\n%s", err, drops)
	}
}

// TestCaptureCountAndFilter: a capture of drops on one port stops at its
// count, long before its seconds, and holds only what it selected.
func TestCaptureCountAndFilter(t *testing.T) {
	b := newCaptureBed(t)
	start := time.Now()
	run := startCapture(t, b.core, admin.CaptureRequest{What: "drops", Port: "inside", Count: 2, Seconds: 30})
	for range 3 {
		b.traffic(t)
	}
	run.wait(t)
	if run.err != nil || run.res.End != admin.CaptureEndCount || run.res.Packets != 2 || time.Since(start) > 10*time.Second {
		t.Fatalf("capture = %+v, %v after %v", run.res, run.err, time.Since(start))
	}
	_, pkts := readNg(t, run.out.bytes())
	for _, p := range pkts {
		if p.ifc != 0 || p.comment != "drop: link_local" {
			t.Fatalf("a packet the filter did not select: %+v", p)
		}
	}
	// The rings are gone: a packet now is not captured anywhere, and a
	// new capture may start.
	b.traffic(t)
	run = startCapture(t, b.core, admin.CaptureRequest{Count: 1, Seconds: 0.1})
	run.wait(t)
	if run.err != nil || run.res.Packets != 0 {
		t.Fatalf("second capture = %+v, %v", run.res, run.err)
	}
}

// TestCaptureRefusals: a second capture while one runs, and bad requests,
// are refused with a status and a sentence before anything is written.
func TestCaptureRefusals(t *testing.T) {
	b := newCaptureBed(t)
	if _, ok := b.core.Admin().(admin.Capturer); !ok {
		t.Fatal("the admin API's source cannot capture: POST /capture is not served")
	}
	run := startCapture(t, b.core, admin.CaptureRequest{Seconds: 0.5})
	var out bytes.Buffer
	_, err := b.core.Capture(context.Background(), admin.CaptureRequest{}, &out, func() {})
	var se *admin.StatusError
	if !errors.As(err, &se) || se.Code != 409 || !strings.Contains(err.Error(), "already running") || out.Len() != 0 {
		t.Fatalf("second capture: %v, %d bytes written", err, out.Len())
	}
	run.wait(t)
	for _, req := range []admin.CaptureRequest{
		{Port: "isp9"}, {What: "everything"}, {Count: -1}, {Count: CaptureMaxCount + 1},
		{Seconds: -1}, {Seconds: float64(CaptureMaxSeconds) + 0.5}, {Snaplen: 10}, {Snaplen: CaptureMaxSnaplen + 1},
	} {
		_, err := b.core.Capture(context.Background(), req, &out, func() {})
		if !errors.As(err, &se) || se.Code != 400 || out.Len() != 0 {
			t.Errorf("%+v: %v, %d bytes written", req, err, out.Len())
		}
	}
	// The reader leaving ends a capture without an error.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan admin.CaptureResult)
	go func() {
		res, err := b.core.Capture(ctx, admin.CaptureRequest{Seconds: 30}, &out, func() {})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case res := <-done:
		if res.End != admin.CaptureEndReader {
			t.Fatalf("ended %q", res.End)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the capture outlived its reader")
	}
}

// TestPcapngGolden holds the writer to the block layouts of
// draft-ietf-opsawg-pcapng §4.1, §4.2, §4.3, byte for byte.
func TestPcapngGolden(t *testing.T) {
	var out bytes.Buffer
	ng, err := newNgWriter(&out, "ab", "")
	if err != nil {
		t.Fatal(err)
	}
	ng.addInterface("p0", "", 96)
	ng.writePacket(0, 0x1_0000_0002, []byte{0xaa, 0xbb, 0xcc}, 60, ngInbound, "x")
	ng.flush()
	want := []byte{
		// Section Header Block: type, length 40, magic, 1.0, length -1.
		0x0a, 0x0d, 0x0d, 0x0a, 40, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		4, 0, 2, 0, 'a', 'b', 0, 0, // shb_userappl "ab"
		0, 0, 0, 0, // opt_endofopt
		40, 0, 0, 0,
		// Interface Description Block: Ethernet, snaplen 96.
		1, 0, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 96, 0, 0, 0,
		2, 0, 2, 0, 'p', '0', 0, 0, // if_name
		9, 0, 1, 0, 9, 0, 0, 0, // if_tsresol 10^-9
		0, 0, 0, 0,
		40, 0, 0, 0,
		// Enhanced Packet Block: interface 0, time 1<<32+2, 3 of 60 bytes.
		6, 0, 0, 0, 56, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 60, 0, 0, 0,
		0xaa, 0xbb, 0xcc, 0,
		1, 0, 1, 0, 'x', 0, 0, 0, // opt_comment
		2, 0, 4, 0, 1, 0, 0, 0, // epb_flags: inbound
		0, 0, 0, 0,
		56, 0, 0, 0,
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("got\n% x\nwant\n% x", out.Bytes(), want)
	}
}
