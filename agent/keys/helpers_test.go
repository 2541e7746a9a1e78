package keys

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/casekeep/casekeep/internal/wire"
)

// Two device IDs of the right form.
const (
	devA = "dev_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	devB = "dev_bbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// leaseKey returns a lease key derived from name, as the server would
// serve it (the tests need the same key in two processes).
func leaseKey(name string) []byte {
	k := sha256.Sum256([]byte("casekeep test lease " + name))
	return k[:wire.LeaseKeySize]
}

// fakeProtector holds the offline copy in memory, as the OS protectors
// would, and counts what it is asked to do.
type fakeProtector struct {
	mu      sync.Mutex
	k       string
	data    []byte
	saves   int
	failing error // save fails with it when set
}

func (p *fakeProtector) kind() string { return p.k }

func (p *fakeProtector) save(blob []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing != nil {
		return p.failing
	}
	p.saves++
	p.data = bytes.Clone(blob)
	return nil
}

func (p *fakeProtector) load() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.data == nil {
		return nil, fs.ErrNotExist
	}
	return bytes.Clone(p.data), nil
}

func (p *fakeProtector) held() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.data != nil
}

func (p *fakeProtector) remove() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.data = nil
	return nil
}

// osFile is the root-only file protector of Linux, in dir.
func osFile(dir string) protector {
	return &fileProtector{path: filepath.Join(dir, offlinePrefix+"os"), k: wire.OfflineOS}
}

// migratedDevice is a legacyDevice migrated by an Unlock with
// leaseKey(name) as key k1; its offline copy is held by ps(dir) (none if
// ps is nil), not yet saved.
func migratedDevice(t testing.TB, name string, ps func(dir string) []protector) (k *Keyring, dir string, old, cur []byte) {
	t.Helper()
	dir, old, cur = legacyDevice(t)
	var protectors []protector
	if ps != nil {
		protectors = ps(dir)
	}
	k, err := open(dir, devA, protectors)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Unlock(leaseKey(name), "k1"); err != nil {
		t.Fatal(err)
	}
	return k, dir, old, cur
}

func osFiles(dir string) []protector { return []protector{osFile(dir)} }

// sealTo seals msg to the recipients as the vault does.
func sealTo(t testing.TB, msg string, rs ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// opens reports whether d opens the sealed file to msg, and why not.
func opens(d Device, sealed []byte, msg string) error {
	ids, err := d.Identities()
	if err != nil {
		return err
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), ids...)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("decrypted %q, want %q", got, msg)
	}
	return nil
}

func mustOpen(t testing.TB, d Device, sealed []byte, msg string) {
	t.Helper()
	if err := opens(d, sealed, msg); err != nil {
		t.Fatalf("a sealed file does not open: %v", err)
	}
}

// noSecretText fails if any file under dir holds an age secret key.
func noSecretText(t testing.TB, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(bytes.ToUpper(b), []byte("AGE-SECRET-KEY")) {
				t.Errorf("%s holds an age secret key in plaintext", path)
			}
		}
		return nil
	})
}

// names lists the files in dir.
func names(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range entries {
		ns = append(ns, e.Name())
	}
	return ns
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// copyDir copies the files of src into a new folder.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	for _, n := range names(t, src) {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// wantErr fails unless err wraps every one of targets.
func wantErr(t testing.TB, what string, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("%s: %v, want an error wrapping %v", what, err, target)
		}
	}
	if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
		t.Fatalf("%s: the error quotes a secret key: %v", what, err)
	}
}
