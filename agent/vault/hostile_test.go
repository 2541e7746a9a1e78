package vault_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/testdisk"
	"github.com/casekeep/casekeep/internal/testenv"
)

// withTimeout fails the test if f does not return in 10 s (a FIFO must
// never hang the vault).
func withTimeout(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s hung", what)
	}
}

func TestSymlinkToOutsideFile(t *testing.T) {
	e := newEnv(t)
	outside := filepath.Join(t.TempDir(), "payroll.csv")
	os.WriteFile(outside, []byte("outside the cache"), 0o644)
	past := timeAgo()
	os.Chtimes(outside, past, past)
	os.Symlink(outside, e.path("link.csv"))

	if _, err := e.v.SealFile(context.Background(), "link.csv"); !errors.Is(err, vault.ErrRefused) {
		t.Errorf("SealFile on a symlink: %v", err)
	}
	e.run()
	e.v.Notify("link.csv")
	testenv.Eventually(t, "a refused event", func() bool { return e.events.has(vault.EventRefused, "link.csv") })
	sameBytes(t, outside, []byte("outside the cache"))
	if fi, _ := os.Stat(outside); !fi.ModTime().Equal(past) || fi.Mode().Perm() != 0o644 {
		t.Error("outside file's times or mode changed")
	}
	if fi, err := os.Lstat(e.path("link.csv")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink itself was removed or replaced")
	}
}

func TestSymlinkedFolder(t *testing.T) {
	e := newEnv(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	os.WriteFile(secret, []byte("do not touch"), 0o644)
	os.Chtimes(secret, timeAgo(), timeAgo())
	os.Symlink(outside, e.path("elsewhere"))
	// A symlink to a folder inside the cache is not followed either.
	e.write("real/inside.txt", "inside", true)
	os.Symlink("real", e.path("alias"))

	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Plaintext, ",") != "real/inside.txt" || rep.Refused != 2 {
		t.Errorf("report %+v", rep)
	}
	for _, rel := range []string{"elsewhere/secret.txt", "alias/inside.txt"} {
		if _, err := e.v.SealFile(context.Background(), rel); !errors.Is(err, vault.ErrRefused) {
			t.Errorf("SealFile(%q) through a symlinked folder: %v, want a refusal", rel, err)
		}
	}
	sameBytes(t, secret, []byte("do not touch"))
	sameBytes(t, e.path("real/inside.txt"), []byte("inside"))
}

func TestHardlinkToOutsideFile(t *testing.T) {
	e := newEnv(t)
	outside := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(outside, []byte("root's file"), 0o600)
	if err := os.Link(outside, e.path("grab.txt")); err != nil {
		t.Skipf("cannot hardlink across these folders: %v", err)
	}
	os.Chtimes(outside, timeAgo(), timeAgo())
	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Refused != 1 || len(rep.Plaintext) != 0 {
		t.Errorf("report %+v", rep)
	}
	if _, err := e.v.SealFile(context.Background(), "grab.txt"); !errors.Is(err, vault.ErrRefused) {
		t.Errorf("SealFile on a hardlink: %v", err)
	}
	sameBytes(t, outside, []byte("root's file"))
	sameBytes(t, e.path("grab.txt"), []byte("root's file"))
	if !e.events.has(vault.EventRefused, "grab.txt") {
		t.Error("no refused event")
	}
}

