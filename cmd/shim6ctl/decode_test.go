package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"shim6d/control/shim6layer"
	"shim6d/control/shim6layer/tsharktest"
	"shim6d/control/wire"
)

func ipv6Layer(nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, NextHeader: nh, HopLimit: 64,
		SrcIP: net.ParseIP("2001:db8:1::a"), DstIP: net.ParseIP("2001:db8:3::c")}
}

// frame serialises ls behind Ethernet when eth is true, else as raw IPv6.
func frame(t *testing.T, eth bool, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	if eth {
		ls = append([]gopacket.SerializableLayer{&layers.Ethernet{
			SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
			EthernetType: layers.EthernetTypeIPv6}}, ls...)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testMessages() []wire.Message {
	a := netip.MustParseAddr
	pds, err := wire.AppendCGAParameters(nil, &wire.CGAParameters{
		SubnetPrefix: netip.MustParsePrefix("2001:db8:1::/64"), PublicKey: []byte{0x30, 0x00},
		Extensions: []wire.CGAExtension{{Type: wire.CGAExtMultiPrefix, MultiPrefix: &wire.MultiPrefix{
			Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("2001:db8:2::/64")}}}}})
	if err != nil {
		panic(err)
	}
	kt := wire.KeepaliveTimeout(20)
	ll := &wire.LocatorList{Generation: 4, Locators: []wire.Locator{{Addr: a("2001:db8:1::1"), Method: wire.VerifyHBA},
		{Addr: a("2001:db8:2::1"), Method: wire.VerifyHBA}}}
	lp := &wire.LocatorPreferences{Generation: 4, ElementLen: 3, Elements: []wire.Preference{{Priority: 1, Weight: 10},
		{Flags: wire.PreferenceBroken, Priority: 2, Weight: 20}}}
	i2o := wire.Options{ResponderValidator: []byte{1, 2, 3, 4}, LocatorList: ll, LocatorPreferences: lp,
		CGAParameterDataStructure: pds, KeepaliveTimeout: &kt,
		ULIDPair: &wire.ULIDPair{Sender: a("2001:db8:1::1"), Receiver: a("2001:db8:2::2")}}
	return []wire.Message{
		&wire.I1{InitiatorContextTag: 0x123456789abc, InitiatorNonce: 0xdeadbeef},
		&wire.R1{InitiatorNonce: 0xdeadbeef, ResponderNonce: 0xcafef00d, Options: wire.Options{ResponderValidator: []byte{1, 2, 3, 4}}},
		&wire.I2{InitiatorContextTag: 0x123456789abc, InitiatorNonce: 1, ResponderNonce: 0xcafef00d, Options: i2o},
		&wire.R2{ResponderContextTag: 0x0000abcdef01, InitiatorNonce: 1},
		&wire.R1bis{PacketContextTag: 0x0000abcdef01, ResponderNonce: 2, Options: wire.Options{ResponderValidator: []byte{9}}},
		&wire.I2bis{InitiatorContextTag: 5, InitiatorNonce: 6, ResponderNonce: 2, PacketContextTag: 0x0000abcdef01,
			Options: wire.Options{ResponderValidator: []byte{9}}},
		&wire.UpdateRequest{ReceiverContextTag: 0x0000abcdef01, RequestNonce: 7, Options: wire.Options{LocatorPreferences: lp}},
		&wire.UpdateAck{ReceiverContextTag: 0x123456789abc, RequestNonce: 7},
		&wire.Keepalive{ReceiverContextTag: 0x123456789abc},
		&wire.Probe{ReceiverContextTag: 0x123456789abc, State: wire.ReapExploring, Sent: []wire.ProbeReport{
			{Source: a("2001:db8:1::a"), Destination: a("2001:db8:3::c"), Nonce: 0x01010101, Data: 0x02020202}}},
		&wire.ErrorMessage{Code: wire.ErrorCodeUnknownType, Pointer: 42, PacketInError: make([]byte, 16)},
	}
}

// writeTestCapture writes every message type, a payload packet with UDP, a
// message with a bad checksum, one with an unknown critical option, a
// truncated Shim6 header and a plain UDP packet, in format ng or pcap.
func writeTestCapture(t *testing.T, ng, eth bool) (path string, msgs []wire.Message) {
	t.Helper()
	msgs = testMessages()
	var frames [][]byte
	for _, m := range msgs {
		frames = append(frames, frame(t, eth, ipv6Layer(wire.ProtocolNumber), &shim6layer.Control{Message: m}))
	}
	udp := &layers.UDP{SrcPort: 49152, DstPort: 49153}
	frames = append(frames, frame(t, eth, ipv6Layer(wire.ProtocolNumber),
		&shim6layer.Payload{NextHeader: layers.IPProtocolUDP, ContextTag: 0x123456789abc}, udp, gopacket.Payload("hello")))
	bad := frame(t, eth, ipv6Layer(wire.ProtocolNumber), &shim6layer.Control{Message: msgs[0]})
	bad[len(bad)-1] ^= 0x10 // damages the checksum of the I1
	frames = append(frames, bad)
	crit := []byte{0x3b, 0x02, 0x42, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0xc7, 0x00, 0x00, 0, 0, 0, 0}
	binaryChecksum(crit)
	frames = append(frames, frame(t, eth, ipv6Layer(wire.ProtocolNumber), gopacket.Payload(crit)))
	frames = append(frames, frame(t, eth, ipv6Layer(wire.ProtocolNumber), gopacket.Payload([]byte{0x3b, 0x05, 0x42, 0x00})))
	frames = append(frames, frame(t, eth, ipv6Layer(layers.IPProtocolUDP), udp, gopacket.Payload("plain")))

	path = filepath.Join(t.TempDir(), "c.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lt := layers.LinkTypeRaw
	if eth {
		lt = layers.LinkTypeEthernet
	}
	ts := time.Unix(1700000000, 0)
	if ng {
		w, err := pcapgo.NewNgWriter(f, lt)
		if err != nil {
			t.Fatal(err)
		}
		for _, fr := range frames {
			if err := w.WritePacket(tsharktest.CaptureInfo(ts, fr), fr); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	} else {
		w := pcapgo.NewWriter(f)
		if err := w.WriteFileHeader(65535, lt); err != nil {
			t.Fatal(err)
		}
		for _, fr := range frames {
			if err := w.WritePacket(tsharktest.CaptureInfo(ts, fr), fr); err != nil {
				t.Fatal(err)
			}
		}
	}
	return path, msgs
}

func binaryChecksum(m []byte) {
	c := wire.ComputeChecksum(m)
	m[4], m[5] = byte(c>>8), byte(c)
}

func TestDecodeText(t *testing.T) {
	for _, c := range []struct {
		name    string
		ng, eth bool
	}{{"pcap-ethernet", false, true}, {"pcapng-ethernet", true, true}, {"pcapng-raw", true, false}, {"pcap-raw", false, false}} {
		t.Run(c.name, func(t *testing.T) {
			path, msgs := writeTestCapture(t, c.ng, c.eth)
			var out bytes.Buffer
			if err := runDecode([]string{path}, &out); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(out.String(), "\n")
			headers := map[int]string{}
			for _, l := range lines {
				var n int
				if _, err := fmtSscanPacket(l, &n); err == nil {
					headers[n] = l
				}
			}
			for i, m := range msgs {
				h := headers[i+1]
				if !strings.Contains(h, "Shim6 "+m.Type().String()+" (type") || !strings.Contains(h, "checksum ok") {
					t.Errorf("packet %d: %q, want %s with checksum ok", i+1, h, m.Type())
				}
			}
			n := len(msgs)
			if h := headers[n+1]; !strings.Contains(h, "Shim6 payload context tag 0x123456789abc next header UDP (17): UDP 49152 > 49153") {
				t.Errorf("payload packet: %q", h)
			}
			if h := headers[n+2]; !strings.Contains(h, "Shim6 I1") || !strings.Contains(h, "checksum bad") {
				t.Errorf("damaged packet: %q", h)
			}
			if h := headers[n+3]; !strings.Contains(h, "Shim6 Keepalive") || !strings.Contains(h, "checksum ok") {
				t.Errorf("critical-option packet: %q", h)
			}
			if h := headers[n+4]; !strings.Contains(h, "MALFORMED") || !strings.Contains(h, "truncated") {
				t.Errorf("truncated packet: %q", h)
			}
			if _, shown := headers[n+5]; shown {
				t.Errorf("non-Shim6 packet printed without --all")
			}
			text := out.String()
			for _, want := range []string{
				"initiator context tag: 0x123456789abc",
				"option Locator List (2)",
				"  - locator 2001:db8:1::1, verification method HBA",
				"  - flags BROKEN, priority 2, weight 20",
				"option CGA Parameter Data Structure (4)",
				"subnet prefix: 2001:db8:1::/64",
				"prefixes [2001:db8:1::/64 2001:db8:2::/64]",
				"option Keepalive Timeout (10)",
				"state: Exploring",
				"error: unknown Shim6 message type",
				"    option type 99 (not understood, critical) critical at octet 16\n",
				"        VIOLATION: shim6 Keepalive: option type 99 option at octet 16: unknown critical option",
				"16 packets: 14 Shim6 control, 1 Shim6 payload, 3 malformed, 1 without Shim6",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", text)
			}
		})
	}
}

// fmtSscanPacket reads the "#N" that starts a packet's header line.
func fmtSscanPacket(l string, n *int) (int, error) {
	if !strings.HasPrefix(l, "#") {
		return 0, io.EOF
	}
	f := strings.Fields(l[1:])
	if len(f) == 0 {
		return 0, io.EOF
	}
	v := 0
	for _, c := range f[0] {
		if c < '0' || c > '9' {
			return 0, io.EOF
		}
		v = v*10 + int(c-'0')
	}
	*n = v
	return 1, nil
}

func TestDecodeJSON(t *testing.T) {
	path, msgs := writeTestCapture(t, true, true)
	objs := decodeReports(t, path)
	if len(objs) != len(msgs)+5 {
		t.Fatalf("%d JSON objects, want one per packet (%d)", len(objs), len(msgs)+5)
	}
	for i, m := range msgs {
		o := objs[i]
		if o["kind"] != "control" || o["type"] != m.Type().String() || o["checksum_ok"] != true ||
			o["hdr_ext_len"] != float64(m.Len()/8-1) || o["malformed"] != nil {
			t.Errorf("packet %d: %v", i+1, o)
		}
	}
	if got := objs[0]["time"]; got != "2023-11-14T22:13:20.000000Z" {
		t.Errorf("time %v", got)
	}
	i2 := objs[2]
	opts, _ := i2["options"].([]any)
	if len(opts) != 6 {
		t.Errorf("I2 options: %v", i2["options"])
	}
	n := len(msgs)
	if o := objs[n]; o["kind"] != "payload" || o["context_tag"] != "0x123456789abc" {
		t.Errorf("payload: %v", o)
	}
	if o := objs[n+1]; o["checksum_ok"] != false || !strings.Contains(o["malformed"].(string), "bad checksum") || o["fields"] == nil {
		t.Errorf("bad checksum: %v", o)
	}
	if o := objs[n+4]; o["kind"] != "other" || !strings.Contains(o["summary"].(string), "UDP") {
		t.Errorf("other: %v", o)
	}
}

func TestDecodeUnreadable(t *testing.T) {
	var out bytes.Buffer
	if err := runDecode([]string{filepath.Join(t.TempDir(), "missing.pcap")}, &out); err == nil {
		t.Error("missing file: no error")
	}
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, []byte("this is not a capture file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runDecode([]string{junk}, &out); err == nil {
		t.Error("junk file: no error")
	}
	if err := runDecode(nil, io.Discard); err == nil {
		t.Error("no file: no error")
	}
	// A capture cut inside a record is reported after what could be read.
	path, _ := writeTestCapture(t, false, true)
	b, _ := os.ReadFile(path)
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, b[:len(b)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runDecode([]string{cut}, &out); err == nil || !strings.Contains(out.String(), "Shim6 I1") {
		t.Errorf("cut file: err %v, output %q", err, out.String())
	}
}

// TestCapturePcap reads a classic pcap record in each byte order and
// timestamp resolution, octet by octet: 2 octets captured of 5, 10 s and 7
// units after the epoch, LINKTYPE_IPV6.
func TestCapturePcap(t *testing.T) {
	for _, c := range []struct {
		name  string
		order binary.ByteOrder
		magic uint32
		ts    time.Time
	}{
		{"little-endian-micro", binary.LittleEndian, 0xa1b2c3d4, time.Unix(10, 7000)},
		{"little-endian-nano", binary.LittleEndian, 0xa1b23c4d, time.Unix(10, 7)},
		{"big-endian-micro", binary.BigEndian, 0xa1b2c3d4, time.Unix(10, 7000)},
		{"big-endian-nano", binary.BigEndian, 0xa1b23c4d, time.Unix(10, 7)},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := make([]byte, 24+16, 24+16+2)
			o := c.order
			o.PutUint32(f[0:], c.magic)
			o.PutUint16(f[4:], 2) // version 2.4
			o.PutUint16(f[6:], 4)
			o.PutUint32(f[16:], 0xffff) // snaplen
			o.PutUint32(f[20:], 229)    // LINKTYPE_IPV6
			o.PutUint32(f[24:], 10)
			o.PutUint32(f[28:], 7)
			o.PutUint32(f[32:], 2)
			o.PutUint32(f[36:], 5)
			f = append(f, 0xde, 0xad)
			r, err := newCaptureReader(bytes.NewReader(f))
			if err != nil {
				t.Fatal(err)
			}
			data, ci, lt, err := r.next()
			if err != nil {
				t.Fatal(err)
			}
			if lt != layers.LinkTypeIPv6 || !bytes.Equal(data, []byte{0xde, 0xad}) || ci.Length != 5 || !ci.Timestamp.Equal(c.ts) {
				t.Errorf("link type %v, data %x, %+v", lt, data, ci)
			}
			if _, _, _, err := r.next(); err != io.EOF {
				t.Errorf("after last packet: %v, want io.EOF", err)
			}
		})
	}
}

// TestCapturePcapNG reads a big-endian pcapng section with an Ethernet
// interface at nanosecond resolution, a Simple Packet Block, an unknown block
// to skip and an Enhanced Packet Block, then a second, little-endian section
// whose interface is raw IP at the default microsecond resolution.
func TestCapturePcapNG(t *testing.T) {
	var b bytes.Buffer
	block := func(order binary.ByteOrder, typ uint32, body []byte) {
		total := uint32(12 + len(body))
		var h [8]byte
		order.PutUint32(h[:], typ)
		order.PutUint32(h[4:], total)
		b.Write(h[:])
		b.Write(body)
		order.PutUint32(h[:], total)
		b.Write(h[:4])
	}
	shb := func(order binary.ByteOrder) {
		body := make([]byte, 16)
		order.PutUint32(body, 0x1a2b3c4d) // byte-order magic
		order.PutUint16(body[4:], 1)      // version 1.0
		binary.BigEndian.PutUint64(body[8:], ^uint64(0))
		block(order, pcapngSectionHeader, body)
	}
	be := binary.BigEndian
	shb(be)
	idb := make([]byte, 8+8+4)
	be.PutUint16(idb, uint16(layers.LinkTypeEthernet))
	be.PutUint16(idb[8:], 9) // if_tsresol
	be.PutUint16(idb[10:], 1)
	idb[12] = 9 // 10^-9; opt_endofopt in the last 4 octets
	block(be, 1, idb)
	block(be, 3, []byte{0, 0, 0, 3, 'a', 'b', 'c', 0})
	block(be, 0x0bad, []byte{1, 2, 3, 4})
	epb := make([]byte, 20, 24)
	be.PutUint32(epb[8:], 1_500_000_000) // 1.5 s in ns
	be.PutUint32(epb[12:], 2)
	be.PutUint32(epb[16:], 2)
	block(be, 6, append(epb, 'x', 'y', 0, 0))
	le := binary.LittleEndian
	shb(le)
	idb2 := make([]byte, 8)
	le.PutUint16(idb2, uint16(layers.LinkTypeRaw))
	block(le, 1, idb2)
	epb2 := make([]byte, 20)
	le.PutUint32(epb2[8:], 2_000_000) // 2 s in µs
	le.PutUint32(epb2[12:], 4)
	le.PutUint32(epb2[16:], 60)
	block(le, 6, append(epb2, 0x60, 0, 0, 0))

	r, err := newCaptureReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []struct {
		lt     layers.LinkType
		data   []byte
		length int
		ts     time.Time
	}{
		{layers.LinkTypeEthernet, []byte("abc"), 3, time.Time{}},
		{layers.LinkTypeEthernet, []byte("xy"), 2, time.Unix(1, 500_000_000)},
		{layers.LinkTypeRaw, []byte{0x60, 0, 0, 0}, 60, time.Unix(2, 0)},
	} {
		data, ci, lt, err := r.next()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if lt != w.lt || !bytes.Equal(data, w.data) || ci.Length != w.length || !ci.Timestamp.Equal(w.ts) {
			t.Errorf("packet %d: link type %v, data %q, %+v; want %+v", i, lt, data, ci, w)
		}
	}
	if _, _, _, err := r.next(); err != io.EOF {
		t.Errorf("end: %v, want io.EOF", err)
	}
}

// TestCaptureBad checks that damaged files are refused rather than misread.
func TestCaptureBad(t *testing.T) {
	var good bytes.Buffer
	w := pcapgo.NewWriter(&good)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(tsharktest.CaptureInfo(time.Unix(0, 0), make([]byte, 64)), make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not a capture", []byte("hello, world, this is text")},
		{"header cut", good.Bytes()[:20]},
	} {
		if _, err := newCaptureReader(bytes.NewReader(c.in)); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	r, err := newCaptureReader(bytes.NewReader(good.Bytes()[:24+16+10]))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r.next(); err == nil || err == io.EOF {
		t.Errorf("record cut: %v, want an error", err)
	}
	huge := append([]byte(nil), good.Bytes()[:24+16]...)
	binary.LittleEndian.PutUint32(huge[24+8:], 1<<30)
	if r, err = newCaptureReader(bytes.NewReader(huge)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r.next(); err == nil || err == io.EOF {
		t.Errorf("1 GiB record: %v, want an error", err)
	}
}

// i2WithoutPDS is the I2 of testMessages with its CGA Parameter Data
// Structure option turned into an unknown type 99 (C = 0): an I2 with a
// Locator List and no PDS, which RFC 5533 §5.6 forbids.
func i2WithoutPDS(t *testing.T) []byte {
	t.Helper()
	b, err := wire.Marshal(testMessages()[2])
	if err != nil {
		t.Fatal(err)
	}
	off, ok := wire.OptionOffset(b, wire.OptCGAParameterDataStructure)
	if !ok {
		t.Fatal("test I2 has no PDS")
	}
	b[off], b[off+1] = 0, 99<<1
	binaryChecksum(b)
	return b
}

// TestDecodeShowsViolatingMessage: issue #17's case. The I2 without a PDS
// is shown whole, fields and options, with the violation beside it, in
// text and JSON; --strict turns the violation into an error.
func TestDecodeShowsViolatingMessage(t *testing.T) {
	path := tsharktest.WritePcap(t, [][]byte{frame(t, true, ipv6Layer(wire.ProtocolNumber), gopacket.Payload(i2WithoutPDS(t)))})
	var out bytes.Buffer
	if err := runDecode([]string{path}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"Shim6 I2 (type 3) length",
		"checksum ok",
		"initiator context tag: 0x123456789abc",
		"option Locator List (2) at octet",
		"  - locator 2001:db8:2::1, verification method HBA",
		"option type 99 (not understood, ignored) at octet",
		"option Keepalive Timeout (10)",
		"    VIOLATION: shim6 I2: CGA Parameter Data Structure option: missing mandatory option: mandatory with a Locator List in I2\n",
		"1 packets: 1 Shim6 control, 0 Shim6 payload, 1 malformed, 0 without Shim6",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	// The violation has no offset, so it closes the message, after the
	// last option.
	if strings.Index(text, "VIOLATION") < strings.Index(text, "option Keepalive Timeout") {
		t.Errorf("violation printed before the options")
	}
	if t.Failed() {
		t.Logf("output:\n%s", text)
	}

	out.Reset()
	if err := runDecode([]string{path, "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	vs, _ := rep["violations"].([]any)
	if len(vs) != 1 {
		t.Fatalf("violations %v, want 1", rep["violations"])
	}
	v := vs[0].(map[string]any)
	if v["kind"] != "missing_option" || v["offset"] != nil || !strings.Contains(v["error"].(string), "CGA Parameter Data Structure") {
		t.Errorf("violation %v", v)
	}
	fields, _ := rep["fields"].(map[string]any)
	opts, _ := rep["options"].([]any)
	if fields["initiator_context_tag"] != "0x123456789abc" || len(opts) != 6 {
		t.Errorf("fields %v, %d options", fields, len(opts))
	}

	if err := runDecode([]string{path, "--strict"}, io.Discard); err == nil || !strings.Contains(err.Error(), "1 of 1 Shim6 headers break a rule") {
		t.Errorf("--strict: %v", err)
	}
	good := tsharktest.WritePcap(t, [][]byte{frame(t, true, ipv6Layer(wire.ProtocolNumber), &shim6layer.Control{Message: testMessages()[0]})})
	if err := runDecode([]string{good, "--strict"}, io.Discard); err != nil {
		t.Errorf("--strict on a clean capture: %v", err)
	}
}

// TestDecodeCutMessage: an I2 cut inside its Locator List (the packet ends
// before Hdr Ext Len says) still shows its fixed fields and the options
// as far as they go.
func TestDecodeCutMessage(t *testing.T) {
	b, err := wire.Marshal(testMessages()[2])
	if err != nil {
		t.Fatal(err)
	}
	off, _ := wire.OptionOffset(b, wire.OptLocatorList)
	path := tsharktest.WritePcap(t, [][]byte{frame(t, true, ipv6Layer(wire.ProtocolNumber), gopacket.Payload(b[:off+16+16+8]))})
	var out bytes.Buffer
	if err := runDecode([]string{path}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"Shim6 I2 (type 3) length " + strconv.Itoa(len(b)),
		"checksum not checked (message cut short)",
		"    VIOLATION: shim6 I2: Hdr Ext Len at octet 1: truncated: message claims",
		"initiator nonce: 0x00000001",
		"option Responder Validator (1)",
		"option Locator List (2)",
		"num locators: 2",
		"  - locator 2001:db8:1::1, verification method HBA",
		"  - verification method HBA",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if strings.Contains(text, "2001:db8:2::1") {
		t.Errorf("the second locator was cut off but is shown")
	}
	if t.Failed() {
		t.Logf("output:\n%s", text)
	}
}
