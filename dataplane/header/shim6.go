package header

import "encoding/binary"

// Shim6 is a view of the part common to every Shim6 header (RFC 5533
// §5.1): Next Header, Hdr Ext Len and the P bit, plus, for control messages
// (P = 0, §5.3), the 7-bit message Type. It lets the fast path tell payload
// from control without the control-message codec. Precondition for every
// accessor: len(s) >= Shim6MinimumSize, which WalkExtensions guarantees for
// the header it stops at.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |  Hdr Ext Len  |P|  Type or top of context tag |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type Shim6 []byte

const (
	// Shim6MinimumSize is the smallest Shim6 header: every Shim6 header is
	// a multiple of 8 octets (RFC 5533 §5.3).
	Shim6MinimumSize = 8

	shim6NextHeader = 0
	shim6HdrExtLen  = 1
	// shim6PType holds the P bit (high bit) and, for control messages, the
	// Type (low seven bits); for the payload header the low seven bits are
	// the top of the context tag (RFC 5533 §5.2–5.3).
	shim6PType = 2
	shim6PBit  = 0x80
	shim6Type  = 0x7f
)

// Shim6 control message types (RFC 5533 §5.3, Table 1). Types 64–127
// trigger an R1bis when no context matches; 0–63 do not.
const (
	// Shim6TypeI1 is the first establishment message from the initiator
	// (RFC 5533 §5.4).
	Shim6TypeI1 = 1
	// Shim6TypeR1 is the first establishment message from the responder
	// (RFC 5533 §5.5).
	Shim6TypeR1 = 2
	// Shim6TypeI2 is the second establishment message from the initiator
	// (RFC 5533 §5.6).
	Shim6TypeI2 = 3
	// Shim6TypeR2 is the second establishment message from the responder
	// (RFC 5533 §5.7).
	Shim6TypeR2 = 4
	// Shim6TypeR1bis is the reply to a reference to a non-existent context
	// (RFC 5533 §5.8).
	Shim6TypeR1bis = 5
	// Shim6TypeI2bis is the reply to an R1bis (RFC 5533 §5.9).
	Shim6TypeI2bis = 6
	// Shim6TypeUpdateRequest is RFC 5533 §5.10.
	Shim6TypeUpdateRequest = 64
	// Shim6TypeUpdateAck is the Update Acknowledgement, RFC 5533 §5.11.
	Shim6TypeUpdateAck = 65
	// Shim6TypeKeepalive is RFC 5533 §5.12 (format in RFC 5534).
	Shim6TypeKeepalive = 66
	// Shim6TypeProbe is RFC 5533 §5.13 (format in RFC 5534).
	Shim6TypeProbe = 67
	// Shim6TypeError is RFC 5533 §5.14.
	Shim6TypeError = 68
)

// IsValid reports whether s holds a whole Shim6 header: at least
// Shim6MinimumSize bytes and as many as Hdr Ext Len says (RFC 5533 §5.1,
// §12.3). It needs no precondition.
func (s Shim6) IsValid() bool {
	return len(s) >= Shim6MinimumSize && len(s) >= s.Length()
}

// NextHeader returns the Next Header field (RFC 5533 §5.1): the payload's
// protocol for a payload header, normally ProtoNoNext for control.
func (s Shim6) NextHeader() uint8 { return s[shim6NextHeader] }

// HdrExtLen returns the Hdr Ext Len field (RFC 5533 §5.1): the header
// length in 8-octet units, not counting the first 8 octets.
func (s Shim6) HdrExtLen() uint8 { return s[shim6HdrExtLen] }

// Length returns the header length in bytes, (HdrExtLen+1)·8 (RFC 5533
// §5.1). For a control message that is the extent its checksum covers.
func (s Shim6) Length() int { return (int(s[shim6HdrExtLen]) + 1) * extUnit }

// IsPayload reports whether the P bit is set (RFC 5533 §5.2): 1 marks the
// payload extension header, 0 a control message (§5.3). (§12 states the
// opposite in prose; the formats in §5.2–5.3 are normative here.)
func (s Shim6) IsPayload() bool { return s[shim6PType]&shim6PBit != 0 }

// Type returns the 7-bit control message Type (RFC 5533 §5.3). Meaningful
// only when IsPayload is false; for a payload header these bits belong to
// the context tag.
func (s Shim6) Type() uint8 { return s[shim6PType] & shim6Type }

// Shim6Payload is a view of the Shim6 payload extension header (RFC 5533
// §5.2). Precondition for every accessor: len(p) >= Shim6PayloadSize.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |       0       |1|                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                             |
//	|                      Receiver Context Tag                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type Shim6Payload []byte

const (
	// Shim6PayloadSize is the length of the payload extension header
	// (RFC 5533 §5.2: Hdr Ext Len 0, so 8 octets).
	Shim6PayloadSize = 8
	// ContextTagMask covers the 47 bits of a Shim6 context tag (RFC 5533
	// §5.2); a tag must fit in it.
	ContextTagMask = 1<<47 - 1

	// The whole header is one big-endian 64-bit word: Next Header in the
	// top byte, then Hdr Ext Len, the P bit at bit 47 and the tag below.
	shim6PayloadNextHeaderShift = 56
	shim6PayloadPWord           = 1 << 47
)

// IsValid reports whether p is a well-formed payload extension header
// (RFC 5533 §5.2): at least Shim6PayloadSize bytes, Hdr Ext Len 0, P bit 1.
// It needs no precondition.
func (p Shim6Payload) IsValid() bool {
	return len(p) >= Shim6PayloadSize && p[shim6HdrExtLen] == 0 && p[shim6PType]&shim6PBit != 0
}

// NextHeader returns the protocol of the payload that follows (RFC 5533
// §5.2).
func (p Shim6Payload) NextHeader() uint8 { return p[shim6NextHeader] }

// SetNextHeader sets the protocol of the payload that follows (RFC 5533
// §5.2).
func (p Shim6Payload) SetNextHeader(nh uint8) { p[shim6NextHeader] = nh }

// HdrExtLen returns the Hdr Ext Len field, which must be 0 (RFC 5533 §5.2).
func (p Shim6Payload) HdrExtLen() uint8 { return p[shim6HdrExtLen] }

// IsPayload reports whether the P bit is 1, as it must be here (RFC 5533
// §5.2).
func (p Shim6Payload) IsPayload() bool { return p[shim6PType]&shim6PBit != 0 }

// ContextTag returns the 47-bit Receiver Context Tag (RFC 5533 §5.2).
func (p Shim6Payload) ContextTag() uint64 {
	return binary.BigEndian.Uint64(p) & ContextTagMask
}

// SetContextTag writes the Receiver Context Tag (RFC 5533 §5.2), keeping
// the other fields. Bits of tag above the 47th are ignored.
func (p Shim6Payload) SetContextTag(tag uint64) {
	w := binary.BigEndian.Uint64(p)
	binary.BigEndian.PutUint64(p, w&^ContextTagMask|tag&ContextTagMask)
}

// Encode writes a complete payload extension header (RFC 5533 §5.2): the
// given Next Header, Hdr Ext Len 0, P = 1 and the context tag (bits above
// the 47th ignored).
func (p Shim6Payload) Encode(nextHeader uint8, tag uint64) {
	binary.BigEndian.PutUint64(p, uint64(nextHeader)<<shim6PayloadNextHeaderShift|
		shim6PayloadPWord|tag&ContextTagMask)
}
