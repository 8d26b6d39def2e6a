package wire

import (
	"encoding/binary"
	"net/netip"
)

// Options holds the options of one control message (RFC 5533 §5.15, RFC 5534
// §5.3). A nil pointer or nil slice means the option is absent; a non-nil
// empty slice is an option with empty contents. The encoder writes the
// known options in type order and then Unknown in its order; the decoder
// accepts any order.
type Options struct {
	// ResponderValidator is the Responder Validator contents (RFC 5533
	// §5.15.1), opaque to everyone but the responder that made it.
	ResponderValidator []byte
	// LocatorList is the Locator List option (RFC 5533 §5.15.2).
	LocatorList *LocatorList
	// LocatorPreferences is the Locator Preferences option (RFC 5533 §5.15.3).
	LocatorPreferences *LocatorPreferences
	// CGAParameterDataStructure is the CGA Parameter Data Structure option's
	// contents (RFC 5533 §5.15.4), kept opaque; ParseCGAParameters reads it.
	CGAParameterDataStructure []byte
	// CGASignature is the CGA Signature option's PKCS#1 v1.5 signature (RFC
	// 5533 §5.15.5).
	CGASignature []byte
	// ULIDPair is the ULID Pair option (RFC 5533 §5.15.6).
	ULIDPair *ULIDPair
	// ForkedInstanceIdentifier is the Forked Instance Identifier option (RFC
	// 5533 §5.15.7); absent means 0 (§7.9).
	ForkedInstanceIdentifier *ForkedInstanceIdentifier
	// KeepaliveTimeout is the Keepalive Timeout option (RFC 5534 §5.3).
	KeepaliveTimeout *KeepaliveTimeout
	// Unknown holds the options with C = 0 that are unknown or not defined
	// for the message, which RFC 5533 §5.15 says to ignore; they are kept so
	// they can be reported. An encoder may put critical options here (to
	// test a peer), but not a known type the message defines.
	Unknown []RawOption
}

// LocatorList is the Locator List option (RFC 5533 §5.15.2).
type LocatorList struct {
	// Generation is the Locator List Generation number.
	Generation uint32
	// Locators lists the locators in order, each with its verification
	// method; the order matters, as Locator Preferences refer to it by index.
	Locators []Locator
}

// Locator is one entry of a Locator List (RFC 5533 §5.15.2): the address and
// the verification method octet that goes with it.
type Locator struct {
	// Addr is the 128-bit locator.
	Addr netip.Addr
	// Method is the verification method octet.
	Method VerificationMethod
}

// LocatorPreferences is the Locator Preferences option (RFC 5533 §5.15.3).
type LocatorPreferences struct {
	// Generation is the Locator List Generation the elements apply to.
	Generation uint32
	// ElementLen is the octets per element: 1 (flags), 2 (flags, priority)
	// or 3 (flags, priority, weight). Longer elements are accepted on
	// receipt and their first three octets read; the rest is ignored and
	// written as zero.
	ElementLen uint8
	// Elements are the preferences of the locators, in Locator List order.
	Elements []Preference
}

// Preference is one Locator Preferences element (RFC 5533 §5.15.3). Fields
// beyond the element length are zero.
type Preference struct {
	// Flags holds PreferenceBroken and PreferenceTransient.
	Flags PreferenceFlags
	// Priority has DNS SRV priority semantics (element length >= 2).
	Priority uint8
	// Weight has DNS SRV weight semantics (element length >= 3).
	Weight uint8
}

// ULIDPair is the ULID Pair option (RFC 5533 §5.15.6).
type ULIDPair struct {
	// Sender is the sender's ULID.
	Sender netip.Addr
	// Receiver is the receiver's ULID.
	Receiver netip.Addr
}

// ForkedInstanceIdentifier is the Forked Instance Identifier option's value
// (RFC 5533 §5.15.7).
type ForkedInstanceIdentifier uint32

// KeepaliveTimeout is the Keepalive Timeout option's value in seconds (RFC
// 5534 §5.3).
type KeepaliveTimeout uint16

// RawOption is an option kept undecoded (RFC 5533 §5.15): its type, critical
// bit and contents without padding.
type RawOption struct {
	// Type is the 15-bit option type.
	Type OptionType
	// Critical is the C bit.
	Critical bool
	// Contents is the option contents the Length field counts.
	Contents []byte
}

// Option header and fixed lengths (RFC 5533 §5.15, RFC 5534 §5.3).
const (
	optHeaderLen        = 4
	ulidPairLen         = 36 // Reserved2 + two ULIDs, §5.15.6
	fiiLen              = 4  // §5.15.7
	keepaliveTimeoutLen = 4  // RFC 5534 §5.3
	locListFixed        = 5  // generation + Num Locators, §5.15.2
	locPrefsFixed       = 5  // generation + Element Len, §5.15.3
)

