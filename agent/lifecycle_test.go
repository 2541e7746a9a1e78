package agent

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
)

// The reason recorded before a stop is read by the stop it was recorded
// for, once: the file is gone after, and the next stop is a plain one.
func TestStopReasonReadOnce(t *testing.T) {
	dir := t.TempDir()
	no := func() bool { return false }
	yes := func() bool { return true }
	if got := stopReason(dir, no); got != wire.StopService {
		t.Errorf("nothing recorded: %q, want %q", got, wire.StopService)
	}
	if got := stopReason(dir, yes); got != wire.StopShutdown {
		t.Errorf("the system stopping: %q, want %q", got, wire.StopShutdown)
	}
	if err := RecordStopReason(dir, wire.StopUninstall); err != nil {
		t.Fatal(err)
	}
	if got := stopReason(dir, yes); got != wire.StopUninstall {
		t.Errorf("uninstall recorded, the system stopping: %q, want %q", got, wire.StopUninstall)
	}
	if _, err := os.Lstat(filepath.Join(dir, stopReasonFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the recorded reason is still there after it was read: %v", err)
	}
	if got := stopReason(dir, no); got != wire.StopService {
		t.Errorf("the stop after: %q, want %q", got, wire.StopService)
	}

	// A plain stop records nothing; a reason this agent does not know, or
	// one cleared, is not taken.
	if err := RecordStopReason(dir, wire.StopService); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, stopReasonFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a plain stop was recorded: %v", err)
	}
	os.WriteFile(filepath.Join(dir, stopReasonFile), []byte("vanish\n"), 0o600)
	if got := stopReason(dir, no); got != wire.StopService {
		t.Errorf("an unknown reason recorded: %q, want %q", got, wire.StopService)
	}
	RecordStopReason(dir, wire.StopUninstall)
	ClearStopReason(dir)
	if got := stopReason(dir, no); got != wire.StopService {
		t.Errorf("after ClearStopReason: %q, want %q", got, wire.StopService)
	}
}

// The farewell has until the stop's deadline, but never more than
// FarewellMax; a stop without a reason is a service stop.
func TestFarewellBy(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in, want Stop
	}{
		{Stop{wire.StopService, now.Add(StopTimeout)}, Stop{wire.StopService, now.Add(FarewellMax)}},
		{Stop{wire.StopShutdown, now.Add(ShutdownTimeout)}, Stop{wire.StopShutdown, now.Add(ShutdownTimeout)}},
		{Stop{wire.StopUninstall, now.Add(FarewellMax)}, Stop{wire.StopUninstall, now.Add(FarewellMax)}},
		{Stop{wire.StopService, now.Add(-time.Second)}, Stop{wire.StopService, now.Add(-time.Second)}},
		{Stop{}, Stop{wire.StopService, now.Add(FarewellMax)}},
	} {
		if got := farewellBy(c.in, now); got != c.want {
			t.Errorf("farewellBy(%+v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
