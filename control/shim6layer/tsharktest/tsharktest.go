// Package tsharktest is what the tests that hold our encoding and our
// Wireshark dissector to tshark share: frames written to a pcap file for
// tshark to read, and a reader for the PDML tshark prints. Both the
// shim6layer tests (tshark's built-in dissector) and the shim6ctl tests
// (our Lua dissector against `shim6ctl decode`) carried a copy of each.
// It is test support: only _test.go files import it.
package tsharktest

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Node is any element of tshark's PDML output: protos nest in protos
// (extension headers sit inside ipv6) and fields in fields.
type Node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []Node     `xml:",any"`
}

// Attr returns the node's attribute name ("name", "show", "showname"),
// or "" when it has none.
func (n *Node) Attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// CaptureInfo describes frame fr captured whole at ts.
func CaptureInfo(ts time.Time, fr []byte) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(fr), Length: len(fr)}
}

// WritePcap writes Ethernet frames into a new pcap file in the test's
// temporary directory, a millisecond apart from a fixed time (so that
// runs compare), and returns its path.
func WritePcap(t testing.TB, frames [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frames.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	for i, fr := range frames {
		if err := w.WritePacket(CaptureInfo(ts.Add(time.Duration(i)*time.Millisecond), fr), fr); err != nil {
			t.Fatal(err)
		}
	}
	return path
}
