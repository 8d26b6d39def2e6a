package wire

import (
	"encoding/binary"
	"net/netip"
)

// Inspection is everything Inspect could read of one control message (RFC
// 5533 §5.3–§5.14, RFC 5534 §5) and every rule the message breaks. It is
// for tools that show a message to a person, as Wireshark's expert info
// does: a receiver must use Decode, which refuses at the first fault (RFC
// 5533 §12.3).
type Inspection struct {
	// Header is the common header; meaningful only when Framed.
	Header Header
	// Framed reports whether the 8-octet common header was present.
	Framed bool
	// Len is the octets of the message that were present: Header.Len(),
	// or fewer when the packet ends first.
	Len int
	// ChecksumChecked reports whether the whole message was present, so
	// that ChecksumOK means something.
	ChecksumChecked bool
	// ChecksumOK reports whether the checksum verifies (RFC 5533 §5.3).
	ChecksumOK bool
	// ChecksumWant is the checksum the message should carry, when checked.
	ChecksumWant uint16
	// Message holds the fixed fields, the probe reports that were present
	// and the first well-formed instance of each option defined for the
	// type. It is nil when the type is unknown or the fixed part does not
	// fit in the message.
	Message Message
	// Options lists every option in wire order, as far as it was present.
	Options []InspectedOption
	// Trailing is what is left after the last option when it is too short
	// for an option header; TrailingOffset is where it starts.
	Trailing       []byte
	TrailingOffset int
	// Violations lists every fault found, in the order Decode checks for
	// them: the first is the error Decode returns, and there are none
	// exactly when Decode accepts the message.
	Violations []*Error
}

// InspectedOption is one option as it appears on the wire (RFC 5533 §5.15).
type InspectedOption struct {
	// Offset is the option's first octet, from the start of the message.
	Offset int
	// Type and Critical are the option's 15-bit type and C bit.
	Type     OptionType
	Critical bool
	// Length is the Length field as received.
	Length int
	// Contents are the contents present, at most Length octets.
	Contents []byte
	// Padding is the padding after the contents that was present.
	Padding []byte
	// Defined reports whether the message type defines this option; an
	// undefined one is ignored (C = 0) or refused (C = 1) by a receiver.
	Defined bool
	// Value is the decoded contents of a defined option, as far as they
	// could be read: []byte for the Responder Validator, the CGA Parameter
	// Data Structure and the CGA Signature; *LocatorListView;
	// *LocatorPreferences (whole elements only); *ULIDPair;
	// ForkedInstanceIdentifier; KeepaliveTimeout. Nil when nothing could
	// be read.
	Value any
}

// LocatorListView is a Locator List option (RFC 5533 §5.15.2) as far as it
// could be read, with its internal padding, for display.
type LocatorListView struct {
	// Generation is the Locator List Generation number.
	Generation uint32
	// NumLocators is the Num Locators field as received.
	NumLocators int
	// Methods are the verification method octets present.
	Methods []VerificationMethod
	// Padding is the internal padding present after the methods.
	Padding []byte
	// Locators are the locators present.
	Locators []netip.Addr
}