// Field offsets inside options, from the option's first octet, for building
// the Pointer of an Error message (RFC 5533 §5.14 Table 2).
const (
	// LocatorListGenerationOffset is where the Locator List Generation
	// starts in a Locator List or Locator Preferences option (RFC 5533
	// §5.15.2, §5.15.3), for Error Code 3.
	LocatorListGenerationOffset = 4
	// LocatorListMethodOffset is where the verification method octets start
	// in a Locator List option (RFC 5533 §5.15.2); method i (from 0) is at
	// this offset plus i, for Error Code 2.
	LocatorListMethodOffset = 9
	// LocatorPreferencesElementLenOffset is where Element Len sits in a
	// Locator Preferences option (RFC 5533 §5.15.3), for Error Code 4.
	LocatorPreferencesElementLenOffset = 8
)

// optTotal is the octets an option with contents length l occupies: 4 + l
// rounded up to 8 (RFC 5533 §5.15: Total Length = 11 + Length - (Length +
// 3) mod 8).
func optTotal(l int) int { return (optHeaderLen + l + 7) &^ 7 }

// locListLocatorsOffset is where the locators start in the contents of a
// Locator List with n locators: after generation, count and n method octets,
// padded so the locators are 8-octet aligned in the message. That internal
// padding is counted in Length (RFC 5533 §5.15.2).
func locListLocatorsOffset(n int) int {
	return (optHeaderLen+locListFixed+n+7)&^7 - optHeaderLen
}

// locListLen is the Length of a Locator List option with n locators.
func locListLen(n int) int { return locListLocatorsOffset(n) + 16*n }

// optBit is the bit of a known option type in a message's option masks, or
// 0 for types this package does not know.
func optBit(t OptionType) uint16 {
	switch t {
	case OptResponderValidator, OptLocatorList, OptLocatorPreferences, OptCGAParameterDataStructure,
		OptCGASignature, OptULIDPair, OptForkedInstanceIdentifier, OptKeepaliveTimeout:
		return 1 << t
	}
	return 0
}

func optName(t OptionType) string { return t.String() + " option" }

// len is the encoded size of the options.
func (o *Options) len() int {
	n := 0
	if o.ResponderValidator != nil {
		n += optTotal(len(o.ResponderValidator))
	}
	if o.LocatorList != nil {
		n += optTotal(locListLen(len(o.LocatorList.Locators)))
	}
	if p := o.LocatorPreferences; p != nil {
		n += optTotal(locPrefsFixed + len(p.Elements)*int(p.ElementLen))
	}
	if o.CGAParameterDataStructure != nil {
		n += optTotal(len(o.CGAParameterDataStructure))
	}
	if o.CGASignature != nil {
		n += optTotal(len(o.CGASignature))
	}
	if o.ULIDPair != nil {
		n += optTotal(ulidPairLen)
	}
	if o.ForkedInstanceIdentifier != nil {
		n += optTotal(fiiLen)
	}
	if o.KeepaliveTimeout != nil {
		n += optTotal(keepaliveTimeoutLen)
	}
	for i := range o.Unknown {
		n += optTotal(len(o.Unknown[i].Contents))
	}
	return n
}

// usesCGA reports whether any listed locator is verified by CGA, which
// makes the CGA Signature option mandatory (RFC 5533 §5.6, §5.10).
func (l *LocatorList) usesCGA() bool {
	for i := range l.Locators {
		if l.Locators[i].Method == VerifyCGA {
			return true
		}
	}
	return false
}

// checkRequired applies the within-message option rules of RFC 5533 §5.5–§5.10.
func (o *Options) checkRequired(t Type, sp *msgSpec) error {
	if sp.needRV && o.ResponderValidator == nil {
		return errorf(t, optName(OptResponderValidator), -1, ErrMissingOption, "mandatory in "+t.String())
	}
	if o.LocatorList != nil {
		if sp.needPDS && o.CGAParameterDataStructure == nil {
			return errorf(t, optName(OptCGAParameterDataStructure), -1, ErrMissingOption,
				"mandatory with a Locator List in "+t.String())
		}
		if sp.needSig && o.CGASignature == nil && o.LocatorList.usesCGA() {
			return errorf(t, optName(OptCGASignature), -1, ErrMissingOption,
				"mandatory when a listed locator uses CGA verification")
		}
	}
	return nil
}

