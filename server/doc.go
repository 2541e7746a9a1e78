// Package server is casekeep's central endpoint for agents: it enrolls
// devices (an enrollment token, spent atomically, and a request signed by the
// device's new key), serves the signed policy, and ingests heartbeats.
//
// Ingest checks every heartbeat before it is stored: the batch's size, each
// heartbeat's form, that its device is known and not revoked, and its Ed25519
// signature over the exact bytes received. Heartbeats from many requests are
// gathered into one store transaction (a group commit), in which the store
// refuses replays and records breaks in the hash chain. Every reply says how
// far the device is stored (its acked seq) and which policy version is in
// force, and is signed with the server key the agent pinned at enrollment.
// Liveness is computed, not stored: online while a device's last heartbeat
// is within its interval and some slack, then offline, then missing. The
// store keeps what each agent said about stopping (its last heartbeat's
// "stopping", and the runs it reported ended without a word); AgentStatusOf
// names it, and calls a device silent when it is offline or missing and its
// last heartbeat did not say the agent was stopping.
//
// Subpackage store defines what is kept and how; store/sqlite and
// store/postgres keep it.
package server
