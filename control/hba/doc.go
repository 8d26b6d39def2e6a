// Package hba binds a Shim6 locator set to a ULID: Cryptographically
// Generated Addresses (RFC 3972), Hash-Based Addresses and HBA sets (RFC
// 5535), and the CGA signatures that cover locators outside an HBA set (RFC
// 3972 §6, RFC 5533 §5.15.5).
//
// # Generation
//
// GenerateCGA makes one CGA (RFC 3972 §4) and GenerateHBASet one HBA set
// (RFC 5535 §6): the same modifier and Multi-Prefix extension for every
// prefix, one address per prefix. An HBA set is CGA-compatible when it is
// given a real RSA public key (the P flag is set and the addresses can also
// be signed for); an HBA-only set carries a 384-bit random Extended Modifier
// encoded as an RSA key instead (RFC 5535 §6 step 2; ExtendedModifier).
// Both run the modifier search of RFC 3972 §4 steps 2–3 (SearchModifier),
// which costs about 2^(16·Sec) SHA-1 computations: milliseconds for Sec 1,
// hours of CPU for Sec 2. The search is cancellable through its context,
// reports progress, can use several goroutines and does not allocate while
// it hashes.
//
// # Verification
//
// The CGA Parameters a peer sends (the CGA Parameter Data Structure option,
// RFC 5533 §5.15.4) are parsed once with ParseParameters, using the codec in
// shim6d/control/wire. The result is immutable, safe to share between
// goroutines, and meant to be kept in the context so Update Requests that
// carry no new parameters can be checked against it (RFC 5533 §10.4). Parsing
// computes Hash2 once (RFC 3972 §5 step 6 does not depend on the address),
// so each address check afterwards is one SHA-1 over the parameters with the
// address's prefix in the Subnet Prefix field (RFC 5535 §7.2), and does not
// allocate.
//
// VerifyLocators (and the method of the same name) judges a whole Locator
// List (RFC 5533 §5.15.2, §7.2): the verification methods must fit the
// parameters, the ULID must be bound to them, each HBA locator must be in
// the HBA set, and the CGA locators must be covered by a valid CGA Signature
// from the parameters' public key. The Result says for every locator
// whether HBA or the signature verified it, or why it is refused; a Reason
// is a small value with a name for counters and a sentence for logs.
//
// Sec values above 2 are refused by the HBA procedures, which RFC 5535 §6
// and §7 define for Sec 0, 1 and 2 only; plain CGA verification follows RFC
// 3972 §5 for all eight values.
//
// # Keys
//
// Only RSA keys are used, as RFC 3972 §3 and §6 prescribe (rsaEncryption,
// RSASSA-PKCS1-v1_5 with SHA-1). Keys under 1024 bits are refused: RFC 3972
// allows 384, but Go's crypto/rsa no longer signs or verifies with keys that
// small.
package hba
