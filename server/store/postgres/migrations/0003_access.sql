-- People, their API tokens, the audit log of human actions, and the actions
-- taken on devices (store.Access). Times are timestamptz and text keys use
-- the "C" collation, as in 0001. A name that must exist (a token's user, an
-- action's device) is a foreign key, so that the store can answer
-- ErrNotFound from the insert itself; these tables are written rarely, by
-- people, so the lookup costs nothing that matters.

-- People with access to the API and the console. The store checks role is
-- one of store.Roles, so a new role needs no migration.
CREATE TABLE users (
	name       text COLLATE "C" NOT NULL PRIMARY KEY,
	role       text        NOT NULL,
	created_at timestamptz NOT NULL
);

-- API tokens, by their public ID. Only the SHA-256 of the secret is kept;
-- every API request looks a token up by it. revoked_at is NULL unless
-- revoked, and once set is never changed.
CREATE TABLE api_tokens (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	hash       bytea       NOT NULL,
	username   text COLLATE "C" NOT NULL REFERENCES users (name),
	created_at timestamptz NOT NULL,
	revoked_at timestamptz,
	note       text        NOT NULL
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (hash);
CREATE INDEX api_tokens_username ON api_tokens (username, id);

-- The audit log of human actions, append-only; ids come from a sequence,
-- so they increase in the order entries are appended.
CREATE TABLE audit_log (
	id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time   timestamptz NOT NULL,
	actor  text        NOT NULL,
	action text        NOT NULL,
	target text        NOT NULL,
	detail text        NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time, id);

-- Actions on devices. Each is read by device, oldest first: its time, then
-- id (the order stored).

-- Reports that a device was lost; a device may be reported more than once.
CREATE TABLE lost_reports (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	device_id     text COLLATE "C" NOT NULL REFERENCES devices (id),
	lost_at       timestamptz NOT NULL,
	discovered_at timestamptz NOT NULL,
	recorded_at   timestamptz NOT NULL,
	recorded_by   text        NOT NULL,
	note          text        NOT NULL
);
CREATE INDEX lost_reports_device ON lost_reports (device_id, recorded_at, id);

-- Wipes queued for a device's agent; acked_at is NULL while pending.
CREATE TABLE wipe_requests (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	device_id    text COLLATE "C" NOT NULL REFERENCES devices (id),
	requested_at timestamptz NOT NULL,
	requested_by text        NOT NULL,
	acked_at     timestamptz
);
CREATE INDEX wipe_requests_device ON wipe_requests (device_id, requested_at, id);

-- A DPO's decisions on notifying the ICO about a lost device.
CREATE TABLE decisions (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	device_id  text COLLATE "C" NOT NULL REFERENCES devices (id),
	at         timestamptz NOT NULL,
	decided_by text        NOT NULL,
	notify     boolean     NOT NULL,
	reasons    text        NOT NULL
);
CREATE INDEX decisions_device ON decisions (device_id, at, id);
