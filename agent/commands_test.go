package agent_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/report/reporttest"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

// waitAck waits for the server to receive n acknowledgements of id, and
// returns the last.
func waitAck(t *testing.T, s *reporttest.Server, id string, n int) wire.CommandAck {
	t.Helper()
	var acks []wire.CommandAck
	testenv.Eventually(t, "the acknowledgement of "+id, func() bool { acks = s.Acks(id); return len(acks) >= n })
	return acks[len(acks)-1]
}

// TestCommands: lock and unlock are carried out and acknowledged in a
// heartbeat; a command seen again is acknowledged again, not carried out
// again; another device's, an expired one and one of an unknown type are
// refused, acknowledged as refused, and reported.
func TestCommands(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)

	// IT security locks the device: the server refuses the lease and
	// sends the command.
	srv.Set(func(s *reporttest.Settings) {
		s.Refuse = wire.RefusedLocked
		s.Commands = []wire.Command{srv.Command("cmd_lock", wire.CommandLock, time.Hour)}
	})
	if a := waitAck(t, srv, "cmd_lock", 1); a.Result != wire.AckDone || a.Type != wire.CommandLock || a.At.IsZero() {
		t.Errorf("lock ack %+v", a)
	}
	st := r.waitLease(t, wire.LeaseLocked)
	if st.Keys.OfflineCopy != wire.OfflineNone || !strings.Contains(st.Keys.Why, "IT security locked") {
		t.Errorf("after the lock, keys %+v", st.Keys)
	}
	d.write("LL-000001/while-locked.txt", "still sealed")
	d.waitSealed("LL-000001/while-locked.txt")

	// Found: the server serves the lease again and says unlock.
	srv.Set(func(s *reporttest.Settings) {
		s.Refuse = ""
		s.Commands = []wire.Command{srv.Command("cmd_unlock", wire.CommandUnlock, time.Hour)}
	})
	if a := waitAck(t, srv, "cmd_unlock", 1); a.Result != wire.AckDone {
		t.Errorf("unlock ack %+v", a)
	}
	r.waitLease(t, wire.LeaseUnlocked)
	locks := len(r.eventsOf(wire.EventVaultLocked))

	// The lock again, with its ID (a server that did not see the ack):
	// acknowledged again, not carried out again.
	srv.Set(func(s *reporttest.Settings) {
		s.Commands = []wire.Command{srv.Command("cmd_lock", wire.CommandLock, time.Hour)}
	})
	if a := waitAck(t, srv, "cmd_lock", 2); a.Result != wire.AckDone {
		t.Errorf("lock ack again %+v", a)
	}
	if st := r.a.Status(); st.Keys.Lease != wire.LeaseUnlocked || len(r.eventsOf(wire.EventVaultLocked)) != locks {
		t.Errorf("a lock seen again was carried out again: %+v", st.Keys)
	}

	// Refused: another device's, expired, an unknown action.
	other, _ := wire.NewDeviceID()
	srv.Set(func(s *reporttest.Settings) {
		foreign := srv.Command("cmd_foreign", wire.CommandWipe, time.Hour)
		foreign.DeviceID = other
		expired := srv.Command("cmd_expired", wire.CommandWipe, -time.Minute)
		s.Commands = []wire.Command{foreign, expired, srv.Command("cmd_unknown", "selfdestruct", time.Hour)}
	})
	for id, why := range map[string]string{"cmd_foreign": "another device", "cmd_expired": "expired", "cmd_unknown": "not an action"} {
		a := waitAck(t, srv, id, 1)
		if a.Result != wire.AckRefused || !strings.Contains(a.Reason, why) {
			t.Errorf("%s: ack %+v, want refused saying %q", id, a, why)
		}
	}
	testenv.Eventually(t, "three command_refused events", func() bool { return len(r.eventsOf(wire.EventCommandRefused)) >= 3 })
	if w, err := agent.ReadWipe(d.state); w != nil || err != nil {
		t.Errorf("a refused wipe was recorded: %+v %v", w, err)
	}
	if st := r.a.Status(); st.Keys.Lease != wire.LeaseUnlocked {
		t.Errorf("after refused commands, keys %+v", st.Keys)
	}
	d.escrowOpens("LL-000001/while-locked.txt.age")
}

