package shim6

import (
	"sync/atomic"

	"shim6d/control/wire"
)

// msgKind indexes the per-type message counters.
type msgKind uint8

const (
	kindI1 msgKind = iota
	kindR1
	kindI2
	kindR2
	kindR1bis
	kindI2bis
	kindUpdateRequest
	kindUpdateAck
	kindKeepalive
	kindProbe
	kindError
	kindOther
	numKinds
)

var kindNames = [numKinds]string{
	"i1", "r1", "i2", "r2", "r1bis", "i2bis", "update_request", "update_ack", "keepalive", "probe", "error", "other",
}

// kindOf maps a message type (RFC 5533 §5.3 Table 1) to its counter.
func kindOf(t wire.Type) msgKind {
	switch {
	case t >= wire.TypeI1 && t <= wire.TypeI2bis:
		return msgKind(t - wire.TypeI1)
	case t >= wire.TypeUpdateRequest && t <= wire.TypeError:
		return kindUpdateRequest + msgKind(t-wire.TypeUpdateRequest)
	}
	return kindOther
}

// Stats are the machine's counters (RFC 5533 §7, §10 events). The machine
// is their only writer; they are atomics so exporters may read them from
// other goroutines. Each counter field has its metric name and help in
// counterInfo.
type Stats struct {
	// HandshakesStarted counts I1 exchanges we began (RFC 5533 §7.7).
	HandshakesStarted atomic.Uint64
	// HandshakesCompleted counts contexts we initiated that reached
	// ESTABLISHED (§7.16, or §7.13 when I2 and I1 crossed).
	HandshakesCompleted atomic.Uint64
	// FailedNoResponse counts handshakes given up after I1_RETRIES_MAX
	// (§7.8) or too many I2/I2bis fallbacks (§7.12).
	FailedNoResponse atomic.Uint64
	// FailedNoSupport counts handshakes ended by ICMP Unrecognized Next
	// Header (§7.8).
	FailedNoSupport atomic.Uint64
	// FailedTableFull counts contexts the table had no room for.
	FailedTableFull atomic.Uint64
	// FailedNoLocators counts Establish calls for a ULID the machine does
	// not serve or whose locator set was unusable.
	FailedNoLocators atomic.Uint64
	// ResponderContexts counts contexts made on a valid I2 (§7.13).
	ResponderContexts atomic.Uint64
	// RecoveredContexts counts contexts re-made on a valid I2bis (§7.20).
	RecoveredContexts atomic.Uint64
	// RecoveriesStarted counts I2bis exchanges begun on R1bis (§7.18).
	RecoveriesStarted atomic.Uint64
	// RecoveriesCompleted counts those that got their R2 (§7.16).
	RecoveriesCompleted atomic.Uint64
	// Unshimmed counts contexts put back on their ULIDs when a recovery
	// failed (§11).
	Unshimmed atomic.Uint64
	// Adopted counts contexts taken over from an active box's replicas
	// (Adopt), established without a handshake.
	Adopted atomic.Uint64
	// ValidatorFailures counts I2/I2bis whose Responder Validator was
	// wrong, forged or made with a secret no longer kept (§7.13, §7.20).
	ValidatorFailures atomic.Uint64
	// VerificationFailures counts locator lists or CGA parameters the
	// Verifier refused (§7.2).
	VerificationFailures atomic.Uint64
	// Retransmissions counts I1, I2 and I2bis resent on timeout (§7.8,
	// §7.12, §7.19).
	Retransmissions atomic.Uint64
	// UpdatesStarted counts Update Requests with new content (§10.1).
	UpdatesStarted atomic.Uint64
	// UpdateRetransmissions counts Update Requests resent (§10.2).
	UpdateRetransmissions atomic.Uint64
	// UpdatesCompleted counts Update Requests acknowledged (§10.5).
	UpdatesCompleted atomic.Uint64
	// UpdatesAccepted counts peers' Update Requests we acknowledged
	// (§10.4).
	UpdatesAccepted atomic.Uint64
	// ContextConfusions counts contexts removed because the peer reused
	// their CT(peer) for another ULID pair (§7.6, §7.15).
	ContextConfusions atomic.Uint64
	// IdleRemoved counts contexts collected as idle (§9).
	IdleRemoved atomic.Uint64
	// StaleLocators counts Update/Keepalive/Probe messages whose locators
	// were not in the context's sets, answered with R1bis (§12.4).
	StaleLocators atomic.Uint64
	// Unmatched counts messages silently discarded because no context
	// matched or its state takes no such message (§7.11, §7.16, §7.18,
	// Appendix B).
	Unmatched atomic.Uint64
	// Malformed counts messages the codec refused (§12.3), and messages
	// with multicast or unspecified addresses.
	Malformed atomic.Uint64
	// ForkedRefused counts I1/I2/I2bis asking for a forked context (a
	// non-zero Forked Instance Identifier, §4.2), which the fast path's
	// one-context-per-ULID-pair table cannot hold.
	ForkedRefused atomic.Uint64
	// NotServed counts messages for a local ULID the machine does not act
	// for.
	NotServed atomic.Uint64
	// R1bisRateLimited counts R1bis messages suppressed (§7.17), by
	// either limit.
	R1bisRateLimited atomic.Uint64
	// ErrorsRateLimited counts Shim6 Error messages suppressed (§5.14),
	// by either limit.
	ErrorsRateLimited atomic.Uint64
	// R1RateLimited counts I1s dropped unanswered because an R1 was over
	// a limit (§7.10; Config.R1Rate, R1RatePerPrefix): the initiator's
	// retransmission gets the next chance.
	R1RateLimited atomic.Uint64
	// R1RateLimitedPrefix counts those of R1RateLimited refused by the
	// source /64's own bucket; the rest hit the global cap.
	R1RateLimitedPrefix atomic.Uint64
	// R1KnownPeer counts I1s from the /64 of a peer a context was
	// established with, which take a limit of their own (see sendR1).
	R1KnownPeer atomic.Uint64
	// R1bisRateLimitedPrefix and ErrorsRateLimitedPrefix count those of
	// R1bisRateLimited and ErrorsRateLimited refused by the source /64's
	// bucket.
	R1bisRateLimitedPrefix  atomic.Uint64
	ErrorsRateLimitedPrefix atomic.Uint64
	// MinimalPeersFound counts peers found to drop messages that carry
	// options they do not know, though RFC 5533 §5.15 says to ignore
	// those whose C bit is 0 (LinShim6; minimal.go): an I2, I2bis or
	// Update Request with Locator Preferences or a ULID Pair went
	// unanswered, or an R2 with them was followed by the same I2 again.
	MinimalPeersFound atomic.Uint64
	// MinimalMessages counts messages sent to such peers without the
	// options they would have carried.
	MinimalMessages atomic.Uint64
	// MinimalPeersEvicted counts minimal peers forgotten early because
	// Config.MinimalPeers were remembered already.
	MinimalPeersEvicted atomic.Uint64

	in, out [numKinds]atomic.Uint64
	states  [numStates]atomic.Int64
}

