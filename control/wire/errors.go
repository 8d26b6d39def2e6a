package wire

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error this package returns is an *Error wrapping
// exactly one of these, so callers test with errors.Is and count drops by
// reason.
var (
	// ErrTruncated: the buffer ends before the common header, or before the
	// end of the message its Hdr Ext Len claims (RFC 5533 §12.3), or a CGA
	// Parameters structure ends inside a field (RFC 3972 §3).
	ErrTruncated = errors.New("truncated")
	// ErrBadLength: a length field disagrees with the format: Hdr Ext Len
	// below the fixed part of the type (RFC 5533 §7.9 ff.), an option that
	// overruns the message or whose Length is wrong for its type (§5.15), a
	// length that is not a multiple of the element or 8-octet unit it counts.
	ErrBadLength = errors.New("bad length")
	// ErrBadChecksum: the checksum over the message does not verify (RFC
	// 5533 §5.3).
	ErrBadChecksum = errors.New("bad checksum")
	// ErrPBit: the P bit says payload extension header where a control
	// message is expected, or the reverse (RFC 5533 §5.1).
	ErrPBit = errors.New("wrong P bit")
	// ErrSBit: the S bit, which tells Shim6 from HIP, is set (RFC 5533 §5.3).
	ErrSBit = errors.New("S bit set")
	// ErrUnknownType: the message type is not one of RFC 5533 Table 1; the
	// receiver answers with Error Code 0 (RFC 5533 §12.3).
	ErrUnknownType = errors.New("unknown message type")
	// ErrUnknownCriticalOption: an option with C = 1 that is unknown or not
	// defined for this message; the rest of the message must not be processed
	// and the receiver answers with Error Code 1 (RFC 5533 §5.15, §12.3).
	ErrUnknownCriticalOption = errors.New("unknown critical option")
	// ErrMissingOption: an option the RFC makes mandatory in this message is
	// absent (e.g. the Responder Validator in an I2, RFC 5533 §5.6).
	ErrMissingOption = errors.New("missing mandatory option")
	// ErrDuplicateOption: a known option appears twice in one message; RFC
	// 5533 §5.15 gives each a single meaning per message.
	ErrDuplicateOption = errors.New("duplicate option")
	// ErrInvalidValue: a field holds a value its definition excludes (Probe
	// State 3 or Psent 0, RFC 5534 §5.2; Next Header other than 59, RFC 5533
	// §5.4–§5.14; a context tag over 47 bits, §5.2; a non-IPv6 address).
	ErrInvalidValue = errors.New("invalid value")
	// ErrTooBig: the message exceeds MaxMessageLen, so its packet would
	// exceed 1280 octets (RFC 5533 §5.1).
	ErrTooBig = errors.New("message too big")
	// ErrShortBuffer: the encoder's destination is smaller than the message
	// (whose length Hdr Ext Len gives, RFC 5533 §5.3).
	ErrShortBuffer = errors.New("buffer too short")
)

// Error describes one decoding or encoding failure of a Shim6 message (RFC
// 5533 §5) or CGA Parameters structure (RFC 3972 §3): which message, which
// field, where and why. Err is the sentinel it wraps.
type Error struct {
	// Msg is the message type being processed; 0 before the type is known
	// and for structures outside a message (CGA Parameters).
	Msg Type
	// Field names the field or option, e.g. "Responder Validator option".
	Field string
	// Offset is the octet offset of the field from the start of the Shim6
	// header (or of the CGA Parameters structure), or -1 when not known.
	Offset int
	// Err is one of the sentinel errors of this package.
	Err error
	// Reason says what was wrong in words.
	Reason string
}

// Error formats the failure as "shim6 I2: Responder Validator option at
// octet 24: bad length: ..." (field names as in RFC 5533 §5).
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("shim6")
	if e.Msg != 0 {
		b.WriteString(" ")
		b.WriteString(e.Msg.String())
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	if e.Offset >= 0 {
		b.WriteString(" at octet ")
		b.WriteString(strconv.Itoa(e.Offset))
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	return b.String()
}

// Unwrap returns the sentinel, for errors.Is; the sentinels name the RFC
// 5533 §12.3 checks.
func (e *Error) Unwrap() error { return e.Err }

// Reply reports whether RFC 5533 asks the receiver to answer this failure
// with a Shim6 Error message (§12.3: unknown type → Error Code 0 pointing at
// the type octet; unknown critical option → Error Code 1 pointing at the
// option's first octet, §5.15), and with which code and pointer. The
// pointer counts from the Shim6 header; the Error message's Pointer counts
// from the start of the invoking packet, so add the Shim6 header's offset
// in that packet (NewErrorMessage takes both).
func (e *Error) Reply() (code ErrorCode, pointer int, ok bool) {
	switch e.Err {
	case ErrUnknownType:
		return ErrorCodeUnknownType, e.Offset, true
	case ErrUnknownCriticalOption:
		return ErrorCodeCriticalOption, e.Offset, true
	}
	return 0, 0, false
}

func errorf(msg Type, field string, off int, sentinel error, reason string) *Error {
	return &Error{Msg: msg, Field: field, Offset: off, Err: sentinel, Reason: reason}
}

func itoa(n int) string { return strconv.Itoa(n) }
