package keys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
)

// TestClockSetBack: once the server has stated its time, a local clock
// set back before it (by more than the slack) does not open the offline
// copy, even after a restart (the floor is kept in the state folder), and
// the copy is destroyed; with the clock right, it opens.
func TestClockSetBack(t *testing.T) {
	fake := &fakeProtector{k: wire.OfflineTPM}
	k, dir, _ := offlineDevice(t, fake)
	now := time.Now()
	if err := k.Trust(now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := k.SaveOffline(now.Add(72 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ClockFloorName)); err != nil {
		t.Fatalf("the floor of trusted time is not kept: %v", err)
	}
	copyBlob := fake.data

	// A restart, the clock set back a day: the copy is not used, and is destroyed.
	r, err := open(dir, devA, []protector{fake})
	if err != nil {
		t.Fatal(err)
	}
	back := now.Add(-24 * time.Hour)
	if _, behind := r.Clock(back); behind < 23*time.Hour {
		t.Errorf("Clock says %v behind, want about a day", behind)
	}
	wantErr(t, "UnlockOffline with the clock set back", r.UnlockOffline(back), ErrLocked, ErrExpired, ErrClockBehind)
	if fake.held() {
		t.Error("the copy was kept")
	}

	// The clock right: the same copy opens.
	fake.data = copyBlob
	r, err = open(dir, devA, []protector{fake})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.UnlockOffline(time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("with the clock right: %v", err)
	}
	// A little behind (within the slack) is no matter.
	if _, behind := r.Clock(time.Now().Add(-ClockSlack / 2)); behind != 0 {
		t.Errorf("within the slack, behind %v", behind)
	}

	// Open from the copy, the clock set back while running: Expire
	// destroys the copy and locks.
	if !r.Expire(time.Now().Add(-time.Hour)) {
		t.Fatal("Expire with the clock set back did not lock")
	}
	if r.State() != wire.LeaseLocked || fake.held() {
		t.Errorf("state %s, copy held %v", r.State(), fake.held())
	}
	// And while it is behind, no copy is kept.
	if err := r.Unlock(leaseKey("offline"), "k1"); err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return time.Now().Add(-time.Hour) }
	if err := r.SaveOffline(time.Now().Add(72 * time.Hour)); !errors.Is(err, ErrClockBehind) || fake.held() {
		t.Errorf("SaveOffline with the clock behind: %v, held %v", err, fake.held())
	}
	// Unlocked by the server, the vault stays so: only the copy goes.
	if r.Expire(time.Now().Add(-time.Hour)) || r.State() != wire.LeaseUnlocked {
		t.Errorf("Expire locked a vault the server unlocked: %s", r.State())
	}
}

// TestClockFloorAdvances: while the process runs the floor moves with the
// monotonic clock, so a clock set back after a long time without the
// server is caught too; a later server time replaces a bad floor.
func TestClockFloorAdvances(t *testing.T) {
	k, dir, _ := offlineDevice(t, &fakeProtector{k: wire.OfflineOS})
	start := time.Now()
	k.Trust(start)
	k.floorAt = k.floorAt.Add(-48 * time.Hour) // as if received two days ago
	if f, _ := k.Clock(time.Now()); f.Before(start.Add(47 * time.Hour)) {
		t.Fatalf("floor %v did not advance", f)
	}
	k.Expire(time.Now()) // keeps it
	b, _ := os.ReadFile(filepath.Join(dir, ClockFloorName))
	if !strings.Contains(string(b), start.Add(48*time.Hour).UTC().Format("2006-01-02T15")) {
		t.Errorf("kept floor %q", b)
	}
	// A server whose clock says otherwise is believed.
	k.Trust(start)
	if _, behind := k.Clock(time.Now()); behind != 0 {
		t.Errorf("after the server's time, behind %v", behind)
	}
	if err := k.Trust(time.Time{}); err == nil {
		t.Error("a zero server time was taken")
	}
}
