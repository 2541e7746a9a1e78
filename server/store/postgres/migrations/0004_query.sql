-- Indexes for store.Query: the questions asked across the fleet, or of one
-- device at a time in the past. A device's state changes are already kept
-- in (device_id, at, seq) order (the primary key), which answers "its state
-- at t" with one backward index seek, so state_changes needs nothing more.

-- CaseHolders: the devices that have held a case reference, by device.
CREATE INDEX holdings_ref ON holdings (ref, device_id);

-- An event's type and case reference compare by bytes, as every key does
-- (0001): a type prefix is then the range of types from it up to the
-- prefix with its final "." replaced by "/", whatever the database's
-- locale. Changing only the collation rewrites no row, and no index used
-- these columns before.
ALTER TABLE events ALTER COLUMN type TYPE text COLLATE "C",
	ALTER COLUMN case_ref TYPE text COLLATE "C";

-- SearchEvents across the fleet: by time, by type (exact, or a prefix as
-- a range of types) then time, by case reference then time. A search
-- naming a device uses the primary key, (device_id, time, seq, idx).
CREATE INDEX events_time ON events (time);
CREATE INDEX events_type ON events (type, time);
CREATE INDEX events_case_ref ON events (case_ref, time);

-- HeartbeatsAround: a device's stored heartbeats by received time, then
-- seq (heartbeats received at the same instant are told apart by seq).
CREATE INDEX heartbeats_device_received ON heartbeats (device_id, received_at, seq);
