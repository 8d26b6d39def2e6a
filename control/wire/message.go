package wire

import (
	"encoding/binary"
	"net/netip"
)

// Message is one decoded or to-be-encoded Shim6 control message (RFC 5533
// §5.3–§5.14, RFC 5534 §5.1–§5.2). The concrete types are *I1, *R1, *I2,
// *R2, *R1bis, *I2bis, *UpdateRequest, *UpdateAck, *Keepalive, *Probe and
// *ErrorMessage.
type Message interface {
	// Type returns the message type.
	Type() Type
	// Len returns the encoded length in octets, a multiple of 8.
	Len() int
	// MarshalTo validates the message and writes it, checksum included,
	// into b[:Len()]. It returns Len() and does not allocate. On error the
	// contents of b are unspecified.
	MarshalTo(b []byte) (int, error)
}

// msgSpec is what the codec knows about one message type.
type msgSpec struct {
	fixed   int    // octets before the options (before the probe reports for Probe)
	allowed uint16 // optBit mask of the options the message defines
	needRV  bool   // Responder Validator mandatory (§5.5, §5.6, §5.8/§7.17, §5.9)
	needPDS bool   // CGA PDS mandatory with a Locator List (§5.6, §5.7, §5.9)
	needSig bool   // CGA Signature mandatory when a locator uses CGA (§5.6, §5.7, §5.9, §5.10)
}

const (
	bRV   = 1 << OptResponderValidator
	bLL   = 1 << OptLocatorList
	bLP   = 1 << OptLocatorPreferences
	bPDS  = 1 << OptCGAParameterDataStructure
	bSig  = 1 << OptCGASignature
	bULID = 1 << OptULIDPair
	bFII  = 1 << OptForkedInstanceIdentifier
	bKT   = 1 << OptKeepaliveTimeout

	// locator-carrying options (§5.6, §5.7, §5.9, §5.10) and the Keepalive
	// Timeout, which RFC 5534 §5.3 allows in I2, I2bis, R2 and Update.
	bLocators = bLL | bLP | bPDS | bSig | bKT
)

// specs is indexed by Type; fixed == 0 marks an unknown type. The option
// sets follow the "options are defined for this message" lists of RFC 5533
// §5.4–§5.11 and RFC 5534 §5.3.
var specs = [TypeError + 1]msgSpec{
	TypeI1:            {fixed: 16, allowed: bULID | bFII},
	TypeR1:            {fixed: 16, allowed: bRV, needRV: true},
	TypeI2:            {fixed: 24, allowed: bRV | bULID | bFII | bLocators, needRV: true, needPDS: true, needSig: true},
	TypeR2:            {fixed: 16, allowed: bLocators, needPDS: true, needSig: true},
	TypeR1bis:         {fixed: 16, allowed: bRV, needRV: true},
	TypeI2bis:         {fixed: 32, allowed: bRV | bULID | bFII | bLocators, needRV: true, needPDS: true, needSig: true},
	TypeUpdateRequest: {fixed: 16, allowed: bLocators, needSig: true},
	TypeUpdateAck:     {fixed: 16},
	TypeKeepalive:     {fixed: 16},
	TypeProbe:         {fixed: 16},
	TypeError:         {fixed: 8},
}

// Offsets of the type-specific fields (RFC 5533 §5.4–§5.14, RFC 5534 §5).
const (
	offNonceA       = 12 // first nonce after a context tag
	offNonceB       = 16 // second nonce (I2, I2bis)
	offR1InitNonce  = 8
	offR1RespNonce  = 12
	offI2bisPktTag  = 26 // 49 reserved bits, then the 47-bit Packet Context Tag
	offProbeCounts  = 12 // Precvd (high nibble), Psent (low nibble)
	offProbeState   = 13 // Sta in the top two bits
	offErrorPointer = 6
	offErrorData    = 8
	probeReportLen  = 40 // source, destination, nonce, data (RFC 5534 §5.2)
)