// putOptHeader writes an option's type, C bit and Length.
func putOptHeader(b []byte, t OptionType, critical bool, l int) {
	v := uint16(t) << 1
	if critical {
		v |= 1
	}
	binary.BigEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], uint16(l))
}

// putBytesOption writes an option whose contents are c and zeroes its
// padding; it returns the octets written.
func putBytesOption(b []byte, t OptionType, critical bool, c []byte) int {
	total := optTotal(len(c))
	putOptHeader(b, t, critical, len(c))
	copy(b[optHeaderLen:], c)
	clear(b[optHeaderLen+len(c) : total])
	return total
}

// as16 returns a's 16 octets if a is an IPv6 address without a zone — the
// only addresses that survive a trip through the wire unchanged.
func as16(a netip.Addr) ([16]byte, bool) {
	if !a.Is6() || a.Zone() != "" {
		return [16]byte{}, false
	}
	return a.As16(), true
}

// marshal validates the options against message type t and writes them into
// b, which is exactly the options area; base is its offset in the message,
// for error reports.
func (o *Options) marshal(b []byte, t Type, sp *msgSpec, base int) error {
	if err := o.checkAllowed(t, sp); err != nil {
		return err
	}
	if err := o.checkRequired(t, sp); err != nil {
		return err
	}
	off := 0
	if o.ResponderValidator != nil {
		off += putBytesOption(b[off:], OptResponderValidator, false, o.ResponderValidator)
	}
	if l := o.LocatorList; l != nil {
		n, err := l.marshal(b[off:], t, base+off)
		if err != nil {
			return err
		}
		off += n
	}
	if p := o.LocatorPreferences; p != nil {
		n, err := p.marshal(b[off:], t, base+off)
		if err != nil {
			return err
		}
		off += n
	}
	if o.CGAParameterDataStructure != nil {
		off += putBytesOption(b[off:], OptCGAParameterDataStructure, false, o.CGAParameterDataStructure)
	}
	if o.CGASignature != nil {
		off += putBytesOption(b[off:], OptCGASignature, false, o.CGASignature)
	}
	if u := o.ULIDPair; u != nil {
		s, ok1 := as16(u.Sender)
		r, ok2 := as16(u.Receiver)
		if !ok1 || !ok2 {
			return errorf(t, optName(OptULIDPair), base+off, ErrInvalidValue, "ULIDs must be IPv6 addresses without zone")
		}
		putOptHeader(b[off:], OptULIDPair, false, ulidPairLen)
		c := b[off+optHeaderLen:]
		clear(c[:4])
		copy(c[4:20], s[:])
		copy(c[20:36], r[:])
		clear(c[36 : optTotal(ulidPairLen)-optHeaderLen])
		off += optTotal(ulidPairLen)
	}
	if f := o.ForkedInstanceIdentifier; f != nil {
		putOptHeader(b[off:], OptForkedInstanceIdentifier, false, fiiLen)
		binary.BigEndian.PutUint32(b[off+optHeaderLen:], uint32(*f))
		off += optTotal(fiiLen)
	}
	if k := o.KeepaliveTimeout; k != nil {
		putOptHeader(b[off:], OptKeepaliveTimeout, false, keepaliveTimeoutLen)
		binary.BigEndian.PutUint16(b[off+optHeaderLen:], 0) // Reserved
		binary.BigEndian.PutUint16(b[off+optHeaderLen+2:], uint16(*k))
		off += optTotal(keepaliveTimeoutLen)
	}
	for i := range o.Unknown {
		u := &o.Unknown[i]
		if u.Type > 0x7fff {
			return errorf(t, "unknown option", base+off, ErrInvalidValue, "option type wider than 15 bits")
		}
		if optBit(u.Type)&sp.allowed != 0 {
			return errorf(t, optName(u.Type), base+off, ErrInvalidValue,
				"defined for "+t.String()+": use its field in Options, not Unknown")
		}
		off += putBytesOption(b[off:], u.Type, u.Critical, u.Contents)
	}
	return nil
}

// checkAllowed refuses typed options the message does not define: a
// receiver would treat them as unknown (RFC 5533 §5.15).
func (o *Options) checkAllowed(t Type, sp *msgSpec) error {
	var have uint16
	if o.ResponderValidator != nil {
		have |= optBit(OptResponderValidator)
	}
	if o.LocatorList != nil {
		have |= optBit(OptLocatorList)
	}
	if o.LocatorPreferences != nil {
		have |= optBit(OptLocatorPreferences)
	}
	if o.CGAParameterDataStructure != nil {
		have |= optBit(OptCGAParameterDataStructure)
	}
	if o.CGASignature != nil {
		have |= optBit(OptCGASignature)
	}
	if o.ULIDPair != nil {
		have |= optBit(OptULIDPair)
	}
	if o.ForkedInstanceIdentifier != nil {
		have |= optBit(OptForkedInstanceIdentifier)
	}
	if o.KeepaliveTimeout != nil {
		have |= optBit(OptKeepaliveTimeout)
	}
	if extra := have &^ sp.allowed; extra != 0 {
		for ot := OptionType(1); ot < 16; ot++ {
			if extra&(1<<ot) != 0 {
				return errorf(t, optName(ot), -1, ErrInvalidValue, "not defined for "+t.String())
			}
		}
	}
	return nil
}

