package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/sqlite"
	"github.com/casekeep/casekeep/server/store/storetest"
)

// TestMigrateAgentStops: migration 0005 on a database that holds events.
func TestMigrateAgentStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "casekeep.db")
	storetest.AgentStopsMigration(t,
		func(t *testing.T) store.Store {
			s, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		func(t *testing.T) {
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, q := range []string{
				`ALTER TABLE devices DROP COLUMN agent_stopping`,
				`ALTER TABLE devices DROP COLUMN agent_stopping_at`,
				`ALTER TABLE devices DROP COLUMN unannounced_stops`,
				`ALTER TABLE devices DROP COLUMN last_unannounced_stop`,
				`DELETE FROM schema_migrations WHERE version = 5`,
			} {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		})
}