// Inspect reads one control message at the start of b as far as it can,
// without stopping at the first fault, and lists the faults (see
// Inspection). It never panics, whatever b holds. The strict decoder,
// Decode, is unaffected: the differential test holds the two to the same
// verdict.
func Inspect(b []byte) *Inspection {
	in := &Inspection{}
	if len(b) < HeaderLen {
		in.add(errorf(0, "common header", 0, ErrTruncated, "need "+itoa(HeaderLen)+" octets, have "+itoa(len(b))))
		in.Len = len(b)
		return in
	}
	h := Header{
		NextHeader:   b[offNextHeader],
		HdrExtLen:    b[offHdrExtLen],
		Type:         Type(b[offPType] &^ pBit),
		TypeSpecific: b[offTypeSpecific] >> 1,
		S:            b[offTypeSpecific]&sBit != 0,
		Checksum:     binary.BigEndian.Uint16(b[offChecksum:]),
	}
	in.Header, in.Framed = h, true
	t := h.Type
	n := h.Len()
	// ParseHeader's checks, in its order.
	if b[offPType]&pBit != 0 {
		in.add(errorf(0, "P bit", offPType, ErrPBit, "payload extension header where a control message was expected"))
	}
	cut := n > len(b)
	if cut {
		in.add(errorf(t, "Hdr Ext Len", offHdrExtLen, ErrTruncated,
			"message claims "+itoa(n)+" octets, packet holds "+itoa(len(b))))
		n = len(b)
	}
	if h.Len() > MaxMessageLen {
		in.add(errorf(t, "Hdr Ext Len", offHdrExtLen, ErrTooBig, itoa(h.Len())+" octets exceeds "+itoa(MaxMessageLen)))
	}
	msg := append([]byte(nil), b[:n]...) // byte fields alias a private copy, as Decode's do
	in.Len = n
	if !cut {
		in.ChecksumChecked = true
		in.ChecksumOK = ChecksumOK(msg)
		in.ChecksumWant = ComputeChecksum(msg)
		if !in.ChecksumOK {
			in.add(errorf(t, "Checksum", offChecksum, ErrBadChecksum,
				"carries "+hex16(h.Checksum)+", message sums to "+hex16(in.ChecksumWant)))
		}
	}
	if h.S {
		in.add(errorf(t, "S bit", offTypeSpecific, ErrSBit, "a HIP message, not Shim6"))
	}
	if !t.Known() {
		in.add(errorf(t, "Type", offPType, ErrUnknownType, ""))
		return in
	}
	if h.NextHeader != NoNextHeader {
		in.add(errorf(t, "Next Header", offNextHeader, ErrInvalidValue,
			"is "+itoa(int(h.NextHeader))+", control messages carry 59"))
	}
	sp := &specs[t]
	// A cut message is judged by the length it claims, as Decode judges
	// the message it frames.
	if minLen := max(sp.fixed, 2*HeaderLen); h.Len() < minLen {
		in.add(errorf(t, "Hdr Ext Len", offHdrExtLen, ErrBadLength,
			"message of "+itoa(h.Len())+" octets is shorter than the "+itoa(minLen)+" octets "+t.String()+" needs"))
	}
	if n < sp.fixed {
		return in
	}
	optStart := sp.fixed
	var o *Options
	switch t {
	case TypeI1:
		m := &I1{InitiatorContextTag: getTag(msg[offTagField:]), InitiatorNonce: be32(msg[offNonceA:])}
		o, in.Message = &m.Options, m
	case TypeR1:
		m := &R1{InitiatorNonce: be32(msg[offR1InitNonce:]), ResponderNonce: be32(msg[offR1RespNonce:])}
		o, in.Message = &m.Options, m
	case TypeI2:
		m := &I2{InitiatorContextTag: getTag(msg[offTagField:]), InitiatorNonce: be32(msg[offNonceA:]),
			ResponderNonce: be32(msg[offNonceB:])}
		o, in.Message = &m.Options, m
	case TypeR2:
		m := &R2{ResponderContextTag: getTag(msg[offTagField:]), InitiatorNonce: be32(msg[offNonceA:])}
		o, in.Message = &m.Options, m
	case TypeR1bis:
		m := &R1bis{PacketContextTag: getTag(msg[offTagField:]), ResponderNonce: be32(msg[offNonceA:])}
		o, in.Message = &m.Options, m
	case TypeI2bis:
		m := &I2bis{InitiatorContextTag: getTag(msg[offTagField:]), InitiatorNonce: be32(msg[offNonceA:]),
			ResponderNonce: be32(msg[offNonceB:]), PacketContextTag: getTag(msg[offI2bisPktTag:])}
		o, in.Message = &m.Options, m
	case TypeUpdateRequest:
		m := &UpdateRequest{ReceiverContextTag: getTag(msg[offTagField:]), RequestNonce: be32(msg[offNonceA:])}
		o, in.Message = &m.Options, m
	case TypeUpdateAck:
		m := &UpdateAck{ReceiverContextTag: getTag(msg[offTagField:]), RequestNonce: be32(msg[offNonceA:])}
		o, in.Message = &m.Options, m
	case TypeKeepalive:
		m := &Keepalive{ReceiverContextTag: getTag(msg[offTagField:])}
		o, in.Message = &m.Options, m
	case TypeProbe:
		m := &Probe{ReceiverContextTag: getTag(msg[offTagField:]), State: ReapState(msg[offProbeState] >> 6)}
		precvd, psent := int(msg[offProbeCounts]>>4), int(msg[offProbeCounts]&0xf)
		if psent == 0 {
			in.add(errorf(t, "Psent", offProbeCounts, ErrInvalidValue, "the probe itself must be reported; Psent is 0"))
		}
		if m.State > ReapInboundOK {
			in.add(errorf(t, "State", offProbeState, ErrInvalidValue, "is 3; legal values are 0, 1, 2"))
		}
		optStart += probeReportLen * (psent + precvd)
		if optStart > h.Len() {
			in.add(errorf(t, "probe reports", sp.fixed, ErrBadLength,
				itoa(psent+precvd)+" reports need "+itoa(optStart)+" octets, message has "+itoa(h.Len())))
		}
		off := sp.fixed
		for i := 0; i < psent+precvd && off+probeReportLen <= n; i++ {
			r := ProbeReport{
				Source:      netip.AddrFrom16([16]byte(msg[off:])),
				Destination: netip.AddrFrom16([16]byte(msg[off+16:])),
				Nonce:       be32(msg[off+32:]),
				Data:        be32(msg[off+36:]),
			}
			if i < psent {
				m.Sent = append(m.Sent, r)
			} else {
				m.Received = append(m.Received, r)
			}
			off += probeReportLen
		}
		o, in.Message = &m.Options, m
	case TypeError:
		in.Message = &ErrorMessage{
			Code:          ErrorCode(h.TypeSpecific),
			Pointer:       binary.BigEndian.Uint16(msg[offErrorPointer:]),
			PacketInError: msg[offErrorData:],
		}
		return in
	}
	if optStart >= n {
		if !cut {
			in.required(t, sp)
		}
		return in
	}
	in.options(msg, optStart, h.Len(), t, sp, o)
	if !cut {
		in.required(t, sp)
	}
	return in
}

