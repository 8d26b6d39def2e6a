// Package ha replicates the context table of an active shim6d to a
// standby one (issue #15 items 3, 4 and 7), so that the standby, told by
// keepalived to take over, forwards from the same contexts at once: the
// same slots, so the receiver tags the peers put in their packets still
// name them, and the same current pairs, so REAP resumes where the active
// left off with no handshake.
//
// # Who connects
//
// The standby connects to the active and the active listens. A standby
// that (re)connects needs a full snapshot before anything else, and the
// active is the only side that can make one; with the standby dialling,
// "a new connection" and "send a snapshot" are the same event on the
// active, and nothing has to be asked for. It also leaves the active
// passive towards the network: a box that becomes active only opens a
// listener, and a standby that cannot reach it retries on its own timer,
// so a dead peer costs the active nothing. A box changing role closes
// its side and takes the other (Replicator.SetRole).
//
// # The stream
//
// One TCP connection on the management link carries frames (frame.go):
// a length, a type, a sequence number, a record count, the records, and
// an HMAC-SHA256 over all of it with a session key. The active opens with
// a Hello carrying a fresh nonce; the standby answers with its own, MACed
// with the session key both nonces and the configured key give, which
// proves it holds the key now (a recorded Hello does not). From then on
// the active sends Batches (records), and Heartbeats when it has nothing
// to say; the standby sends Acks of what its control core applied, which
// is what the active's lag is measured from. A bad MAC, a sequence gap or
// a record that does not decode closes the connection (counted): the
// standby reconnects, which makes the active send a snapshot, so every
// fault ends in a resync rather than in a table that silently differs.
//
// # The control core's side
//
// The control core alone writes the context table, on both boxes. On the
// active it encodes records into chunks (Feed), a bounded pool of them;
// a sender goroutine frames, MACs and writes them. The core never waits:
// when no chunk is free the change is lost, counted as an overflow, and
// the core starts a new snapshot, which brings the standby back to the
// table as it is. On the standby a receiver goroutine reads, verifies and
// decodes frames and hands their records to the core over a channel that
// the core drains a part of each round (Replicator.Inbound).
//
// The pure parts (the record codec, the frame sealer and opener, the
// Feed's decisions, the Marks that find the slots a snapshot no longer
// holds) are tested alone; the transport on loopback TCP.
package ha
