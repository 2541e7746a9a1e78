-- casekeep server store, SQLite. Times are INTEGER microseconds since the
-- Unix epoch, UTC; NULL in a nullable time column reads as the zero time.
-- Every table is STRICT, so a value of the wrong type is refused.

-- Enrollment tokens, by the SHA-256 of their secret.
CREATE TABLE tokens (
	hash       BLOB    NOT NULL PRIMARY KEY,
	uses       INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	note       TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

-- Enrolled devices: what they said at enrollment, then their latest state
-- (last_seq NULL until the first heartbeat; last_hash is kept when the
-- heartbeat's body is pruned, so the chain can still be checked).
CREATE TABLE devices (
	id                     TEXT    NOT NULL PRIMARY KEY,
	signing_key            BLOB    NOT NULL,
	hostname               TEXT    NOT NULL,
	os                     TEXT    NOT NULL,
	arch                   TEXT    NOT NULL,
	serial                 TEXT    NOT NULL,
	username               TEXT    NOT NULL,
	enrolled_agent_version TEXT    NOT NULL,
	enrolled_at            INTEGER NOT NULL,
	revoked_at             INTEGER,
	last_seq               INTEGER,
	last_hash              BLOB    NOT NULL DEFAULT x'',
	sent_at                INTEGER,
	received_at            INTEGER,
	agent_version          TEXT    NOT NULL DEFAULT '',
	policy_version         INTEGER NOT NULL DEFAULT 0,
	policy_hash            TEXT    NOT NULL DEFAULT '',
	recipient              TEXT    NOT NULL DEFAULT '',
	sealed_files           INTEGER NOT NULL DEFAULT 0,
	sealed_bytes           INTEGER NOT NULL DEFAULT 0,
	plaintext_files        INTEGER NOT NULL DEFAULT 0,
	case_refs              INTEGER NOT NULL DEFAULT 0,
	disk_encryption        TEXT    NOT NULL DEFAULT '',
	compliant              INTEGER NOT NULL DEFAULT 0,
	lease                  TEXT    NOT NULL DEFAULT ''
) STRICT;

-- A device's state from at (the heartbeat's received time) on; a row only
-- when something the history records changed.
CREATE TABLE state_changes (
	device_id       TEXT    NOT NULL REFERENCES devices (id),
	at              INTEGER NOT NULL,
	seq             INTEGER NOT NULL,
	hash            BLOB    NOT NULL,
	sent_at         INTEGER NOT NULL,
	agent_version   TEXT    NOT NULL,
	policy_version  INTEGER NOT NULL,
	policy_hash     TEXT    NOT NULL,
	recipient       TEXT    NOT NULL,
	sealed_files    INTEGER NOT NULL,
	sealed_bytes    INTEGER NOT NULL,
	plaintext_files INTEGER NOT NULL,
	case_refs       INTEGER NOT NULL,
	disk_encryption TEXT    NOT NULL,
	compliant       INTEGER NOT NULL,
	lease           TEXT    NOT NULL,
	PRIMARY KEY (device_id, at, seq)
) STRICT, WITHOUT ROWID;

-- Events devices reported; idx is the position in its heartbeat.
CREATE TABLE events (
	device_id TEXT    NOT NULL REFERENCES devices (id),
	time      INTEGER NOT NULL,
	seq       INTEGER NOT NULL,
	idx       INTEGER NOT NULL,
	type      TEXT    NOT NULL,
	case_ref  TEXT    NOT NULL,
	detail    TEXT    NOT NULL,
	PRIMARY KEY (device_id, time, seq, idx)
) STRICT, WITHOUT ROWID;

-- Case references a device has held.
CREATE TABLE holdings (
	device_id  TEXT    NOT NULL REFERENCES devices (id),
	ref        TEXT    NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	files      INTEGER NOT NULL,
	PRIMARY KEY (device_id, ref)
) STRICT, WITHOUT ROWID;

-- Breaks in a device's hash chain.
CREATE TABLE gaps (
	device_id   TEXT    NOT NULL REFERENCES devices (id),
	seq         INTEGER NOT NULL,
	expected    BLOB    NOT NULL,
	got         BLOB    NOT NULL,
	detected_at INTEGER NOT NULL,
	PRIMARY KEY (device_id, seq)
) STRICT, WITHOUT ROWID;

-- The exact bytes of recent heartbeats, pruned by received_at. A rowid
-- table: rows are large, and pruning deletes by rowid.
CREATE TABLE heartbeats (
	device_id   TEXT    NOT NULL REFERENCES devices (id),
	seq         INTEGER NOT NULL,
	received_at INTEGER NOT NULL,
	sent_at     INTEGER NOT NULL,
	hash        BLOB    NOT NULL,
	prev_hash   BLOB    NOT NULL,
	body        BLOB    NOT NULL,
	UNIQUE (device_id, seq)
) STRICT;
CREATE INDEX heartbeats_received_at ON heartbeats (received_at);

-- Signed policy bundles; the current one has the highest version.
CREATE TABLE policies (
	version   INTEGER NOT NULL PRIMARY KEY,
	bundle    BLOB    NOT NULL,
	stored_at INTEGER NOT NULL
) STRICT;