// I1 is the I1 message (RFC 5533 §5.4). Options defined: ULID Pair, Forked
// Instance Identifier.
type I1 struct {
	// InitiatorContextTag is the 47-bit tag the initiator allocated.
	InitiatorContextTag uint64
	// InitiatorNonce is returned by the responder in R1.
	InitiatorNonce uint32
	// Options are the message's options.
	Options Options
}

// R1 is the R1 message (RFC 5533 §5.5). Options defined: Responder
// Validator (mandatory).
type R1 struct {
	// InitiatorNonce is copied from the I1.
	InitiatorNonce uint32
	// ResponderNonce is returned by the initiator in I2.
	ResponderNonce uint32
	// Options are the message's options.
	Options Options
}

// I2 is the I2 message (RFC 5533 §5.6). Options defined: Responder
// Validator (mandatory), ULID Pair, Forked Instance Identifier, Locator
// List, Locator Preferences, CGA Parameter Data Structure (mandatory with a
// Locator List), CGA Signature (mandatory with CGA locators), Keepalive
// Timeout (RFC 5534 §5.3).
type I2 struct {
	// InitiatorContextTag is the 47-bit tag the initiator allocated.
	InitiatorContextTag uint64
	// InitiatorNonce is returned by the responder in R2.
	InitiatorNonce uint32
	// ResponderNonce is copied from the R1.
	ResponderNonce uint32
	// Options are the message's options.
	Options Options
}

// R2 is the R2 message (RFC 5533 §5.7). Options defined: Locator List,
// Locator Preferences, CGA Parameter Data Structure (mandatory with a
// Locator List), CGA Signature (mandatory with CGA locators), Keepalive
// Timeout.
type R2 struct {
	// ResponderContextTag is the 47-bit tag the responder allocated.
	ResponderContextTag uint64
	// InitiatorNonce is copied from the I2.
	InitiatorNonce uint32
	// Options are the message's options.
	Options Options
}

// R1bis is the R1bis message (RFC 5533 §5.8). Options defined: Responder
// Validator (mandatory, §7.17).
type R1bis struct {
	// PacketContextTag is the tag of the packet that found no context.
	PacketContextTag uint64
	// ResponderNonce is returned by the initiator in I2bis.
	ResponderNonce uint32
	// Options are the message's options.
	Options Options
}

// I2bis is the I2bis message (RFC 5533 §5.9). Options as for I2.
type I2bis struct {
	// InitiatorContextTag is the 47-bit tag the initiator allocated.
	InitiatorContextTag uint64
	// InitiatorNonce is returned by the responder in R2.
	InitiatorNonce uint32
	// ResponderNonce is copied from the R1bis.
	ResponderNonce uint32
	// PacketContextTag is copied from the R1bis.
	PacketContextTag uint64
	// Options are the message's options.
	Options Options
}

// UpdateRequest is the Update Request message (RFC 5533 §5.10). Options
// defined: Locator List, Locator Preferences, CGA Parameter Data Structure,
// CGA Signature (mandatory with CGA locators), Keepalive Timeout.
type UpdateRequest struct {
	// ReceiverContextTag is the peer's tag for the context.
	ReceiverContextTag uint64
	// RequestNonce is returned in the Update Acknowledgement.
	RequestNonce uint32
	// Options are the message's options.
	Options Options
}

// UpdateAck is the Update Acknowledgement message (RFC 5533 §5.11). No
// options are defined.
type UpdateAck struct {
	// ReceiverContextTag is the peer's tag for the context.
	ReceiverContextTag uint64
	// RequestNonce is copied from the Update Request.
	RequestNonce uint32
	// Options are the message's options (only unknown ones exist).
	Options Options
}

// Keepalive is the REAP Keepalive message (RFC 5534 §5.1). No options are
// defined.
type Keepalive struct {
	// ReceiverContextTag is the peer's tag for the context.
	ReceiverContextTag uint64
	// Options are the message's options (only unknown ones exist).
	Options Options
}

