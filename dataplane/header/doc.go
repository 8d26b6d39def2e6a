// Package header has zero-copy views over packet headers for the fast path:
// Ethernet, IPv6 and its extension-header chain (RFC 8200 §4), the Shim6
// common and payload extension headers (RFC 5533 §5.1–5.3) with insertion
// and removal of the payload header in place, ICMPv6 (RFC 4443) and the
// Neighbor Discovery messages and options the proxy answers (RFC 4861),
// plus Internet checksum helpers.
//
// Views are byte slices with accessors; they never copy and never allocate.
// Each view documents the precondition its accessors rely on (usually a
// minimum length checked once with IsValid); accessors do not re-check.
// The functions that take whole packets (WalkExtensions,
// InsertShim6Payload, StripShim6Payload, the ND option walker) check every
// length themselves and never panic, whatever the input: they report what
// is wrong with a small reason code (ChainError, ShimResult) that the
// worker counts as a drop reason, not with an error value.
//
// The package imports nothing else from this project, so both the workers
// and the control-message codec can use it.
package header
