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
