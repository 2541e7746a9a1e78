package agent_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/report/reporttest"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

// TestLeaseAtStart: a device just enrolled makes its identity wrapped
// with the first lease (never in plaintext), keeps an offline copy, and
// reports both; started again, it asks the server for the lease with its
// key ID and unlocks.
func TestLeaseAtStart(t *testing.T) {
	srv := reporttest.NewServer(t)
	d := newDevice(t, srv)
	r := d.start(srv.FirstLease())
	st := r.waitLease(t, wire.LeaseUnlocked)
	if st.Keys.OfflineCopy != wire.OfflineOS || st.Keys.OfflineUntil.Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("keys %+v, want an OS-held offline copy for the hour's window", st.Keys)
	}
	if _, err := os.Lstat(filepath.Join(d.state, keys.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a plaintext identity was written: %v", err)
	}
	d.write("LL-123456/notes.txt", "visit notes")
	d.waitSealed("LL-123456/notes.txt")
	testenv.Eventually(t, "a heartbeat saying unlocked, offline copy os", func() bool {
		h := srv.Last()
		return h != nil && h.Lease == wire.LeaseUnlocked && h.OfflineCopy == wire.OfflineOS
	})
	r.stop(t)

	before := len(srv.LeaseRequests())
	r = d.start(nil)
	r.waitLease(t, wire.LeaseUnlocked)
	if e := r.waitEvent(t, wire.EventVaultUnlocked); !strings.Contains(e.Detail, "server") {
		t.Errorf("unlock event %+v", e)
	}
	reqs := srv.LeaseRequests()[before:]
	if len(reqs) == 0 || reqs[0].Want != wire.WantKey || reqs[0].KeyID != "lk_1" || reqs[0].DeviceID != srv.DeviceID {
		t.Fatalf("lease requests at start %+v, want one for the key lk_1", reqs)
	}
	testenv.Eventually(t, "a renewal after a heartbeat", func() bool {
		for _, q := range srv.LeaseRequests()[before:] {
			if q.Want == wire.WantRenew {
				return true
			}
		}
		return false
	})
	problems, err := r.vault(t).Verify(t.Context(), nil)
	if err != nil || len(problems) != 0 {
		t.Errorf("verify with the lease: %v %v", problems, err)
	}
	if got := d.escrowOpens("LL-123456/notes.txt.age"); got != "visit notes" {
		t.Errorf("escrow opens %q", got)
	}
	noSecretIn(t, d.state)
}

// TestNoIdentityYet: a device whose process stopped between enrolling and
// making its identity asks the server with no key ID, and makes it then.
func TestNoIdentityYet(t *testing.T) {
	srv := reporttest.NewServer(t)
	d := newDevice(t, srv)
	r := d.start(nil)
	r.waitLease(t, wire.LeaseUnlocked)
	if reqs := srv.LeaseRequests(); len(reqs) == 0 || reqs[0].KeyID != "" || reqs[0].Want != wire.WantKey {
		t.Errorf("first lease requests %+v, want one with no key ID", reqs)
	}
	d.write("a.txt", "a")
	d.waitSealed("a.txt")
	noSecretIn(t, d.state)
}

