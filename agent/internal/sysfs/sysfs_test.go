//go:build unix

package sysfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/internal/sysfs"
)

func TestResolveInStaysInside(t *testing.T) {
	root, _ := filepath.EvalSymlinks(t.TempDir())
	outside, _ := filepath.EvalSymlinks(t.TempDir())
	os.MkdirAll(filepath.Join(root, "devices", "sda"), 0o755)
	os.MkdirAll(filepath.Join(root, "class", "block"), 0o755)
	os.Symlink("../../devices/sda", filepath.Join(root, "class", "block", "sda"))
	os.Symlink(outside, filepath.Join(root, "class", "block", "evil"))
	if got, ok := sysfs.ResolveIn(root, filepath.Join(root, "class", "block", "sda")); !ok || got != filepath.Join(root, "devices", "sda") {
		t.Errorf("a link inside: %q, %v", got, ok)
	}
	if got, ok := sysfs.ResolveIn(root, filepath.Join(root, "class", "block", "evil")); ok {
		t.Errorf("a link outside the root was followed to %q", got)
	}
	if _, ok := sysfs.ResolveIn(root, filepath.Join(root, "class", "block", "missing")); ok {
		t.Error("a missing path resolved")
	}
}

func TestAttr(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "size"), []byte("  2048\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "big"), []byte(strings.Repeat("x", 3*sysfs.MaxAttr)), 0o644)
	syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600)
	if got := sysfs.Attr(filepath.Join(dir, "size")); got != "2048" {
		t.Errorf("Attr = %q", got)
	}
	if got := sysfs.Attr(filepath.Join(dir, "big")); len(got) != sysfs.MaxAttr {
		t.Errorf("a large attribute read %d bytes, want at most %d", len(got), sysfs.MaxAttr)
	}
	done := make(chan error, 1)
	go func() {
		// O_NONBLOCK is not used: a FIFO must be refused by its type, and
		// the open of a FIFO with no writer blocks, so give it one.
		_, err := sysfs.AttrErr(filepath.Join(dir, "fifo"))
		done <- err
	}()
	w, _ := os.OpenFile(filepath.Join(dir, "fifo"), os.O_WRONLY, 0)
	defer w.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a FIFO was read as an attribute")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO attribute blocked")
	}
	if !sysfs.IsFile(filepath.Join(dir, "size")) || sysfs.IsFile(dir) || !sysfs.IsDir(dir) || sysfs.IsDir(filepath.Join(dir, "size")) {
		t.Error("IsFile/IsDir")
	}
}
