// Command casekeep-server is casekeep's central endpoint and its admin tool:
// it serves agents (enrollment, signed policy, heartbeats), and people's API
// and web console, from an SQLite or PostgreSQL store; and writes and signs
// policy, makes enrollment tokens, adds people and makes and revokes their
// API tokens, rotates devices' lease keys and revokes devices (through package actions, as
// the API and the console act), and lists devices and their lease logs. Its dev command runs a server and an agent on one machine;
// demo-fleet fills a dev store with a simulated fleet.
package main
