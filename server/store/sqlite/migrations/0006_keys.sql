-- Keys (store.Keys): each device's lease keys, the log of every lease
-- served or refused, and the commands to agents that replace the wipe
-- requests of 0003. Times are INTEGER microseconds since the Unix epoch,
-- UTC, as in 0001.

-- How a device said the local copy of its lease is held, in its latest
-- state and in the state history; the last lease served to it and until
-- when its local copy may be used (NULL: none served).
ALTER TABLE devices ADD COLUMN offline_copy TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN lease_served_at INTEGER;
ALTER TABLE devices ADD COLUMN lease_until INTEGER;
ALTER TABLE state_changes ADD COLUMN offline_copy TEXT NOT NULL DEFAULT '';

-- Lost reports are open until the device is marked found.
ALTER TABLE lost_reports ADD COLUMN found_at INTEGER;
ALTER TABLE lost_reports ADD COLUMN found_by TEXT NOT NULL DEFAULT '';
CREATE INDEX lost_reports_open ON lost_reports (device_id) WHERE found_at IS NULL;

-- Lease keys: state is 'current' (served), 'next' (a replacement sent
-- with each lease until the agent asks with it) or 'retired'. A key
-- destroyed keeps its row and its times, and loses its bytes (x''). A
-- device has at most one current and one next key.
CREATE TABLE lease_keys (
	id           TEXT    NOT NULL PRIMARY KEY,
	device_id    TEXT    NOT NULL REFERENCES devices (id),
	key_bytes    BLOB    NOT NULL,
	state        TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	retired_at   INTEGER,
	destroyed_at INTEGER
) STRICT;
CREATE INDEX lease_keys_device ON lease_keys (device_id, created_at);
CREATE UNIQUE INDEX lease_keys_live ON lease_keys (device_id, state) WHERE state IN ('current', 'next');

-- The lease log: every lease served (refused = ''), each its own row, and
-- the refusals (with the reason), a run of identical ones (the same
-- reason, kind, key and host, nothing else logged in between) folded into
-- one row: at is the first, last_at the last, requests how many (1 for a
-- lease served). valid_until is NULL for a refusal; offline_window is in
-- microseconds; nonce (the first request's) is NULL at enrollment (which
-- has none); agent_time is the agent's claim. The served index answers
-- "the last lease served before t".
CREATE TABLE lease_log (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	device_id      TEXT    NOT NULL REFERENCES devices (id),
	at             INTEGER NOT NULL,
	last_at        INTEGER NOT NULL,
	requests       INTEGER NOT NULL,
	source         TEXT    NOT NULL,
	kind           TEXT    NOT NULL,
	key_id         TEXT    NOT NULL,
	next_key_id    TEXT    NOT NULL,
	valid_until    INTEGER,
	offline_window INTEGER NOT NULL,
	nonce          TEXT,
	agent_time     INTEGER,
	refused        TEXT    NOT NULL
) STRICT;
CREATE INDEX lease_log_device ON lease_log (device_id, at);
CREATE INDEX lease_log_served ON lease_log (device_id, at) WHERE refused = '';

-- Every lease request's nonce, apart from the log (a run of refusals is
-- one row of the log, and many nonces): a device's nonce is taken once.
CREATE TABLE lease_nonces (
	device_id TEXT    NOT NULL REFERENCES devices (id),
	nonce     TEXT    NOT NULL,
	at        INTEGER NOT NULL,
	PRIMARY KEY (device_id, nonce)
) STRICT, WITHOUT ROWID;

-- Commands to agents: lock, unlock, wipe. seq orders them (AUTOINCREMENT:
-- never given twice); id is what the agent sees. result is '' until the
-- agent acknowledges (done, failed, refused); acked_at is the agent's
-- time, ack_received_at the server's. expires_at is NULL for a wipe,
-- which never expires. The open index finds what is still
-- to deliver.
CREATE TABLE commands (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	id              TEXT    NOT NULL UNIQUE,
	device_id       TEXT    NOT NULL REFERENCES devices (id),
	type            TEXT    NOT NULL,
	requested_at    INTEGER NOT NULL,
	requested_by    TEXT    NOT NULL,
	expires_at      INTEGER,
	delivered_at    INTEGER,
	result          TEXT    NOT NULL DEFAULT '',
	reason          TEXT    NOT NULL DEFAULT '',
	acked_at        INTEGER,
	ack_received_at INTEGER,
	cancelled_at    INTEGER,
	cancelled_by    TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX commands_device ON commands (device_id, seq);
CREATE INDEX commands_open ON commands (device_id, seq) WHERE result = '' AND cancelled_at IS NULL;

-- Wipe requests become wipe commands, in their order, never expiring; one
-- acknowledged was delivered and done then.
INSERT INTO commands (seq, id, device_id, type, requested_at, requested_by, expires_at, delivered_at, result,
		acked_at, ack_received_at)
	SELECT id, 'cmd_wipe_' || id, device_id, 'wipe', requested_at, requested_by, NULL,
		acked_at, CASE WHEN acked_at IS NULL THEN '' ELSE 'done' END, acked_at, acked_at
	FROM wipe_requests ORDER BY id;
DROP TABLE wipe_requests;
