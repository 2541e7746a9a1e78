// Package plan decides what Ingest does with a batch of heartbeats, the same
// way for both store backends: given what the database holds for each device
// when the batch's transaction begins (read under the device's write lock),
// [Make] walks the heartbeats in order and returns each one's outcome
// (accepted, gap, replay, unknown or revoked device) and the rows to write:
// the heartbeats kept, the chain gaps, the state changes, the events, the
// case holdings (one per device and reference, merged across the batch), the
// command acknowledgements the stored heartbeats carry, and each device's
// final state. A backend reads the devices, calls Make and
// writes the plan in the same transaction; the decisions are pure Go, so the
// backends cannot drift apart.
package plan
