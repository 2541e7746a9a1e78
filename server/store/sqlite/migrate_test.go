package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestMigrateCommands: migration 0006 on a database as 0005 left it, with
// wipe requests.
func TestMigrateCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "casekeep.db")
	storetest.CommandsMigration(t,
		func(t *testing.T) store.Store {
			s, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		func(t *testing.T, wipes []storetest.LegacyWipe) {
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			files, err := filepath.Glob("migrations/000[1-5]_*.sql")
			if err != nil || len(files) != 5 {
				t.Fatalf("migrations 1 to 5: %v %v", files, err)
			}
			qs := []string{`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`}
			for i, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				qs = append(qs, string(b), fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%s', 0)`, i+1, filepath.Base(f)))
			}
			qs = append(qs, fmt.Sprintf(`INSERT INTO devices (id, signing_key, hostname, os, arch, serial, username,
				enrolled_agent_version, enrolled_at) VALUES ('d', x'00', 'h', 'linux', 'amd64', '', '', '', %d)`, wipes[0].RequestedAt.UnixMicro()))
			for _, w := range wipes {
				acked := "NULL"
				if !w.AckedAt.IsZero() {
					acked = fmt.Sprint(w.AckedAt.UnixMicro())
				}
				qs = append(qs, fmt.Sprintf(`INSERT INTO wipe_requests (id, device_id, requested_at, requested_by, acked_at)
					VALUES (%d, 'd', %d, '%s', %s)`, w.ID, w.RequestedAt.UnixMicro(), strings.ReplaceAll(w.By, "'", "''"), acked))
			}
			for _, q := range qs {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		})
}
