package atomicfile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lease")
	if err := WriteFile(path, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("file still there after Remove: %v", err)
	}
	if err := Remove(path); err != nil {
		t.Errorf("Remove of a missing file: %v", err)
	}
}

// TestOverwriteRemove: the file's bytes are overwritten in place before it
// is removed, so that an open descriptor (as the blocks on disk) no longer
// holds them; a file with a second name, or a symlink, is not written.
func TestOverwriteRemove(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("an open file cannot be removed on Windows")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "device-lease.os")
	secret := bytes.Repeat([]byte("lease key "), 5000)
	if err := WriteFile(path, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := OverwriteRemove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("file still there: %v", err)
	}
	left, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != len(secret) || bytes.Contains(left, []byte("lease key")) || bytes.ContainsFunc(left, func(r rune) bool { return r != 0 }) {
		t.Errorf("the removed file still holds %q...", left[:min(len(left), 40)])
	}
	if err := OverwriteRemove(path); err != nil {
		t.Errorf("a missing file: %v", err)
	}

	// A second name: the other may be someone else's file.
	theirs := filepath.Join(dir, "theirs")
	os.WriteFile(theirs, []byte("their data"), 0o600)
	linked := filepath.Join(dir, "linked")
	if err := os.Link(theirs, linked); err != nil {
		t.Fatal(err)
	}
	if err := Overwrite(linked); err == nil {
		t.Error("a hard-linked file was overwritten")
	}
	sym := filepath.Join(dir, "sym")
	os.Symlink(theirs, sym)
	if err := Overwrite(sym); err == nil {
		t.Error("a symlink was followed")
	}
	if b, _ := os.ReadFile(theirs); string(b) != "their data" {
		t.Errorf("their file: %q", b)
	}
}
