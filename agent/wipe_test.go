package agent_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/report/reporttest"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

// wipeNow asks srv for a wipe and returns its acknowledgement, once the
// wipe is finished.
func wipeNow(t *testing.T, srv *reporttest.Server, d *device) wire.CommandAck {
	t.Helper()
	srv.Set(func(s *reporttest.Settings) {
		s.Commands = []wire.Command{srv.Command("cmd_wipe", wire.CommandWipe, time.Hour)}
	})
	a := waitAck(t, srv, "cmd_wipe", 1)
	testenv.Eventually(t, "the wipe finished", func() bool { w, _ := agent.ReadWipe(d.state); return w.Finished() })
	return a
}

// keysGone checks that nothing of the device identity is left.
func keysGone(t *testing.T, d *device) {
	t.Helper()
	for _, name := range []string{keys.WrappedName, keys.FileName, "device-lease.os", "device-lease.tpm", "device-lease.dpapi"} {
		if _, err := os.Lstat(filepath.Join(d.state, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left after the wipe: %v", name, err)
		}
	}
	if _, err := keys.Open(d.state, d.srv.DeviceID); !errors.Is(err, keys.ErrWiped) {
		t.Errorf("keys.Open after the wipe: %v", err)
	}
}

// TestWipeLeftPlaintextReported: plaintext the vault refuses (a hard-linked
// file) or skips (folder metadata, of any size) is not sealed by a wipe;
// it is counted, and the wipe is acknowledged failed saying what was left.
func TestWipeLeftPlaintextReported(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	defer r.stop(t)
	d.write("LL-000001/a.txt", "first case")
	d.waitSealed("LL-000001/a.txt")
	outside := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(outside, []byte("child protection notes"), 0o600)
	if err := os.Link(outside, filepath.Join(d.cache, "LL-000001", "notes.txt")); err != nil {
		t.Skipf("hard link: %v", err)
	}
	os.WriteFile(filepath.Join(d.cache, "LL-000001", "desktop.ini"), []byte(strings.Repeat("case notes ", 10000)), 0o600)

	a := wipeNow(t, srv, d)
	t.Logf("ack: %s %q", a.Result, a.Reason)
	if a.Result != wire.AckFailed {
		t.Errorf("wipe acknowledged %q with plaintext left: %q", a.Result, a.Reason)
	}
	for _, want := range []string{"removed 1 sealed file(s)", "1 path(s) the vault refuses", "1 editor lock or folder metadata file(s)"} {
		if !strings.Contains(a.Reason, want) {
			t.Errorf("the reason %q does not say %q", a.Reason, want)
		}
	}
	if strings.Contains(a.Reason, "notes.txt") || strings.Contains(a.Reason, "desktop.ini\"") {
		t.Errorf("the reason names a file: %q", a.Reason)
	}
	keysGone(t, d)
}

// TestWipeAckQueueFails: an acknowledgement of the wipe that could not be
// queued is retried, not lost: the server gets it, and only then does the
// agent forget its spool and enrollment.
func TestWipeAckQueueFails(t *testing.T) {
	var failed atomic.Int32
	srv, d, r := enrolledAndUnlocked(t)
	agent.SetAckHook(func(a wire.CommandAck) error {
		if a.ID != "cmd_wipe" {
			return nil
		}
		// The server stops sending the command (as after it is delivered),
		// so only the wipe's own retry can queue the acknowledgement.
		srv.Set(func(s *reporttest.Settings) { s.Commands = nil })
		if failed.Add(1) <= 2 {
			return errors.New("injected: the state store is full")
		}
		return nil
	})
	defer agent.SetAckHook(nil)
	defer r.stop(t)
	d.write("LL-000001/a.txt", "first case")
	d.waitSealed("LL-000001/a.txt")
	a := wipeNow(t, srv, d)
	if a.Result != wire.AckDone || failed.Load() < 3 {
		t.Errorf("wipe ack %+v after %d attempts to queue it", a, failed.Load())
	}
	keysGone(t, d)
}

// TestWipeUnauthenticatedRecipient: a device public key the pin does not
// authenticate (the state folder changed) is not sealed to by the wipe:
// what waits is sealed to the escrow keys alone, and the ack says so.
func TestWipeUnauthenticatedRecipient(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	d.write("LL-000001/a.txt", "first case")
	d.waitSealed("LL-000001/a.txt")
	r.stop(t)
	if err := os.WriteFile(filepath.Join(d.state, keys.PinName), []byte("casekeep recipients pin v1\n00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.write("LL-000009/late.txt", "written while the agent was down")
	srv.Set(func(s *reporttest.Settings) { s.Refuse = wire.RefusedWiped })
	r = d.start(nil)
	defer r.stop(t)
	a := wipeNow(t, srv, d)
	t.Logf("ack: %s %q", a.Result, a.Reason)
	if a.Result != wire.AckDone || !strings.Contains(a.Reason, "sealed 1 plaintext file(s) to the escrow keys alone") ||
		!strings.Contains(a.Reason, "not authenticated by its pin") {
		t.Errorf("wipe ack %+v", a)
	}
	if _, err := os.Lstat(filepath.Join(d.cache, "LL-000009", "late.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the plaintext waiting is left: %v", err)
	}
	keysGone(t, d)
}
