// Package report is how a laptop tells the server about itself: enrollment
// (a new Ed25519 signing key, an enrollment token, and the server's TLS key,
// server key and policy key pinned from then on), and heartbeats.
//
// [Enroll] enrolls once; [EnrollWhenAsked] is how the service enrolls: with
// the server and token from its command line or from the installer's
// enrollment file, retrying with backoff while the server is away or
// refuses, waiting for the file while nothing names a server, and removing
// the used token afterwards. [LocalHost] describes the computer to the
// server.
//
// A heartbeat says what the device is: its policy, posture, vault (sealed
// files, plaintext waiting, case references with counts, never file names)
// and storage, with the events since the last one. Each is signed over its
// exact bytes, chained to the one before by its hash, and written to a
// durable spool in the agent's state store (committed with fsync, with a
// checksum) before it is sent. The spool is sent in order, in batches, no
// faster than a set rate while a backlog drains, with exponential backoff and
// jitter while the server is away; a heartbeat leaves the spool only when the
// server's signed reply acknowledges its seq. When the spool is full, no new
// heartbeats are made and events are counted by type instead, and the next
// heartbeat says so: nothing is dropped silently. The last heartbeat of a
// run, its farewell ([Reporter.Farewell]), says why the agent stops.
//
// Every batch carries a fresh nonce. The server's commands (lock, unlock,
// wipe) are passed on ([Config.OnCommands]) only from a signed reply that
// echoes it, so a recorded reply played again carries none; its commands
// are refused and reported as wire.EventCommandRefused. The agent's
// acknowledgements of commands ([Reporter.Ack]) are kept in the state
// store until the next heartbeat carries them, in the same transaction
// that spools it; a wiped device's last heartbeat is [Reporter.Final].
//
// The vault key's lease is asked for with [Enrollment.RequestLease]: a
// request signed with the device key over the pinned connection, answered
// by a LeaseReply signed with the server key for this device and request.
// The first lease comes with the enrollment reply ([Enrollment].Lease, in
// memory only).
package report
