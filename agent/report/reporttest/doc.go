// Package reporttest is a fake casekeep server for the tests of the
// agent's reporter and of the agent: [Server] serves one device over TLS,
// takes its signed heartbeats (refusing one whose signature does not
// verify), serves or refuses its lease, sends it commands until they are
// acknowledged, all as the test sets it ([Settings]), with replies signed
// by a key the test holds, and keeps what it receives. [Server.Enroll]
// makes a device's key and the enrollment an agent would have written for
// it. The package is for tests only; it imports testing.
package reporttest