// Probe is the REAP Probe message (RFC 5534 §5.2). No options are defined.
type Probe struct {
	// ReceiverContextTag is the peer's tag for the context.
	ReceiverContextTag uint64
	// State is the sender's REAP state.
	State ReapState
	// Sent are the probes sent, this one first; 1 to 15 of them.
	Sent []ProbeReport
	// Received are copies of probes received since the last transition to
	// Exploring; 0 to 15, nil when none.
	Received []ProbeReport
	// Options are the message's options (only unknown ones exist).
	Options Options
}

// ProbeReport is one sent or received probe record of a Probe message (RFC
// 5534 §5.2).
type ProbeReport struct {
	// Source is the source address the probe was sent from.
	Source netip.Addr
	// Destination is the destination address it was sent to.
	Destination netip.Addr
	// Nonce correlates sent and received probes.
	Nonce uint32
	// Data is copied back unchanged.
	Data uint32
}

// ErrorMessage is the Shim6 Error message (RFC 5533 §5.14).
type ErrorMessage struct {
	// Code is the 7-bit Error Code.
	Code ErrorCode
	// Pointer is the octet offset in the invoking packet where the error was
	// detected.
	Pointer uint16
	// PacketInError is as much of the invoking packet as fits. The encoder
	// pads it with zeros to a multiple of 8 octets (at least 8), and the
	// decoder returns it with that padding, which cannot be told apart.
	PacketInError []byte
}

// Type returns TypeI1 (RFC 5533 §5.4).
func (*I1) Type() Type { return TypeI1 }

// Type returns TypeR1 (RFC 5533 §5.5).
func (*R1) Type() Type { return TypeR1 }

// Type returns TypeI2 (RFC 5533 §5.6).
func (*I2) Type() Type { return TypeI2 }

// Type returns TypeR2 (RFC 5533 §5.7).
func (*R2) Type() Type { return TypeR2 }

// Type returns TypeR1bis (RFC 5533 §5.8).
func (*R1bis) Type() Type { return TypeR1bis }

// Type returns TypeI2bis (RFC 5533 §5.9).
func (*I2bis) Type() Type { return TypeI2bis }

// Type returns TypeUpdateRequest (RFC 5533 §5.10).
func (*UpdateRequest) Type() Type { return TypeUpdateRequest }

// Type returns TypeUpdateAck (RFC 5533 §5.11).
func (*UpdateAck) Type() Type { return TypeUpdateAck }

// Type returns TypeKeepalive (RFC 5534 §5.1).
func (*Keepalive) Type() Type { return TypeKeepalive }

// Type returns TypeProbe (RFC 5534 §5.2).
func (*Probe) Type() Type { return TypeProbe }

// Type returns TypeError (RFC 5533 §5.14).
func (*ErrorMessage) Type() Type { return TypeError }

// Len returns the encoded length of the I1 (RFC 5533 §5.4).
func (m *I1) Len() int { return specs[TypeI1].fixed + m.Options.len() }

// Len returns the encoded length of the R1 (RFC 5533 §5.5).
func (m *R1) Len() int { return specs[TypeR1].fixed + m.Options.len() }

// Len returns the encoded length of the I2 (RFC 5533 §5.6).
func (m *I2) Len() int { return specs[TypeI2].fixed + m.Options.len() }

// Len returns the encoded length of the R2 (RFC 5533 §5.7).
func (m *R2) Len() int { return specs[TypeR2].fixed + m.Options.len() }

// Len returns the encoded length of the R1bis (RFC 5533 §5.8).
func (m *R1bis) Len() int { return specs[TypeR1bis].fixed + m.Options.len() }

// Len returns the encoded length of the I2bis (RFC 5533 §5.9).
func (m *I2bis) Len() int { return specs[TypeI2bis].fixed + m.Options.len() }

// Len returns the encoded length of the Update Request (RFC 5533 §5.10).
func (m *UpdateRequest) Len() int { return specs[TypeUpdateRequest].fixed + m.Options.len() }

