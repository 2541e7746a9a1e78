// Package servertest is the test rig of casekeep-server, for the tests of
// the server, its API, its console and the commands: a real server on
// loopback over TLS, as casekeep-server serve runs one, with its store, a
// signed policy published in it, its keys and certificate, and a person of
// each role with an API token. [New] makes and starts a [Rig]; what it
// serves is the server's endpoints for agents unless [Options].Handler
// mounts more (the API and the console, as serve does). A rig can be
// stopped and started again on the same address, as in an outage, and
// [Rig.Twin] runs a second server on the same keys against another store
// handle, as several servers share one database.
//
// [Rig.Agent] enrolls a device that speaks the agent protocol by hand
// (signed lease requests, heartbeats with a nonce and acknowledgements),
// for tests of exactly what the server answers.
//
// The parts are there on their own too, for tests that serve a handler
// directly: [Store] opens a new SQLite store, [Policy] makes a policy with
// a fresh escrow key, and [People] adds the people and their tokens to a
// store.
package servertest
