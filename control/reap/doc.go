// Package reap is the REAP failure detection and locator pair exploration
// state machine (RFC 5534) for every Shim6 context of the proxy, as pure
// logic: no goroutines, no ports, time through an injected Clock.
//
// # Driving it
//
// The control core owns one Machine and calls it from its single goroutine:
// Add and Remove as contexts come and go, HandleProbe and HandleKeepalive
// for received REAP messages, LinkDown and LinkUp for local locators, Hint
// for a context whose TCP retransmits, and Tick periodically (every
// Granularity or so). The Machine answers through Output: SendProbe,
// SendKeepalive and OnSwitch.
//
// # Fast-path feedback: pulled, not pushed
//
// The workers stamp, per context slot, when they last sent and last
// received a payload packet (dataplane.Feedback). The Machine pulls those
// stamps through Traffic.Last, and only for contexts whose timer fires in
// the wheel: an idle-but-healthy context costs one look every
// CheckInterval, a context with an armed Send or Keepalive timer one look
// more when that timer is due. Pushing (the core calling Feedback(id, ...)
// for every context each tick) would cost a scan of all contexts per tick
// whatever their state; pulling costs only what is due.
//
// From the stamps the Machine derives the RFC 5534 §4.1 / §6.1–§6.2 events
// (incoming and outgoing payload) and keeps the Send timer (§6.4) and the
// Keepalive obligation (§4.1 rules 3 and 5). Because it looks at the
// stamps at most every CheckInterval, a Send timer starts at the newest
// stamp it saw (never earlier than the real start, so exploration is never
// started too early, at most CheckInterval late), and a Keepalive goes out
// a randomised Keepalive Interval (one third to one half of the Keepalive
// Timeout, §7) after the first receipt it saw since this side last sent:
// with CheckInterval at most a third of the Keepalive Timeout, the peer
// hears from us within its Send Timeout.
//
// # Scale
//
// Records are pointer-free and indexed by ID; timers live on a hashed
// wheel threaded through the records; probe reports and exploration state
// live in a separate pool used only by contexts that are exploring;
// locators live in one pointer-free arena.
//
// # Where things are
//
// One file per concern; the sections are RFC 5534's.
//
//   - machine.go: Config, the Clock, Traffic and Output ports, the
//     per-context records, New, Add, Remove and the queries (§3.5, §8).
//   - state.go: the states, the moves between them and the exploration
//     state kept while not Operational (§4.2, §6, §6.5).
//   - locators.go: candidate locators, the order pairs are tried in, and
//     LinkDown, LinkUp and TryPair (§3.2, §4.3).
//   - timer.go: the Send and Keepalive timers, the Keepalive Timeout
//     option, Poll and the traffic looks (§4.1, §5.3, §6.3, §6.4, §7);
//     wheel.go: the timing wheel and Tick.
//   - send.go: Probes, their reports and backoff, Keepalives (§4.3, §5.1,
//     §5.2).
//   - recv.go: payload events, received Keepalives and Probes, switching
//     to a proven pair (§6.1, §6.2, §6.6–§6.9).
//   - hint.go: negative advice from the upper layer (Hint): TCP
//     retransmissions the workers saw, which start an exploration when
//     nothing has come back for a hold (the seed draft's §8.2).
//   - stats.go: counters and the exploration duration histogram.
package reap
