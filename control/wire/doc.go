// Package wire is the Shim6 control-message codec: the common header
// (RFC 5533 §5.3), every control message (RFC 5533 §5.4–§5.14, RFC 5534
// §5.1–§5.2), every option (RFC 5533 §5.15, RFC 5534 §5.3), the payload
// extension header (RFC 5533 §5.2), and the CGA Parameters data structure
// (RFC 3972 §3) with the Multi-Prefix extension (RFC 5535 §5).
//
// # Encoding
//
// Each message is a plain struct (I1, R1, I2, R2, R1bis, I2bis,
// UpdateRequest, UpdateAck, Keepalive, Probe, ErrorMessage) that implements
// Message. MarshalTo writes the message, checksum included, into a buffer the
// caller owns — typically the Shim6 part of a packet buffer the control core
// allocated — and does not allocate. The encoder is as strict as the decoder:
// it refuses values the decoder would refuse (a missing Responder Validator in
// an I2, a context tag wider than 47 bits, an option not defined for the
// message, a message over the 1280-octet packet limit), so a control core
// cannot put a malformed message on the wire.
//
// # Decoding
//
// Decode parses one control message into a freshly allocated value. Byte
// fields (validators, CGA structures, unknown options, the packet in error)
// alias one private copy of the message, so the value stays valid after the
// packet buffer is recycled; that copy is the only allocation besides the
// message struct and its option structs.
//
// Every failure is an *Error naming the message, the field and the octet
// offset, wrapping one sentinel (ErrTruncated, ErrBadLength, ErrBadChecksum,
// ErrPBit, ...) for errors.Is. Two failures oblige the receiver to answer
// with a Shim6 Error message (RFC 5533 §12.3): an unknown message type and an
// unknown option with the critical bit set; Error.Reply gives the Error Code
// and Pointer for those, and NewErrorMessage builds the reply.
//
// # Which checks are the decoder's
//
// The decoder checks everything that can be judged from the message bytes
// alone:
//   - framing: the buffer holds the 8-octet common header and the whole
//     message Hdr Ext Len claims; the message fits the 1280-octet packet
//     limit (RFC 5533 §5.1, less the 40-octet IPv6 header);
//   - P = 0 for control messages and P = 1 for the payload header (§5.1),
//     S = 0 (§5.3), Next Header = 59 (§5.4–§5.14), the checksum (§5.3);
//   - a known type, and Hdr Ext Len at least the fixed part of that type
//     (§7.9, §7.11, §7.13, §7.16, §7.18, §7.20, §10.4, §10.5);
//   - field values with a closed set of legal values: Probe Psent >= 1 and
//     State 0–2 (RFC 5534 §5.2), a Locator List with at least one locator,
//     a Locator Preferences element length >= 1;
//   - options: each inside the message, a Length that fits its type (36 for
//     ULID Pair, 4 for Forked Instance Identifier and Keepalive Timeout, the
//     exact internal-padding length for Locator List), no known option twice,
//     unknown or not-allowed-here options kept raw when C = 0 and refused
//     with ErrUnknownCriticalOption when C = 1 (§5.15);
//   - options the RFC makes mandatory inside the same message: Responder
//     Validator in R1, I2, R1bis and I2bis (§5.5, §5.6, §5.8, §5.9, §7.17);
//     a CGA Parameter Data Structure with every Locator List in I2, R2 and
//     I2bis (§5.6, §5.7, §5.9); a CGA Signature whenever a listed locator
//     uses CGA verification (§5.6, §5.7, §5.9, §5.10).
//
// Reserved fields and the R bits are ignored on receipt and written as zero,
// as every message section of RFC 5533 and RFC 5534 prescribes; they are
// therefore not part of the decoded values.
//
// Left to the state machine, because they need context state, the IPv6
// header or cryptography:
//   - the IPv6 source and destination are neither multicast nor unspecified
//     (§12.3) and whether a ULID Pair option is needed (§5.15.6);
//   - context lookup by tag, nonce or ULID pair, nonce freshness and the
//     Responder Validator (§7.13, §7.20, §12.4);
//   - the PDS in an Update Request when none was sent in I2/I2bis/R2
//     (§5.10), HBA/CGA verification of the PDS and the signature, and the
//     verification method values themselves (Error Code 2);
//   - Locator List Generation matching (Error Code 3) and the number of
//     Locator Preferences elements against the locator list in use (Error
//     Code 4), for which OptionOffset gives the Error message's Pointer;
//   - REAP semantics of probe reports (RFC 5534 §6).
package wire
