package wire

import "strconv"

// Type is the 7-bit Shim6 control message type (RFC 5533 §5.3, Table 1).
type Type uint8

// Message types, RFC 5533 §5.3 Table 1 and RFC 5534 §5.
const (
	// TypeI1 is the first establishment message from the initiator (RFC 5533 §5.4).
	TypeI1 Type = 1
	// TypeR1 is the first establishment message from the responder (RFC 5533 §5.5).
	TypeR1 Type = 2
	// TypeI2 is the second establishment message from the initiator (RFC 5533 §5.6).
	TypeI2 Type = 3
	// TypeR2 is the second establishment message from the responder (RFC 5533 §5.7).
	TypeR2 Type = 4
	// TypeR1bis replies to a reference to a non-existent context (RFC 5533 §5.8).
	TypeR1bis Type = 5
	// TypeI2bis replies to an R1bis message (RFC 5533 §5.9).
	TypeI2bis Type = 6
	// TypeUpdateRequest carries a new locator list or preferences (RFC 5533 §5.10).
	TypeUpdateRequest Type = 64
	// TypeUpdateAck acknowledges an Update Request (RFC 5533 §5.11).
	TypeUpdateAck Type = 65
	// TypeKeepalive is the REAP Keepalive message (RFC 5534 §5.1).
	TypeKeepalive Type = 66
	// TypeProbe is the REAP Probe message (RFC 5534 §5.2).
	TypeProbe Type = 67
	// TypeError is the Shim6 Error message (RFC 5533 §5.14).
	TypeError Type = 68
)

var typeNames = [...]string{
	TypeI1: "I1", TypeR1: "R1", TypeI2: "I2", TypeR2: "R2", TypeR1bis: "R1bis", TypeI2bis: "I2bis",
	TypeUpdateRequest: "Update Request", TypeUpdateAck: "Update Acknowledgement",
	TypeKeepalive: "Keepalive", TypeProbe: "Probe", TypeError: "Error",
}

// String returns the message name used in RFC 5533 §5.3 Table 1.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "type " + strconv.Itoa(int(t))
}

// Known reports whether t is a message type this package decodes (RFC 5533
// §5.3 Table 1). A receiver answers any other type with an Error message,
// Error Code 0 (RFC 5533 §12.3).
func (t Type) Known() bool { return int(t) < len(specs) && specs[t].fixed != 0 }

// TriggersR1bis reports whether a message of this type that names an unknown
// context is answered with an R1bis: types 64–127 do, 0–63 do not (RFC 5533
// §5.3).
func (t Type) TriggersR1bis() bool { return t >= 64 && t <= 127 }

// OptionType is the 15-bit Shim6 option type (RFC 5533 §5.15, Table 3); the
// critical bit is kept apart.
type OptionType uint16

// Option types, RFC 5533 §5.15 Table 3.
const (
	// OptResponderValidator is the Responder Validator option (RFC 5533 §5.15.1).
	OptResponderValidator OptionType = 1
	// OptLocatorList is the Locator List option (RFC 5533 §5.15.2).
	OptLocatorList OptionType = 2
	// OptLocatorPreferences is the Locator Preferences option (RFC 5533 §5.15.3).
	OptLocatorPreferences OptionType = 3
	// OptCGAParameterDataStructure is the CGA Parameter Data Structure option (RFC 5533 §5.15.4).
	OptCGAParameterDataStructure OptionType = 4
	// OptCGASignature is the CGA Signature option (RFC 5533 §5.15.5).
	OptCGASignature OptionType = 5
	// OptULIDPair is the ULID Pair option (RFC 5533 §5.15.6).
	OptULIDPair OptionType = 6
	// OptForkedInstanceIdentifier is the Forked Instance Identifier option (RFC 5533 §5.15.7).
	OptForkedInstanceIdentifier OptionType = 7
	// OptKeepaliveTimeout is the Keepalive Timeout option (RFC 5534 §5.3).
	OptKeepaliveTimeout OptionType = 10
)

var optionNames = [...]string{
	OptResponderValidator: "Responder Validator", OptLocatorList: "Locator List",
	OptLocatorPreferences: "Locator Preferences", OptCGAParameterDataStructure: "CGA Parameter Data Structure",
	OptCGASignature: "CGA Signature", OptULIDPair: "ULID Pair",
	OptForkedInstanceIdentifier: "Forked Instance Identifier", OptKeepaliveTimeout: "Keepalive Timeout",
}

// String returns the option name used in RFC 5533 §5.15 Table 3.
func (t OptionType) String() string {
	if int(t) < len(optionNames) && optionNames[t] != "" {
		return optionNames[t]
	}
	return "option type " + strconv.Itoa(int(t))
}

// ErrorCode is the 7-bit code of a Shim6 Error message (RFC 5533 §5.14,
// Table 2).
type ErrorCode uint8

// Error codes, RFC 5533 §5.14 Table 2.
const (
	// ErrorCodeUnknownType answers an unknown message type; the Pointer names
	// the type octet (RFC 5533 §12.3).
	ErrorCodeUnknownType ErrorCode = 0
	// ErrorCodeCriticalOption answers an unrecognised option with C = 1; the
	// Pointer names the option's first octet (RFC 5533 §5.15).
	ErrorCodeCriticalOption ErrorCode = 1
	// ErrorCodeVerificationFailed reports a failed locator verification
	// method; the Pointer names the verification method octet (RFC 5533
	// §5.14).
	ErrorCodeVerificationFailed ErrorCode = 2
	// ErrorCodeGenerationOutOfSync reports a Locator List Generation number
	// out of sync (RFC 5533 §5.14).
	ErrorCodeGenerationOutOfSync ErrorCode = 3
	// ErrorCodeLocatorCount reports a wrong number of locators in a Locator
	// Preferences option (RFC 5533 §5.14).
	ErrorCodeLocatorCount ErrorCode = 4
	// ErrorCodeDebugFirst is the first of the codes 120–127 reserved for
	// debugging (RFC 5533 §5.14).
	ErrorCodeDebugFirst ErrorCode = 120
)

