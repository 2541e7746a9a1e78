-- What each device's agent has said, or shown, about stopping (store.Agent),
-- kept by Ingest: agent_stopping is its newest heartbeat's "stopping" ('' if
-- that heartbeat did not say the agent was stopping) and agent_stopping_at
-- when the agent made that heartbeat (NULL with ''); unannounced_stops
-- counts the agent.unannounced_stop events it has reported and
-- last_unannounced_stop is the latest one's time. Adding columns with a
-- constant default rewrites no row.
ALTER TABLE devices ADD COLUMN agent_stopping text NOT NULL DEFAULT '',
	ADD COLUMN agent_stopping_at timestamptz,
	ADD COLUMN unannounced_stops bigint NOT NULL DEFAULT 0,
	ADD COLUMN last_unannounced_stop timestamptz;

-- Events already stored count. (Heartbeats stored before this migration
-- were not read for "stopping": every agent counts as running until its
-- next heartbeat.) The events_type index (0004) finds them.
UPDATE devices d SET unannounced_stops = e.n, last_unannounced_stop = e.last
	FROM (SELECT device_id, count(*) AS n, max(time) AS last FROM events
		WHERE type = 'agent.unannounced_stop' GROUP BY device_id) AS e
	WHERE d.id = e.device_id;
