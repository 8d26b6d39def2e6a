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

// runDecode implements `shim6ctl decode FILE [--json] [--all] [--strict]`:
// for every packet of a pcap or pcapng capture it prints the Shim6 content
// (RFC 5533 §5, RFC 5534 §5) — message, context tags, nonces, every option,
// checksum status — as far as it could be read, and beside it every rule
// the message breaks, as Wireshark's expert info does. Damaged packets are
// reported, not fatal: the exit status is non-zero when the file cannot be
// read, and with --strict when any Shim6 header breaks a rule.
func runDecode(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object per packet")
	all := fs.Bool("all", false, "also print a line (or object) for each packet without Shim6")
	strict := fs.Bool("strict", false, "exit with an error when any Shim6 header breaks a rule")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shim6ctl decode FILE [--json] [--all] [--strict]")
		fs.PrintDefaults()
	}
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return errors.New("usage: shim6ctl decode FILE [--json] [--all] [--strict]")
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
	if *strict && st.bad > 0 {
		return fmt.Errorf("%s: %d of %d Shim6 headers break a rule of RFC 5533/5534", files[0], st.bad, st.control+st.payload)
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
// object printed with --json. Numeric fields that have a name carry the
// name in KEY and the number in KEY_value.
type packetReport struct {
	Packet int    `json:"packet"`
	Time   string `json:"time,omitempty"`
	Src    string `json:"src,omitempty"`
	Dst    string `json:"dst,omitempty"`
	// Kind is control, payload or other.
	Kind string `json:"kind"`

	// The common header (RFC 5533 §5.2, §5.3), as far as it was present.
	NextHeader      string `json:"next_header,omitempty"`
	NextHeaderValue *int   `json:"next_header_value,omitempty"`
	HdrExtLen       *int   `json:"hdr_ext_len,omitempty"`
	P               *bool  `json:"p,omitempty"`

	// Control messages.
	Type         string `json:"type,omitempty"`
	TypeValue    *int   `json:"type_value,omitempty"`
	TypeSpecific *int   `json:"type_specific,omitempty"`
	S            *bool  `json:"s,omitempty"`
	Length       int    `json:"length,omitempty"`
	Checksum     string `json:"checksum,omitempty"`
	ChecksumOK   *bool  `json:"checksum_ok,omitempty"`
	ChecksumDue  string `json:"checksum_expected,omitempty"`
	Fields       obj    `json:"fields,omitempty"`
	Options      []obj  `json:"options,omitempty"`
	// Trailing is what followed the last option, too short to be one.
	Trailing string `json:"trailing,omitempty"`

	// Payload extension headers.
	ContextTag string `json:"context_tag,omitempty"`
	ULP        string `json:"ulp,omitempty"`

	// Malformed is the first rule the Shim6 content breaks, the one a
	// receiver refuses it for (RFC 5533 §12.3); Violations lists them all.
	Malformed  string      `json:"malformed,omitempty"`
	Violations []violation `json:"violations,omitempty"`
	// Summary describes a packet without Shim6.
	Summary string `json:"summary,omitempty"`
}

// violation is one rule a message breaks, as wire.Inspect found it.
type violation struct {
	// Offset is the octet from the start of the Shim6 header, or nil when
	// the fault has no one place (a missing option).
	Offset *int `json:"offset"`
	// Kind names the rule, as the dissector's expert info does
	// (shim6.expert.KIND).
	Kind string `json:"kind"`
	// Error says what is wrong in words.
	Error string `json:"error"`
}

// violationKinds names each wire sentinel for reports; the Wireshark
// dissector (configs/wireshark/shim6.lua) uses the same names for its
// expert info, shim6.expert.KIND.
var violationKinds = []struct {
	err  error
	kind string
}{
	{wire.ErrTruncated, "truncated"},
	{wire.ErrBadLength, "bad_length"},
	{wire.ErrBadChecksum, "bad_checksum"},
	{wire.ErrPBit, "p_bit"},
	{wire.ErrSBit, "s_bit"},
	{wire.ErrUnknownType, "unknown_type"},
	{wire.ErrUnknownCriticalOption, "unknown_critical_option"},
	{wire.ErrMissingOption, "missing_option"},
	{wire.ErrDuplicateOption, "duplicate_option"},
	{wire.ErrInvalidValue, "invalid_value"},
	{wire.ErrTooBig, "too_big"},
}

func violationsOf(es []*wire.Error) []violation {
	var out []violation
	for _, e := range es {
		v := violation{Kind: "other", Error: e.Error()}
		if e.Offset >= 0 {
			off := e.Offset
			v.Offset = &off
		}
		for _, k := range violationKinds {
			if errors.Is(e, k.err) {
				v.Kind = k.kind
				break
			}
		}
		out = append(out, v)
	}
	return out
}

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

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
	if p.Layer(shim6layer.LayerTypeShim6Control) != nil {
		describeControl(rep, bytesBefore(p, shim6layer.LayerTypeShim6Control))
		return rep
	}
	if l, ok := p.Layer(shim6layer.LayerTypeShim6Payload).(*shim6layer.Payload); ok {
		describePayload(rep, l.Contents)
		rep.ULP = ulpSummary(p)
		return rep
	}
	if ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok && ip.NextHeader == wire.ProtocolNumber && ip.Length == 0 {
		// gopacket reads an empty payload as a jumbogram without its
		// option and stops; it is an empty Shim6 header.
		describeControl(rep, nil)
		return rep
	}
	var we *wire.Error
	if errors.As(failure, &we) {
		// Next Header 140 whose header gopacket could not frame: Inspect
		// shows what there is.
		if b := shimBytes(p); wire.IsPayload(b) {
			describePayload(rep, b)
		} else {
			describeControl(rep, b)
		}
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

// bytesBefore returns the payload of the layer before the first layer of
// type lt: that layer's octets and all that follows them in the packet.
func bytesBefore(p gopacket.Packet, lt gopacket.LayerType) []byte {
	ls := p.Layers()
	for i := 1; i < len(ls); i++ {
		if ls[i].LayerType() == lt {
			return ls[i-1].LayerPayload()
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

func setNextHeader(rep *packetReport, nh uint8) {
	rep.NextHeader = fmt.Sprintf("%s (%d)", layers.IPProtocol(nh), nh)
	rep.NextHeaderValue = intp(int(nh))
}

// describePayload reports the payload extension header at the start of b
// (RFC 5533 §5.2), faults included.
func describePayload(rep *packetReport, b []byte) {
	rep.Kind = kindPayload
	in := wire.InspectPayload(b)
	if in.Framed {
		setNextHeader(rep, in.Header.NextHeader)
		rep.HdrExtLen, rep.P = intp(int(in.HdrExtLen)), boolp(b[2]&0x80 != 0)
		rep.ContextTag = tagString(in.Header.ContextTag)
	}
	rep.Violations = violationsOf(in.Violations)
	if len(in.Violations) > 0 {
		rep.Malformed = in.Violations[0].Error()
	}
}

// describeControl reports the control message at the start of b (RFC 5533
// §5.3–§5.14, RFC 5534 §5): every field wire.Inspect could read, and every
// rule the message breaks.
func describeControl(rep *packetReport, b []byte) {
	rep.Kind = kindControl
	in := wire.Inspect(b)
	rep.Violations = violationsOf(in.Violations)
	if len(in.Violations) > 0 {
		rep.Malformed = in.Violations[0].Error()
	}
	if !in.Framed {
		return
	}
	h := in.Header
	setNextHeader(rep, h.NextHeader)
	rep.HdrExtLen, rep.P = intp(int(h.HdrExtLen)), boolp(b[2]&0x80 != 0)
	rep.Type, rep.TypeValue = h.Type.String(), intp(int(h.Type))
	rep.TypeSpecific, rep.S = intp(int(h.TypeSpecific)), boolp(h.S)
	rep.Length = h.Len()
	rep.Checksum = fmt.Sprintf("0x%04x", h.Checksum)
	if in.ChecksumChecked {
		rep.ChecksumOK = boolp(in.ChecksumOK)
		if !in.ChecksumOK {
			rep.ChecksumDue = fmt.Sprintf("0x%04x", in.ChecksumWant)
		}
	}
	if in.Message != nil {
		rep.Fields = describeMessage(in.Message, b)
	}
	for i := range in.Options {
		rep.Options = append(rep.Options, describeOption(&in.Options[i]))
	}
	if in.Trailing != nil {
		rep.Trailing = hex.EncodeToString(in.Trailing)
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

// describeMessage lists the fixed fields of m (and a Probe's reports); b is
// the message as received, for the Probe counts, which may promise more
// reports than the message holds.
func describeMessage(m wire.Message, b []byte) obj {
	switch m := m.(type) {
	case *wire.I1:
		return obj{{"initiator_context_tag", tagString(m.InitiatorContextTag)}, {"initiator_nonce", nonceString(m.InitiatorNonce)}}
	case *wire.R1:
		return obj{{"initiator_nonce", nonceString(m.InitiatorNonce)}, {"responder_nonce", nonceString(m.ResponderNonce)}}
	case *wire.I2:
		return obj{{"initiator_context_tag", tagString(m.InitiatorContextTag)}, {"initiator_nonce", nonceString(m.InitiatorNonce)},
			{"responder_nonce", nonceString(m.ResponderNonce)}}
	case *wire.R2:
		return obj{{"responder_context_tag", tagString(m.ResponderContextTag)}, {"initiator_nonce", nonceString(m.InitiatorNonce)}}
	case *wire.R1bis:
		return obj{{"packet_context_tag", tagString(m.PacketContextTag)}, {"responder_nonce", nonceString(m.ResponderNonce)}}
	case *wire.I2bis:
		return obj{{"initiator_context_tag", tagString(m.InitiatorContextTag)}, {"initiator_nonce", nonceString(m.InitiatorNonce)},
			{"responder_nonce", nonceString(m.ResponderNonce)}, {"packet_context_tag", tagString(m.PacketContextTag)}}
	case *wire.UpdateRequest:
		return obj{{"receiver_context_tag", tagString(m.ReceiverContextTag)}, {"request_nonce", nonceString(m.RequestNonce)}}
	case *wire.UpdateAck:
		return obj{{"receiver_context_tag", tagString(m.ReceiverContextTag)}, {"request_nonce", nonceString(m.RequestNonce)}}
	case *wire.Keepalive:
		return obj{{"receiver_context_tag", tagString(m.ReceiverContextTag)}}
	case *wire.Probe:
		// Octet 12 holds Precvd and Psent (RFC 5534 §5.2); Inspect only
		// builds a Probe when the fixed part is there.
		return obj{{"receiver_context_tag", tagString(m.ReceiverContextTag)}, {"state", m.State.String()},
			{"state_value", int(m.State)}, {"precvd", int(b[12] >> 4)}, {"psent", int(b[12] & 0xf)},
			{"sent", probeReports(m.Sent)}, {"received", probeReports(m.Received)}}
	case *wire.ErrorMessage:
		return obj{{"error_code", int(m.Code)}, {"error", m.Code.String()}, {"pointer", int(m.Pointer)},
			{"packet_in_error_length", len(m.PacketInError)}, {"packet_in_error", hex.EncodeToString(m.PacketInError)}}
	}
	return nil
}

func probeReports(rs []wire.ProbeReport) []obj {
	out := make([]obj, 0, len(rs))
	for _, r := range rs {
		out = append(out, obj{{"source", r.Source.String()}, {"destination", r.Destination.String()},
			{"nonce", nonceString(r.Nonce)}, {"data", nonceString(r.Data)}})
	}
	return out
}

// describeOption reports one option as it appears on the wire (RFC 5533
// §5.15): type, C bit, Length, the contents as far as they were read, and
// the padding.
func describeOption(op *wire.InspectedOption) obj {
	name := op.Type.String()
	switch {
	case !op.Defined && op.Critical:
		name += " (not understood, critical)"
	case !op.Defined:
		name += " (not understood, ignored)"
	}
	o := obj{{"option", name}, {"offset", op.Offset}, {"type", int(op.Type)}, {"critical", op.Critical}, {"length", op.Length}}
	switch v := op.Value.(type) {
	case nil:
		o = append(o, kv{"contents", hex.EncodeToString(op.Contents)})
	case []byte:
		switch op.Type {
		case wire.OptResponderValidator:
			o = append(o, kv{"validator", hex.EncodeToString(v)})
		case wire.OptCGASignature:
			o = append(o, kv{"signature", hex.EncodeToString(v)})
		default:
			o = append(o, describeCGA(v)...)
		}
	case *wire.LocatorListView:
		var ls []obj
		for i := 0; i < max(len(v.Methods), len(v.Locators)); i++ {
			var x obj
			if i < len(v.Locators) {
				x = append(x, kv{"locator", v.Locators[i].String()})
			}
			if i < len(v.Methods) {
				x = append(x, kv{"verification_method", v.Methods[i].String()}, kv{"verification_method_value", int(v.Methods[i])})
			}
			ls = append(ls, x)
		}
		o = append(o, kv{"generation", v.Generation}, kv{"num_locators", v.NumLocators},
			kv{"internal_padding", hex.EncodeToString(v.Padding)}, kv{"locators", ls})
	case *wire.LocatorPreferences:
		var es []obj
		for _, e := range v.Elements {
			x := obj{{"flags", prefFlags(e.Flags)}, {"flags_value", int(e.Flags)}}
			if v.ElementLen >= 2 {
				x = append(x, kv{"priority", int(e.Priority)})
			}
			if v.ElementLen >= 3 {
				x = append(x, kv{"weight", int(e.Weight)})
			}
			es = append(es, x)
		}
		o = append(o, kv{"generation", v.Generation}, kv{"element_length", int(v.ElementLen)}, kv{"elements", es})
	case *wire.ULIDPair:
		o = append(o, kv{"sender_ulid", v.Sender.String()}, kv{"receiver_ulid", v.Receiver.String()})
	case wire.ForkedInstanceIdentifier:
		o = append(o, kv{"forked_instance_identifier", uint32(v)})
	case wire.KeepaliveTimeout:
		o = append(o, kv{"keepalive_timeout_seconds", int(v)})
	}
	return append(o, kv{"padding", hex.EncodeToString(op.Padding)})
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
// a structure that does not parse is shown raw with the reason. The strict
// decoder keeps the structure opaque, so this is not a violation of the
// message; the HBA check refuses it later.
func describeCGA(d []byte) obj {
	p, err := wire.ParseCGAParameters(d)
	if err != nil {
		return obj{{"cga_error", err.Error()}, {"data", hex.EncodeToString(d)}}
	}
	o := obj{{"modifier", hex.EncodeToString(p.Modifier[:])},
		{"subnet_prefix", p.SubnetPrefix.String()}, {"collision_count", int(p.CollisionCount)},
		{"public_key_length", len(p.PublicKey)}, {"public_key", hex.EncodeToString(p.PublicKey)}}
	var exts []obj
	for _, e := range p.Extensions {
		x := obj{{"extension_type", fmt.Sprintf("0x%04x", uint16(e.Type))}}
		if mp := e.MultiPrefix; mp != nil {
			ps := []string{}
			for _, pr := range mp.Prefixes {
				ps = append(ps, pr.String())
			}
			x = append(x, kv{"name", "Multi-Prefix"}, kv{"length", 4 + 8*len(mp.Prefixes)},
				kv{"p_flag", mp.PublicKeyIncluded}, kv{"prefixes", ps})
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
// message fields and options indented, each violation beside the field or
// option it is about.
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
		if r.HdrExtLen == nil {
			fmt.Fprintf(w, "%s Shim6 payload MALFORMED: %s\n", head, r.Malformed)
			return
		}
		fmt.Fprintf(w, "%s Shim6 payload context tag %s next header %s", head, r.ContextTag, r.NextHeader)
		if r.ULP != "" {
			fmt.Fprintf(w, ": %s", r.ULP)
		}
		fmt.Fprintln(w)
		r.printViolations(w, "    ", func(*int) bool { return true })
		return
	}
	if r.TypeValue == nil {
		fmt.Fprintf(w, "%s Shim6 control MALFORMED: %s\n", head, r.Malformed)
		return
	}
	ck := "checksum not checked (message cut short)"
	if r.ChecksumOK != nil {
		ck = "checksum ok"
		if !*r.ChecksumOK {
			ck = fmt.Sprintf("checksum bad (carries %s, should be %s)", r.Checksum, r.ChecksumDue)
		}
	}
	fmt.Fprintf(w, "%s Shim6 %s (type %d) length %d (Hdr Ext Len %d) %s\n", head, r.Type, *r.TypeValue, r.Length, *r.HdrExtLen, ck)
	// Faults in the fixed part come first, those inside an option follow
	// it, and those of no one place (a missing option) close the message.
	firstOpt := -1
	if len(r.Options) > 0 {
		firstOpt = r.Options[0][1].Val.(int)
	}
	r.printViolations(w, "    ", func(off *int) bool {
		return (off == nil && firstOpt == -1) || (off != nil && (firstOpt == -1 || *off < firstOpt))
	})
	printObj(w, "    ", r.Fields)
	for i, o := range r.Options {
		if name := o[0].Val.(string); strings.HasPrefix(name, "option type ") {
			fmt.Fprintf(w, "    %s", name) // not understood: the type is the name
		} else {
			fmt.Fprintf(w, "    option %s (%v)", name, o[2].Val)
		}
		if c, _ := o[3].Val.(bool); c {
			fmt.Fprint(w, " critical")
		}
		from, to := o[1].Val.(int), -1
		fmt.Fprintf(w, " at octet %d\n", from)
		printObj(w, "        ", o[4:])
		if i+1 < len(r.Options) {
			to = r.Options[i+1][1].Val.(int)
		}
		r.printViolations(w, "        ", func(off *int) bool {
			return off != nil && *off >= from && (to == -1 || *off < to)
		})
	}
	if r.Trailing != "" {
		fmt.Fprintf(w, "    trailing octets: %s\n", r.Trailing)
	}
	if firstOpt != -1 {
		r.printViolations(w, "    ", func(off *int) bool { return off == nil })
	}
}

// printViolations prints the violations whose offset where selects, except
// a bad checksum, which the header line already shows.
func (r *packetReport) printViolations(w io.Writer, indent string, where func(off *int) bool) {
	for _, v := range r.Violations {
		if v.Kind != "bad_checksum" && where(v.Offset) {
			fmt.Fprintf(w, "%sVIOLATION: %s\n", indent, v.Error)
		}
	}
}

func printObj(w io.Writer, indent string, o obj) {
	for _, p := range o {
		if strings.HasSuffix(p.Key, "_value") {
			continue // the name beside it says it for a person
		}
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
			if v == "" && (p.Key == "padding" || p.Key == "internal_padding" || p.Key == "contents") {
				continue
			}
			fmt.Fprintf(w, "%s%s: %s\n", indent, key, shorten(v))
		default:
			fmt.Fprintf(w, "%s%s: %v\n", indent, key, v)
		}
	}
}

func inline(o obj) string {
	var parts []string
	for _, p := range o {
		if strings.HasSuffix(p.Key, "_value") {
			continue
		}
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