// Len returns the encoded length of the Update Acknowledgement (RFC 5533 §5.11).
func (m *UpdateAck) Len() int { return specs[TypeUpdateAck].fixed + m.Options.len() }

// Len returns the encoded length of the Keepalive (RFC 5534 §5.1).
func (m *Keepalive) Len() int { return specs[TypeKeepalive].fixed + m.Options.len() }

// Len returns the encoded length of the Probe (RFC 5534 §5.2).
func (m *Probe) Len() int {
	return specs[TypeProbe].fixed + probeReportLen*(len(m.Sent)+len(m.Received)) + m.Options.len()
}

// Len returns the encoded length of the Error message: the packet in error
// padded to a multiple of 8, at least 8 (Hdr Ext Len >= 1, RFC 5533 §5.14).
func (m *ErrorMessage) Len() int {
	return max(offErrorData+(len(m.PacketInError)+7)&^7, 2*HeaderLen)
}

// begin checks the size and writes the common header (RFC 5533 §5.3) with a
// zero checksum, and zeroes the fixed part so every reserved field and R bit
// goes out as zero. It returns the message's slice of b.
func begin(b []byte, t Type, typeSpecific uint8, n int) ([]byte, error) {
	if n > MaxMessageLen {
		return nil, errorf(t, "message", 0, ErrTooBig, itoa(n)+" octets exceeds "+itoa(MaxMessageLen))
	}
	if len(b) < n {
		return nil, errorf(t, "message", 0, ErrShortBuffer, "need "+itoa(n)+" octets, have "+itoa(len(b)))
	}
	m := b[:n]
	clear(m[:specs[t].fixed])
	m[offNextHeader] = NoNextHeader
	m[offHdrExtLen] = byte(n/8 - 1)
	m[offPType] = byte(t) // P = 0
	m[offTypeSpecific] = typeSpecific << 1
	return m, nil
}

// finish writes the options, then the checksum.
func finish(m []byte, t Type, o *Options) (int, error) {
	sp := &specs[t]
	if err := o.marshal(m[sp.fixed:], t, sp, sp.fixed); err != nil {
		return 0, err
	}
	setChecksum(m)
	return len(m), nil
}

func checkTag(t Type, field string, off int, tag uint64) error {
	if tag > MaxContextTag {
		return errorf(t, field, off, ErrInvalidValue, "wider than 47 bits")
	}
	return nil
}

// MarshalTo writes the I1 into b (RFC 5533 §5.4).
func (m *I1) MarshalTo(b []byte) (int, error) {
	if err := checkTag(TypeI1, "Initiator Context Tag", offTagField, m.InitiatorContextTag); err != nil {
		return 0, err
	}
	w, err := begin(b, TypeI1, 0, m.Len())
	if err != nil {
		return 0, err
	}
	putTag(w[offTagField:], m.InitiatorContextTag)
	binary.BigEndian.PutUint32(w[offNonceA:], m.InitiatorNonce)
	return finish(w, TypeI1, &m.Options)
}

// MarshalTo writes the R1 into b (RFC 5533 §5.5).
func (m *R1) MarshalTo(b []byte) (int, error) {
	w, err := begin(b, TypeR1, 0, m.Len())
	if err != nil {
		return 0, err
	}
	binary.BigEndian.PutUint32(w[offR1InitNonce:], m.InitiatorNonce)
	binary.BigEndian.PutUint32(w[offR1RespNonce:], m.ResponderNonce)
	return finish(w, TypeR1, &m.Options)
}

// MarshalTo writes the I2 into b (RFC 5533 §5.6).
func (m *I2) MarshalTo(b []byte) (int, error) {
	if err := checkTag(TypeI2, "Initiator Context Tag", offTagField, m.InitiatorContextTag); err != nil {
		return 0, err
	}
	w, err := begin(b, TypeI2, 0, m.Len())
	if err != nil {
		return 0, err
	}
	putTag(w[offTagField:], m.InitiatorContextTag)
	binary.BigEndian.PutUint32(w[offNonceA:], m.InitiatorNonce)
	binary.BigEndian.PutUint32(w[offNonceB:], m.ResponderNonce)
	return finish(w, TypeI2, &m.Options)
}

