// Package control is the control core: one goroutine that drains the
// control ring the workers fill, runs the protocols, and publishes what the
// workers read (the forwarding snapshot and the context table). It is the
// single writer of both, so its state needs no locks; other goroutines (the
// admin API, the metrics) reach it through Query, which runs a function on
// the core's goroutine between rounds.
//
// The protocol logic itself lives in pure machines with injected time,
// each in its own package: control/shim6 (RFC 5533 signalling), control/reap
// (RFC 5534 failure detection), control/policy (the site policy: ranking,
// spreading, failback, the move queue), control/hba (RFC 5535 HBA, RFC 3972
// CGA). This package runs them and does their effects. Its files, one
// concern each:
//
//   - core.go: Config, New (which builds the machines), the round (Poll,
//     Run), transmission and publishing the forwarding snapshot.
//   - dispatch.go: what a control packet is and where it goes: to ND, echo,
//     the signalling, or on to a resolved neighbour.
//   - nd.go: Neighbor Discovery (RFC 4861) for our addresses and next hops,
//     proxy ND for site addresses on the uplinks (RFC 4389).
//   - echo.go: Echo Replies (RFC 4443 §4.2).
//   - icmperrors.go: the ICMPv6 errors the core sends (RFC 4443), and the
//     translation of errors that quote a rewritten packet back to ULIDs.
//   - contexts.go: writes to the workers' context table.
//   - shim6.go: the adapter to control/shim6: building it, its control
//     messages in and out, its callbacks, deferred establishment (the seed
//     draft's §6).
//   - reap.go: the adapter to control/reap: the workers' feedback as its
//     traffic, its probes out, its switches into the table.
//   - links.go: uplinks' link and next-hop state as REAP's local
//     information (RFC 5534 §3.2).
//   - policy.go: the adapter to control/policy, and the operator's changes.
//   - hba.go: the adapter to control/hba: the Verifier and Signer the
//     signalling uses, and the configured hosts' sets.
//   - setup.go: a core's Config from a configuration file.
//   - reload.go: reading that file again: what a reload changes live, and
//     how, without dropping a context.
//   - admin.go, metrics.go, stats.go: what operators see: the admin API's
//     source, the Prometheus collectors, the core's counters.
//   - synthetic.go: synthetic contexts for benchmarks, when allowed.
//   - role.go: the box's role in an HA pair (standby, active, fault),
//     set by keepalived through the admin API and held by a lease: what
//     a standby box takes and sends, the announcements on becoming
//     active.
//   - capture.go, pcapng.go: live capture (shim6ctl capture): the
//     workers' capture rings drained into a pcapng stream.
package control
