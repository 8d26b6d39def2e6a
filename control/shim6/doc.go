// Package shim6 is the Shim6 signalling state machine (RFC 5533 §7, §10,
// §12.4) of a proxy that performs the shim for the unmodified hosts behind
// it (the seed draft's "multi6 proxy", §11): context establishment with
// I1/R1/I2/R2, concurrent establishment, context recovery with
// R1bis/I2bis/R2, locator updates, message-to-context matching, context
// confusion, and idle collection.
//
// It is pure logic: no ports, no goroutines, no locks. The control core
// calls it from its one goroutine and wires it up through Config: received
// control messages go in through HandleMessage, fast-path events through
// HandleEvent, messages come out through Config.Send, time comes from
// Config.Now and advances timers on Tick, and the contexts it establishes
// are published to the fast path's dataplane.ContextTable, of which it is
// the writer. Tests drive two machines back to back with a fake clock.
//
// # Contract
//
//   - Establish(local, peer) starts a context as initiator (the answer to
//     dataplane.EventEstablish); SetLocalLocators / RefreshLocalLocators
//     tell peers of a changed locator set; PeerNoSupport reports an ICMPv6
//     Unrecognized Next Header for our I1.
//   - A context gets its table record, and CT(local), when it leaves IDLE,
//     with current locators equal to its ULIDs: the fast path forwards
//     such traffic unchanged. CT(peer) is filled in when the peer's tag is
//     known (R2, I2, I2bis). The machine never moves the current locator
//     pair; that takes a verified (HBA/CGA, done here) and reachable
//     (REAP, RFC 5534, not here) pair.
//   - The responder keeps no state before a valid I2 or I2bis (§7.10,
//     §7.17): R1 and R1bis carry an HMAC validator under a rotating secret
//     (see validator.go).
//   - Locators are bound to ULIDs by a Verifier (HBA/CGA, RFC 5535/3972)
//     the control core provides; the machine's own locator sets come from
//     Config.LocalLocators and, for CGA, Config.Sign.
//
// # Scale
//
// Contexts are designed to number a million: the protocol state of a
// context is a pointer-free record in fixed pages indexed by its table
// slot, lookups by ULID pair and by CT(local) are the fast-path table's own
// indices, and timers are a hashed timing wheel of intrusive lists in
// those records (timer.go). Per-context heap objects exist only for a
// handshake in progress and for a peer that sent a Locator List; CGA
// parameters are interned per peer host. Stats gives counters by event
// and contexts by state.
//
// # Not supported
//
// Forked contexts (a non-zero Forked Instance Identifier, RFC 5533 §4.2)
// are refused: the fast-path table holds one context per ULID pair.
package shim6
