// Package header has zero-copy views over packet headers for the fast path:
// Ethernet, IPv6 and its extension-header chain, and the Shim6 payload
// extension header (RFC 5533 §5.1), plus Internet checksum helpers.
//
// Views are byte slices with accessors; they never copy and never allocate.
// Each view documents the precondition its accessors rely on (usually a
// minimum length checked once with IsValid); accessors do not re-check.
//
// The package imports nothing else from this project, so both the workers
// and the control-message codec can use it.
package header
