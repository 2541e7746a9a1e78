package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Names of files in the state folder.
const (
	DBName   = "state.db"
	LockName = "casekeep.lock"
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
	renamed bool // the buckets have their current names (see renameBuckets)
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
	if !s.renamed {
		if err := s.renameBuckets(); err != nil {
			return err
		}
		s.renamed = true
	}
	return s.open(readOnly, fn)
}

func (s *Store) open(readOnly bool, fn func(*bolt.DB) error) error {
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

// BucketSep separates the owner of a bucket from its name ("vault-files").
// Earlier agents used '.', which reads like an event type; their
// buckets are renamed the first time a Store is used (see renameBuckets).
const BucketSep = "-"

// renameBuckets gives every top-level bucket named with the old separator
// its current name, with its keys, nested buckets and sequence, in one
// transaction: a crash leaves either all the old names or all the new. A
// database with none (or none yet) is not opened for writing.
func (s *Store) renameBuckets() error {
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var old [][]byte
	err := s.open(true, func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				if strings.Contains(string(name), ".") {
					old = append(old, slices.Clone(name))
				}
				return nil
			})
		})
	})
	if err != nil || len(old) == 0 {
		return err
	}
	return s.open(false, func(db *bolt.DB) error {
		return db.Update(func(tx *bolt.Tx) error {
			for _, name := range old {
				src := tx.Bucket(name)
				if src == nil {
					continue // renamed by another process meanwhile
				}
				to := []byte(strings.ReplaceAll(string(name), ".", BucketSep))
				if tx.Bucket(to) != nil {
					return fmt.Errorf("state database %s holds both buckets %q and %q", s.path, name, to)
				}
				dst, err := tx.CreateBucket(to)
				if err != nil {
					return err
				}
				if err := copyBucket(dst, src); err != nil {
					return fmt.Errorf("renaming bucket %q: %w", name, err)
				}
				if err := tx.DeleteBucket(name); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// copyBucket copies src's keys, nested buckets and sequence into dst.
func copyBucket(dst, src *bolt.Bucket) error {
	if err := dst.SetSequence(src.Sequence()); err != nil {
		return err
	}
	return src.ForEach(func(k, v []byte) error {
		if v != nil {
			return dst.Put(slices.Clone(k), slices.Clone(v))
		}
		child, err := dst.CreateBucket(slices.Clone(k))
		if err != nil {
			return err
		}
		return copyBucket(child, src.Bucket(k))
	})
}