func (in *Inspection) add(e *Error) { in.Violations = append(in.Violations, e) }

// options walks the options area msg[off:]; claimed is the message length
// Hdr Ext Len gives, which msg falls short of when the packet was cut.
func (in *Inspection) options(msg []byte, off, claimed int, t Type, sp *msgSpec, o *Options) {
	var seen uint16
	for off < len(msg) {
		if len(msg)-off < optHeaderLen {
			if len(msg) == claimed {
				in.add(errorf(t, "option header", off, ErrBadLength, "only "+itoa(len(msg)-off)+" octets left in the message"))
			}
			in.Trailing, in.TrailingOffset = msg[off:], off
			return
		}
		tc := binary.BigEndian.Uint16(msg[off:])
		typ, critical := OptionType(tc>>1), tc&1 != 0
		l := int(binary.BigEndian.Uint16(msg[off+2:]))
		total := optTotal(l)
		bit := optBit(typ)
		opt := InspectedOption{Offset: off, Type: typ, Critical: critical, Length: l, Defined: bit&sp.allowed != 0}
		end := min(off+optHeaderLen+l, len(msg))
		opt.Contents = msg[off+optHeaderLen : end]
		opt.Padding = msg[end:min(off+total, len(msg))]
		overrun := total > claimed-off
		if overrun {
			in.add(errorf(t, optName(typ), off, ErrBadLength,
				"Length "+itoa(l)+" needs "+itoa(total)+" octets, message has "+itoa(claimed-off)+" left"))
		}
		switch {
		case !opt.Defined && critical:
			in.add(errorf(t, optName(typ), off, ErrUnknownCriticalOption,
				"C=1 and the option is not defined for "+t.String()))
		case !opt.Defined:
			if !overrun {
				o.Unknown = append(o.Unknown, RawOption{Type: typ, Contents: opt.Contents})
			}
		default:
			dup := seen&bit != 0
			if dup {
				in.add(errorf(t, optName(typ), off, ErrDuplicateOption, ""))
			}
			seen |= bit
			// Contents cut short by the packet or by an overrunning
			// Length are shown as far as they go, and judged no further.
			whole := len(opt.Contents) == l
			opt.Value = in.known(typ, opt.Contents, t, off, whole)
			if !dup && whole && !overrun {
				o.set(typ, opt.Value)
			}
		}
		in.Options = append(in.Options, opt)
		if overrun {
			return
		}
		off += total
	}
}

