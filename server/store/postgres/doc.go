// Package postgres is the [store.Store] for PostgreSQL (pgx v5 and its
// pool), which several server processes can share. [Open] takes a context
// and a DSN (URL or key=value, with pgx's pool settings such as
// pool_max_conns) and applies the embedded migrations (migrations/*.sql)
// its schema_migrations table does not list, in one transaction holding
// pg_advisory_xact_lock, so that servers starting together migrate once.
//
// Ingest locks the batch's device rows with SELECT ... FOR UPDATE, in ID
// order (so concurrent batches cannot deadlock), decides every heartbeat's
// outcome from the rows it locked, then appends heartbeats, events and state
// changes with COPY and sends gaps, holdings and device states as one
// pipelined batch of unnest() array statements: a batch of any size costs
// six or seven round trips. Another process ingesting the same device waits
// on the row lock and then reads what this one committed, so no seq is
// stored twice and no gap is invented (the heartbeats primary key is the
// last line of defence). UseToken is one conditional UPDATE; SetPolicy
// takes a SHARE ROW EXCLUSIVE lock on the policies table, so concurrent
// calls take turns while Policy never waits.
//
// Nothing depends on session state: the only locks are transaction-scoped,
// and no SET, LISTEN or temporary table is used, so the store works behind
// PgBouncer in transaction mode. pgx caches prepared statements by default;
// with a PgBouncer older than 1.21 (or without max_prepared_statements) add
// default_query_exec_mode=exec or simple_protocol to the DSN, which the
// tests also run.
//
// Tables are those of package sqlite, with timestamptz (microseconds, UTC)
// for times, bytea for bytes, bigint for counts and text keys in the "C"
// collation, so that "by ID" and "by ref" mean by bytes whatever the
// database's locale. The tables only Ingest writes have no foreign keys
// (Ingest has just checked the device under its lock, and devices are never
// deleted); they would cost about 15% of ingest throughput. The tables of
// [store.Access], written rarely and by people, do have them: a token's
// user and an action's device must exist ([store.ErrNotFound]). For
// [store.Query], holdings are indexed by reference, events by time, by type
// and by case reference (type and case_ref are in the "C" collation too, so
// that a type prefix is a range of bytes), and heartbeats by device and
// received time; StatesAt seeks each device's latest change with a LATERAL
// join, one index probe per device rather than a scan of the history.
// Heartbeat bodies stay in their row uncompressed (toast_tuple_target 8160).
// text cannot hold a NUL byte, so strings with one, or with invalid UTF-8,
// are refused with [store.ErrInvalid] before anything is sent.
package postgres
