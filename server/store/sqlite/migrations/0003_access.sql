-- People, their API tokens, the audit log of human actions, and the actions
-- taken on devices (store.Access). Times are INTEGER microseconds since the
-- Unix epoch, UTC, as in 0001; a name that must exist (a token's user, an
-- action's device) is a foreign key, so that the store can answer
-- ErrNotFound from the insert itself.

-- People with access to the API and the console. The store checks role is
-- one of store.Roles, so a new role needs no migration.
CREATE TABLE users (
	name       TEXT    NOT NULL PRIMARY KEY,
	role       TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- API tokens, by their public ID. Only the SHA-256 of the secret is kept;
-- every API request looks a token up by it. revoked_at is NULL unless
-- revoked, and once set is never changed.
CREATE TABLE api_tokens (
	id         TEXT    NOT NULL PRIMARY KEY,
	hash       BLOB    NOT NULL,
	username   TEXT    NOT NULL REFERENCES users (name),
	created_at INTEGER NOT NULL,
	revoked_at INTEGER,
	note       TEXT    NOT NULL
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (hash);
CREATE INDEX api_tokens_username ON api_tokens (username, id);

-- The audit log of human actions, append-only. AUTOINCREMENT: an ID is
-- never given twice, even if the newest rows were ever deleted. The index
-- on time (with the rowid, id, after it) serves "newest first".
CREATE TABLE audit_log (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	time   INTEGER NOT NULL,
	actor  TEXT    NOT NULL,
	action TEXT    NOT NULL,
	target TEXT    NOT NULL,
	detail TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_log_time ON audit_log (time);

-- Actions on devices. Each is read by device, oldest first: its time, then
-- id (the order stored), which the (device_id, time) indexes carry as the
-- rowid.

-- Reports that a device was lost; a device may be reported more than once.
CREATE TABLE lost_reports (
	id            INTEGER PRIMARY KEY,
	device_id     TEXT    NOT NULL REFERENCES devices (id),
	lost_at       INTEGER NOT NULL,
	discovered_at INTEGER NOT NULL,
	recorded_at   INTEGER NOT NULL,
	recorded_by   TEXT    NOT NULL,
	note          TEXT    NOT NULL
) STRICT;
CREATE INDEX lost_reports_device ON lost_reports (device_id, recorded_at);

-- Wipes queued for a device's agent; acked_at is NULL while pending. The
-- ID goes to the agent, so it is never given twice (AUTOINCREMENT).
CREATE TABLE wipe_requests (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	device_id    TEXT    NOT NULL REFERENCES devices (id),
	requested_at INTEGER NOT NULL,
	requested_by TEXT    NOT NULL,
	acked_at     INTEGER
) STRICT;
CREATE INDEX wipe_requests_device ON wipe_requests (device_id, requested_at);

-- A DPO's decisions on notifying the ICO about a lost device.
CREATE TABLE decisions (
	id         INTEGER PRIMARY KEY,
	device_id  TEXT    NOT NULL REFERENCES devices (id),
	at         INTEGER NOT NULL,
	decided_by TEXT    NOT NULL,
	notify     INTEGER NOT NULL,
	reasons    TEXT    NOT NULL
) STRICT;
CREATE INDEX decisions_device ON decisions (device_id, at);