// known reads the contents c of a defined option leniently; whole says the
// Length field's octets were all there, so that length rules apply.
func (in *Inspection) known(typ OptionType, c []byte, t Type, at int, whole bool) any {
	exact := func(want int) bool {
		if len(c) != want && whole {
			in.add(errorf(t, optName(typ), at, ErrBadLength, "Length "+itoa(len(c))+", must be "+itoa(want)))
		}
		return len(c) >= want
	}
	switch typ {
	case OptResponderValidator, OptCGAParameterDataStructure, OptCGASignature:
		return c
	case OptULIDPair:
		if exact(ulidPairLen) {
			return &ULIDPair{Sender: netip.AddrFrom16([16]byte(c[4:20])), Receiver: netip.AddrFrom16([16]byte(c[20:36]))}
		}
	case OptForkedInstanceIdentifier:
		if exact(fiiLen) {
			return ForkedInstanceIdentifier(binary.BigEndian.Uint32(c))
		}
	case OptKeepaliveTimeout:
		if exact(keepaliveTimeoutLen) {
			return KeepaliveTimeout(binary.BigEndian.Uint16(c[2:]))
		}
	case OptLocatorList:
		if len(c) < locListFixed {
			if whole {
				in.add(errorf(t, optName(typ), at, ErrBadLength, "Length "+itoa(len(c))+" below the 5 fixed octets"))
			}
			return nil
		}
		n := int(c[4])
		v := &LocatorListView{Generation: binary.BigEndian.Uint32(c), NumLocators: n}
		if whole {
			if n == 0 {
				in.add(errorf(t, optName(typ), at+optHeaderLen+4, ErrInvalidValue, "Num Locators is 0"))
			} else if want := locListLen(n); len(c) != want {
				in.add(errorf(t, optName(typ), at, ErrBadLength,
					"Length "+itoa(len(c))+", "+itoa(n)+" locators with internal padding need "+itoa(want)))
			}
		}
		for i := 0; i < n && locListFixed+i < len(c); i++ {
			v.Methods = append(v.Methods, VerificationMethod(c[locListFixed+i]))
		}
		lo := locListLocatorsOffset(n)
		v.Padding = c[min(locListFixed+n, len(c)):min(lo, len(c))]
		for i := 0; i < n && lo+16*(i+1) <= len(c); i++ {
			v.Locators = append(v.Locators, netip.AddrFrom16([16]byte(c[lo+16*i:])))
		}
		return v
	case OptLocatorPreferences:
		if len(c) < locPrefsFixed {
			if whole {
				in.add(errorf(t, optName(typ), at, ErrBadLength, "Length "+itoa(len(c))+" below the 5 fixed octets"))
			}
			return nil
		}
		e := int(c[4])
		p := &LocatorPreferences{Generation: binary.BigEndian.Uint32(c), ElementLen: c[4]}
		if e == 0 {
			if whole {
				in.add(errorf(t, optName(typ), at+LocatorPreferencesElementLenOffset, ErrInvalidValue, "Element Len is 0"))
			}
			return p
		}
		if (len(c)-locPrefsFixed)%e != 0 && whole {
			in.add(errorf(t, optName(typ), at, ErrBadLength,
				"Length "+itoa(len(c))+" is not 5 plus a multiple of element length "+itoa(e)))
		}
		for x := c[locPrefsFixed:]; len(x) >= e; x = x[e:] {
			el := Preference{Flags: PreferenceFlags(x[0])}
			if e >= 2 {
				el.Priority = x[1]
			}
			if e >= 3 {
				el.Weight = x[2]
			}
			p.Elements = append(p.Elements, el)
		}
		return p
	}
	return nil
}