// MarshalTo writes the R2 into b (RFC 5533 §5.7).
func (m *R2) MarshalTo(b []byte) (int, error) {
	if err := checkTag(TypeR2, "Responder Context Tag", offTagField, m.ResponderContextTag); err != nil {
		return 0, err
	}
	w, err := begin(b, TypeR2, 0, m.Len())
	if err != nil {
		return 0, err
	}
	putTag(w[offTagField:], m.ResponderContextTag)
	binary.BigEndian.PutUint32(w[offNonceA:], m.InitiatorNonce)
	return finish(w, TypeR2, &m.Options)
}

// MarshalTo writes the R1bis into b (RFC 5533 §5.8).
func (m *R1bis) MarshalTo(b []byte) (int, error) {
	if err := checkTag(TypeR1bis, "Packet Context Tag", offTagField, m.PacketContextTag); err != nil {
		return 0, err
	}
	w, err := begin(b, TypeR1bis, 0, m.Len())
	if err != nil {
		return 0, err
	}
	putTag(w[offTagField:], m.PacketContextTag)
	binary.BigEndian.PutUint32(w[offNonceA:], m.ResponderNonce)
	return finish(w, TypeR1bis, &m.Options)
}

// MarshalTo writes the I2bis into b (RFC 5533 §5.9).
func (m *I2bis) MarshalTo(b []byte) (int, error) {
	if err := checkTag(TypeI2bis, "Initiator Context Tag", offTagField, m.InitiatorContextTag); err != nil {
		return 0, err
	}
	if err := checkTag(TypeI2bis, "Packet Context Tag", offI2bisPktTag, m.PacketContextTag); err != nil {
		return 0, err
	}
	w, err := begin(b, TypeI2bis, 0, m.Len())
	if err != nil {
		return 0, err
	}
	putTag(w[offTagField:], m.InitiatorContextTag)
	binary.BigEndian.PutUint32(w[offNonceA:], m.InitiatorNonce)
	binary.BigEndian.PutUint32(w[offNonceB:], m.ResponderNonce)
	putTag(w[offI2bisPktTag:], m.PacketContextTag)
	return finish(w, TypeI2bis, &m.Options)
}

// MarshalTo writes the Update Request into b (RFC 5533 §5.10).
func (m *UpdateRequest) MarshalTo(b []byte) (int, error) {
	if err := checkTag(TypeUpdateRequest, "Receiver Context Tag", offTagField, m.ReceiverContextTag); err != nil {
		return 0, err
	}
	w, err := begin(b, TypeUpdateRequest, 0, m.Len())
	if err != nil {
		return 0, err
	}
	putTag(w[offTagField:], m.ReceiverContextTag)
	binary.BigEndian.PutUint32(w[offNonceA:], m.RequestNonce)
	return finish(w, TypeUpdateRequest, &m.Options)
}

// MarshalTo writes the Update Acknowledgement into b (RFC 5533 §5.11).
func (m *UpdateAck) MarshalTo(b []byte) (int, error) {
	if err := checkTag(TypeUpdateAck, "Receiver Context Tag", offTagField, m.ReceiverContextTag); err != nil {
		return 0, err
	}
	w, err := begin(b, TypeUpdateAck, 0, m.Len())
	if err != nil {
		return 0, err
	}
	putTag(w[offTagField:], m.ReceiverContextTag)
	binary.BigEndian.PutUint32(w[offNonceA:], m.RequestNonce)
	return finish(w, TypeUpdateAck, &m.Options)
}

// MarshalTo writes the Keepalive into b (RFC 5534 §5.1).
func (m *Keepalive) MarshalTo(b []byte) (int, error) {
	if err := checkTag(TypeKeepalive, "Receiver Context Tag", offTagField, m.ReceiverContextTag); err != nil {
		return 0, err
	}
	w, err := begin(b, TypeKeepalive, 0, m.Len())
	if err != nil {
		return 0, err
	}
	putTag(w[offTagField:], m.ReceiverContextTag)
	return finish(w, TypeKeepalive, &m.Options)
}

