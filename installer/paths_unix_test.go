//go:build unix

package installer_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/casekeep/casekeep/installer"
)

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestPrepareConfig(t *testing.T) {
	base := t.TempDir()

	t.Run("missing", func(t *testing.T) {
		old := syscall.Umask(0o022)
		defer syscall.Umask(old)
		dir := filepath.Join(base, "missing", "parent", "config")
		if err := installer.PrepareConfig(dir); err != nil {
			t.Fatal(err)
		}
		if m := mode(t, dir); !m.IsDir() || m.Perm() != 0o755 {
			t.Errorf("made %v, want a 0755 folder", m)
		}
		// Idempotent.
		if err := installer.PrepareConfig(dir); err != nil {
			t.Errorf("again: %v", err)
		}
	})

	t.Run("world-writable", func(t *testing.T) {
		dir := filepath.Join(base, "open")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := installer.PrepareConfig(dir); err != nil {
			t.Fatal(err)
		}
		if m := mode(t, dir).Perm(); m != 0o755 {
			t.Errorf("mode %v, want 0755 (group and world write taken away, nothing else)", m)
		}
		if err := os.Chmod(dir, 0o720); err != nil {
			t.Fatal(err)
		}
		if err := installer.PrepareConfig(dir); err != nil {
			t.Fatal(err)
		}
		if m := mode(t, dir).Perm(); m != 0o700 {
			t.Errorf("mode %v, want 0700", m)
		}
	})

	t.Run("symlink", func(t *testing.T) {
		target := filepath.Join(base, "target")
		if err := os.Mkdir(target, 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(base, "link")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := installer.PrepareConfig(link); !errors.Is(err, installer.ErrNotProtected) {
			t.Errorf("a symlink to a folder: %v, want ErrNotProtected", err)
		}
		dangling := filepath.Join(base, "dangling")
		if err := os.Symlink(filepath.Join(base, "nowhere"), dangling); err != nil {
			t.Fatal(err)
		}
		if err := installer.PrepareConfig(dangling); !errors.Is(err, installer.ErrNotProtected) {
			t.Errorf("a dangling symlink: %v, want ErrNotProtected", err)
		}
		if _, err := os.Lstat(filepath.Join(base, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("PrepareConfig created the dangling symlink's target: %v", err)
		}
	})

	t.Run("file", func(t *testing.T) {
		f := filepath.Join(base, "file")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := installer.PrepareConfig(f); err == nil {
			t.Error("a file accepted as the configuration folder")
		}
	})

	t.Run("relative", func(t *testing.T) {
		if err := installer.PrepareConfig("etc/casekeep"); err == nil {
			t.Error("a relative path accepted")
		}
	})

	t.Run("owned by another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("chown needs root")
		}
		dir := filepath.Join(base, "nobody")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := installer.PrepareConfig(dir); !errors.Is(err, installer.ErrNotProtected) {
			t.Errorf("a folder owned by uid 65534: %v, want ErrNotProtected", err)
		}
	})
}
