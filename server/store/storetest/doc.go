// Package storetest is the test suite every [store.Store] implementation
// passes: call [Run] from the backend's own test with a function that opens
// a store. The suite covers each method and its edges (tokens spent from
// many goroutines at once, replays, chain gaps, unknown and revoked devices,
// state history, holdings, pruning, forward-only policy, users and API
// tokens, the audit log appended from many goroutines at once, device
// actions and commands (their delivery racing their cancellation, their
// acknowledgements racing on two handles), leases (every refusal and its
// order, a marked-lost device never served whatever it asks, nonces taken
// once, rotation, a wipe destroying the keys, two handles serving one
// device), the migration of wipe requests to commands, what agents said about stopping (and the device list's agent
// filter over it), the fleet-wide and point-in-time queries on hand-built histories,
// hostile strings, times and bytes kept exactly) and, with two
// handles on one database, checks that two server processes ingesting the
// same device's heartbeats never store a sequence number twice nor invent a
// gap. [PerTest] builds the open function from "make a fresh database" and
// "open a handle on it". [BenchIngest] and [BenchQuery] are the backends'
// benchmarks: ingest throughput, and the queries over a year of a fleet's
// history (simfleet.History).
package storetest
