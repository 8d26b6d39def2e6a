package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"shim6d/control/shim6layer"
	"shim6d/control/wire"
)

func init() {
	register("decode", "decode the Shim6 content of a pcap or pcapng file", runDecode)
}

// runDecode implements `shim6ctl decode FILE [--json] [--all]`: for every
// packet of a pcap or pcapng capture it prints the Shim6 content (RFC 5533
// §5, RFC 5534 §5) — message, context tags, nonces, every option, checksum
// status — or why the message is malformed. Damaged packets are reported,
// not fatal: the exit status is non-zero only when the file cannot be read.
func runDecode(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object per packet")
	all := fs.Bool("all", false, "also print a line (or object) for each packet without Shim6")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shim6ctl decode FILE [--json] [--all]")
		fs.PrintDefaults()
	}
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return errors.New("usage: shim6ctl decode FILE [--json] [--all]")
	}
	f, err := os.Open(files[0])
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := newCaptureReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", files[0], err)
	}
	var st decodeStats
	for n := 1; ; n++ {
		data, ci, lt, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !*asJSON {
				st.print(stdout)
			}
			return fmt.Errorf("%s: packet %d: %w", files[0], n, err)
		}
		rep := describePacket(n, lt, ci, data)
		st.count(rep)
		if rep.Kind == kindOther && !*all {
			continue
		}
		if *asJSON {
			if err := jsonLine(stdout, rep); err != nil {
				return err
			}
		} else {
			rep.printText(stdout)
		}
	}
	if !*asJSON {
		st.print(stdout)
	}
	return nil
}

// pcapngSectionHeader is the block type that starts every pcapng file; it
// reads the same in either byte order.
const pcapngSectionHeader = 0x0a0d0d0a

// captureReader reads a pcap or a pcapng file with pcapgo: exactly one of
// pcap and ng is set.
type captureReader struct {
	pcap *pcapgo.Reader
	ng   *pcapgo.NgReader
}

// newCaptureReader tells pcapng from pcap by the file's magic number and
// reads the file header. Any other magic number is left to pcapgo's pcap
// reader, which reports it (or reads the pcap inside a gzip stream).
func newCaptureReader(r io.Reader) (*captureReader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng file: %w", err)
	}
	if binary.BigEndian.Uint32(magic) == pcapngSectionHeader {
		// Mixed link types let interfaces of any type, in any section,
		// through; the default would drop or refuse those that differ
		// from the first.
		opts := pcapgo.DefaultNgReaderOptions
		opts.WantMixedLinkType = true
		ng, err := pcapgo.NewNgReader(br, opts)
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		return &captureReader{ng: ng}, nil
	}
	p, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("pcap: %w", err)
	}
	return &captureReader{pcap: p}, nil
}

// next returns the next packet, its capture information and its link type,
// or io.EOF after the last. data is valid until the next call.
func (c *captureReader) next() (data []byte, ci gopacket.CaptureInfo, lt layers.LinkType, err error) {
	if c.pcap != nil {
		data, ci, err = c.pcap.ZeroCopyReadPacketData()
		return data, ci, c.pcap.LinkType(), err
	}
	data, ci, err = c.ng.ZeroCopyReadPacketData()
	if err != nil {
		return nil, ci, 0, err
	}
	lt, _ = ci.AncillaryData[0].(layers.LinkType) // set by WantMixedLinkType
	return data, ci, lt, nil
}

// jsonLine writes v as one line of JSON, leaving <, > and & readable.
func jsonLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// parseInterleaved parses flags that may come before or after the
// positional arguments (the flag package stops at the first positional).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// Packet kinds in the report.
const (
	kindControl = "control"
	kindPayload = "payload"
	kindOther   = "other"
)

