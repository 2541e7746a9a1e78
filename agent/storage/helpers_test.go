package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/storage"
)

// eventually bounds every wait for something that must happen; it is far
// longer than any delay under test, so a loaded machine does not fail tests.
const eventually = 30 * time.Second

// fakeSys is the kit's fake sysfs, /dev and mount table.
type fakeSys struct{ *agenttest.Sys }

func newFakeSys(t *testing.T) *fakeSys { return &fakeSys{agenttest.NewSys(t)} }

func (f *fakeSys) paths() storage.LinuxPaths {
	return storage.LinuxPaths{MountInfo: f.MountInfo, SysRoot: f.SysRoot, DevRoot: f.DevRoot}
}

// fakeSource is a Source whose volumes a test sets, and a Notifier whose
// notifications a test sends with poke. scans counts the listings, so a
// test can wait until the monitor has seen what it set.
type fakeSource struct {
	mu     sync.Mutex
	vols   []storage.Volume
	err    error
	scans  int
	wake   chan struct{}
	cond   chan struct{} // closed and replaced after every listing
	notify bool
}

func newFakeSource(notify bool, vols ...storage.Volume) *fakeSource {
	return &fakeSource{vols: vols, wake: make(chan struct{}, 1), cond: make(chan struct{}), notify: notify}
}

func (s *fakeSource) Volumes(ctx context.Context) ([]storage.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scans++
	close(s.cond)
	s.cond = make(chan struct{})
	if s.err != nil {
		return nil, s.err
	}
	return append([]storage.Volume(nil), s.vols...), nil
}

func (s *fakeSource) Notify(ctx context.Context) (<-chan struct{}, error) {
	if !s.notify {
		return nil, errors.New("no notifications")
	}
	out := make(chan struct{})
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				select {
				case out <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// set replaces the volumes and, with notifications, pokes the monitor and
// waits until it has listed them, so that what follows sees the new set.
func (s *fakeSource) set(t *testing.T, vols ...storage.Volume) {
	t.Helper()
	s.mu.Lock()
	s.vols = vols
	s.mu.Unlock()
	s.sync(t)
}

func (s *fakeSource) setErr(t *testing.T, err error) {
	t.Helper()
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	s.sync(t)
}

// sync waits for two listings that started after it was called (one may be
// under way already with the old set).
func (s *fakeSource) sync(t *testing.T) {
	t.Helper()
	for range 2 {
		s.mu.Lock()
		c := s.cond
		s.mu.Unlock()
		if s.notify {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
		select {
		case <-c:
		case <-time.After(eventually):
			t.Fatal("the monitor did not list the volumes again")
		}
	}
}

// runMonitor runs m until the test ends and returns a function that waits
// for Run to return.
func runMonitor(t *testing.T, m *storage.Monitor) (cancel func() error) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	var err error
	cancel = func() error {
		once.Do(func() {
			stop()
			select {
			case err = <-done:
			case <-time.After(eventually):
				t.Error("Run did not return after its context was cancelled")
			}
		})
		return err
	}
	t.Cleanup(func() { cancel() })
	return cancel
}

// next takes one change, failing the test if none comes.
func next(t *testing.T, m *storage.Monitor) storage.Change {
	t.Helper()
	select {
	case c, ok := <-m.Changes():
		if !ok {
			t.Fatal("Changes closed")
		}
		return c
	case <-time.After(eventually):
		t.Fatal("no change reported")
	}
	return storage.Change{}
}
