// Package wire is the protocol between casekeep's agent and server: the
// enrollment request and reply, heartbeats and their batches, the server's
// reply with commands, and the tokens and TLS pins enrollment rests on.
//
// Every message is JSON carrying a version field, v, so a newer server can
// read older agents. A heartbeat is signed by the device's Ed25519 key over
// its exact bytes (which the server stores as received), and chained: each
// carries the SHA-256 of the one before, so a missing or altered heartbeat
// shows as a break. Replies and commands are signed by the server key the
// agent pinned at enrollment. Every signature is over a domain prefix and the
// body, so no signature can be reused for another kind of message. Decoders
// refuse unknown fields, oversized messages and control characters.
//
// The event types a heartbeat carries ("storage.volume_unapproved") are
// constants here, the one place they are spelled: the agent's packages
// derive their event kinds from them and the server matches on them.
package wire
