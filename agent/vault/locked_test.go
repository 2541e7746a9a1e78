package vault_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/testenv"
)

// lockable is a device identity that can be locked, as a Keyring is
// without its lease: the recipient stays, the identities go.
type lockable struct {
	keys.Device
	locked atomic.Bool
}

func (l *lockable) Identities() ([]age.Identity, error) {
	if l.locked.Load() {
		return nil, fmt.Errorf("%w: no lease (test)", keys.ErrLocked)
	}
	return l.Device.Identities()
}

// newLockedEnv is an env whose device identity starts locked.
func newLockedEnv(t *testing.T) (*env, *lockable) {
	t.Helper()
	dev := &lockable{}
	e := newEnv(t, func(c *vault.Config) {
		dev.Device = c.Device
		c.Device = dev
	})
	// newEnv opened the vault with the option applied; lock it now.
	dev.locked.Store(true)
	return e, dev
}

func indexOf(t *testing.T, e *env) map[string]vault.Entry {
	t.Helper()
	entries, err := vault.ReadIndex(e.store)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]vault.Entry{}
	for _, en := range entries {
		out[en.Path] = en
	}
	return out
}

// TestSealWhileLocked: with the device identity locked, plaintext is still
// sealed (to the device's recipient and the escrow keys) and removed, and
// the index says the file is unverified; once unlocked, the next scan
// opens its header with the identity and says so.
func TestSealWhileLocked(t *testing.T) {
	e, dev := newLockedEnv(t)
	e.write("LL-123456/notes.txt", "visit notes", true)
	entry, err := e.v.SealFile(context.Background(), "LL-123456/notes.txt")
	if err != nil {
		t.Fatalf("sealing while locked: %v", err)
	}
	if !entry.Unverified || entry.Size != int64(len("visit notes")) {
		t.Errorf("entry %+v, want unverified with the plaintext size", entry)
	}
	e.wantFiles("LL-123456/", "LL-123456/notes.txt.age")
	e.mustOpen("LL-123456/notes.txt.age", "visit notes")
	ids, _ := e.Keys.Identities()
	if got := agenttest.Decrypt(t, e.path("LL-123456/notes.txt.age"), ids...); got != "visit notes" {
		t.Errorf("the device identity opens it to %q", got)
	}
	if en := indexOf(t, e)["LL-123456/notes.txt.age"]; !en.Unverified {
		t.Errorf("index entry %+v, want unverified", en)
	}

	// A scan while still locked leaves it indexed, unverified.
	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sealed != 1 || len(rep.Plaintext) != 0 || rep.Verified != 0 || rep.Repaired != 0 {
		t.Errorf("scan while locked: %+v", rep)
	}
	if en := indexOf(t, e)["LL-123456/notes.txt.age"]; !en.Unverified {
		t.Errorf("after a locked scan, index entry %+v", en)
	}

	dev.locked.Store(false)
	rep, err = e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verified != 1 || rep.Sealed != 1 {
		t.Errorf("scan after unlock: %+v, want 1 verified", rep)
	}
	if en := indexOf(t, e)["LL-123456/notes.txt.age"]; en.Unverified || en.CaseRef != "LL-123456" {
		t.Errorf("after unlock, index entry %+v, want verified", en)
	}
	if n := len(e.events.of(vault.EventSealFailed)); n != 0 {
		t.Errorf("%d seal_failed events", n)
	}
}