// TestReplayedWipeRefused: a signed reply that does not echo the batch's
// nonce (a recorded reply played again) carries a wipe: it is refused and
// reported, not acknowledged, and nothing is wiped.
func TestReplayedWipeRefused(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	d.write("LL-000001/notes.txt", "notes")
	d.waitSealed("LL-000001/notes.txt")
	srv.Set(func(s *reporttest.Settings) {
		s.BadNonce = true
		s.Commands = []wire.Command{srv.Command("cmd_wipe", wire.CommandWipe, time.Hour)}
	})
	// The reporter refuses them: the event goes in a heartbeat.
	testenv.Eventually(t, "a heartbeat reporting the refusal", func() bool {
		for _, h := range srv.Received() {
			for _, e := range h.Events {
				if e.Type == wire.EventCommandRefused && strings.Contains(e.Detail, "nonce") {
					return true
				}
			}
		}
		return false
	})
	n := len(srv.Received())
	testenv.Eventually(t, "more heartbeats", func() bool { return len(srv.Received()) > n+3 })
	if acks := srv.Acks("cmd_wipe"); len(acks) != 0 {
		t.Errorf("a replayed command was acknowledged: %+v", acks)
	}
	if w, err := agent.ReadWipe(d.state); w != nil || err != nil {
		t.Fatalf("a replayed wipe was recorded: %+v %v", w, err)
	}
	if st := r.a.Status(); st.Keys.Lease != wire.LeaseUnlocked || st.Wipe != nil {
		t.Errorf("after a replayed wipe: %+v, wipe %+v", st.Keys, st.Wipe)
	}
	if got := d.escrowOpens("LL-000001/notes.txt.age"); got != "notes" {
		t.Errorf("the sealed file: %q", got)
	}
	if _, err := keys.Open(d.state, srv.DeviceID); err != nil {
		t.Errorf("the identity after a replayed wipe: %v", err)
	}
}