// counterInfo is every event counter's metric name, help text and field,
// in the order Each lists them. The names are Prometheus series and admin
// JSON keys: they never change. A field of Stats left out of it fails
// TestEachListsEveryCounter.
var counterInfo = [...]struct {
	name, help string
	field      func(*Stats) *atomic.Uint64
}{
	{"shim6_handshakes_started", "Shim6 I1 exchanges begun (RFC 5533 §7.7)",
		func(s *Stats) *atomic.Uint64 { return &s.HandshakesStarted }},
	{"shim6_handshakes_completed", "Shim6 contexts we initiated that reached ESTABLISHED",
		func(s *Stats) *atomic.Uint64 { return &s.HandshakesCompleted }},
	{"shim6_handshakes_failed_no_response", "Shim6 handshakes given up: no R1/R2 (RFC 5533 §7.8)",
		func(s *Stats) *atomic.Uint64 { return &s.FailedNoResponse }},
	{"shim6_handshakes_failed_no_support", "Shim6 handshakes ended by ICMP Unrecognized Next Header",
		func(s *Stats) *atomic.Uint64 { return &s.FailedNoSupport }},
	{"shim6_handshakes_failed_table_full", "Shim6 contexts refused: context table full",
		func(s *Stats) *atomic.Uint64 { return &s.FailedTableFull }},
	{"shim6_handshakes_failed_no_locators", "Shim6 handshakes refused: ULID not served or locator set unusable",
		func(s *Stats) *atomic.Uint64 { return &s.FailedNoLocators }},
	{"shim6_responder_contexts", "Shim6 contexts made on a valid I2 (RFC 5533 §7.13)",
		func(s *Stats) *atomic.Uint64 { return &s.ResponderContexts }},
	{"shim6_recovered_contexts", "Shim6 contexts re-made on a valid I2bis (RFC 5533 §7.20)",
		func(s *Stats) *atomic.Uint64 { return &s.RecoveredContexts }},
	{"shim6_recoveries_started", "Shim6 I2bis exchanges begun on R1bis (RFC 5533 §7.18)",
		func(s *Stats) *atomic.Uint64 { return &s.RecoveriesStarted }},
	{"shim6_recoveries_completed", "Shim6 I2bis exchanges completed by R2",
		func(s *Stats) *atomic.Uint64 { return &s.RecoveriesCompleted }},
	{"shim6_unshimmed", "Shim6 contexts put back on their ULIDs after a failed recovery (RFC 5533 §11)",
		func(s *Stats) *atomic.Uint64 { return &s.Unshimmed }},
	{"shim6_adopted_contexts", "Shim6 contexts taken over from the active box's replicas at a takeover, with no handshake",
		func(s *Stats) *atomic.Uint64 { return &s.Adopted }},
	{"shim6_validator_failures", "Shim6 I2/I2bis refused: bad or expired Responder Validator",
		func(s *Stats) *atomic.Uint64 { return &s.ValidatorFailures }},
	{"shim6_verification_failures", "Shim6 locator lists refused by HBA/CGA verification (RFC 5533 §7.2)",
		func(s *Stats) *atomic.Uint64 { return &s.VerificationFailures }},
	{"shim6_retransmissions", "Shim6 I1, I2 and I2bis retransmissions",
		func(s *Stats) *atomic.Uint64 { return &s.Retransmissions }},
	{"shim6_updates_started", "Shim6 Update Requests with new locator information (RFC 5533 §10.1)",
		func(s *Stats) *atomic.Uint64 { return &s.UpdatesStarted }},
	{"shim6_update_retransmissions", "Shim6 Update Request retransmissions (RFC 5533 §10.2)",
		func(s *Stats) *atomic.Uint64 { return &s.UpdateRetransmissions }},
	{"shim6_updates_completed", "Shim6 Update Requests acknowledged by the peer",
		func(s *Stats) *atomic.Uint64 { return &s.UpdatesCompleted }},
	{"shim6_updates_accepted", "Shim6 peer Update Requests verified and acknowledged (RFC 5533 §10.4)",
		func(s *Stats) *atomic.Uint64 { return &s.UpdatesAccepted }},
	{"shim6_context_confusions", "Shim6 contexts removed for context confusion (RFC 5533 §7.15)",
		func(s *Stats) *atomic.Uint64 { return &s.ContextConfusions }},
	{"shim6_idle_removed", "Shim6 contexts collected as idle (RFC 5533 §9)",
		func(s *Stats) *atomic.Uint64 { return &s.IdleRemoved }},
	{"shim6_stale_locators", "Shim6 messages whose locators did not match the context, answered with R1bis (RFC 5533 §12.4)",
		func(s *Stats) *atomic.Uint64 { return &s.StaleLocators }},
	{"shim6_unmatched", "Shim6 messages discarded: no matching context or not expected in its state",
		func(s *Stats) *atomic.Uint64 { return &s.Unmatched }},
	{"shim6_malformed", "Shim6 messages refused by the codec or for bad addresses (RFC 5533 §12.3)",
		func(s *Stats) *atomic.Uint64 { return &s.Malformed }},
	{"shim6_forked_refused", "Shim6 messages asking for a forked context, which is not supported",
		func(s *Stats) *atomic.Uint64 { return &s.ForkedRefused }},
	{"shim6_not_served", "Shim6 messages for a local ULID this proxy does not act for",
		func(s *Stats) *atomic.Uint64 { return &s.NotServed }},
	{"shim6_r1bis_rate_limited", "Shim6 R1bis messages suppressed by the rate limit",
		func(s *Stats) *atomic.Uint64 { return &s.R1bisRateLimited }},
	{"shim6_errors_rate_limited", "Shim6 Error messages suppressed by the rate limit",
		func(s *Stats) *atomic.Uint64 { return &s.ErrorsRateLimited }},
	{"shim6_r1_rate_limited", "Shim6 I1s dropped unanswered: the R1 was over the per-/64 or the global rate limit",
		func(s *Stats) *atomic.Uint64 { return &s.R1RateLimited }},
	{"shim6_r1_rate_limited_prefix", "Shim6 I1s dropped unanswered by their source /64's R1 rate limit (part of shim6_r1_rate_limited)",
		func(s *Stats) *atomic.Uint64 { return &s.R1RateLimitedPrefix }},
	{"shim6_r1_known_peer", "I1s from the /64 of a peer a context was established with, answered within a limit of their own so that spoofed floods cannot crowd them out",
		func(s *Stats) *atomic.Uint64 { return &s.R1KnownPeer }},
	{"shim6_r1bis_rate_limited_prefix", "Shim6 R1bis messages suppressed by the per-/64 rate limit (part of shim6_r1bis_rate_limited)",
		func(s *Stats) *atomic.Uint64 { return &s.R1bisRateLimitedPrefix }},
	{"shim6_errors_rate_limited_prefix", "Shim6 Error messages suppressed by the per-/64 rate limit (part of shim6_errors_rate_limited)",
		func(s *Stats) *atomic.Uint64 { return &s.ErrorsRateLimitedPrefix }},
	{"shim6_minimal_peers_found", "Shim6 peers found to drop messages carrying options they do not know (RFC 5533 §5.15; LinShim6), sent messages without them from then on",
		func(s *Stats) *atomic.Uint64 { return &s.MinimalPeersFound }},
	{"shim6_minimal_messages", "Shim6 I2, I2bis, R2 and Update Requests sent without Locator Preferences or ULID Pair to a peer that drops them",
		func(s *Stats) *atomic.Uint64 { return &s.MinimalMessages }},
	{"shim6_minimal_peers_evicted", "Shim6 minimal peers forgotten early: the memory of them was full",
		func(s *Stats) *atomic.Uint64 { return &s.MinimalPeersEvicted }},
}

