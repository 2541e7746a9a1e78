// Package sqlite is the embedded [store.Store]: one SQLite database file,
// through modernc.org/sqlite (pure Go, driver name "sqlite"), which a single
// server uses without any database to run. [Open] takes the file's path,
// creates it with mode 0600 if it is missing (its -wal and -shm files get
// the same mode), and applies the embedded migrations (migrations/*.sql)
// that its schema_migrations table does not list, in one transaction.
//
// Writes go through one connection (a database/sql pool of one) whose
// transactions begin IMMEDIATE: a transaction holds the database's write
// lock from its first statement, so Ingest reads a device's last seq and
// writes the next one with no writer in between, in this process or in
// another opened on the same file. Reads go through a separate pool of
// read-only (query_only) connections, which WAL lets run beside the writer.
// Every connection sets busy_timeout 5000 ms (a second process waits for the
// lock rather than failing), foreign_keys on, a 32 MiB page cache and
// in-memory temporary storage; the writer sets journal_mode WAL and
// synchronous FULL. FULL rather than NORMAL because the agent forgets a
// heartbeat once the server acknowledges it: with NORMAL a power cut could
// lose acknowledged heartbeats and, worse, roll back a device's last hash,
// so that its next heartbeat would record a gap that never happened. With
// batches of 100 heartbeats, FULL costs about 3% of ingest throughput.
//
// The writer never checkpoints (wal_autocheckpoint 0), so copying the WAL
// back into the database file is not on the ingest path: a separate
// connection runs a passive checkpoint, which never blocks the writer, every
// 250 ms, and a blocking one only if the WAL gets more than 256 MiB ahead;
// Close truncates the WAL, and so does the checkpointer soon after a lease
// key is destroyed (a wipe done, a rotation): with secure_delete on, the
// destroyed bytes are zeroed in the pages written, and the truncation
// leaves no older copy of those pages in the WAL. Lease keys are stored
// sealed with the key-encryption key UseKeySealer gives. (Under a sustained 3,000 heartbeats a second this
// moved the 99th percentile of a request from 523 ms to about 350-420 ms; the
// stalls left come with fsyncs of a database file of gigabytes.)
//
// Tables: tokens, devices (enrollment fields, then the latest state with
// last_seq and last_hash), state_changes, events, holdings, gaps, heartbeats
// (the exact bodies, pruned by received_at) and policies; then, for
// [store.Access], users, api_tokens, audit_log, lost_reports, wipe_requests
// and decisions, whose user or device is a foreign key (a missing one is
// [store.ErrNotFound]); and, for [store.Query], indexes on holdings by
// reference, on events by time, by type and by case reference, and on
// heartbeats by device and received time (a device's state changes are
// already in time order). The migration files document each. Times are
// INTEGER microseconds since the Unix epoch, UTC, so they read back as the
// time stored truncated to the microsecond.
// Tables are STRICT; the small ones keyed by device are WITHOUT ROWID, so a
// device's events and state changes lie together in time order. Strings
// with a NUL byte or invalid UTF-8 are refused with [store.ErrInvalid], as
// PostgreSQL must, so both backends keep the same things.
package sqlite