// TestWipe: a wipe removes the sealed files the vault made, shreds the
// identity and every lease copy, acknowledges in one last heartbeat, then
// removes the signing key, the enrollment and the spool, and stays wiped.
// A copy of a sealed file taken before opens with the escrow identity and
// the stock age command.
func TestWipe(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	d.write("LL-000001/a.txt", "first case")
	d.write("LL-000002/b.txt", "second case")
	d.waitSealed("LL-000001/a.txt")
	d.waitSealed("LL-000002/b.txt")
	waitEntry(t, d, "LL-000002/b.txt.age")
	taken := filepath.Join(t.TempDir(), "b.txt.age")
	copyFile(t, filepath.Join(d.cache, "LL-000002", "b.txt.age"), taken)
	// A file the vault leaves alone, so did not make.
	theirs := filepath.Join(d.cache, "LL-000003", ".DS_Store")
	os.MkdirAll(filepath.Dir(theirs), 0o755)
	os.WriteFile(theirs, []byte("folder metadata"), 0o600)

	srv.Set(func(s *reporttest.Settings) {
		s.Commands = []wire.Command{srv.Command("cmd_wipe", wire.CommandWipe, time.Hour)}
	})
	a := waitAck(t, srv, "cmd_wipe", 1)
	if a.Result != wire.AckDone || !strings.Contains(a.Reason, "removed 2 sealed file(s)") {
		t.Errorf("wipe ack %+v", a)
	}
	testenv.Eventually(t, "the wipe finished", func() bool {
		w, _ := agent.ReadWipe(d.state)
		return w.Finished()
	})
	last := srv.Last()
	if len(last.Acks) == 0 || last.Acks[0].ID != "cmd_wipe" || last.Lease != wire.LeaseWiped {
		t.Errorf("the last heartbeat %+v does not carry the wipe's ack", last)
	}
	wiped := false
	for _, e := range last.Events {
		wiped = wiped || e.Type == wire.EventVaultWiped
	}
	if !wiped {
		t.Errorf("the last heartbeat's events %+v", last.Events)
	}
	n := len(srv.Received())
	time.Sleep(10 * d.policy.Heartbeat.Interval)
	if got := len(srv.Received()); got != n {
		t.Errorf("%d heartbeats after the wipe's acknowledgement", got-n)
	}

	st := r.a.Status()
	if st.Keys.Lease != wire.LeaseWiped || st.Wipe == nil || !st.Wipe.Finished() || st.Wipe.Command != "cmd_wipe" || st.Vault.Files != 0 {
		t.Errorf("status after the wipe %+v, wipe %+v", st.Keys, st.Wipe)
	}
	if !strings.Contains(strings.Join(st.Advice, " "), "wiped by IT security") {
		t.Errorf("advice %q", st.Advice)
	}
	for _, gone := range []string{"LL-000001/a.txt.age", "LL-000002/b.txt.age"} {
		if _, err := os.Lstat(filepath.Join(d.cache, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", gone, err)
		}
	}
	if _, err := os.Lstat(theirs); err != nil {
		t.Errorf("a file the vault did not make was removed: %v", err)
	}
	for _, gone := range []string{keys.WrappedName, keys.FileName, "device-lease.os", report.SigningKeyFile, report.EnrollmentFile} {
		if _, err := os.Lstat(filepath.Join(d.state, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still in the state folder: %v", gone, err)
		}
	}
	if _, err := keys.Open(d.state, srv.DeviceID); !errors.Is(err, keys.ErrWiped) {
		t.Errorf("keys.Open after the wipe: %v", err)
	}
	noSecretIn(t, d.state)
	r.stop(t)

	// The escrow holder opens the copy taken before, with the stock tool.
	if got := d.escrowOpensFile(taken); got != "second case" {
		t.Errorf("escrow opens the copy to %q", got)
	}
	ageCmd, err := exec.LookPath("age")
	if err != nil {
		testenv.Unavailable(t, "the age command is not installed: %v", err)
		return
	}
	idFile := filepath.Join(t.TempDir(), "escrow.txt")
	os.WriteFile(idFile, []byte(d.escrow.String()+"\n"), 0o600)
	out, err := exec.Command(ageCmd, "-d", "-i", idFile, taken).Output()
	if err != nil || string(out) != "second case" {
		t.Errorf("age -d -i escrow.txt: %q, %v", out, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestWipeResumed: an agent killed just after it recorded a wipe finishes
// it at its next start, before anything else: the plaintext waiting in the
// cache is sealed first (so none is left readable), then the sealed files
// are removed, and the acknowledgement sent.
func TestWipeResumed(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	d.write("LL-000001/a.txt", "sealed before")
	d.waitSealed("LL-000001/a.txt")
	waitEntry(t, d, "LL-000001/a.txt.age")
	r.stop(t)

	b, _ := json.Marshal(agent.Wipe{Command: "cmd_wipe", DeviceID: srv.DeviceID, Phase: agent.WipeRequested, Requested: time.Now().UTC()})
	if err := os.WriteFile(filepath.Join(d.state, agent.WipeFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	d.write("LL-000009/late.txt", "written while the agent was down")
	srv.Set(func(s *reporttest.Settings) { s.Refuse = wire.RefusedWiped })
	r = d.start(nil)
	a := waitAck(t, srv, "cmd_wipe", 1)
	if a.Result != wire.AckDone || !strings.Contains(a.Reason, "sealed 1 plaintext file(s) first, then shredded the device identity and every copy of the lease, then removed 2 sealed file(s)") {
		t.Errorf("wipe ack %+v", a)
	}
	testenv.Eventually(t, "the wipe finished", func() bool { w, _ := agent.ReadWipe(d.state); return w.Finished() })
	wiped := false
	for _, e := range srv.Last().Events {
		wiped = wiped || e.Type == wire.EventVaultWiped
	}
	if !wiped {
		t.Error("the last heartbeat has no vault.wiped event")
	}
	filepath.WalkDir(d.cache, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			t.Errorf("%s is left in the cache", p)
		}
		return nil
	})
	for _, q := range srv.LeaseRequests() {
		if q.Time.After(a.At) {
			t.Errorf("a lease was asked for after the wipe: %+v", q)
		}
	}
}

// TestForgedCommandsRefused: commands in a heartbeat reply not signed by
// the pinned server key are not carried out, nor acknowledged, and a
// refusal naming them is reported (once) when the server is heard again.
func TestForgedCommandsRefused(t *testing.T) {
	srv, _, r := enrolledAndUnlocked(t)
	srv.Set(func(s *reporttest.Settings) {
		s.Forge = true
		s.Commands = []wire.Command{srv.Command("cmd_forged", wire.CommandLock, time.Hour)}
	})
	n := len(srv.Received())
	testenv.Eventually(t, "forged replies refused", func() bool { return strings.Contains(r.a.Status().Heartbeat.LastError, "not signed") })
	time.Sleep(5 * 200 * time.Millisecond) // several of them
	srv.Set(func(s *reporttest.Settings) { s.Forge, s.Commands = false, nil })
	refusals := func() (out []wire.Event) {
		for _, h := range srv.Received()[n:] {
			for _, e := range h.Events {
				if e.Type == wire.EventCommandRefused {
					out = append(out, e)
				}
			}
		}
		return out
	}
	testenv.Eventually(t, "a heartbeat reporting the refusal", func() bool { return len(refusals()) > 0 })
	time.Sleep(5 * 200 * time.Millisecond)
	if got := refusals(); len(got) != 1 || !strings.Contains(got[0].Detail, "not signed by the pinned server key") || !strings.Contains(got[0].Detail, "lock cmd_forged") {
		t.Errorf("refusals reported %+v, want one naming the forged command", got)
	}
	if acks := srv.Acks("cmd_forged"); len(acks) != 0 {
		t.Errorf("a forged command was acknowledged: %+v", acks)
	}
	if st := r.a.Status(); st.Keys.Lease != wire.LeaseUnlocked {
		t.Errorf("a forged lock was carried out: %+v", st.Keys)
	}
}

// TestCommandDuringWipeRefused: a command that comes while the device is
// being wiped cannot be carried out: it is acknowledged as refused, with
// the reason, not dropped.
func TestCommandDuringWipeRefused(t *testing.T) {
	srv, _, _ := enrolledAndUnlocked(t)
	srv.Set(func(s *reporttest.Settings) {
		s.Commands = []wire.Command{srv.Command("cmd_wipe", wire.CommandWipe, time.Hour), srv.Command("cmd_unlock", wire.CommandUnlock, time.Hour)}
	})
	a := waitAck(t, srv, "cmd_unlock", 1)
	if a.Result != wire.AckRefused || !strings.Contains(a.Reason, "being wiped") {
		t.Errorf("unlock during a wipe: ack %+v", a)
	}
	if a := waitAck(t, srv, "cmd_wipe", 1); a.Result != wire.AckDone {
		t.Errorf("wipe ack %+v", a)
	}
}

// TestWipeDamagedIdentity: a wipe of a device whose wrapped identity does
// not open (damaged) still goes through: every file of the keyring in the
// state folder (the wrapped file, the offline copy in any form, the
// temporary files a crash left of them) is removed, the plaintext waiting
// is sealed to the escrow keys alone, the sealed files are removed, and
// the acknowledgement says so.
func TestWipeDamagedIdentity(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	d.write("LL-000001/a.txt", "first case")
	d.waitSealed("LL-000001/a.txt")
	r.stop(t)
	keyFiles := []string{keys.WrappedName, "device-lease.os", "device-lease.dpapi",
		".device-lease.os.4242.casekeep-tmp", ".device-identity.wrapped.17.casekeep-tmp"}
	for _, n := range keyFiles {
		if err := os.WriteFile(filepath.Join(d.state, n), []byte("damaged, or left by a crash"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.write("LL-000009/late.txt", "written while the agent was down")
	srv.Set(func(s *reporttest.Settings) {
		s.Refuse = wire.RefusedWiped
		s.Commands = []wire.Command{srv.Command("cmd_wipe", wire.CommandWipe, time.Hour)}
	})
	d.start(nil)
	a := waitAck(t, srv, "cmd_wipe", 1)
	if a.Result != wire.AckDone || !strings.Contains(a.Reason, "does not open") ||
		!strings.Contains(a.Reason, "sealed 1 plaintext file(s) to the escrow keys alone") || !strings.Contains(a.Reason, "removed 2 sealed file(s)") {
		t.Errorf("wipe ack %+v", a)
	}
	for _, rel := range []string{"LL-000009/late.txt", "LL-000001/a.txt.age"} {
		if _, err := os.Lstat(filepath.Join(d.cache, rel)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left after the wipe: %v", rel, err)
		}
	}
	for _, n := range keyFiles {
		if _, err := os.Lstat(filepath.Join(d.state, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after the wipe: %v", n, err)
		}
	}
}
