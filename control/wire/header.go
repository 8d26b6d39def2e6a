package wire

import (
	"encoding/binary"

	"shim6d/dataplane/header"
)

// Offsets in the common header (RFC 5533 §5.1, §5.3).
const (
	offNextHeader   = 0
	offHdrExtLen    = 1
	offPType        = 2 // P bit (MSB) and 7-bit type
	offTypeSpecific = 3 // 7 type-specific bits and the S bit (LSB)
	offChecksum     = 4
	offTagField     = 6 // R bit and 47-bit context tag, in messages that carry one

	pBit = 0x80
	sBit = 0x01
)

// Header is the common Shim6 control header (RFC 5533 §5.3).
type Header struct {
	// NextHeader is always 59 in a well-formed control message.
	NextHeader uint8
	// HdrExtLen is the message length in 8-octet units, not counting the
	// first 8 octets.
	HdrExtLen uint8
	// Type is the message type.
	Type Type
	// TypeSpecific is the 7 type-specific bits (the Error Code of an Error
	// message, Reserved1 otherwise).
	TypeSpecific uint8
	// S is the S bit, zero for Shim6.
	S bool
	// Checksum is the checksum field as received.
	Checksum uint16
}

// Len is the message length Hdr Ext Len gives: (HdrExtLen+1)*8 octets (RFC
// 5533 §5.3).
func (h Header) Len() int { return (int(h.HdrExtLen) + 1) * 8 }

// IsPayload reports whether b starts with a Shim6 payload extension header
// rather than a control message: the P bit (RFC 5533 §5.1). It reports false
// when b is too short to hold the bit.
func IsPayload(b []byte) bool { return len(b) > offPType && b[offPType]&pBit != 0 }

// ParseHeader reads the common control header and checks the framing: the
// buffer holds the 8-octet header and the whole message Hdr Ext Len claims,
// P is zero, and the message is within MaxMessageLen (RFC 5533 §5.1, §5.3,
// §12.3). b may run past the message (a payload or padding follows); the
// message is b[:h.Len()]. It does not verify the checksum.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, errorf(0, "common header", 0, ErrTruncated,
			"need "+itoa(HeaderLen)+" octets, have "+itoa(len(b)))
	}
	h := Header{
		NextHeader:   b[offNextHeader],
		HdrExtLen:    b[offHdrExtLen],
		Type:         Type(b[offPType] &^ pBit),
		TypeSpecific: b[offTypeSpecific] >> 1,
		S:            b[offTypeSpecific]&sBit != 0,
		Checksum:     binary.BigEndian.Uint16(b[offChecksum:]),
	}
	if b[offPType]&pBit != 0 {
		return h, errorf(0, "P bit", offPType, ErrPBit, "payload extension header where a control message was expected")
	}
	if n := h.Len(); n > len(b) {
		return h, errorf(h.Type, "Hdr Ext Len", offHdrExtLen, ErrTruncated,
			"message claims "+itoa(n)+" octets, packet holds "+itoa(len(b)))
	}
	if n := h.Len(); n > MaxMessageLen {
		return h, errorf(h.Type, "Hdr Ext Len", offHdrExtLen, ErrTooBig,
			itoa(n)+" octets exceeds "+itoa(MaxMessageLen))
	}
	return h, nil
}

// ChecksumOK reports whether msg, exactly one control message, carries a
// correct checksum: the one's complement sum over the whole message, the
// checksum field included, is all ones (RFC 5533 §5.3; no pseudo-header).
func ChecksumOK(msg []byte) bool { return header.Checksum(msg) == 0 }

// ComputeChecksum returns the checksum msg should carry: the Internet
// checksum of the message with the checksum field taken as zero (RFC 5533
// §5.3). The field's current value does not matter.
func ComputeChecksum(msg []byte) uint16 {
	s := header.ChecksumAdd(0, msg[:offChecksum])
	s = header.ChecksumAdd(s, msg[offChecksum+2:])
	return ^header.ChecksumFold(s)
}

// setChecksum fills in the checksum of a fully written message.
func setChecksum(msg []byte) {
	msg[offChecksum], msg[offChecksum+1] = 0, 0
	binary.BigEndian.PutUint16(msg[offChecksum:], header.Checksum(msg))
}

// PayloadHeader is the Shim6 payload extension header (RFC 5533 §5.2).
type PayloadHeader struct {
	// NextHeader is the protocol of the ULP payload that follows.
	NextHeader uint8
	// ContextTag is the 47-bit receiver context tag.
	ContextTag uint64
}

// ParsePayloadHeader reads a payload extension header: 8 octets, Hdr Ext Len
// 0 and P = 1 (RFC 5533 §5.2). The ULP payload is b[PayloadHeaderLen:].
func ParsePayloadHeader(b []byte) (PayloadHeader, error) {
	if len(b) < PayloadHeaderLen {
		return PayloadHeader{}, errorf(0, "payload extension header", 0, ErrTruncated,
			"need "+itoa(PayloadHeaderLen)+" octets, have "+itoa(len(b)))
	}
	if b[offPType]&pBit == 0 {
		return PayloadHeader{}, errorf(0, "P bit", offPType, ErrPBit, "control message where a payload extension header was expected")
	}
	if b[offHdrExtLen] != 0 {
		return PayloadHeader{}, errorf(0, "payload extension header: Hdr Ext Len", offHdrExtLen, ErrBadLength,
			"is "+itoa(int(b[offHdrExtLen]))+", must be 0")
	}
	return PayloadHeader{NextHeader: b[offNextHeader], ContextTag: getTag(b[offPType:])}, nil
}

// MarshalTo writes the payload extension header into b[:PayloadHeaderLen]
// (RFC 5533 §5.2) and returns PayloadHeaderLen.
func (p PayloadHeader) MarshalTo(b []byte) (int, error) {
	if len(b) < PayloadHeaderLen {
		return 0, errorf(0, "payload extension header", 0, ErrShortBuffer, "need "+itoa(PayloadHeaderLen)+" octets")
	}
	if p.ContextTag > MaxContextTag {
		return 0, errorf(0, "payload extension header: Receiver Context Tag", offPType, ErrInvalidValue, "wider than 47 bits")
	}
	b[offNextHeader] = p.NextHeader
	b[offHdrExtLen] = 0
	putTag(b[offPType:], p.ContextTag)
	b[offPType] |= pBit
	return PayloadHeaderLen, nil
}

// getTag reads a 47-bit context tag from the 6 octets at b, ignoring the bit
// above it (P or R).
func getTag(b []byte) uint64 {
	_ = b[5]
	return uint64(b[0]&0x7f)<<40 | uint64(b[1])<<32 | uint64(binary.BigEndian.Uint32(b[2:]))
}

// putTag writes a 47-bit context tag into the 6 octets at b with the bit
// above it (P or R) zero. The caller has checked tag <= MaxContextTag.
func putTag(b []byte, tag uint64) {
	_ = b[5]
	b[0] = byte(tag>>40) & 0x7f
	b[1] = byte(tag >> 32)
	binary.BigEndian.PutUint32(b[2:], uint32(tag))
}