// packetReport is what decode says about one packet; it is also the JSON
// object printed with --json.
type packetReport struct {
	Packet int    `json:"packet"`
	Time   string `json:"time,omitempty"`
	Src    string `json:"src,omitempty"`
	Dst    string `json:"dst,omitempty"`
	// Kind is control, payload or other.
	Kind string `json:"kind"`

	// Control messages.
	Type        string `json:"type,omitempty"`
	TypeValue   *int   `json:"type_value,omitempty"`
	HdrExtLen   *int   `json:"hdr_ext_len,omitempty"`
	Length      int    `json:"length,omitempty"`
	Checksum    string `json:"checksum,omitempty"`
	ChecksumOK  *bool  `json:"checksum_ok,omitempty"`
	ChecksumDue string `json:"checksum_expected,omitempty"`
	Fields      obj    `json:"fields,omitempty"`
	Options     []obj  `json:"options,omitempty"`

	// Payload extension headers.
	ContextTag string `json:"context_tag,omitempty"`
	NextHeader string `json:"next_header,omitempty"`
	ULP        string `json:"ulp,omitempty"`

	// Malformed is why the Shim6 content was refused, if it was.
	Malformed string `json:"malformed,omitempty"`
	// Summary describes a packet without Shim6.
	Summary string `json:"summary,omitempty"`

	// checksumOnly: the checksum is the only fault (the message decodes
	// without it), so the header line already says all.
	checksumOnly bool
}

// describePacket reports on packet n, captured as data with link type lt.
func describePacket(n int, lt layers.LinkType, ci gopacket.CaptureInfo, data []byte) *packetReport {
	rep := &packetReport{Packet: n, Kind: kindOther}
	if !ci.Timestamp.IsZero() { // pcapng Simple Packet Blocks carry none
		rep.Time = ci.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	// The reader reuses data; the report copies what it keeps.
	p := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{NoCopy: true})
	if ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		rep.Src, rep.Dst = ip.SrcIP.String(), ip.DstIP.String()
	}
	var failure error
	if el := p.ErrorLayer(); el != nil {
		failure = el.Error()
	}
	switch l := p.Layer(shim6layer.LayerTypeShim6Control).(type) {
	case *shim6layer.Control:
		describeControl(rep, l)
		return rep
	}
	if l, ok := p.Layer(shim6layer.LayerTypeShim6Payload).(*shim6layer.Payload); ok {
		rep.Kind = kindPayload
		rep.ContextTag = tagString(l.ContextTag)
		rep.NextHeader = fmt.Sprintf("%s (%d)", l.NextHeader, uint8(l.NextHeader))
		rep.ULP = ulpSummary(p)
		return rep
	}
	var we *wire.Error
	if errors.As(failure, &we) {
		// Next Header 140 whose header could not even be framed.
		rep.Kind = kindControl
		if wire.IsPayload(shimBytes(p)) {
			rep.Kind = kindPayload
		}
		rep.Malformed = we.Error()
		return rep
	}
	var names []string
	for _, l := range p.Layers() {
		if t := l.LayerType(); t != gopacket.LayerTypeDecodeFailure {
			names = append(names, t.String())
		}
	}
	rep.Summary = "not Shim6: " + strings.Join(names, "/")
	if failure != nil {
		rep.Summary += " (undecodable: " + failure.Error() + ")"
	}
	return rep
}

// shimBytes returns what followed the last decoded header, where the Shim6
// header would have started.
func shimBytes(p gopacket.Packet) []byte {
	ls := p.Layers()
	for i := len(ls) - 1; i >= 0; i-- {
		if ls[i].LayerType() != gopacket.LayerTypeDecodeFailure {
			return ls[i].LayerPayload()
		}
	}
	return nil
}

func ulpSummary(p gopacket.Packet) string {
	switch t := p.TransportLayer().(type) {
	case *layers.UDP:
		return fmt.Sprintf("UDP %d > %d, %d octets", t.SrcPort, t.DstPort, len(t.Payload))
	case *layers.TCP:
		return fmt.Sprintf("TCP %d > %d, %d octets", t.SrcPort, t.DstPort, len(t.Payload))
	}
	if el := p.ErrorLayer(); el != nil {
		return "undecodable: " + el.Error().Error()
	}
	return ""
}

func describeControl(rep *packetReport, c *shim6layer.Control) {
	rep.Kind = kindControl
	h := c.Header
	tv, hel, ok := int(h.Type), int(h.HdrExtLen), c.ChecksumOK
	rep.Type, rep.TypeValue, rep.HdrExtLen, rep.Length = h.Type.String(), &tv, &hel, h.Len()
	rep.Checksum, rep.ChecksumOK = fmt.Sprintf("0x%04x", h.Checksum), &ok
	if !ok {
		rep.ChecksumDue = fmt.Sprintf("0x%04x", wire.ComputeChecksum(c.Contents))
	}
	if c.Err != nil {
		rep.Malformed = c.Err.Error()
		rep.checksumOnly = errors.Is(c.Err, wire.ErrBadChecksum) && c.Message != nil
	}
	if c.Message != nil {
		rep.Fields, rep.Options = describeMessage(c.Message)
	}
}

