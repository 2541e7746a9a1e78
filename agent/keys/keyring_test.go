package keys

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/internal/wire"
)

func TestCreateUnlockLock(t *testing.T) {
	for _, pq := range []bool{false, true} {
		dir := t.TempDir()
		key := leaseKey("create")
		k, err := create(dir, devA, key, "k1", pq, nil)
		if err != nil {
			t.Fatal(err)
		}
		if k.State() != wire.LeaseUnlocked || k.KeyID() != "k1" || k.PostQuantum() != pq {
			t.Fatalf("after Create: state %s, key ID %q, post-quantum %v", k.State(), k.KeyID(), k.PostQuantum())
		}
		if !k.MemoryLocked() {
			t.Logf("the lease key is not in locked memory here (RLIMIT_MEMLOCK?)")
		}
		before := sealTo(t, "sealed while unlocked", k.Recipient())
		mustOpen(t, k, before, "sealed while unlocked")

		k.Lock()
		if k.State() != wire.LeaseLocked || k.MemoryLocked() {
			t.Fatalf("after Lock: state %s", k.State())
		}
		_, err = k.Identities()
		wantErr(t, "Identities while locked", err, ErrLocked)
		// Sealing needs only the public key: it goes on while locked.
		during := sealTo(t, "sealed while locked", k.Recipient())

		again, err := open(dir, devA, nil)
		if err != nil {
			t.Fatal(err)
		}
		if again.State() != wire.LeaseLocked || again.KeyID() != "k1" {
			t.Fatalf("reopened: state %s, key ID %q", again.State(), again.KeyID())
		}
		if !recipientsEqual(again.Recipient(), k.Recipient()) {
			t.Fatal("the reopened keyring has another recipient")
		}
		_, err = again.Identities()
		wantErr(t, "Identities after Open", err, ErrLocked)
		if err := again.Unlock(key, "k1"); err != nil {
			t.Fatal(err)
		}
		mustOpen(t, again, before, "sealed while unlocked")
		mustOpen(t, again, during, "sealed while locked")

		if exists(filepath.Join(dir, FileName)) {
			t.Error("Create wrote the plaintext identity file")
		}
		fi, err := os.Stat(filepath.Join(dir, WrappedName))
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("wrapped identity mode %v", fi.Mode().Perm())
		}
		noSecretText(t, dir)
	}
}

func recipientsEqual(a, b age.Recipient) bool {
	return a.(interface{ String() string }).String() == b.(interface{ String() string }).String()
}