func (l *LocatorList) marshal(b []byte, t Type, at int) (int, error) {
	n := len(l.Locators)
	if n == 0 || n > MaxLocators {
		return 0, errorf(t, optName(OptLocatorList), at, ErrInvalidValue,
			"needs 1 to "+itoa(MaxLocators)+" locators, has "+itoa(n))
	}
	cl := locListLen(n)
	putOptHeader(b, OptLocatorList, false, cl)
	c := b[optHeaderLen : optHeaderLen+cl]
	binary.BigEndian.PutUint32(c, l.Generation)
	c[4] = byte(n)
	lo := locListLocatorsOffset(n)
	for i := range l.Locators {
		a, ok := as16(l.Locators[i].Addr)
		if !ok {
			return 0, errorf(t, optName(OptLocatorList), at, ErrInvalidValue,
				"locator "+itoa(i+1)+" is not an IPv6 address without zone")
		}
		c[locListFixed+i] = byte(l.Locators[i].Method)
		copy(c[lo+16*i:], a[:])
	}
	clear(c[locListFixed+n : lo]) // internal padding
	return optHeaderLen + cl, nil
}

func (p *LocatorPreferences) marshal(b []byte, t Type, at int) (int, error) {
	e := int(p.ElementLen)
	if e == 0 {
		return 0, errorf(t, optName(OptLocatorPreferences), at, ErrInvalidValue, "element length 0")
	}
	cl := locPrefsFixed + e*len(p.Elements)
	total := optTotal(cl)
	putOptHeader(b, OptLocatorPreferences, false, cl)
	c := b[optHeaderLen:total]
	binary.BigEndian.PutUint32(c, p.Generation)
	c[4] = p.ElementLen
	clear(c[locPrefsFixed:])
	for i, el := range p.Elements {
		if (e < 2 && el.Priority != 0) || (e < 3 && el.Weight != 0) {
			return 0, errorf(t, optName(OptLocatorPreferences), at, ErrInvalidValue,
				"element "+itoa(i+1)+" has fields beyond element length "+itoa(e))
		}
		x := c[locPrefsFixed+i*e:]
		x[0] = byte(el.Flags)
		if e >= 2 {
			x[1] = el.Priority
		}
		if e >= 3 {
			x[2] = el.Weight
		}
	}
	return total, nil
}

// decode parses the options area msg[off:] of a message of type t. msg is
// the decoder's private copy, so byte fields alias it.
func (o *Options) decode(msg []byte, off int, t Type, sp *msgSpec) error {
	var seen uint16
	for off < len(msg) {
		if len(msg)-off < optHeaderLen {
			return errorf(t, "option header", off, ErrBadLength, "only "+itoa(len(msg)-off)+" octets left in the message")
		}
		tc := binary.BigEndian.Uint16(msg[off:])
		typ, critical := OptionType(tc>>1), tc&1 != 0
		l := int(binary.BigEndian.Uint16(msg[off+2:]))
		total := optTotal(l)
		if total > len(msg)-off {
			return errorf(t, optName(typ), off, ErrBadLength,
				"Length "+itoa(l)+" needs "+itoa(total)+" octets, message has "+itoa(len(msg)-off)+" left")
		}
		c := msg[off+optHeaderLen : off+optHeaderLen+l]
		bit := optBit(typ)
		switch {
		case bit&sp.allowed == 0 && critical:
			return errorf(t, optName(typ), off, ErrUnknownCriticalOption,
				"C=1 and the option is not defined for "+t.String())
		case bit&sp.allowed == 0:
			o.Unknown = append(o.Unknown, RawOption{Type: typ, Contents: c})
		case seen&bit != 0:
			return errorf(t, optName(typ), off, ErrDuplicateOption, "")
		default:
			seen |= bit
			if err := o.decodeKnown(typ, c, t, off); err != nil {
				return err
			}
		}
		off += total
	}
	return o.checkRequired(t, sp)
}

