package keys

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestShredDir: a shred of a state folder whose identity does not open
// removes every file of the keyring that holds key material (the wrapped
// identity, a plaintext one, every form of the offline copy, the
// temporary files a crash left of them) and nothing else: not a
// look-alike name, not a link (nor what it points to), not a folder.
func TestShredDir(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "theirs.txt")
	if err := os.WriteFile(outside, []byte("a user's file"), 0o600); err != nil {
		t.Fatal(err)
	}
	ours := []string{
		WrappedName, FileName, "device-lease.tpm", "device-lease.os", "device-lease.dpapi", ClockFloorName,
		".device-identity.wrapped.123456.casekeep-tmp", ".device-lease.tpm.42.casekeep-tmp",
		".device-identity.txt.7.casekeep-tmp", ".device-lease.dpapi.9.casekeep-tmp",
	}
	theirs := []string{
		"device-identity.wrapped.bak", "my.device-lease.os", ".device-lease.os.x1.casekeep-tmp",
		".device-lease.other.5.casekeep-tmp", "device-lease.os.casekeep-tmp", ".device-identity.wrapped..casekeep-tmp",
		"notes.txt",
	}
	for _, n := range append(slices.Clone(ours), theirs...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("damaged, or someone's"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A folder and a link with a temporary file's name: not the keyring's.
	os.Mkdir(filepath.Join(dir, ".device-lease.os.77.casekeep-tmp"), 0o700)
	link := filepath.Join(dir, ".device-identity.wrapped.88.casekeep-tmp")
	if runtime.GOOS != "windows" {
		if err := os.Symlink(outside, link); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(dir, devA); err == nil {
		t.Fatal("a damaged identity opened")
	}

	if err := ShredDir(dir, devA); err != nil {
		t.Fatal(err)
	}
	for _, n := range ours {
		if exists(filepath.Join(dir, n)) {
			t.Errorf("%s is still there", n)
		}
	}
	for _, n := range append(theirs, ".device-lease.os.77.casekeep-tmp") {
		if !exists(filepath.Join(dir, n)) {
			t.Errorf("%s, not the keyring's, was removed", n)
		}
	}
	if runtime.GOOS != "windows" {
		if _, err := os.Lstat(link); err != nil {
			t.Errorf("the link was removed: %v", err)
		}
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "a user's file" {
		t.Errorf("the file outside the state folder: %q %v", b, err)
	}
	if _, err := Open(dir, devA); !errors.Is(err, ErrWiped) {
		t.Errorf("Open after ShredDir: %v, want ErrWiped", err)
	}
	if err := ShredDir(dir, devA); err != nil {
		t.Errorf("a second ShredDir: %v", err)
	}
}

func TestOwnTemp(t *testing.T) {
	for name, want := range map[string]bool{
		".device-identity.wrapped.1.casekeep-tmp":  true,
		".device-lease.os.3188475.casekeep-tmp":    true,
		".device-identity.shredded.2.casekeep-tmp": true,
		".device-lease.os.casekeep-tmp":            false,
		".device-lease..1.casekeep-tmp":            false,
		".device-lease.os.1a.casekeep-tmp":         false,
		"device-lease.os.1.casekeep-tmp":           false,
		".device-lease.os.1.casekeep-tmp.txt":      false,
		".report.docx.12.casekeep-tmp":             false,
	} {
		if got := ownTemp(name); got != want {
			t.Errorf("ownTemp(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestShredOverwritesOfflineCopy: the `os` offline copy holds the lease
// key as it is; a drop and a shred overwrite it in place before removing
// it, so the blocks it held (seen here through a descriptor opened before)
// no longer hold the key.
func TestShredOverwritesOfflineCopy(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("an open file cannot be removed on Windows")
	}
	for _, how := range []string{"shred", "drop"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			key := leaseKey("os")
			k, err := create(dir, devA, key, "k1", true, osFiles(dir))
			if err != nil {
				t.Fatal(err)
			}
			if err := k.SaveOffline(time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(dir, offlinePrefix+"os"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if how == "shred" {
				err = k.Shred()
			} else {
				err = k.DropOffline()
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(filepath.Join(dir, offlinePrefix+"os")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the offline copy is still there: %v", err)
			}
			left, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) == 0 || bytes.Contains(left, key) || bytes.ContainsFunc(left, func(r rune) bool { return r != 0 }) {
				t.Errorf("the removed offline copy's blocks still hold its bytes (key there: %v)", bytes.Contains(left, key))
			}
		})
	}
}
