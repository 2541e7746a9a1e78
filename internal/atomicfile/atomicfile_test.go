package atomicfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/casekeep/casekeep/internal/testdisk"
)

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.bundle")
	for _, content := range []string{"first", "second, longer", "3"} {
		if err := WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	if names := readDir(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v, want only the file", names)
	}
}

func TestCreateNewRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.key")
	if err := CreateNew(path, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := CreateNew(path, []byte("other"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateNew: %v, want ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "secret" {
		t.Errorf("existing file changed to %q", got)
	}
	fi, _ := os.Stat(path)
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	// A dangling symlink is an existing name too: never write through it.
	link := filepath.Join(dir, "link.key")
	target := filepath.Join(dir, "elsewhere")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := CreateNew(link, []byte("x"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateNew over a dangling symlink: %v", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("symlink target was created")
	}
	if names := readDir(t, dir); strings.Join(names, " ") != "link.key policy.key" {
		t.Errorf("folder holds %v, want link.key policy.key", names)
	}
}

func TestCreateNewRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if CreateNew(path, []byte{byte('a' + i)}, 0o600) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d writers won, want exactly 1", wins)
	}
}

// TestWriteFailureKeepsOld injects an I/O error after the data is written:
// the old file must be intact and no temporary file left behind.
func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	injected := errors.New("injected I/O error")
	testHookAfterWrite = func(*os.File) error { return injected }
	defer func() { testHookAfterWrite = nil }()
	if err := WriteFile(path, []byte("new"), 0o644); !errors.Is(err, injected) {
		t.Fatalf("WriteFile: %v", err)
	}
	if err := CreateNew(filepath.Join(dir, "g"), []byte("new"), 0o644); !errors.Is(err, injected) {
		t.Fatalf("CreateNew: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("file is %q after a failed write", got)
	}
	if names := readDir(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v after failed writes", names)
	}
}

// TestDiskFull fills a real 64 KiB filesystem.
func TestDiskFull(t *testing.T) {
	dir := testdisk.Small(t, 64<<10)
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 256<<10)
	err := WriteFile(path, big, 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteFile on a full disk: %v, want ENOSPC", err)
	}
	if err := CreateNew(filepath.Join(dir, "g"), big, 0o600); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("CreateNew on a full disk: %v, want ENOSPC", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("file is %d bytes after a failed write", len(got))
	}
	for _, n := range readDir(t, dir) {
		if strings.HasSuffix(n, TempSuffix) || n == "g" {
			t.Errorf("left behind: %s", n)
		}
	}
}