func (o *Options) decodeKnown(typ OptionType, c []byte, t Type, at int) error {
	exact := func(want int) error {
		if len(c) != want {
			return errorf(t, optName(typ), at, ErrBadLength, "Length "+itoa(len(c))+", must be "+itoa(want))
		}
		return nil
	}
	switch typ {
	case OptResponderValidator:
		o.ResponderValidator = c
	case OptCGAParameterDataStructure:
		o.CGAParameterDataStructure = c
	case OptCGASignature:
		o.CGASignature = c
	case OptULIDPair:
		if err := exact(ulidPairLen); err != nil {
			return err
		}
		o.ULIDPair = &ULIDPair{
			Sender:   netip.AddrFrom16([16]byte(c[4:20])),
			Receiver: netip.AddrFrom16([16]byte(c[20:36])),
		}
	case OptForkedInstanceIdentifier:
		if err := exact(fiiLen); err != nil {
			return err
		}
		f := ForkedInstanceIdentifier(binary.BigEndian.Uint32(c))
		o.ForkedInstanceIdentifier = &f
	case OptKeepaliveTimeout:
		if err := exact(keepaliveTimeoutLen); err != nil {
			return err
		}
		k := KeepaliveTimeout(binary.BigEndian.Uint16(c[2:]))
		o.KeepaliveTimeout = &k
	case OptLocatorList:
		if len(c) < locListFixed {
			return errorf(t, optName(typ), at, ErrBadLength, "Length "+itoa(len(c))+" below the 5 fixed octets")
		}
		n := int(c[4])
		if n == 0 {
			return errorf(t, optName(typ), at+optHeaderLen+4, ErrInvalidValue, "Num Locators is 0")
		}
		if want := locListLen(n); len(c) != want {
			return errorf(t, optName(typ), at, ErrBadLength,
				"Length "+itoa(len(c))+", "+itoa(n)+" locators with internal padding need "+itoa(want))
		}
		l := &LocatorList{Generation: binary.BigEndian.Uint32(c), Locators: make([]Locator, n)}
		lo := locListLocatorsOffset(n)
		for i := range l.Locators {
			l.Locators[i] = Locator{
				Addr:   netip.AddrFrom16([16]byte(c[lo+16*i:])),
				Method: VerificationMethod(c[locListFixed+i]),
			}
		}
		o.LocatorList = l
	case OptLocatorPreferences:
		if len(c) < locPrefsFixed {
			return errorf(t, optName(typ), at, ErrBadLength, "Length "+itoa(len(c))+" below the 5 fixed octets")
		}
		e := int(c[4])
		if e == 0 {
			return errorf(t, optName(typ), at+LocatorPreferencesElementLenOffset, ErrInvalidValue, "Element Len is 0")
		}
		if (len(c)-locPrefsFixed)%e != 0 {
			return errorf(t, optName(typ), at, ErrBadLength,
				"Length "+itoa(len(c))+" is not 5 plus a multiple of element length "+itoa(e))
		}
		p := &LocatorPreferences{Generation: binary.BigEndian.Uint32(c), ElementLen: c[4]}
		if k := (len(c) - locPrefsFixed) / e; k > 0 {
			p.Elements = make([]Preference, k)
			for i := range p.Elements {
				x := c[locPrefsFixed+i*e:]
				p.Elements[i].Flags = PreferenceFlags(x[0])
				if e >= 2 {
					p.Elements[i].Priority = x[1]
				}
				if e >= 3 {
					p.Elements[i].Weight = x[2]
				}
			}
		}
		o.LocatorPreferences = p
	}
	return nil
}

// OptionOffset returns the offset from the start of msg, one control
// message, of the first option of type t, for the Pointer of an Error
// message (RFC 5533 §5.14); add LocatorListMethodOffset and the like to
// reach a field. It reports false when msg is not a framable message or has
// no such option; it does not verify the checksum.
func OptionOffset(msg []byte, t OptionType) (int, bool) {
	h, err := ParseHeader(msg)
	if err != nil || !h.Type.Known() {
		return 0, false
	}
	msg = msg[:h.Len()]
	off := specs[h.Type].fixed
	if h.Type == TypeProbe {
		if len(msg) < off {
			return 0, false
		}
		off += probeReportLen * (int(msg[offProbeCounts]>>4) + int(msg[offProbeCounts]&0xf))
	}
	if h.Type == TypeError {
		return 0, false
	}
	for off+optHeaderLen <= len(msg) {
		if OptionType(binary.BigEndian.Uint16(msg[off:])>>1) == t {
			return off, true
		}
		off += optTotal(int(binary.BigEndian.Uint16(msg[off+2:])))
	}
	return 0, false
}