// TestSlowAppend appends to a file for several seconds through one open
// descriptor: it must not be sealed (and its plaintext removed under the
// writer) until the writer is done.
func TestSlowAppend(t *testing.T) {
	e := newEnv(t)
	e.run()
	f, err := os.OpenFile(e.path("log.txt"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 12 {
		line := fmt.Sprintf("line %d\n", i)
		f.WriteString(line)
		want.WriteString(line)
		e.v.Notify("log.txt")
		time.Sleep(250 * time.Millisecond) // longer than the quiet period
		if runtime.GOOS == "linux" {
			if _, err := os.Stat(e.path("log.txt.age")); err == nil {
				t.Fatalf("sealed after %d lines, while the writer still had it open", i+1)
			}
		}
	}
	f.Close()
	e.v.Notify("log.txt")
	testenv.Eventually(t, "the file sealed", func() bool { return e.events.has(vault.EventSealed, "log.txt.age") })
	e.wantFiles("log.txt.age")
	e.mustOpen("log.txt.age", want.String())
}

// TestSlowAppendReopening appends by opening and closing the file each time,
// as many loggers do: the file may be sealed between appends, so it ends up
// in several sealed versions, but every line is in one of them, each
// version is a run of consecutive lines as written, and no plaintext is left.
func TestSlowAppendReopening(t *testing.T) {
	e := newEnv(t)
	e.run()
	var all string
	for i := range 12 {
		line := fmt.Sprintf("line %d\n", i)
		f, err := os.OpenFile(e.path("log.txt"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(line)
		f.Close()
		all += line
		e.v.Notify("log.txt")
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
	}
	// Done when the plaintext is gone and the seal that removed it has
	// tidied its private folder (it is gone from log.txt a moment before).
	testenv.Eventually(t, "no plaintext left", func() bool {
		_, err := os.Stat(e.path("log.txt"))
		if !errors.Is(err, os.ErrNotExist) {
			return false
		}
		for _, p := range e.files() {
			if strings.Contains(p, ".casekeep-aside-") || strings.HasSuffix(p, ".casekeep-tmp") {
				return false
			}
		}
		return true
	})
	var sealed strings.Builder
	for _, p := range e.files() {
		s := e.open(p)
		if s == "" || !strings.Contains(all, s) || !strings.HasSuffix(s, "\n") {
			t.Errorf("%s holds %q, not a run of lines as written", p, s)
		}
		sealed.WriteString(s)
	}
	for i := range 12 {
		if line := fmt.Sprintf("line %d\n", i); !strings.Contains(sealed.String(), line) {
			t.Errorf("%q was lost", line)
		}
	}
}

// TestEditorSavePattern saves new versions the way editors do: write a
// temporary file, rename it over the document. No version that was ever
// on disk for longer than a moment may be lost, and the last one must be
// sealed.
func TestEditorSavePattern(t *testing.T) {
	e := newEnv(t)
	e.run()
	var versions []string
	for i := range 25 {
		content := fmt.Sprintf("version %d of the chronology\n%s", i, strings.Repeat("x", rand.IntN(200_000)))
		versions = append(versions, content)
		tmp := e.path(fmt.Sprintf(".chronology.docx.%d~", i))
		os.WriteFile(tmp, []byte(content), 0o644)
		if err := os.Rename(tmp, e.path("chronology.docx")); err != nil {
			t.Fatal(err)
		}
		e.v.Notify("chronology.docx")
		time.Sleep(time.Duration(rand.IntN(120)) * time.Millisecond)
	}
	testenv.Eventually(t, "no plaintext left", func() bool {
		for _, p := range e.files() {
			if !strings.HasSuffix(p, ".age") {
				return false
			}
		}
		return true
	})
	last := versions[len(versions)-1]
	found := false
	for _, p := range e.files() {
		s := e.open(p)
		if !contains(versions, s) {
			t.Errorf("%s holds something that was never written", p)
		}
		found = found || s == last
	}
	if !found {
		t.Error("the last version was not sealed")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestDiskFull seals on a real filesystem that runs out of space: the
// plaintext is kept, the temporary file removed, and the event says why;
// once there is room the file is sealed.
func TestDiskFull(t *testing.T) {
	disk := testdisk.Small(t, 1536<<10)
	e := newEnvIn(t, filepath.Join(disk, "cache"))
	os.WriteFile(filepath.Join(disk, "filler"), make([]byte, 500<<10), 0o644)
	content := strings.Repeat("case notes ", 55_000) // 605 KB: with the filler, no room for a sealed copy
	e.write("big.txt", content, true)

	_, err := e.v.SealFile(context.Background(), "big.txt")
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("SealFile on a full disk: %v, want ENOSPC", err)
	}
	e.wantFiles("big.txt")
	sameBytes(t, e.path("big.txt"), []byte(content))

	e.run()
	e.v.Notify("big.txt")
	testenv.Eventually(t, "a seal_failed event", func() bool { return len(e.events.of(vault.EventSealFailed)) > 0 })
	if ev := e.events.of(vault.EventSealFailed)[0]; !strings.Contains(ev.Reason, "no space left") || ev.Path != "big.txt" {
		t.Errorf("event %+v", ev)
	}
	// The scan's attempt and the notified one may overlap: the second's
	// temporary file is there until it fails too.
	testenv.Eventually(t, "only the plaintext in the cache", func() bool { return slices.Equal(e.files(), []string{"big.txt"}) })
	sameBytes(t, e.path("big.txt"), []byte(content))
	os.Remove(filepath.Join(disk, "filler"))
	e.v.Notify("big.txt")
	testenv.Eventually(t, "sealed once there is room", func() bool { return e.events.has(vault.EventSealed, "big.txt.age") })
	e.wantFiles("big.txt.age")
	e.mustOpen("big.txt.age", content)
}