// obj is a JSON object whose keys keep their order, for output that reads
// like the RFC's field order.
type obj []kv

type kv struct {
	Key string
	Val any
}

// MarshalJSON writes the pairs in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := jsonLine(&b, p.Key); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		b.WriteByte(':')
		if err := jsonLine(&b, p.Val); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func tagString(t uint64) string   { return fmt.Sprintf("0x%012x", t) }
func nonceString(n uint32) string { return fmt.Sprintf("0x%08x", n) }

func describeMessage(m wire.Message) (obj, []obj) {
	var f obj
	switch m := m.(type) {
	case *wire.I1:
		f = obj{{"initiator_context_tag", tagString(m.InitiatorContextTag)}, {"initiator_nonce", nonceString(m.InitiatorNonce)}}
	case *wire.R1:
		f = obj{{"initiator_nonce", nonceString(m.InitiatorNonce)}, {"responder_nonce", nonceString(m.ResponderNonce)}}
	case *wire.I2:
		f = obj{{"initiator_context_tag", tagString(m.InitiatorContextTag)}, {"initiator_nonce", nonceString(m.InitiatorNonce)},
			{"responder_nonce", nonceString(m.ResponderNonce)}}
	case *wire.R2:
		f = obj{{"responder_context_tag", tagString(m.ResponderContextTag)}, {"initiator_nonce", nonceString(m.InitiatorNonce)}}
	case *wire.R1bis:
		f = obj{{"packet_context_tag", tagString(m.PacketContextTag)}, {"responder_nonce", nonceString(m.ResponderNonce)}}
	case *wire.I2bis:
		f = obj{{"initiator_context_tag", tagString(m.InitiatorContextTag)}, {"initiator_nonce", nonceString(m.InitiatorNonce)},
			{"responder_nonce", nonceString(m.ResponderNonce)}, {"packet_context_tag", tagString(m.PacketContextTag)}}
	case *wire.UpdateRequest:
		f = obj{{"receiver_context_tag", tagString(m.ReceiverContextTag)}, {"request_nonce", nonceString(m.RequestNonce)}}
	case *wire.UpdateAck:
		f = obj{{"receiver_context_tag", tagString(m.ReceiverContextTag)}, {"request_nonce", nonceString(m.RequestNonce)}}
	case *wire.Keepalive:
		f = obj{{"receiver_context_tag", tagString(m.ReceiverContextTag)}}
	case *wire.Probe:
		f = obj{{"receiver_context_tag", tagString(m.ReceiverContextTag)}, {"state", m.State.String()},
			{"psent", len(m.Sent)}, {"precvd", len(m.Received)},
			{"sent", probeReports(m.Sent)}, {"received", probeReports(m.Received)}}
	case *wire.ErrorMessage:
		f = obj{{"error_code", int(m.Code)}, {"error", m.Code.String()}, {"pointer", int(m.Pointer)},
			{"packet_in_error_length", len(m.PacketInError)}, {"packet_in_error", hex.EncodeToString(m.PacketInError)}}
	}
	o := wire.OptionsOf(m)
	if o == nil {
		return f, nil
	}
	return f, describeOptions(o)
}

func probeReports(rs []wire.ProbeReport) []obj {
	out := make([]obj, 0, len(rs))
	for _, r := range rs {
		out = append(out, obj{{"source", r.Source.String()}, {"destination", r.Destination.String()},
			{"nonce", nonceString(r.Nonce)}, {"data", nonceString(r.Data)}})
	}
	return out
}

func optionHead(t wire.OptionType, critical bool) obj {
	return obj{{"option", t.String()}, {"type", int(t)}, {"critical", critical}}
}

