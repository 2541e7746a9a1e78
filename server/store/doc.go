// Package store defines what casekeep's server keeps and the one interface,
// [Store], that keeps it: enrollment tokens (hashed), devices, each device's
// latest state, the history of its state changes (to answer "was it
// compliant at time T" without scanning raw data), the events it reported,
// the case references it has held, breaks in its hash chain, the exact bytes
// of recent heartbeats (pruned after a retention period) and the current
// signed policy; and, through [Access], the people who use the API and the
// console (with their roles), their API tokens (hashed), an append-only
// audit log of what they did, and the actions taken on devices: lost
// reports (open until the device is marked found), the commands for their
// agents (lock, unlock, wipe: requested, delivered, acknowledged done,
// failed or refused, or cancelled before delivery) and decisions on
// notifying the ICO. Through [Keys] it keeps each device's lease keys (the
// key its vault identity is wrapped with, a next one during a rotation,
// destroyed by a wipe), sealed with a key-encryption key kept outside the
// database ([KeySealer], [Sealing]), and the lease log, every lease served
// and every run of identical refusals, which ServeLeases decides and
// writes in one transaction; LeaseEvidence answers the lost-device
// assessment from the whole log. Locked (by the order commands were
// stored, never their times) and WipeRequested are the rules by which a
// device's commands refuse its lease. Through
// [Query] it answers the questions asked across the fleet and about the
// past (who has held a case reference, every device's state at a time,
// event search, the heartbeats stored around a time) from indexes, without
// a query per device.
//
// Two implementations pass one shared test suite (package storetest):
// sqlite, the embedded default (modernc.org/sqlite, WAL, one writer), and
// postgres (pgx), which several server processes can share. Both apply their
// embedded schema migrations when opened. Ingest is the hot path: it takes
// many heartbeats in one transaction, and guarantees that no sequence number
// is stored twice even with two servers on one database.
package store
