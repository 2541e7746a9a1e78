// Package server is casekeep's central endpoint for agents: it enrolls
// devices (an enrollment token, spent atomically, and a request signed by the
// device's new key), serves the signed policy, ingests heartbeats, and
// leases each device the key its vault identity is wrapped with.
//
// Leases: enrollment makes the device's lease key and serves it with the
// reply (the first lease), so the agent never writes its identity in
// plaintext. After that the agent asks at wire.PathLease with a request
// signed by its device key: 400 for one malformed, 413 too large, 403 for
// an unknown device, 401 for a signature that does not verify, 409 for a
// nonce the device has used; otherwise 200 with a reply signed by the
// server key that grants the lease (the key itself for "key", not for
// "renew"; valid until the server's time plus the policy's
// offline.unlock_window; with the next key during a rotation) or refuses
// it (lost, locked, wiped, revoked). The store decides and logs every one
// (store.Keys.ServeLeases); lease requests are gathered into transactions
// as heartbeats are. Every heartbeats reply echoes the batch's nonce; one
// to a batch that stored at least one heartbeat (not a 409 replay) carries
// the device's pending commands (lock, unlock, wipe: each bound to
// the device, with its ID and expiry: a wipe, which never expires in the
// store, is sent expiring a day after the reply), which are marked delivered; the
// acknowledgements in later heartbeats complete them.
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
// What people are shown of a device is judged here once, for the API, the
// console and the command line: DeviceOf (its liveness under the policy in
// force, Unknown without one, and its agent's status), DeviceThen (its
// state at a past time), DeviceFilter (the device lists' filters, with a
// *FilterError naming a field it cannot read) and DeviceColumns (the
// device lists' CSV columns).
//
// Subpackage store defines what is kept and how; store/sqlite and
// store/postgres keep it.
package server
