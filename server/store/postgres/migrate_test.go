package postgres_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

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

// TestMigrateCommands: migration 0006 on a database as 0005 left it, with
// wipe requests.
func TestMigrateCommands(t *testing.T) {
	dsn := freshDB(t)
	storetest.CommandsMigration(t,
		func(t *testing.T) store.Store { return open(t, dsn) },
		func(t *testing.T, wipes []storetest.LegacyWipe) {
			conn, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(t.Context())
			files, err := filepath.Glob("migrations/000[1-5]_*.sql")
			if err != nil || len(files) != 5 {
				t.Fatalf("migrations 1 to 5: %v %v", files, err)
			}
			if _, err := conn.Exec(t.Context(), `CREATE TABLE schema_migrations (version integer NOT NULL PRIMARY KEY,
				name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			for i, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(t.Context(), string(b)); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if _, err := conn.Exec(t.Context(), `INSERT INTO schema_migrations VALUES ($1, $2, now())`, i+1, filepath.Base(f)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := conn.Exec(t.Context(), `INSERT INTO devices (id, signing_key, hostname, os, arch, serial, username,
				enrolled_agent_version, enrolled_at) VALUES ('d', '\x00', 'h', 'linux', 'amd64', '', '', '', $1)`, wipes[0].RequestedAt); err != nil {
				t.Fatal(err)
			}
			for _, w := range wipes {
				var acked *time.Time
				if !w.AckedAt.IsZero() {
					acked = &w.AckedAt
				}
				if _, err := conn.Exec(t.Context(), `INSERT INTO wipe_requests (id, device_id, requested_at, requested_by, acked_at)
					OVERRIDING SYSTEM VALUE VALUES ($1, 'd', $2, $3, $4)`, w.ID, w.RequestedAt, w.By, acked); err != nil {
					t.Fatal(err)
				}
			}
		})
}
