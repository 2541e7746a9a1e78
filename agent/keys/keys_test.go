package keys_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/keys"
)

func roundTrip(t *testing.T, d keys.Device, msg string) {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, d.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	w.Close()
	ids, err := d.Identities()
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(&buf, ids...)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if string(got) != msg {
		t.Fatalf("decrypted %q", got)
	}
}

func TestCreateLoad(t *testing.T) {
	for _, pq := range []bool{false, true} {
		dir := t.TempDir()
		if _, err := keys.Load(dir); !errors.Is(err, keys.ErrNoIdentity) {
			t.Fatalf("Load before create: %v", err)
		}
		f, err := keys.LoadOrCreate(dir, pq, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if f.PostQuantum() != pq {
			t.Errorf("PostQuantum = %v, want %v", f.PostQuantum(), pq)
		}
		roundTrip(t, f, "case file")
		again, err := keys.LoadOrCreate(dir, pq, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if keysOf(t, again) != keysOf(t, f) {
			t.Error("a second start made a new identity")
		}
		fi, _ := os.Stat(filepath.Join(dir, keys.FileName))
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("identity file mode %v", fi.Mode().Perm())
		}
	}
}

func keysOf(t *testing.T, f *keys.File) string {
	t.Helper()
	return f.Recipient().(interface{ String() string }).String()
}

// TestKindChange switches the policy from X25519 to post-quantum: files sealed
// to the old identity must still open.
func TestKindChange(t *testing.T) {
	dir := t.TempDir()
	old, err := keys.LoadOrCreate(dir, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var sealed bytes.Buffer
	w, _ := age.Encrypt(&sealed, old.Recipient())
	io.WriteString(w, "sealed before the change")
	w.Close()

	pq, err := keys.LoadOrCreate(dir, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !pq.PostQuantum() {
		t.Fatal("identity did not change kind")
	}
	ids, _ := pq.Identities()
	if len(ids) != 2 {
		t.Fatalf("%d identities, want 2", len(ids))
	}
	r, err := age.Decrypt(&sealed, ids...)
	if err != nil {
		t.Fatalf("old file does not open after the change: %v", err)
	}
	got, _ := io.ReadAll(r)
	if string(got) != "sealed before the change" {
		t.Errorf("got %q", got)
	}
	loaded, err := keys.Load(dir)
	if err != nil || !loaded.PostQuantum() {
		t.Fatalf("reload: %v", err)
	}
	roundTrip(t, loaded, "new")
}

func TestLoadRefusesGarbage(t *testing.T) {
	dir := t.TempDir()
	secret := "AGE-SECRET-KEY-1NOTVALIDNOTVALIDNOTVALID"
	os.WriteFile(filepath.Join(dir, keys.FileName), []byte(secret+"\n"), 0o600)
	_, err := keys.Load(dir)
	if err == nil {
		t.Fatal("garbage identity loaded")
	}
	if strings.Contains(err.Error(), "NOTVALID") {
		t.Errorf("error leaks key material: %v", err)
	}
	if _, err := keys.LoadOrCreate(dir, false, time.Now()); err == nil {
		t.Error("LoadOrCreate replaced a corrupt identity instead of refusing")
	}
}

func TestLoadTightensMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes are ACLs on Windows")
	}
	dir := t.TempDir()
	if _, err := keys.LoadOrCreate(dir, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, keys.FileName)
	os.Chmod(path, 0o644)
	if _, err := keys.Load(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after Load, want 0600", fi.Mode().Perm())
	}
}