func TestCreateRefuses(t *testing.T) {
	dir := t.TempDir()
	key := leaseKey("refuse")
	if _, err := create(dir, devA, key, "k1", false, nil); err != nil {
		t.Fatal(err)
	}
	_, err := create(dir, devA, key, "k1", false, nil)
	wantErr(t, "a second Create", err, fs.ErrExist)

	legacy := t.TempDir()
	if _, err := LoadOrCreate(legacy, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = create(legacy, devA, key, "k1", false, nil)
	wantErr(t, "Create over a plaintext identity", err, fs.ErrExist)

	_, err = create(t.TempDir(), devA, key[:16], "k1", false, nil)
	wantErr(t, "Create with a short key", err, ErrWrongKey)
	_, err = create(t.TempDir(), devA, key, "bad id", false, nil)
	wantErr(t, "Create with a bad key ID", err, ErrWrongKey)
	if _, err := create(t.TempDir(), "laptop", key, "k1", false, nil); err == nil {
		t.Error("Create for a bad device ID")
	}
}

func TestOpenNothing(t *testing.T) {
	_, err := open(t.TempDir(), devA, nil)
	wantErr(t, "Open of an empty folder", err, ErrNoIdentity)
}

// legacyDevice makes a device enrolled before wrapping: a plaintext file
// with an X25519 identity and, after a kind change, a hybrid one; and a
// file sealed to each.
func legacyDevice(t testing.TB) (dir string, old, cur []byte) {
	t.Helper()
	dir = t.TempDir()
	x, err := LoadOrCreate(dir, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	old = sealTo(t, "sealed to the X25519 identity", x.Recipient())
	pq, err := LoadOrCreate(dir, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cur = sealTo(t, "sealed to the hybrid identity", pq.Recipient())
	return dir, old, cur
}

func TestMigrate(t *testing.T) {
	dir, old, cur := legacyDevice(t)
	k, err := open(dir, devA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.State() != wire.LeasePlaintext || k.KeyID() != "" || !k.PostQuantum() {
		t.Fatalf("before migration: state %s, key ID %q, post-quantum %v", k.State(), k.KeyID(), k.PostQuantum())
	}
	// Until migrated, the plaintext identity keeps the vault working.
	mustOpen(t, k, old, "sealed to the X25519 identity")
	recipient := k.Recipient()

	key := leaseKey("migrate")
	if err := k.Unlock(key, "k1"); err != nil {
		t.Fatal(err)
	}
	if k.State() != wire.LeaseUnlocked || k.KeyID() != "k1" {
		t.Fatalf("after migration: state %s, key ID %q", k.State(), k.KeyID())
	}
	if exists(filepath.Join(dir, FileName)) {
		t.Fatal("the plaintext identity is still there after migration")
	}
	if !recipientsEqual(k.Recipient(), recipient) {
		t.Fatal("migration changed the recipient")
	}
	mustOpen(t, k, old, "sealed to the X25519 identity")
	mustOpen(t, k, cur, "sealed to the hybrid identity")
	noSecretText(t, dir)

	again, ids := reopen(t, dir, key, 2)
	if _, ok := ids[0].(*age.HybridIdentity); !ok {
		t.Error("the newest identity is not first")
	}
	mustOpen(t, again, old, "sealed to the X25519 identity")
	mustOpen(t, again, cur, "sealed to the hybrid identity")
}

// reopen opens dir as devA again (a restart), checks that it is locked,
// with a hybrid recipient, and that it unlocks with key (k1) to n
// identities.
func reopen(t *testing.T, dir string, key []byte, n int) (*Keyring, []age.Identity) {
	t.Helper()
	k, err := open(dir, devA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.State() != wire.LeaseLocked || !k.PostQuantum() {
		t.Fatalf("reopened: state %s, post-quantum %v", k.State(), k.PostQuantum())
	}
	if _, err := k.Identities(); !errors.Is(err, ErrLocked) {
		t.Fatalf("reopened: Identities while locked: %v", err)
	}
	if err := k.Unlock(key, "k1"); err != nil {
		t.Fatal(err)
	}
	ids, _ := k.Identities()
	if len(ids) != n {
		t.Fatalf("%d identities, want %d", len(ids), n)
	}
	return k, ids
}

// TestMigrateRefusesUnverified puts a wrapped file beside the plaintext
// one that cannot be verified with the lease offered: Unlock must say why,
// and keep the plaintext file.
func TestMigrateRefusesUnverified(t *testing.T) {
	key := leaseKey("device")
	otherKey := leaseKey("another")
	cases := []struct {
		name    string
		corrupt func(t *testing.T, dir string)
		want    error
	}{
		{"another key", func(t *testing.T, dir string) {
			rewrapLegacy(t, dir, devA, otherKey, "k1")
		}, ErrWrongKey},
		{"another key ID", func(t *testing.T, dir string) {
			rewrapLegacy(t, dir, devA, key, "k0")
		}, ErrWrongKey},
		{"another device", func(t *testing.T, dir string) {
			rewrapLegacy(t, dir, devB, key, "k1")
		}, ErrOtherDevice},
		{"truncated", func(t *testing.T, dir string) {
			rewrapLegacy(t, dir, devA, key, "k1")
			path := filepath.Join(dir, WrappedName)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)-7], 0o600)
		}, ErrDamaged},
		{"altered", func(t *testing.T, dir string) {
			rewrapLegacy(t, dir, devA, key, "k1")
			path := filepath.Join(dir, WrappedName)
			b, _ := os.ReadFile(path)
			b[len(b)-20] ^= 1
			os.WriteFile(path, b, 0o600)
		}, ErrDamaged},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, old, _ := legacyDevice(t)
			c.corrupt(t, dir)
			k, err := open(dir, devA, nil)
			if err != nil {
				t.Fatal(err)
			}
			if k.State() != wire.LeasePlaintext {
				t.Fatalf("state %s, want plaintext", k.State())
			}
			wantErr(t, "Unlock", k.Unlock(key, "k1"), c.want)
			if !exists(filepath.Join(dir, FileName)) {
				t.Fatal("the plaintext identity was removed though the wrapped one was not verified")
			}
			mustOpen(t, k, old, "sealed to the X25519 identity")
		})
	}
}