// describeOptions lists the options in the order the encoder writes them
// (RFC 5533 §5.15 type order, then unknown options).
func describeOptions(o *wire.Options) []obj {
	var out []obj
	if v := o.ResponderValidator; v != nil {
		out = append(out, append(optionHead(wire.OptResponderValidator, false),
			kv{"length", len(v)}, kv{"validator", hex.EncodeToString(v)}))
	}
	if l := o.LocatorList; l != nil {
		var ls []obj
		for _, x := range l.Locators {
			ls = append(ls, obj{{"locator", x.Addr.String()}, {"verification_method", x.Method.String()}})
		}
		out = append(out, append(optionHead(wire.OptLocatorList, false),
			kv{"generation", l.Generation}, kv{"num_locators", len(l.Locators)}, kv{"locators", ls}))
	}
	if p := o.LocatorPreferences; p != nil {
		var es []obj
		for _, e := range p.Elements {
			x := obj{{"flags", prefFlags(e.Flags)}}
			if p.ElementLen >= 2 {
				x = append(x, kv{"priority", int(e.Priority)})
			}
			if p.ElementLen >= 3 {
				x = append(x, kv{"weight", int(e.Weight)})
			}
			es = append(es, x)
		}
		out = append(out, append(optionHead(wire.OptLocatorPreferences, false),
			kv{"generation", p.Generation}, kv{"element_length", int(p.ElementLen)}, kv{"elements", es}))
	}
	if d := o.CGAParameterDataStructure; d != nil {
		out = append(out, append(optionHead(wire.OptCGAParameterDataStructure, false), describeCGA(d)...))
	}
	if s := o.CGASignature; s != nil {
		out = append(out, append(optionHead(wire.OptCGASignature, false),
			kv{"length", len(s)}, kv{"signature", hex.EncodeToString(s)}))
	}
	if u := o.ULIDPair; u != nil {
		out = append(out, append(optionHead(wire.OptULIDPair, false),
			kv{"sender_ulid", u.Sender.String()}, kv{"receiver_ulid", u.Receiver.String()}))
	}
	if f := o.ForkedInstanceIdentifier; f != nil {
		out = append(out, append(optionHead(wire.OptForkedInstanceIdentifier, false),
			kv{"forked_instance_identifier", uint32(*f)}))
	}
	if k := o.KeepaliveTimeout; k != nil {
		out = append(out, append(optionHead(wire.OptKeepaliveTimeout, false), kv{"keepalive_timeout_seconds", int(*k)}))
	}
	for _, u := range o.Unknown {
		h := optionHead(u.Type, u.Critical)
		h[0].Val = u.Type.String() + " (not understood, ignored)"
		out = append(out, append(h, kv{"length", len(u.Contents)}, kv{"contents", hex.EncodeToString(u.Contents)}))
	}
	return out
}

func prefFlags(f wire.PreferenceFlags) string {
	var s []string
	if f&wire.PreferenceBroken != 0 {
		s = append(s, "BROKEN")
	}
	if f&wire.PreferenceTransient != 0 {
		s = append(s, "TRANSIENT")
	}
	if rest := f &^ (wire.PreferenceBroken | wire.PreferenceTransient); rest != 0 || len(s) == 0 {
		s = append(s, fmt.Sprintf("0x%02x", uint8(rest)))
	}
	return strings.Join(s, "|")
}

// describeCGA reads the option's CGA Parameters (RFC 3972 §3, RFC 5535 §5);
// a structure that does not parse is shown raw with the reason.
func describeCGA(d []byte) obj {
	p, err := wire.ParseCGAParameters(d)
	if err != nil {
		return obj{{"length", len(d)}, {"cga_error", err.Error()}, {"data", hex.EncodeToString(d)}}
	}
	o := obj{{"length", len(d)}, {"modifier", hex.EncodeToString(p.Modifier[:])},
		{"subnet_prefix", p.SubnetPrefix.String()}, {"collision_count", int(p.CollisionCount)},
		{"public_key_length", len(p.PublicKey)}}
	var exts []obj
	for _, e := range p.Extensions {
		x := obj{{"extension_type", fmt.Sprintf("0x%04x", uint16(e.Type))}}
		if mp := e.MultiPrefix; mp != nil {
			var ps []string
			for _, pr := range mp.Prefixes {
				ps = append(ps, pr.String())
			}
			x = append(x, kv{"name", "Multi-Prefix"}, kv{"p_flag", mp.PublicKeyIncluded}, kv{"prefixes", ps})
		} else {
			x = append(x, kv{"length", len(e.Data)}, kv{"data", hex.EncodeToString(e.Data)})
		}
		exts = append(exts, x)
	}
	if exts != nil {
		o = append(o, kv{"extensions", exts})
	}
	return o
}

