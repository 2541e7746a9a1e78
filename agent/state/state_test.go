package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/casekeep/casekeep/agent/state"
)

func TestPrepare(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	if err := state.Prepare(dir); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	if err := state.Prepare(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, want 0700", fi.Mode().Perm())
	}
	if err := state.Prepare("relative/state"); err == nil {
		t.Error("relative path accepted")
	}
	// A symlink to a folder is refused, even one we own.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := state.Prepare(link); err == nil {
		t.Error("symlinked state folder accepted")
	}
}

func TestPrepareRefusesForeignOwner(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		t.Skip("needs root on Unix to make a folder owned by someone else")
	}
	dir := filepath.Join(t.TempDir(), "state")
	os.Mkdir(dir, 0o700)
	if err := os.Chown(dir, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	err := state.Prepare(dir)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 12345") {
		t.Errorf("foreign-owned folder: %v", err)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l, err := state.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = state.Lock(dir)
	if !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Lock: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l, err = state.Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l.Unlock()
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	s := state.OpenStore(dir, time.Second)
	// Reading a store that does not exist yet sees it empty.
	err := s.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("b")) != nil {
			t.Error("bucket in a new store")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	// A second store on the same folder (as another process would) sees it.
	var got string
	err = state.OpenStore(dir, time.Second).View(func(tx *bolt.Tx) error {
		got = string(tx.Bucket([]byte("b")).Get([]byte("k")))
		return nil
	})
	if err != nil || got != "v" {
		t.Fatalf("read back %q, %v", got, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, state.DBName)); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("db mode %v", fi.Mode().Perm())
	}
}

// TestStoreBusy holds a write transaction open in one store while another
// store (as another process would) tries to read.
func TestStoreBusy(t *testing.T) {
	dir := t.TempDir()
	a := state.OpenStore(dir, time.Second)
	b := state.OpenStore(dir, 100*time.Millisecond)
	a.Update(func(*bolt.Tx) error { return nil })
	holding, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		a.Update(func(*bolt.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	err := b.View(func(*bolt.Tx) error { return nil })
	close(release)
	<-done
	if !errors.Is(err, state.ErrBusy) {
		t.Fatalf("View while another holds the db: %v, want ErrBusy", err)
	}
}

// TestOldBucketNamesRenamed: a database an earlier agent wrote, with its
// buckets named "owner.name", is read under the current names, with every
// key, nested bucket and sequence, and an interrupted or repeated rename
// changes nothing more.
func TestOldBucketNamesRenamed(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, state.DBName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("report.spool"))
		if err != nil {
			return err
		}
		b.SetSequence(41)
		b.Put([]byte("0001"), []byte("a heartbeat"))
		nested, err := b.CreateBucket([]byte("inner"))
		if err != nil {
			return err
		}
		nested.Put([]byte("k"), []byte("v"))
		v, err := tx.CreateBucket([]byte("vault.files"))
		if err != nil {
			return err
		}
		v.Put([]byte("LL-1/a.txt.age"), []byte(`{"size":3}`))
		_, err = tx.CreateBucket([]byte("plain"))
		return err
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	for range 2 { // a second Store (another process) finds nothing to rename
		s := state.OpenStore(dir, time.Second)
		err := s.View(func(tx *bolt.Tx) error {
			var names []string
			tx.ForEach(func(name []byte, _ *bolt.Bucket) error { names = append(names, string(name)); return nil })
			if got := strings.Join(names, " "); got != "plain report-spool vault-files" {
				t.Errorf("buckets %q", got)
			}
			sp := tx.Bucket([]byte("report" + state.BucketSep + "spool"))
			if sp == nil {
				t.Fatal("no spool bucket")
			}
			if sp.Sequence() != 41 || string(sp.Get([]byte("0001"))) != "a heartbeat" {
				t.Errorf("spool sequence %d, entry %q", sp.Sequence(), sp.Get([]byte("0001")))
			}
			if in := sp.Bucket([]byte("inner")); in == nil || string(in.Get([]byte("k"))) != "v" {
				t.Error("the nested bucket was not carried over")
			}
			if got := tx.Bucket([]byte("vault-files")).Get([]byte("LL-1/a.txt.age")); string(got) != `{"size":3}` {
				t.Errorf("index entry %q", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestBothBucketNamesRefused: a database holding a bucket under its old
// and its new name is not merged by guess: the store says so.
func TestBothBucketNamesRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, state.DBName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		tx.CreateBucket([]byte("vault.files"))
		tx.CreateBucket([]byte("vault-files"))
		return nil
	})
	db.Close()
	err = state.OpenStore(dir, time.Second).View(func(*bolt.Tx) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "both buckets") {
		t.Fatalf("View: %v", err)
	}
}