// TestLegacyIdentityWrapped: an identity an older agent kept in plaintext
// is wrapped with the first lease the server serves, and its file removed.
func TestLegacyIdentityWrapped(t *testing.T) {
	srv := reporttest.NewServer(t)
	d := newDevice(t, srv)
	old, err := keys.LoadOrCreate(d.state, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := old.Identities()
	secret := fmt.Sprint(ids[0])
	r := d.start(nil)
	r.waitLease(t, wire.LeaseUnlocked)
	r.waitEvent(t, wire.EventVaultIdentityWrapped)
	if _, err := os.Lstat(filepath.Join(d.state, keys.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the plaintext identity is still there: %v", err)
	}
	if got := r.a.Status().Keys; got.Lease != wire.LeaseUnlocked {
		t.Errorf("keys %+v", got)
	}
	noSecretIn(t, d.state, secret)
}

// TestOfflineCopy: with the server away at start, the vault opens from its
// offline copy; once that has expired, it is locked, and new files are
// still sealed; when the server answers again it unlocks, and what was
// sealed while locked is verified.
func TestOfflineCopy(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	r.stop(t)

	srv.Set(func(s *reporttest.Settings) { s.Down = true })
	r = d.start(nil)
	st := r.waitLease(t, wire.LeaseOffline)
	if e := r.waitEvent(t, wire.EventVaultUnlocked); !strings.Contains(e.Detail, "offline copy") {
		t.Errorf("unlock event %+v", e)
	}
	if !strings.Contains(strings.Join(st.Advice, "\n"), "offline copy") {
		t.Errorf("advice %q does not say the vault is open from its offline copy", st.Advice)
	}
	r.stop(t)

	// A short window, served and then let pass while the server is away.
	srv.Set(func(s *reporttest.Settings) { s.Down, s.Window = false, 1500*time.Millisecond })
	r = d.start(nil)
	testenv.Eventually(t, "an offline copy with the short window", func() bool {
		k := r.a.Status().Keys
		return k.Lease == wire.LeaseUnlocked && !k.OfflineUntil.IsZero() && k.OfflineUntil.Before(time.Now().Add(time.Minute))
	})
	srv.Set(func(s *reporttest.Settings) { s.Down = true })
	e := r.waitEvent(t, wire.EventVaultLocked)
	if !strings.Contains(e.Detail, "offline window") {
		t.Errorf("lock event %+v", e)
	}
	st = r.waitLease(t, wire.LeaseLocked)
	if st.Keys.OfflineCopy != wire.OfflineNone {
		t.Errorf("after the window, keys %+v: the offline copy should be gone", st.Keys)
	}
	testenv.Eventually(t, "the person told", func() bool { return d.notes.has("The vault is locked: the offline window passed") })
	d.write("LL-000002/late.txt", "written while locked")
	d.waitSealed("LL-000002/late.txt")
	if got := d.escrowOpens("LL-000002/late.txt.age"); got != "written while locked" {
		t.Errorf("escrow opens %q", got)
	}
	if en := waitEntry(t, d, "LL-000002/late.txt.age"); !en.Unverified {
		t.Errorf("sealed while locked: entry %+v, want unverified", en)
	}
	r.stop(t)

	// Restarted with the server still away: no valid copy, so locked.
	r = d.start(nil)
	testenv.Eventually(t, "locked: the server cannot be reached", func() bool {
		k := r.a.Status().Keys
		return k.Lease == wire.LeaseLocked && strings.Contains(k.Why, "cannot be reached")
	})
	srv.Set(func(s *reporttest.Settings) { s.Down, s.Window = false, time.Hour })
	r.waitLease(t, wire.LeaseUnlocked)
	testenv.Eventually(t, "the file sealed while locked verified", func() bool {
		en, ok := entryOf(t, d, "LL-000002/late.txt.age")
		return ok && !en.Unverified
	})
}

// waitEntry waits for rel in the index, and returns its entry.
func waitEntry(t *testing.T, d *device, rel string) vault.Entry {
	t.Helper()
	var got vault.Entry
	testenv.Eventually(t, rel+" in the index", func() bool {
		var ok bool
		got, ok = entryOf(t, d, rel)
		return ok
	})
	return got
}

func entryOf(t *testing.T, d *device, rel string) (vault.Entry, bool) {
	t.Helper()
	entries, err := vault.ReadIndex(stateStore(d))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Path == rel {
			return e, true
		}
	}
	return vault.Entry{}, false
}

// TestRefusedThenFound: a lease refused (the device marked lost) locks the
// vault and drops the offline copy at once, files are still sealed, the
// person is told; marked found, the next heartbeat's request unlocks it.
func TestRefusedThenFound(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	copyFile := filepath.Join(d.state, "device-lease.os")
	if _, err := os.Lstat(copyFile); err != nil {
		t.Fatalf("no offline copy: %v", err)
	}
	srv.Set(func(s *reporttest.Settings) { s.Refuse = wire.RefusedLost })
	e := r.waitEvent(t, wire.EventVaultLocked)
	if !strings.Contains(e.Detail, "marked lost") {
		t.Errorf("lock event %+v", e)
	}
	st := r.waitLease(t, wire.LeaseLocked)
	if !strings.Contains(st.Keys.Why, "marked lost") || st.Keys.OfflineCopy != wire.OfflineNone {
		t.Errorf("keys %+v", st.Keys)
	}
	if _, err := os.Lstat(copyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the offline copy is still there: %v", err)
	}
	testenv.Eventually(t, "the person told", func() bool {
		return d.notes.has("The vault is locked: the server refuses the lease: the device is marked lost")
	})
	d.write("LL-000003/lost.txt", "written on a lost laptop")
	d.waitSealed("LL-000003/lost.txt")
	// Only one lock event while it stays refused, though it asks every heartbeat.
	n := len(srv.LeaseRequests())
	testenv.Eventually(t, "more lease requests while refused", func() bool { return len(srv.LeaseRequests()) > n+3 })
	if got := len(r.eventsOf(wire.EventVaultLocked)); got != 1 {
		t.Errorf("%d lock events", got)
	}
	for _, q := range srv.LeaseRequests()[n:] {
		if q.Want != wire.WantKey {
			t.Errorf("while locked it asked %q, want the key", q.Want)
		}
	}

	srv.Set(func(s *reporttest.Settings) { s.Refuse = "" })
	r.waitLease(t, wire.LeaseUnlocked)
	if got := len(r.eventsOf(wire.EventVaultUnlocked)); got < 1 {
		t.Errorf("%d unlock events", got)
	}
	testenv.Eventually(t, "the offline copy back", func() bool { _, err := os.Lstat(copyFile); return err == nil })
	testenv.Eventually(t, "the file sealed while locked verified", func() bool {
		en, ok := entryOf(t, d, "LL-000003/lost.txt.age")
		return ok && !en.Unverified
	})
}

// TestRotation: a lease with a next key re-wraps the identity with it; the
// next request names the new key ID, and a restart unlocks with it.
func TestRotation(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	d.write("a.txt", "before the rotation")
	d.waitSealed("a.txt")
	next := randomKey()
	srv.Set(func(s *reporttest.Settings) { s.Next = &wire.NextKey{KeyID: "lk_2", Key: next} })
	e := r.waitEvent(t, wire.EventVaultRewrapped)
	if !strings.Contains(e.Detail, "lk_1") || !strings.Contains(e.Detail, "lk_2") {
		t.Errorf("rewrap event %+v", e)
	}
	testenv.Eventually(t, "a request naming lk_2", func() bool {
		for _, q := range srv.LeaseRequests() {
			if q.KeyID == "lk_2" {
				return true
			}
		}
		return false
	})
	r.stop(t)
	k, err := keys.Open(d.state, srv.DeviceID)
	if err != nil || k.KeyID() != "lk_2" {
		t.Fatalf("after the rotation the wrapped identity needs %q (%v)", k.KeyID(), err)
	}
	if err := k.Unlock(next, "lk_2"); err != nil {
		t.Fatalf("the new key does not open it: %v", err)
	}
	r = d.start(nil)
	r.waitLease(t, wire.LeaseUnlocked)
	if problems, err := r.vault(t).Verify(t.Context(), nil); err != nil || len(problems) != 0 {
		t.Errorf("verify after the rotation: %v %v", problems, err)
	}
}

// TestStateFolderCopied: a copy of the whole state folder, taken while the
// server was unreachable and with no offline copy (dropped by a lock),
// opens no sealed file, and holds no age identity anywhere.
func TestStateFolderCopied(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	d.write("LL-123456/notes.txt", "visit notes")
	d.waitSealed("LL-123456/notes.txt")
	k, err := keys.Open(d.state, srv.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	key := slices.Clone(srv.Settings().LeaseKey)
	if err := k.Unlock(key, "lk_1"); err != nil {
		t.Fatal(err)
	}
	ids, _ := k.Identities()
	secret := fmt.Sprint(ids[0])
	k.Lock()
	// IT locks the device: the server stops serving the lease, and the
	// command drops the copy.
	srv.Set(func(s *reporttest.Settings) {
		s.Refuse = wire.RefusedLocked
		s.Commands = []wire.Command{{ID: "cmd_lock", Type: wire.CommandLock, DeviceID: srv.DeviceID, Issued: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC()}}
	})
	r.waitLease(t, wire.LeaseLocked)
	r.stop(t)

	stolen := filepath.Join(t.TempDir(), "stolen")
	copyTree(t, d.state, stolen)
	noSecretIn(t, stolen, secret)
	if _, err := keys.Load(stolen); !errors.Is(err, keys.ErrNoIdentity) {
		t.Errorf("a plaintext identity in the copy: %v", err)
	}
	c, err := keys.Open(stolen, srv.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UnlockOffline(time.Now()); !errors.Is(err, keys.ErrLocked) {
		t.Errorf("the copy unlocks offline: %v", err)
	}
	if _, err := c.Identities(); !errors.Is(err, keys.ErrLocked) {
		t.Errorf("the copy's identities: %v", err)
	}
	if err := c.Unlock(randomKey(), "lk_1"); !errors.Is(err, keys.ErrWrongKey) {
		t.Errorf("a guessed lease key: %v", err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if e.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestClockSetBack: a laptop whose clock is behind the server's signed
// time (set back, as someone keeping a lost laptop would, to stretch the
// offline window) keeps no offline copy: the copy held is destroyed while
// the server still unlocks the vault, the clock is reported in the
// heartbeat, the status and an event, and a restart with the server away
// stays locked.
func TestClockSetBack(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	testenv.Eventually(t, "an offline copy", func() bool { return r.a.Status().Keys.OfflineCopy == wire.OfflineOS })
	// Seen from the server, setting the laptop's clock back three hours
	// is the server's clock three hours ahead.
	srv.Set(func(s *reporttest.Settings) { s.ClockAhead = 3 * time.Hour })
	e := r.waitEvent(t, wire.EventClockBehind)
	if !strings.Contains(e.Detail, "behind the server's last signed time") {
		t.Errorf("clock event %+v", e)
	}
	testenv.Eventually(t, "the offline copy destroyed, the vault still unlocked by the server", func() bool {
		k := r.a.Status().Keys
		return k.OfflineCopy == wire.OfflineNone && k.Lease == wire.LeaseUnlocked && k.ClockBehind != ""
	})
	if _, err := os.Lstat(filepath.Join(d.state, "device-lease.os")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the offline copy is still there: %v", err)
	}
	testenv.Eventually(t, "a heartbeat failing the clock check", func() bool {
		h := srv.Last()
		if h == nil {
			return false
		}
		for _, c := range h.Posture {
			if c.Name == "clock" && c.Result == "fail" {
				return h.OfflineCopy == wire.OfflineNone
			}
		}
		return false
	})
	if adv := strings.Join(r.a.Status().Advice, "\n"); !strings.Contains(adv, "clock is") {
		t.Errorf("advice %q does not mention the clock", adv)
	}
	r.stop(t)

	srv.SetDown(true)
	r = d.start(nil)
	testenv.Eventually(t, "locked: no offline copy to open", func() bool {
		k := r.a.Status().Keys
		return k.Lease == wire.LeaseLocked && strings.Contains(k.Why, "cannot be reached")
	})
	if k := r.a.Status().Keys; k.ClockBehind == "" || k.TrustedTime.Before(time.Now().Add(2*time.Hour)) {
		t.Errorf("after a restart the floor of trusted time is forgotten: %+v", k)
	}

	// The clock right again (the server's agrees): the copy is kept again.
	srv.Set(func(s *reporttest.Settings) { s.Down, s.ClockAhead = false, 0 })
	testenv.Eventually(t, "unlocked, with an offline copy again", func() bool {
		k := r.a.Status().Keys
		return k.Lease == wire.LeaseUnlocked && k.OfflineCopy == wire.OfflineOS && k.ClockBehind == ""
	})
}

// TestLease404: a lease endpoint answering 404 (an older server, or a
// proxy in the way) is the server unreachable, not a refusal: the vault
// opens from its offline copy, a device without an identity makes no plain
// one, and the lease is asked for again, unlocking once it is served.
func TestLease404(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	testenv.Eventually(t, "an offline copy", func() bool { return r.a.Status().Keys.OfflineCopy == wire.OfflineOS })
	r.stop(t)
	srv.Set(func(s *reporttest.Settings) { s.NoLeases = true })
	r = d.start(nil)
	r.waitLease(t, wire.LeaseOffline)
	srv.Set(func(s *reporttest.Settings) { s.NoLeases = false })
	r.waitLease(t, wire.LeaseUnlocked)
	r.stop(t)

	// A device with no identity yet: it waits for the lease, and never
	// writes a plain identity.
	srv2 := reporttest.NewServer(t)
	srv2.Set(func(s *reporttest.Settings) { s.NoLeases = true })
	d2 := newDevice(t, srv2)
	r2 := d2.start(nil)
	testenv.Eventually(t, "heartbeats while the lease is 404", func() bool { return len(srv2.Received()) > 2 })
	if _, err := os.Lstat(filepath.Join(d2.state, keys.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a plain identity was made on a 404: %v", err)
	}
	if k := r2.a.Status().Keys; k.Lease != wire.LeaseLocked {
		t.Errorf("keys %+v, want locked while no lease is served", k)
	}
	srv2.Set(func(s *reporttest.Settings) { s.NoLeases = false })
	r2.waitLease(t, wire.LeaseUnlocked)
	noSecretIn(t, d2.state)
}

// TestRecipientSwapped: someone who can write the state folder swaps the
// public recipient in the wrapped identity's header for their own, with
// the server away (so the vault starts locked and seals with public keys
// only): nothing is sealed to their key, the vault says why, and an event
// reports it.
func TestRecipientSwapped(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	d.write("LL-000001/before.txt", "before")
	d.waitSealed("LL-000001/before.txt")
	r.stop(t)
	srv.Set(func(s *reporttest.Settings) { s.Down = true })
	os.Remove(filepath.Join(d.state, "device-lease.os")) // no offline copy: the vault starts locked
	theirs, _ := age.GenerateX25519Identity()
	p := filepath.Join(d.state, keys.WrappedName)
	b, _ := os.ReadFile(p)
	re := regexp.MustCompile(`(?m)^recipient age1[0-9a-z]+$`)
	if !re.Match(b) {
		t.Fatal("no recipient line in the wrapped identity")
	}
	os.WriteFile(p, re.ReplaceAll(b, []byte("recipient "+theirs.Recipient().String())), 0o600)

	r = d.start(nil)
	e := r.waitEvent(t, wire.EventVaultRecipientChanged)
	if !strings.Contains(e.Detail, "changed") {
		t.Errorf("event %+v", e)
	}
	if k := r.a.Status().Keys; k.Lease != wire.LeaseLocked || !strings.Contains(k.Why, "changed by someone else") {
		t.Errorf("keys %+v", k)
	}
	d.write("LL-000001/after.txt", "written after the swap")
	time.Sleep(time.Second)
	if _, err := os.Lstat(filepath.Join(d.cache, "LL-000001", "after.txt.age")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sealed to a recipient that was swapped in: %v", err)
	}
}

// TestPolicyRolledBack: an older signed policy put back in place of the
// one in force (its escrow keys perhaps retired) is not run: nothing is
// sealed under it, and it is reported.
func TestPolicyRolledBack(t *testing.T) {
	_, d, r := enrolledAndUnlocked(t)
	r.stop(t)
	newer := testPolicy(t, d.escrow.Recipient().String())
	newer.Version = 5
	d.policy = newer
	r = d.start(nil)
	d.write("LL-000001/a.txt", "under version 5")
	d.waitSealed("LL-000001/a.txt")
	r.stop(t)

	old, _ := age.GenerateX25519Identity()
	d.policy = testPolicy(t, old.Recipient().String()) // version 1, another escrow key
	r = d.start(nil)
	e := r.waitEvent(t, wire.EventPolicyRolledBack)
	if !strings.Contains(e.Detail, "version 1, older than version 5") {
		t.Errorf("event %+v", e)
	}
	d.write("LL-000001/b.txt", "must not be sealed to the old escrow")
	time.Sleep(time.Second)
	if _, err := os.Lstat(filepath.Join(d.cache, "LL-000001", "b.txt.age")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sealed under a rolled-back policy: %v", err)
	}
}
