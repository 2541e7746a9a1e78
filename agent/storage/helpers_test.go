package storage_test

import (
	"context"
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
