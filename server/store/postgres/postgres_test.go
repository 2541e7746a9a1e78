package postgres_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/postgres"
	"github.com/casekeep/casekeep/server/store/storetest"
)

// freshDB creates a database of its own for the test, dropped at its end,
// and returns its DSN. The server comes from CASEKEEP_TEST_POSTGRES.
func freshDB(t testing.TB) string {
	t.Helper()
	return freshDBWith(t, "")
}

// freshDBWith is freshDB, with options for CREATE DATABASE.
func freshDBWith(t testing.TB, options string) string {
	t.Helper()
	admin := os.Getenv("CASEKEEP_TEST_POSTGRES")
	if admin == "" {
		testenv.Unavailable(t, "set CASEKEEP_TEST_POSTGRES to a PostgreSQL DSN whose user may create databases (.ci/postgres starts one)")
	}
	name := "casekeep_test_" + strings.ToLower(rand.Text())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("CASEKEEP_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" "+options); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return withDatabase(t, admin, name)
}

// withDatabase returns dsn naming database name instead.
func withDatabase(t testing.TB, dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("CASEKEEP_TEST_POSTGRES: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name
}

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.PerTest(
		func(t *testing.T) string { return freshDB(t) },
		func(t *testing.T, dsn string) store.Store { return open(t, dsn) }))
}

// TestSimpleProtocol runs the suite as it would behind PgBouncer in
// transaction mode with prepared statements turned off.
func TestSimpleProtocol(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	storetest.Run(t, storetest.PerTest(
		func(t *testing.T) string { return freshDB(t) },
		func(t *testing.T, dsn string) store.Store {
			return open(t, withParam(dsn, "default_query_exec_mode", "simple_protocol"))
		}))
}

// TestICULocale runs the suite in a database whose default collation is
// ICU's en-US, which orders "Storage.usb" between "storage." and "storage/"
// and "Zoë" after "alice": every "by ID", "by name" and type prefix must
// still go by bytes.
func TestICULocale(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	conn, err := pgx.Connect(t.Context(), freshDB(t))
	if err != nil {
		t.Fatal(err)
	}
	var version, icuCollations int
	err = conn.QueryRow(t.Context(), `SELECT current_setting('server_version_num')::int,
		(SELECT count(*) FROM pg_collation WHERE collprovider = 'i')`).Scan(&version, &icuCollations)
	conn.Close(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if version < 150000 || icuCollations == 0 {
		t.Skipf("needs PostgreSQL 15 or later built with ICU (server version %d, %d ICU collations)", version, icuCollations)
	}
	const icu = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
	storetest.Run(t, storetest.PerTest(
		func(t *testing.T) string { return freshDBWith(t, icu) },
		func(t *testing.T, dsn string) store.Store { return open(t, dsn) }))
}

// withParam returns dsn with the parameter added.
func withParam(dsn, key, value string) string {
	if !strings.Contains(dsn, "://") {
		return dsn + " " + key + "=" + value
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&" + key + "=" + value
	}
	return dsn + "?" + key + "=" + value
}

// TestConcurrentOpen starts several servers on one new database at once:
// the migrations run once, and every Open succeeds.
func TestConcurrentOpen(t *testing.T) {
	dsn := freshDB(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