// MarshalTo writes the Probe into b (RFC 5534 §5.2).
func (m *Probe) MarshalTo(b []byte) (int, error) {
	if err := checkTag(TypeProbe, "Receiver Context Tag", offTagField, m.ReceiverContextTag); err != nil {
		return 0, err
	}
	if len(m.Sent) == 0 || len(m.Sent) > MaxProbeReports {
		return 0, errorf(TypeProbe, "Psent", offProbeCounts, ErrInvalidValue,
			"needs 1 to 15 sent probe reports, has "+itoa(len(m.Sent)))
	}
	if len(m.Received) > MaxProbeReports {
		return 0, errorf(TypeProbe, "Precvd", offProbeCounts, ErrInvalidValue,
			"at most 15 received probe reports, has "+itoa(len(m.Received)))
	}
	if m.State > ReapInboundOK {
		return 0, errorf(TypeProbe, "State", offProbeState, ErrInvalidValue, "must be 0, 1 or 2")
	}
	w, err := begin(b, TypeProbe, 0, m.Len())
	if err != nil {
		return 0, err
	}
	putTag(w[offTagField:], m.ReceiverContextTag)
	w[offProbeCounts] = byte(len(m.Received))<<4 | byte(len(m.Sent))
	w[offProbeState] = byte(m.State) << 6
	off := specs[TypeProbe].fixed
	for _, set := range [2][]ProbeReport{m.Sent, m.Received} {
		for i := range set {
			r := &set[i]
			s, ok1 := as16(r.Source)
			d, ok2 := as16(r.Destination)
			if !ok1 || !ok2 {
				return 0, errorf(TypeProbe, "probe report", off, ErrInvalidValue,
					"addresses must be IPv6 without zone")
			}
			copy(w[off:], s[:])
			copy(w[off+16:], d[:])
			binary.BigEndian.PutUint32(w[off+32:], r.Nonce)
			binary.BigEndian.PutUint32(w[off+36:], r.Data)
			off += probeReportLen
		}
	}
	sp := &specs[TypeProbe]
	if err := m.Options.marshal(w[off:], TypeProbe, sp, off); err != nil {
		return 0, err
	}
	setChecksum(w)
	return len(w), nil
}

// MarshalTo writes the Error message into b (RFC 5533 §5.14). A packet in
// error too long for MaxMessageLen is refused, not cut; NewErrorMessage cuts.
func (m *ErrorMessage) MarshalTo(b []byte) (int, error) {
	if m.Code > 127 {
		return 0, errorf(TypeError, "Error Code", offTypeSpecific, ErrInvalidValue, "wider than 7 bits")
	}
	w, err := begin(b, TypeError, uint8(m.Code), m.Len())
	if err != nil {
		return 0, err
	}
	binary.BigEndian.PutUint16(w[offErrorPointer:], m.Pointer)
	n := copy(w[offErrorData:], m.PacketInError)
	clear(w[offErrorData+n:])
	setChecksum(w)
	return len(w), nil
}

// NewErrorMessage builds the Error message answering invoking, the packet
// that caused it from its IPv6 header on (RFC 5533 §5.14). pointer is the
// octet offset of the problem in invoking (for a decoding failure, the
// Shim6 header's offset in invoking plus the pointer Error.Reply gives).
// extra is the length of any headers the reply will carry between its IPv6
// header and its Shim6 header. The packet in error is cut, at a multiple of
// 8 octets, so that the reply stays within 1280 octets (§5.1).
func NewErrorMessage(code ErrorCode, pointer int, invoking []byte, extra int) ErrorMessage {
	room := (MaxMessageLen-extra)&^7 - offErrorData
	if room < 0 {
		room = 0
	}
	if len(invoking) > room {
		invoking = invoking[:room]
	}
	if pointer < 0 || pointer > 0xffff {
		pointer = 0xffff
	}
	return ErrorMessage{Code: code, Pointer: uint16(pointer), PacketInError: invoking}
}

