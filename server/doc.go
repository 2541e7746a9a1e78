// Package server will be casekeep's central endpoint: it enrolls devices,
// serves them the signed policy, ingests their signed, hash-chained
// heartbeats into a store (embedded SQLite by default, PostgreSQL at scale),
// and answers IT security and the data protection officer through an API, a
// console and the lost-device assessment. Today the server binary only
// writes and signs policy (see package policy); this package holds no code
// yet.
package server