// In returns how many messages of type t were received (RFC 5533 §5.3).
func (s *Stats) In(t wire.Type) uint64 { return s.in[kindOf(t)].Load() }

// Out returns how many messages of type t were sent (RFC 5533 §5.3).
func (s *Stats) Out(t wire.Type) uint64 { return s.out[kindOf(t)].Load() }

// Contexts returns how many contexts are in state st (RFC 5533 §6.2); 0
// for Idle, which has no records.
func (s *Stats) Contexts(st State) int64 {
	if st >= numStates {
		return 0
	}
	return s.states[st].Load()
}

// Each calls f with every counter's metric name, help and value, as
// control.Stats.Each does, so exporters list them without knowing the
// fields.
func (s *Stats) Each(f func(name, help string, v uint64)) {
	for _, c := range counterInfo {
		f(c.name, c.help, c.field(s).Load())
	}
	for k := range numKinds {
		f("shim6_in_"+kindNames[k], "Shim6 "+kindNames[k]+" messages received", s.in[k].Load())
		f("shim6_out_"+kindNames[k], "Shim6 "+kindNames[k]+" messages sent", s.out[k].Load())
	}
}

// EachGauge calls f with the number of contexts in every state but IDLE
// (RFC 5533 §6.2), named shim6_contexts_<state>.
func (s *Stats) EachGauge(f func(name, help string, v int64)) {
	for st := I1Sent; st < numStates; st++ {
		f("shim6_contexts_"+gaugeNames[st], "Shim6 contexts in state "+st.String(), s.states[st].Load())
	}
}

var gaugeNames = [numStates]string{
	Idle: "idle", I1Sent: "i1_sent", I2Sent: "i2_sent", I2bisSent: "i2bis_sent",
	Established: "established", EFailed: "e_failed", NoSupport: "no_support",
}