// Marshal returns m encoded in a new buffer (RFC 5533 §5.3), for tools and
// tests; the control core uses MarshalTo on its packet buffers.
func Marshal(m Message) ([]byte, error) {
	b := make([]byte, m.Len())
	n, err := m.MarshalTo(b)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// Append appends m, encoded (RFC 5533 §5.3), to dst and returns the
// extended slice; it allocates only when dst lacks capacity.
func Append(dst []byte, m Message) ([]byte, error) {
	n := m.Len()
	start := len(dst)
	dst = grow(dst, n)
	w, err := m.MarshalTo(dst[start:])
	if err != nil {
		return dst[:start], err
	}
	return dst[:start+w], nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*len(b)+n)
	copy(nb, b)
	return nb
}

// OptionsOf returns m's options (RFC 5533 §5.15), or nil for an Error
// message, which has none (§5.14).
func OptionsOf(m Message) *Options {
	switch m := m.(type) {
	case *I1:
		return &m.Options
	case *R1:
		return &m.Options
	case *I2:
		return &m.Options
	case *R2:
		return &m.Options
	case *R1bis:
		return &m.Options
	case *I2bis:
		return &m.Options
	case *UpdateRequest:
		return &m.Options
	case *UpdateAck:
		return &m.Options
	case *Keepalive:
		return &m.Options
	case *Probe:
		return &m.Options
	}
	return nil
}

// Decoder decodes control messages (RFC 5533 §5.3–§5.14, RFC 5534 §5);
// its zero value makes every check, as RFC 5533 §12.3 asks of receivers.
type Decoder struct {
	// SkipChecksum decodes a message whose checksum does not verify, for
	// tools that show what a damaged message says. Receivers leave it off
	// (RFC 5533 §12.3).
	SkipChecksum bool
}

// Decode parses one control message at the start of b (RFC 5533 §5.3–§5.14,
// RFC 5534 §5) with every check the package documentation lists. b may run past the message; what follows is
// ignored, as for any header with Next Header 59.
func Decode(b []byte) (Message, error) { return Decoder{}.Decode(b) }

