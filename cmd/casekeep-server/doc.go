// Command casekeep-server is casekeep's central endpoint and its admin tool:
// it serves agents (enrollment, signed policy, heartbeats) from an SQLite or
// PostgreSQL store, and writes and signs policy, makes enrollment tokens and
// lists devices. Its dev command runs a server and an agent on one machine.
package main