// printText writes the report for a person: one header line, then the
// message fields and options indented.
func (r *packetReport) printText(w io.Writer) {
	head := fmt.Sprintf("#%d", r.Packet)
	if r.Src != "" {
		head += fmt.Sprintf(" %s > %s", r.Src, r.Dst)
	}
	switch r.Kind {
	case kindOther:
		fmt.Fprintf(w, "%s %s\n", head, r.Summary)
		return
	case kindPayload:
		if r.Malformed != "" {
			fmt.Fprintf(w, "%s Shim6 payload MALFORMED: %s\n", head, r.Malformed)
			return
		}
		fmt.Fprintf(w, "%s Shim6 payload context tag %s next header %s", head, r.ContextTag, r.NextHeader)
		if r.ULP != "" {
			fmt.Fprintf(w, ": %s", r.ULP)
		}
		fmt.Fprintln(w)
		return
	}
	if r.TypeValue == nil {
		fmt.Fprintf(w, "%s Shim6 control MALFORMED: %s\n", head, r.Malformed)
		return
	}
	ck := "checksum ok"
	if !*r.ChecksumOK {
		ck = fmt.Sprintf("checksum bad (carries %s, should be %s)", r.Checksum, r.ChecksumDue)
	}
	fmt.Fprintf(w, "%s Shim6 %s (type %d) length %d (Hdr Ext Len %d) %s\n", head, r.Type, *r.TypeValue, r.Length, *r.HdrExtLen, ck)
	if r.Malformed != "" && !r.checksumOnly {
		fmt.Fprintf(w, "    MALFORMED: %s\n", r.Malformed)
	}
	printObj(w, "    ", r.Fields)
	for _, o := range r.Options {
		fmt.Fprintf(w, "    option %v (%v)", o[0].Val, o[1].Val)
		if c, _ := o[2].Val.(bool); c {
			fmt.Fprint(w, " critical")
		}
		fmt.Fprintln(w)
		printObj(w, "        ", o[3:])
	}
}

func printObj(w io.Writer, indent string, o obj) {
	for _, p := range o {
		key := strings.ReplaceAll(p.Key, "_", " ")
		switch v := p.Val.(type) {
		case []obj:
			fmt.Fprintf(w, "%s%s:", indent, key)
			if len(v) == 0 {
				fmt.Fprint(w, " none")
			}
			fmt.Fprintln(w)
			for _, x := range v {
				fmt.Fprintf(w, "%s  - %s\n", indent, inline(x))
			}
		case string:
			fmt.Fprintf(w, "%s%s: %s\n", indent, key, shorten(v))
		default:
			fmt.Fprintf(w, "%s%s: %v\n", indent, key, v)
		}
	}
}

func inline(o obj) string {
	var parts []string
	for _, p := range o {
		v := fmt.Sprint(p.Val)
		if s, ok := p.Val.(string); ok {
			v = shorten(s)
		}
		parts = append(parts, strings.ReplaceAll(p.Key, "_", " ")+" "+v)
	}
	return strings.Join(parts, ", ")
}

// shorten cuts long hex dumps in the text output; --json keeps them whole.
func shorten(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "… (" + strconv.Itoa(len(s)/2) + " octets)"
}

type decodeStats struct {
	packets, control, bad, payload, other int
}

func (s *decodeStats) count(r *packetReport) {
	s.packets++
	switch r.Kind {
	case kindControl:
		s.control++
		if r.Malformed != "" {
			s.bad++
		}
	case kindPayload:
		s.payload++
		if r.Malformed != "" {
			s.bad++
		}
	default:
		s.other++
	}
}

func (s *decodeStats) print(w io.Writer) {
	fmt.Fprintf(w, "%d packets: %d Shim6 control, %d Shim6 payload, %d malformed, %d without Shim6\n",
		s.packets, s.control, s.payload, s.bad, s.other)
}
