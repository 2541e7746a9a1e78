-- What each device's agent has said, or shown, about stopping (store.Agent),
-- kept by Ingest: agent_stopping is its newest heartbeat's "stopping" ('' if
-- that heartbeat did not say the agent was stopping) and agent_stopping_at
-- when the agent made that heartbeat (NULL with ''); unannounced_stops
-- counts the agent.unannounced_stop events it has reported and
-- last_unannounced_stop is the latest one's time. Times are INTEGER
-- microseconds since the Unix epoch, UTC, as in 0001.
ALTER TABLE devices ADD COLUMN agent_stopping TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN agent_stopping_at INTEGER;
ALTER TABLE devices ADD COLUMN unannounced_stops INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN last_unannounced_stop INTEGER;

-- Events already stored count. (Heartbeats stored before this migration
-- were not read for "stopping": every agent counts as running until its
-- next heartbeat.) The events_type index (0004) finds them.
UPDATE devices SET
	unannounced_stops = (SELECT count(*) FROM events e
		WHERE e.type = 'agent.unannounced_stop' AND e.device_id = devices.id),
	last_unannounced_stop = (SELECT max(e.time) FROM events e
		WHERE e.type = 'agent.unannounced_stop' AND e.device_id = devices.id)
	WHERE id IN (SELECT device_id FROM events WHERE type = 'agent.unannounced_stop');
