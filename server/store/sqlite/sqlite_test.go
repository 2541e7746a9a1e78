package sqlite_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/sqlite"
	"github.com/casekeep/casekeep/server/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.PerTest(
		// A name with URI metacharacters, which must not confuse the driver.
		func(t *testing.T) string { return filepath.Join(t.TempDir(), "case keep?#%.db") },
		func(t *testing.T, path string) store.Store {
			s, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}))
}

// TestFileMode checks the database and its WAL files are private, and that
// a name holding URI metacharacters names the very file SQLite opens.
func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "case keep?mode=ro#%41.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateDevice(t.Context(), store.Device{ID: "d"}); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}

func TestOpenFails(t *testing.T) {
	if _, err := sqlite.Open(filepath.Join(t.TempDir(), "no", "such", "folder", "x.db")); err == nil {
		t.Error("Open in a missing folder succeeded")
	}
}

// TestConcurrentOpen starts several servers on one new file at once: the
// migrations run once, and every Open succeeds.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "casekeep.db")
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := sqlite.Open(path)
			if err == nil {
				err = s.Close()
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
