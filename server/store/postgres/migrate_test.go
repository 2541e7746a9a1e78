package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/storetest"
)

// TestMigrateAgentStops: migration 0005 on a database that holds events.
func TestMigrateAgentStops(t *testing.T) {
	dsn := freshDB(t)
	storetest.AgentStopsMigration(t,
		func(t *testing.T) store.Store { return open(t, dsn) },
		func(t *testing.T) {
			conn, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(t.Context())
			if _, err := conn.Exec(t.Context(), `ALTER TABLE devices DROP COLUMN agent_stopping, DROP COLUMN agent_stopping_at,
				DROP COLUMN unannounced_stops, DROP COLUMN last_unannounced_stop;
				DELETE FROM schema_migrations WHERE version = 5`); err != nil {
				t.Fatal(err)
			}
		})
}
