-- Holdings are written only when a device's list of case references
-- changes: held marks the references its latest heartbeat lists (their
-- last seen time is the device's), and holdings_sig is the signature of
-- that list, to tell a change from a repeat without reading the holdings.
ALTER TABLE devices ADD COLUMN holdings_sig bytea;
ALTER TABLE holdings ADD COLUMN held boolean NOT NULL DEFAULT false;
UPDATE holdings h SET held = true FROM devices d WHERE d.id = h.device_id AND h.last_seen = d.received_at;