// String describes the code as RFC 5533 §5.14 Table 2 does.
func (c ErrorCode) String() string {
	switch {
	case c == ErrorCodeUnknownType:
		return "unknown Shim6 message type"
	case c == ErrorCodeCriticalOption:
		return "critical option not recognized"
	case c == ErrorCodeVerificationFailed:
		return "locator verification method failed"
	case c == ErrorCodeGenerationOutOfSync:
		return "locator list generation number out of sync"
	case c == ErrorCodeLocatorCount:
		return "error in the number of locators in a locator preference option"
	case c >= ErrorCodeDebugFirst && c <= 127:
		return "debugging code " + strconv.Itoa(int(c))
	}
	return "error code " + strconv.Itoa(int(c))
}

// VerificationMethod is the per-locator verification method octet of the
// Locator List option (RFC 5533 §5.15.2, Table 4).
type VerificationMethod uint8

// Verification methods, RFC 5533 §5.15.2 Table 4.
const (
	// VerifyHBA verifies the locator as a Hash-Based Address (RFC 5535).
	VerifyHBA VerificationMethod = 1
	// VerifyCGA verifies the locator as a CGA (RFC 3972) with a CGA
	// Signature option.
	VerifyCGA VerificationMethod = 2
)

// String names the method as RFC 5533 §5.15.2 Table 4 does.
func (v VerificationMethod) String() string {
	switch v {
	case VerifyHBA:
		return "HBA"
	case VerifyCGA:
		return "CGA"
	case 0, 255:
		return "reserved(" + strconv.Itoa(int(v)) + ")"
	}
	return "method " + strconv.Itoa(int(v))
}

// PreferenceFlags is the Flags octet of a Locator Preferences element (RFC
// 5533 §5.15.3).
type PreferenceFlags uint8

// Locator preference flags, RFC 5533 §5.15.3.
const (
	// PreferenceBroken says the locator is known not to work (RFC 5533
	// §5.15.3).
	PreferenceBroken PreferenceFlags = 0x01
	// PreferenceTransient marks a less stable (care-of) locator (RFC 5533
	// §5.15.3).
	PreferenceTransient PreferenceFlags = 0x02
)

// ReapState is the 2-bit State field of a Probe message (RFC 5534 §5.2).
type ReapState uint8

// REAP states as a Probe reports them, RFC 5534 §5.2.
const (
	// ReapOperational: the sender sees no problem in either direction
	// (RFC 5534 §5.2, value 0).
	ReapOperational ReapState = 0
	// ReapExploring: the sender has a problem communicating with the peer
	// (RFC 5534 §5.2, value 1).
	ReapExploring ReapState = 1
	// ReapInboundOK: the sender receives from the peer, which may not yet
	// receive from it (RFC 5534 §5.2, value 2).
	ReapInboundOK ReapState = 2
)

// String names the state as RFC 5534 §5.2 does.
func (s ReapState) String() string {
	switch s {
	case ReapOperational:
		return "Operational"
	case ReapExploring:
		return "Exploring"
	case ReapInboundOK:
		return "InboundOk"
	}
	return "state " + strconv.Itoa(int(s))
}

// Sizes and limits from RFC 5533 §5.
const (
	// ProtocolNumber is the IPv6 Next Header value of Shim6 (RFC 5533 §5).
	ProtocolNumber = 140
	// NoNextHeader is the Next Header value every control message carries
	// (RFC 5533 §5.4–§5.14).
	NoNextHeader = 59
	// HeaderLen is the length of the common control header up to and
	// including the checksum and the two octets after it (RFC 5533 §5.3);
	// it is also the length of the payload extension header (§5.2).
	HeaderLen = 8
	// PayloadHeaderLen is the length of the Shim6 payload extension header
	// (RFC 5533 §5.2).
	PayloadHeaderLen = 8
	// MaxPacketLen is the largest Shim6 signalling packet, IPv6 header
	// included (RFC 5533 §5.1).
	MaxPacketLen = 1280
	// IPv6HeaderLen is the length of the IPv6 fixed header, which counts
	// against the 1280 octets of RFC 5533 §5.1.
	IPv6HeaderLen = 40
	// MaxMessageLen is the largest control message this package encodes or
	// accepts: MaxPacketLen less the IPv6 header (RFC 5533 §5.1). A sender
	// with extension headers between IPv6 and Shim6 must stay below it by
	// their length.
	MaxMessageLen = MaxPacketLen - IPv6HeaderLen
	// MaxContextTag is the largest 47-bit context tag (RFC 5533 §5.2).
	MaxContextTag = 1<<47 - 1
	// MaxProbeReports is the most sent (or received) probe reports one
	// Probe carries: Psent and Precvd are 4-bit counts (RFC 5534 §5.2).
	MaxProbeReports = 15
	// MaxLocators is the most locators one Locator List option carries: Num
	// Locators is an 8-bit count (RFC 5533 §5.15.2).
	MaxLocators = 255
)