// rewrapLegacy writes a wrapped file of dir's plaintext identities.
func rewrapLegacy(t *testing.T, dir, deviceID string, key []byte, keyID string) {
	t.Helper()
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := payloadOf(f.ids)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Destroy()
	data, err := sealWrapped(deviceID, keyID, key, p.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, WrappedName), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateFinishes: a migration interrupted after the wrapped file was
// written finishes at the next Unlock, keeping an identity only the
// plaintext file had.
func TestMigrateFinishes(t *testing.T) {
	key := leaseKey("finish")
	// unlocked opens the keyring in dir and unlocks it, which finishes
	// the migration: the plaintext identity is gone.
	unlocked := func(dir string) *Keyring {
		t.Helper()
		k, err := open(dir, devA, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Unlock(key, "k1"); err != nil {
			t.Fatal(err)
		}
		if exists(filepath.Join(dir, FileName)) {
			t.Fatal("the plaintext identity is still there")
		}
		return k
	}
	dir, old, cur := legacyDevice(t)
	rewrapLegacy(t, dir, devA, key, "k1")
	k := unlocked(dir)
	mustOpen(t, k, old, "sealed to the X25519 identity")
	mustOpen(t, k, cur, "sealed to the hybrid identity")

	// The wrapped file lacks the X25519 identity the plaintext file has.
	dir, old, cur = legacyDevice(t)
	f, _ := Load(dir)
	p, _ := payloadOf(f.ids[:1])
	data, _ := sealWrapped(devA, "k1", key, p.Bytes())
	p.Destroy()
	os.WriteFile(filepath.Join(dir, WrappedName), data, 0o600)
	unlocked(dir)
	k, _ = open(dir, devA, nil)
	if err := k.Unlock(key, "k1"); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, k, old, "sealed to the X25519 identity")
	mustOpen(t, k, cur, "sealed to the hybrid identity")
}

func TestUnlockErrors(t *testing.T) {
	dir := t.TempDir()
	key := leaseKey("errors")
	if _, err := create(dir, devA, key, "k1", true, nil); err != nil {
		t.Fatal(err)
	}
	k, err := open(dir, devA, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "another key", k.Unlock(leaseKey("wrong"), "k1"), ErrWrongKey)
	wantErr(t, "another key ID", k.Unlock(key, "k2"), ErrWrongKey)
	wantErr(t, "a short key", k.Unlock(key[:31], "k1"), ErrWrongKey)
	if k.State() != wire.LeaseLocked {
		t.Fatalf("state %s after failed unlocks", k.State())
	}

	_, err = open(dir, devB, nil)
	wantErr(t, "Open as another device", err, ErrOtherDevice)

	path := filepath.Join(dir, WrappedName)
	good, _ := os.ReadFile(path)
	os.WriteFile(path, good[:len(good)/2], 0o600)
	_, err = open(dir, devA, nil)
	wantErr(t, "Open of a truncated file", err, ErrDamaged)
	os.WriteFile(path, good, 0o600)
	if runtime.GOOS != "windows" {
		// A symlink in the state folder is never followed.
		os.Rename(path, path+".real")
		os.Symlink(path+".real", path)
		if _, err := open(dir, devA, nil); err == nil {
			t.Fatal("Open followed a symlink")
		}
	}
}

func TestEnsureKind(t *testing.T) {
	dir := t.TempDir()
	key := leaseKey("kind")
	k, err := create(dir, devA, key, "k1", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := sealTo(t, "before the change", k.Recipient())
	if added, err := k.EnsureKind(false); added || err != nil {
		t.Fatalf("EnsureKind of the same kind: %v, %v", added, err)
	}
	if added, err := k.EnsureKind(true); !added || err != nil {
		t.Fatalf("EnsureKind(post-quantum): %v, %v", added, err)
	}
	if !k.PostQuantum() {
		t.Fatal("the kind did not change")
	}
	if _, ok := k.Recipient().(*age.HybridRecipient); !ok {
		t.Fatal("the recipient is not hybrid")
	}
	mustOpen(t, k, old, "before the change")
	cur := sealTo(t, "after the change", k.Recipient())

	k.Lock()
	_, err = k.EnsureKind(false)
	wantErr(t, "EnsureKind while locked", err, ErrLocked)

	again, _ := reopen(t, dir, key, 2)
	mustOpen(t, again, old, "before the change")
	mustOpen(t, again, cur, "after the change")
	noSecretText(t, dir)
}

func TestRewrap(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := leaseKey("rotation 1"), leaseKey("rotation 2")
	fake := &fakeProtector{k: wire.OfflineOS}
	k, err := create(dir, devA, k1, "k1", false, []protector{fake})
	if err != nil {
		t.Fatal(err)
	}
	sealed := sealTo(t, "sealed before rotation", k.Recipient())
	if err := k.SaveOffline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := k.Rewrap(k2, "k2"); err != nil {
		t.Fatal(err)
	}
	if k.KeyID() != "k2" || k.State() != wire.LeaseUnlocked {
		t.Fatalf("after Rewrap: key ID %q, state %s", k.KeyID(), k.State())
	}
	mustOpen(t, k, sealed, "sealed before rotation")
	wantErr(t, "reusing a key ID for another key", k.Rewrap(k1, "k2"), ErrWrongKey)
	if err := k.Rewrap(k2, "k2"); err != nil {
		t.Errorf("Rewrap with the key in use: %v", err)
	}

	again, err := open(dir, devA, []protector{fake})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "the old key after rotation", again.Unlock(k1, "k1"), ErrWrongKey)
	// The offline copy was saved again with the new key.
	if err := again.UnlockOffline(time.Now()); err != nil {
		t.Fatalf("the offline copy does not open after rotation: %v", err)
	}
	mustOpen(t, again, sealed, "sealed before rotation")
	again.Lock()
	wantErr(t, "Rewrap while locked", again.Rewrap(k1, "k3"), ErrLocked)
	if err := again.Unlock(k2, "k2"); err != nil {
		t.Fatal(err)
	}
}

func TestShred(t *testing.T) {
	k, dir, old, _ := migratedDevice(t, "shred", osFiles)
	key, ps := leaseKey("shred"), osFiles(dir)
	if err := k.SaveOffline(time.Now().Add(72 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if kind, _ := k.Offline(); kind != wire.OfflineOS {
		t.Fatalf("offline copy held as %q", kind)
	}
	if err := k.Shred(); err != nil {
		t.Fatal(err)
	}
	if k.State() != wire.LeaseWiped {
		t.Fatalf("state %s after Shred", k.State())
	}
	if kind, _ := k.Offline(); kind != wire.OfflineNone {
		t.Fatalf("offline copy still %q after Shred", kind)
	}
	_, err := k.Identities()
	wantErr(t, "Identities after Shred", err, ErrLocked, ErrWiped)
	wantErr(t, "Unlock after Shred", k.Unlock(key, "k1"), ErrWiped)
	if err := opens(k, old, ""); err == nil {
		t.Fatal("a file opened after Shred")
	}
	if got := names(t, dir); !slices.Equal(got, []string{ShreddedName}) {
		t.Fatalf("after Shred the state folder holds %v", got)
	}
	if err := k.Shred(); err != nil {
		t.Fatalf("a second Shred: %v", err)
	}
	_, err = open(dir, devA, ps)
	wantErr(t, "Open after Shred", err, ErrWiped)
	_, err = create(dir, devA, key, "k2", false, ps)
	wantErr(t, "Create after Shred", err, ErrWiped)

	// The folder re-enrolled as another device starts afresh.
	if _, err := create(dir, devB, key, "k2", false, ps); err != nil {
		t.Fatalf("Create for a new enrollment: %v", err)
	}
	if exists(filepath.Join(dir, ShreddedName)) {
		t.Error("the old device's shred marker stayed")
	}
}

// TestCopiedStateFolder takes the whole state folder elsewhere: without
// the lease, and with no offline copy or an expired one, nothing opens.
func TestCopiedStateFolder(t *testing.T) {
	k, dir, old, cur := migratedDevice(t, "copied", osFiles)
	noSecretText(t, dir)

	// No offline copy.
	stolen := copyDir(t, dir)
	s, err := open(stolen, devA, []protector{osFile(stolen)})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "UnlockOffline with no copy", s.UnlockOffline(time.Now()), ErrLocked, ErrNoOffline)
	for _, sealed := range [][]byte{old, cur} {
		if err := opens(s, sealed, ""); err == nil {
			t.Fatal("a copied state folder opened a sealed file")
		}
	}

	// An offline copy past its window.
	now := time.Now()
	if err := k.SaveOffline(now.Add(72 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	stolen = copyDir(t, dir)
	s, err = open(stolen, devA, []protector{osFile(stolen)})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "UnlockOffline past the window", s.UnlockOffline(now.Add(73*time.Hour)), ErrLocked, ErrExpired)
	if kind, _ := s.Offline(); kind != wire.OfflineNone || exists(filepath.Join(stolen, offlinePrefix+"os")) {
		t.Fatal("the expired copy was not destroyed")
	}
	if err := opens(s, old, ""); err == nil {
		t.Fatal("a copied state folder opened a sealed file")
	}
	wantErr(t, "UnlockOffline again", s.UnlockOffline(now), ErrLocked, ErrNoOffline)
	noSecretText(t, stolen)
}
