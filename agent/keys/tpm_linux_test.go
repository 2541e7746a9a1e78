package keys

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/casekeep/casekeep/internal/wire"
)

func TestTPMSealUnseal(t *testing.T) {
	open := startSWTPM(t)
	tpm, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	secret := []byte("a lease key of thirty-two bytes!")
	obj, err := tpmSeal(tpm, secret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpmUnseal(tpm, obj)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, secret) {
		t.Fatalf("unsealed %q", got)
	}
}

// TestTPMOffline holds the offline copy in a real (software) TPM 2.0.
func TestTPMOffline(t *testing.T) {
	tpmA := startSWTPM(t)
	dir := t.TempDir()
	protectors := func(dir string, open tpmOpener) []protector {
		return []protector{newTPMProtector(dir, open), osFile(dir)}
	}
	key := leaseKey("tpm")
	k, err := create(dir, devA, key, "k1", true, protectors(dir, tpmA))
	if err != nil {
		t.Fatal(err)
	}
	sealed := sealTo(t, "case file", k.Recipient())
	now := time.Now()
	if err := k.SaveOffline(now.Add(72 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if kind, _ := k.Offline(); kind != wire.OfflineTPM {
		t.Fatalf("held as %s, want tpm", kind)
	}
	path := filepath.Join(dir, offlinePrefix+"tpm")
	obj, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(obj, key) || bytes.Contains(obj, []byte(devA)) {
		t.Fatal("the TPM-sealed copy holds the lease in clear")
	}
	if exists(filepath.Join(dir, offlinePrefix+"os")) {
		t.Fatal("a weaker copy was kept beside the TPM's")
	}
	noSecretText(t, dir)

	// A restart, offline.
	r, err := open(dir, devA, protectors(dir, tpmA))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.UnlockOffline(now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r.State() != wire.LeaseOffline {
		t.Fatalf("state %s", r.State())
	}
	mustOpen(t, r, sealed, "case file")

	t.Run("another TPM", func(t *testing.T) {
		tpmB := startSWTPM(t)
		stolen := copyDir(t, dir)
		s, err := open(stolen, devA, protectors(stolen, tpmB))
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "unsealing on another TPM", s.UnlockOffline(now), ErrLocked, ErrDamaged)
		if err := opens(s, sealed, ""); err == nil {
			t.Fatal("another TPM opened the vault")
		}
	})

	t.Run("tampered", func(t *testing.T) {
		for _, at := range []int{len(tpmMagic) + 4, len(tpmMagic) + 40, len(obj) / 2, len(obj) - 40, len(obj) - 1} {
			bad := bytes.Clone(obj)
			bad[at] ^= 0x40
			os.WriteFile(path, bad, 0o600)
			s, err := open(dir, devA, protectors(dir, tpmA))
			if err != nil {
				t.Fatal(err)
			}
			err = s.UnlockOffline(now)
			t.Logf("altered at byte %d of %d: %v", at, len(obj), err)
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("a copy altered at byte %d: %v", at, err)
			}
			if err := opens(s, sealed, ""); err == nil {
				t.Fatalf("a copy altered at byte %d opened the vault", at)
			}
		}
		os.WriteFile(path, obj, 0o600)
	})

	t.Run("expired", func(t *testing.T) {
		s, err := open(dir, devA, protectors(dir, tpmA))
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "past the window", s.UnlockOffline(now.Add(73*time.Hour)), ErrLocked, ErrExpired)
		if exists(path) {
			t.Fatal("the expired TPM copy was not destroyed")
		}
		if kind, _ := s.Offline(); kind != wire.OfflineNone {
			t.Fatalf("held as %s after expiry", kind)
		}
	})
}

// TestTPMMissing: with no TPM to open, the copy falls back to the OS's
// protection, and says so.
func TestTPMMissing(t *testing.T) {
	dir := t.TempDir()
	none := func() (transport.TPMCloser, error) { return nil, os.ErrNotExist }
	k, err := create(dir, devA, leaseKey("no tpm"), "k1", false, []protector{newTPMProtector(dir, none), osFile(dir)})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.SaveOffline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if kind, _ := k.Offline(); kind != wire.OfflineOS {
		t.Fatalf("held as %s, want os", kind)
	}
}

func BenchmarkSaveOfflineTPM(b *testing.B) {
	open := startSWTPM(b)
	benchSaveOffline(b, func(dir string) []protector { return []protector{newTPMProtector(dir, open)} })
}
