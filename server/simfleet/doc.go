// Package simfleet makes the history of a simulated fleet of laptops as
// casekeep-server's store keeps it: devices, and their heartbeats in the
// order a server receives them, each continuing its device's hash chain,
// with state changes, events and case references held. The store's query
// benchmark loads a year of it (storetest.BenchQuery), and casekeep-server
// demo-fleet fills a dev store with a month of it, each device shaped
// (when it was last heard from, what it holds, how its agent stopped)
// through [Options]. [Load] ingests a history into a store as a server
// receiving it would, pruning old heartbeats on the way.
//
// It is deterministic: the same options make the same history.
package simfleet
