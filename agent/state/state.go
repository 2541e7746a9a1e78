package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Names of files in the state folder.
const (
	DBName   = "state.db"
	LockName = "agent.lock"
)

// ErrLocked is returned by [Lock] when another agent holds the folder.
var ErrLocked = errors.New("another casekeep agent is using this state folder")

// ErrBusy is returned by [Store.View] and [Store.Update] when the database
// stayed locked by another process for longer than the store's timeout.
var ErrBusy = errors.New("the state database is busy")

// Prepare creates the state folder dir if needed and makes sure only this
// user (root/SYSTEM for the service) can use it: on Unix the folder must be
// owned by this user and is given mode 0700; on Windows it gets a protected
// ACL for SYSTEM, Administrators and this user. A symlink is refused.
func Prepare(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("state folder %q is not an absolute path", dir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("state folder %s is not a folder (a symlink or file is refused)", dir)
	}
	return makePrivate(dir, fi)
}

// AgentLock is held by the running agent; release it with Unlock.
type AgentLock struct {
	f *os.File
}

// Lock takes the agent lock of the state folder dir without waiting. If
// another process holds it the error wraps [ErrLocked] and names its pid.
func Lock(dir string) (*AgentLock, error) {
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		pid := strings.TrimSpace(string(b[:n]))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("%w (%s, pid %s)", ErrLocked, dir, pid)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &AgentLock{f: f}, nil
}

// Unlock releases the lock.
func (l *AgentLock) Unlock() error {
	return l.f.Close() // closing releases flock and LockFileEx locks
}

// Store is the agent's bbolt database.
type Store struct {
	path    string
	timeout time.Duration
	mu      sync.Mutex
}

// OpenStore returns the store in the state folder dir. Nothing is opened
// until the first transaction. Transactions wait up to timeout for another
// process to release the database.
func OpenStore(dir string, timeout time.Duration) *Store {
	return &Store{path: filepath.Join(dir, DBName), timeout: timeout}
}

// Update runs fn in a read-write transaction and commits it (with fsync)
// if fn returns nil.
func (s *Store) Update(fn func(*bolt.Tx) error) error {
	return s.with(false, func(db *bolt.DB) error { return db.Update(fn) })
}

// View runs fn in a read-only transaction. If the database does not exist
// yet, fn sees an empty one.
func (s *Store) View(fn func(*bolt.Tx) error) error {
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		return s.Update(fn) // creates it; fn only reads
	}
	return s.with(true, func(db *bolt.DB) error { return db.View(fn) })
}

func (s *Store) with(readOnly bool, fn func(*bolt.DB) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: s.timeout, ReadOnly: readOnly})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("%w: %s stayed locked for %s", ErrBusy, s.path, s.timeout)
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", s.path, err)
	}
	err = fn(db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}
