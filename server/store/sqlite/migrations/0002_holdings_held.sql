-- Holdings are written only when a device's list of case references
-- changes: held marks the references its latest heartbeat lists (their
-- last seen time is the device's), and holdings_sig is the signature of
-- that list, to tell a change from a repeat without reading the holdings.
ALTER TABLE devices ADD COLUMN holdings_sig BLOB;
ALTER TABLE holdings ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
UPDATE holdings SET held = 1
	WHERE last_seen = (SELECT received_at FROM devices WHERE devices.id = holdings.device_id);