// set stores a well-formed option value in the message's Options, the way
// Decode would have.
func (o *Options) set(typ OptionType, v any) {
	switch v := v.(type) {
	case []byte:
		switch typ {
		case OptResponderValidator:
			o.ResponderValidator = v
		case OptCGAParameterDataStructure:
			o.CGAParameterDataStructure = v
		case OptCGASignature:
			o.CGASignature = v
		}
	case *LocatorListView:
		if v.NumLocators == 0 || len(v.Locators) != v.NumLocators {
			return
		}
		l := &LocatorList{Generation: v.Generation, Locators: make([]Locator, v.NumLocators)}
		for i := range l.Locators {
			l.Locators[i] = Locator{Addr: v.Locators[i], Method: v.Methods[i]}
		}
		o.LocatorList = l
	case *LocatorPreferences:
		o.LocatorPreferences = v
	case *ULIDPair:
		o.ULIDPair = v
	case ForkedInstanceIdentifier:
		o.ForkedInstanceIdentifier = &v
	case KeepaliveTimeout:
		o.KeepaliveTimeout = &v
	}
}

// required applies checkRequired's rules and lists every one broken.
func (in *Inspection) required(t Type, sp *msgSpec) {
	var hasRV, hasLL, hasPDS, hasSig, cga bool
	for i := range in.Options {
		op := &in.Options[i]
		if !op.Defined {
			continue
		}
		switch op.Type {
		case OptResponderValidator:
			hasRV = true
		case OptLocatorList:
			hasLL = true
			if v, ok := op.Value.(*LocatorListView); ok {
				for _, m := range v.Methods {
					cga = cga || m == VerifyCGA
				}
			}
		case OptCGAParameterDataStructure:
			hasPDS = true
		case OptCGASignature:
			hasSig = true
		}
	}
	if sp.needRV && !hasRV {
		in.add(errorf(t, optName(OptResponderValidator), -1, ErrMissingOption, "mandatory in "+t.String()))
	}
	if hasLL && sp.needPDS && !hasPDS {
		in.add(errorf(t, optName(OptCGAParameterDataStructure), -1, ErrMissingOption,
			"mandatory with a Locator List in "+t.String()))
	}
	if hasLL && sp.needSig && !hasSig && cga {
		in.add(errorf(t, optName(OptCGASignature), -1, ErrMissingOption,
			"mandatory when a listed locator uses CGA verification"))
	}
}

// PayloadInspection is what InspectPayload could read of a payload
// extension header (RFC 5533 §5.2) and the faults it found.
type PayloadInspection struct {
	// Header holds Next Header and the Receiver Context Tag; valid when
	// Framed.
	Header PayloadHeader
	// HdrExtLen is the Hdr Ext Len field, which must be 0.
	HdrExtLen uint8
	// Framed reports whether the 8 octets were present.
	Framed bool
	// Violations lists the faults in ParsePayloadHeader's order; none
	// exactly when it accepts the header.
	Violations []*Error
}

// InspectPayload reads a payload extension header (RFC 5533 §5.2) without
// stopping at the first fault.
func InspectPayload(b []byte) *PayloadInspection {
	in := &PayloadInspection{}
	if len(b) < PayloadHeaderLen {
		in.Violations = append(in.Violations, errorf(0, "payload extension header", 0, ErrTruncated,
			"need "+itoa(PayloadHeaderLen)+" octets, have "+itoa(len(b))))
		return in
	}
	in.Framed = true
	in.HdrExtLen = b[offHdrExtLen]
	in.Header = PayloadHeader{NextHeader: b[offNextHeader], ContextTag: getTag(b[offPType:])}
	if b[offPType]&pBit == 0 {
		in.Violations = append(in.Violations, errorf(0, "P bit", offPType, ErrPBit, "control message where a payload extension header was expected"))
	}
	if in.HdrExtLen != 0 {
		in.Violations = append(in.Violations, errorf(0, "payload extension header: Hdr Ext Len", offHdrExtLen, ErrBadLength,
			"is "+itoa(int(in.HdrExtLen))+", must be 0"))
	}
	return in
}