// Decode parses one control message at the start of b (RFC 5533 §12.3);
// see the package function Decode.
func (d Decoder) Decode(b []byte) (Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	n := h.Len()
	msg := b[:n]
	t := h.Type
	if !d.SkipChecksum && !ChecksumOK(msg) {
		return nil, errorf(t, "Checksum", offChecksum, ErrBadChecksum,
			"carries "+hex16(h.Checksum)+", message sums to "+hex16(ComputeChecksum(msg)))
	}
	if h.S {
		return nil, errorf(t, "S bit", offTypeSpecific, ErrSBit, "a HIP message, not Shim6")
	}
	if !t.Known() {
		return nil, errorf(t, "Type", offPType, ErrUnknownType, "")
	}
	if h.NextHeader != NoNextHeader {
		return nil, errorf(t, "Next Header", offNextHeader, ErrInvalidValue,
			"is "+itoa(int(h.NextHeader))+", control messages carry 59")
	}
	sp := &specs[t]
	// Every message has Hdr Ext Len >= 1, the Error message too although
	// its fixed part is 8 octets (RFC 5533 §5.4–§5.14).
	if minLen := max(sp.fixed, 2*HeaderLen); n < minLen {
		return nil, errorf(t, "Hdr Ext Len", offHdrExtLen, ErrBadLength,
			"message of "+itoa(n)+" octets is shorter than the "+itoa(minLen)+" octets "+t.String()+" needs")
	}
	optStart := sp.fixed
	var psent, precvd int
	if t == TypeProbe {
		precvd, psent = int(msg[offProbeCounts]>>4), int(msg[offProbeCounts]&0xf)
		if psent == 0 {
			return nil, errorf(t, "Psent", offProbeCounts, ErrInvalidValue, "the probe itself must be reported; Psent is 0")
		}
		if st := msg[offProbeState] >> 6; st > byte(ReapInboundOK) {
			return nil, errorf(t, "State", offProbeState, ErrInvalidValue, "is 3; legal values are 0, 1, 2")
		}
		optStart += probeReportLen * (psent + precvd)
		if optStart > n {
			return nil, errorf(t, "probe reports", sp.fixed, ErrBadLength,
				itoa(psent+precvd)+" reports need "+itoa(optStart)+" octets, message has "+itoa(n))
		}
	}
	if n > optStart || t == TypeError {
		// One private copy, so that byte fields stay valid after the
		// packet buffer is reused.
		msg = append([]byte(nil), msg...)
	}
	var o *Options
	var out Message
	switch t {
	case TypeI1:
		m := &I1{InitiatorContextTag: getTag(msg[offTagField:]), InitiatorNonce: be32(msg[offNonceA:])}
		o, out = &m.Options, m
	case TypeR1:
		m := &R1{InitiatorNonce: be32(msg[offR1InitNonce:]), ResponderNonce: be32(msg[offR1RespNonce:])}
		o, out = &m.Options, m
	case TypeI2:
		m := &I2{InitiatorContextTag: getTag(msg[offTagField:]), InitiatorNonce: be32(msg[offNonceA:]),
			ResponderNonce: be32(msg[offNonceB:])}
		o, out = &m.Options, m
	case TypeR2:
		m := &R2{ResponderContextTag: getTag(msg[offTagField:]), InitiatorNonce: be32(msg[offNonceA:])}
		o, out = &m.Options, m
	case TypeR1bis:
		m := &R1bis{PacketContextTag: getTag(msg[offTagField:]), ResponderNonce: be32(msg[offNonceA:])}
		o, out = &m.Options, m
	case TypeI2bis:
		m := &I2bis{InitiatorContextTag: getTag(msg[offTagField:]), InitiatorNonce: be32(msg[offNonceA:]),
			ResponderNonce: be32(msg[offNonceB:]), PacketContextTag: getTag(msg[offI2bisPktTag:])}
		o, out = &m.Options, m
	case TypeUpdateRequest:
		m := &UpdateRequest{ReceiverContextTag: getTag(msg[offTagField:]), RequestNonce: be32(msg[offNonceA:])}
		o, out = &m.Options, m
	case TypeUpdateAck:
		m := &UpdateAck{ReceiverContextTag: getTag(msg[offTagField:]), RequestNonce: be32(msg[offNonceA:])}
		o, out = &m.Options, m
	case TypeKeepalive:
		m := &Keepalive{ReceiverContextTag: getTag(msg[offTagField:])}
		o, out = &m.Options, m
	case TypeProbe:
		m := &Probe{ReceiverContextTag: getTag(msg[offTagField:]), State: ReapState(msg[offProbeState] >> 6)}
		reports := make([]ProbeReport, psent+precvd)
		off := sp.fixed
		for i := range reports {
			reports[i] = ProbeReport{
				Source:      netip.AddrFrom16([16]byte(msg[off:])),
				Destination: netip.AddrFrom16([16]byte(msg[off+16:])),
				Nonce:       be32(msg[off+32:]),
				Data:        be32(msg[off+36:]),
			}
			off += probeReportLen
		}
		m.Sent = reports[:psent:psent]
		if precvd > 0 {
			m.Received = reports[psent:]
		}
		o, out = &m.Options, m
	case TypeError:
		return &ErrorMessage{
			Code:          ErrorCode(h.TypeSpecific),
			Pointer:       binary.BigEndian.Uint16(msg[offErrorPointer:]),
			PacketInError: msg[offErrorData:],
		}, nil
	}
	if err := o.decode(msg, optStart, t, sp); err != nil {
		return nil, err
	}
	return out, nil
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func hex16(v uint16) string {
	const digits = "0123456789abcdef"
	return string([]byte{'0', 'x', digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf]})
}
