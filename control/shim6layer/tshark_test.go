package shim6layer_test

import (
	"context"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"shim6d/control/shim6layer/tsharktest"
	"shim6d/control/wire"
)

// dissection is what tshark said about one packet: the protocols, and for
// each field name the show and showname of its first occurrence.
type dissection struct {
	protos map[string]bool
	show   map[string]string
	named  map[string]string
}

func (d *dissection) walk(n *tsharktest.Node) {
	switch n.XMLName.Local {
	case "proto":
		d.protos[n.Attr("name")] = true
	case "field":
		if name := n.Attr("name"); name != "" {
			if _, seen := d.show[name]; !seen {
				d.show[name], d.named[name] = n.Attr("show"), n.Attr("showname")
			}
		}
	}
	for i := range n.Nodes {
		d.walk(&n.Nodes[i])
	}
}

// runTshark dissects a capture with Debian's tshark and returns one
// dissection per packet; the test is skipped where tshark is missing.
func runTshark(t *testing.T, file string) []dissection {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (Debian package tshark); the cross-check needs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-n", "-r", file, "-T", "pdml")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user profile
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("tshark: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("tshark: %v", err)
	}
	var doc struct {
		Packets []tsharktest.Node `xml:"packet"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("parsing PDML: %v", err)
	}
	var ds []dissection
	for i := range doc.Packets {
		d := dissection{protos: map[string]bool{}, show: map[string]string{}, named: map[string]string{}}
		d.walk(&doc.Packets[i])
		ds = append(ds, d)
	}
	return ds
}

// TestTshark cross-checks our encoding with Debian's tshark 4.0. Only what
// its dissector reads correctly is asserted: the protocol, the P bit, the
// message type, Hdr Ext Len and the checksum status for control messages
// (it reads the checksum field one octet early, at offset 3, so every later
// field and option is misplaced — see docs/tshark.md), and the context tag
// and the ULP behind the payload extension header.
func TestTshark(t *testing.T) {
	msgs := allMessages(t)
	var frames [][]byte
	for _, m := range msgs {
		frames = append(frames, controlFrame(t, m))
	}
	const tag = 0x123456789abc
	frames = append(frames, payloadFrame(t, tag, 49152, 49153, []byte("shim6 payload")))
	bad := controlFrame(t, msgs[2]) // I2 with a damaged checksum
	bad[14+40+4] ^= 0x40
	frames = append(frames, bad)

	ds := runTshark(t, tsharktest.WritePcap(t, frames))
	if len(ds) != len(frames) {
		t.Fatalf("tshark dissected %d packets, wrote %d", len(ds), len(frames))
	}
	for i, m := range msgs {
		d := ds[i]
		name := m.Type().String()
		if !d.protos["shim6"] {
			t.Errorf("%s: tshark found no Shim6 protocol", name)
			continue
		}
		want := map[string]string{
			"shim6.p":               "0",
			"shim6.type":            strconv.Itoa(int(m.Type())),
			"shim6.len":             strconv.Itoa(m.Len()/8 - 1),
			"shim6.nxt":             "59",
			"shim6.checksum.status": "1",
		}
		for f, v := range want {
			if got := d.show[f]; got != v {
				t.Errorf("%s: tshark %s = %q, want %q (%s)", name, f, got, v, d.named[f])
			}
		}
		if !strings.Contains(d.named["shim6.checksum.status"], "Good") {
			t.Errorf("%s: checksum status %q", name, d.named["shim6.checksum.status"])
		}
	}

	p := ds[len(msgs)]
	for f, v := range map[string]string{"shim6.p": "1", "shim6.len": "0", "shim6.nxt": "17",
		"udp.srcport": "49152", "udp.dstport": "49153"} {
		if got := p.show[f]; got != v {
			t.Errorf("payload packet: tshark %s = %q, want %q", f, got, v)
		}
	}
	// shim6.ct is an FT_NONE field: the tag is only in its showname,
	// "Receiver Context Tag: 12 34 56 78 9a bc".
	ct := p.named["shim6.ct"]
	hex := strings.ReplaceAll(ct[strings.LastIndex(ct, ":")+1:], " ", "")
	if got, err := strconv.ParseUint(hex, 16, 64); err != nil || got != tag {
		t.Errorf("payload packet: tshark reads context tag %q, want %#x", ct, tag)
	}

	b := ds[len(msgs)+1]
	if got := b.show["shim6.checksum.status"]; got != "0" || !strings.Contains(b.named["shim6.checksum.status"], "Bad") {
		t.Errorf("damaged I2: tshark checksum status %q (%s), want Bad", got, b.named["shim6.checksum.status"])
	}
	if _, err := wire.Decode(bad[14+40:]); !errors.Is(err, wire.ErrBadChecksum) {
		t.Errorf("damaged I2: our decoder says %v, want ErrBadChecksum", err)
	}
}

// TestTsharkReadsPcapNG checks pcapgo's pcapng writer against tshark's reader.
func TestTsharkReadsPcapNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shim6.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{payloadFrame(t, 7, 49152, 49153, []byte("odd length")), controlFrame(t, allMessages(t)[0])}
	for _, fr := range frames {
		if err := w.WritePacket(tsharktest.CaptureInfo(time.Unix(1700000000, 0), fr), fr); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	ds := runTshark(t, path)
	if len(ds) != 2 || ds[0].show["shim6.p"] != "1" || ds[1].show["shim6.type"] != "1" {
		t.Fatalf("tshark read %d packets: %+v", len(ds), ds)
	}
}