// TestRunSealsWhileLocked: the running vault seals what appears while
// locked, and a sealed file the index does not know (another copy sealed
// to this device) is neither sealed again nor removed: it is counted as
// waiting until the vault is unlocked, then indexed as sealed.
func TestRunSealsWhileLocked(t *testing.T) {
	e, dev := newLockedEnv(t)
	// Sealed to this device, but not by this vault: unknown to the index.
	os.MkdirAll(e.path("LL-000001"), 0o755)
	f, err := os.Create(e.path("LL-000001/old.txt.age"))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := age.Encrypt(f, e.Keys.Recipient(), e.EscrowRecipient)
	w.Write([]byte("older notes"))
	w.Close()
	f.Close()
	unknown, _ := os.ReadFile(e.path("LL-000001/old.txt.age"))
	e.write("LL-000002/new.txt", "new notes", true)
	e.write("LL-000003/plain.age", "plaintext that merely ends in .age", true)
	e.run()
	testenv.Eventually(t, "the plaintext sealed while locked", func() bool {
		_, err1 := os.Stat(e.path("LL-000002/new.txt"))
		_, err2 := os.Stat(e.path("LL-000003/plain.age"))
		return errors.Is(err1, os.ErrNotExist) && errors.Is(err2, os.ErrNotExist)
	})
	e.mustOpen("LL-000002/new.txt.age", "new notes")
	e.mustOpen("LL-000003/plain.age.age", "plaintext that merely ends in .age")
	testenv.Eventually(t, "the unknown age file counted as waiting", func() bool {
		s, err := e.v.Summary()
		return err == nil && s.Plaintext == 1 && s.Files == 2
	})
	e.wantFiles("LL-000001/", "LL-000001/old.txt.age", "LL-000002/", "LL-000002/new.txt.age", "LL-000003/", "LL-000003/plain.age.age")
	sameBytes(t, e.path("LL-000001/old.txt.age"), unknown)
	if _, ok := indexOf(t, e)["LL-000001/old.txt.age"]; ok {
		t.Error("an age file the locked vault cannot check was indexed")
	}

	dev.locked.Store(false)
	e.v.Rescan()
	testenv.Eventually(t, "after the unlock, everything indexed and verified, nothing waiting", func() bool {
		idx := indexOf(t, e)
		s, err := e.v.Summary()
		return err == nil && s.Plaintext == 0 && len(idx) == 3 &&
			!idx["LL-000001/old.txt.age"].Unverified && !idx["LL-000002/new.txt.age"].Unverified
	})
	sameBytes(t, e.path("LL-000001/old.txt.age"), unknown)
	e.wantFiles("LL-000001/", "LL-000001/old.txt.age", "LL-000002/", "LL-000002/new.txt.age", "LL-000003/", "LL-000003/plain.age.age")
}

// TestLockedRestartKeepsIndex: a restart while locked neither drops
// indexed files from the index nor takes them for plaintext, and a new
// version of a sealed file is sealed under another name, the old one kept.
func TestLockedRestartKeepsIndex(t *testing.T) {
	e := newEnv(t)
	e.write("LL-123456/report.docx", "version 1", true)
	if _, err := e.v.SealFile(context.Background(), "LL-123456/report.docx"); err != nil {
		t.Fatal(err)
	}
	before := indexOf(t, e)
	dev := &lockable{Device: e.Keys}
	dev.locked.Store(true)
	e.opts = append(e.opts, func(c *vault.Config) { c.Device = dev })
	e.v = e.reopen()
	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sealed != 1 || len(rep.Plaintext) != 0 || rep.Repaired != 0 {
		t.Errorf("locked scan after restart: %+v", rep)
	}
	if got := indexOf(t, e); len(got) != 1 || got["LL-123456/report.docx.age"] != before["LL-123456/report.docx.age"] {
		t.Errorf("index after a locked scan %+v, want %+v", got, before)
	}

	// The same name again, different content, while locked: the old sealed
	// file cannot be compared, so it is left and another name is used.
	e.write("LL-123456/report.docx", "version 2", true)
	entry, err := e.v.SealFile(context.Background(), "LL-123456/report.docx")
	if err != nil {
		t.Fatal(err)
	}
	if entry.Path == "LL-123456/report.docx.age" || !entry.Unverified {
		t.Errorf("new version sealed as %+v", entry)
	}
	e.mustOpen("LL-123456/report.docx.age", "version 1")
	e.mustOpen(entry.Path, "version 2")
}

// TestVerifyNeedsIdentity: Verify, which decrypts end to end, says the
// vault is locked rather than reporting every file as failed.
func TestVerifyNeedsIdentity(t *testing.T) {
	e, _ := newLockedEnv(t)
	e.write("a.txt", "a", true)
	if _, err := e.v.SealFile(context.Background(), "a.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.Verify(context.Background(), nil); !errors.Is(err, keys.ErrLocked) {
		t.Errorf("Verify while locked: %v, want ErrLocked", err)
	}
}
