-- casekeep server store, PostgreSQL. Times are timestamptz (microseconds,
-- UTC); text keys use the "C" collation, so that "by ID" and "by ref" mean
-- by bytes, as in SQLite, whatever the database's locale.

-- Enrollment tokens, by the SHA-256 of their secret.
CREATE TABLE tokens (
	hash       bytea       NOT NULL PRIMARY KEY,
	uses       bigint      NOT NULL,
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL,
	note       text        NOT NULL
);

-- Enrolled devices: what they said at enrollment, then their latest state
-- (last_seq NULL until the first heartbeat; last_hash is kept when the
-- heartbeat's body is pruned, so the chain can still be checked). Ingest
-- locks a device's row for the length of its transaction.
CREATE TABLE devices (
	id                     text COLLATE "C" NOT NULL PRIMARY KEY,
	signing_key            bytea       NOT NULL,
	hostname               text        NOT NULL,
	os                     text        NOT NULL,
	arch                   text        NOT NULL,
	serial                 text        NOT NULL,
	username               text        NOT NULL,
	enrolled_agent_version text        NOT NULL,
	enrolled_at            timestamptz NOT NULL,
	revoked_at             timestamptz,
	last_seq               bigint,
	last_hash              bytea       NOT NULL DEFAULT '',
	sent_at                timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00Z',
	received_at            timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00Z',
	agent_version          text        NOT NULL DEFAULT '',
	policy_version         bigint      NOT NULL DEFAULT 0,
	policy_hash            text        NOT NULL DEFAULT '',
	recipient              text        NOT NULL DEFAULT '',
	sealed_files           bigint      NOT NULL DEFAULT 0,
	sealed_bytes           bigint      NOT NULL DEFAULT 0,
	plaintext_files        bigint      NOT NULL DEFAULT 0,
	case_refs              bigint      NOT NULL DEFAULT 0,
	disk_encryption        text        NOT NULL DEFAULT '',
	compliant              boolean     NOT NULL DEFAULT false,
	lease                  text        NOT NULL DEFAULT ''
);

-- The tables below are written only by Ingest, which has checked (under
-- the device's row lock) that the device exists; devices are never
-- deleted. They carry no foreign keys, which would cost a lookup per row on
-- the hot path.

-- A device's state from at (the heartbeat's received time) on; a row only
-- when something the history records changed.
CREATE TABLE state_changes (
	device_id       text COLLATE "C" NOT NULL,
	at              timestamptz NOT NULL,
	seq             bigint      NOT NULL,
	hash            bytea       NOT NULL,
	sent_at         timestamptz NOT NULL,
	agent_version   text        NOT NULL,
	policy_version  bigint      NOT NULL,
	policy_hash     text        NOT NULL,
	recipient       text        NOT NULL,
	sealed_files    bigint      NOT NULL,
	sealed_bytes    bigint      NOT NULL,
	plaintext_files bigint      NOT NULL,
	case_refs       bigint      NOT NULL,
	disk_encryption text        NOT NULL,
	compliant       boolean     NOT NULL,
	lease           text        NOT NULL,
	PRIMARY KEY (device_id, at, seq)
);

-- Events devices reported; idx is the position in its heartbeat.
CREATE TABLE events (
	device_id text COLLATE "C" NOT NULL,
	time      timestamptz NOT NULL,
	seq       bigint      NOT NULL,
	idx       integer     NOT NULL,
	type      text        NOT NULL,
	case_ref  text        NOT NULL,
	detail    text        NOT NULL,
	PRIMARY KEY (device_id, time, seq, idx)
);

-- Case references a device has held.
CREATE TABLE holdings (
	device_id  text COLLATE "C" NOT NULL,
	ref        text COLLATE "C" NOT NULL,
	first_seen timestamptz NOT NULL,
	last_seen  timestamptz NOT NULL,
	files      bigint      NOT NULL,
	PRIMARY KEY (device_id, ref)
);

-- Breaks in a device's hash chain.
CREATE TABLE gaps (
	device_id   text COLLATE "C" NOT NULL,
	seq         bigint      NOT NULL,
	expected    bytea       NOT NULL,
	got         bytea       NOT NULL,
	detected_at timestamptz NOT NULL,
	PRIMARY KEY (device_id, seq)
);

-- The exact bytes of recent heartbeats, pruned by received_at. Bodies of
-- a few KiB stay in the row uncompressed (toast_tuple_target): compressing
-- them costs more CPU at ingest than the disk it saves for their short life.
CREATE TABLE heartbeats (
	device_id   text COLLATE "C" NOT NULL,
	seq         bigint      NOT NULL,
	received_at timestamptz NOT NULL,
	sent_at     timestamptz NOT NULL,
	hash        bytea       NOT NULL,
	prev_hash   bytea       NOT NULL,
	body        bytea       NOT NULL,
	PRIMARY KEY (device_id, seq)
) WITH (toast_tuple_target = 8160);
CREATE INDEX heartbeats_received_at ON heartbeats (received_at);

-- Signed policy bundles; the current one has the highest version.
CREATE TABLE policies (
	version   bigint      NOT NULL PRIMARY KEY,
	bundle    bytea       NOT NULL,
	stored_at timestamptz NOT NULL
);
