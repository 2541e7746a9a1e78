//go:build !windows

package vault_test

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/vault"
)

// swapAt makes the next seal call f at the named stage, once.
func swapAt(t *testing.T, stage string, f func(rel string)) {
	done := false
	vault.SetTestHook(func(s, rel string) {
		if s == stage && !done {
			done = true
			f(rel)
		}
	})
	t.Cleanup(func() { vault.SetTestHook(nil) })
}

func noAsideLeft(t *testing.T, e *env) {
	t.Helper()
	for _, p := range e.files() {
		if strings.Contains(p, ".casekeep-aside-") || strings.Contains(p, ".casekeep-tmp") {
			t.Errorf("left behind: %s", p)
		}
	}
}

// TestSwapFolderInForPlaintext: the user replaces the file being sealed by a
// folder (with a file in it). The folder must come back where it was, whole,
// not be trapped in the vault's private folder.
func TestSwapFolderInForPlaintext(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "original", true)
	swapAt(t, "opened", func(string) {
		os.Rename(e.path("a.txt"), e.path("moved.txt"))
		os.Mkdir(e.path("a.txt"), 0o755)
		os.WriteFile(e.path("a.txt/inner.txt"), []byte("inner"), 0o644)
	})
	_, err := e.v.SealFile(context.Background(), "a.txt")
	if !errors.Is(err, vault.ErrChanging) {
		t.Fatalf("SealFile: %v, want ErrChanging", err)
	}
	sameBytes(t, e.path("a.txt/inner.txt"), []byte("inner"))
	sameBytes(t, e.path("moved.txt"), []byte("original"))
	e.mustOpen("a.txt.age", "original")
	noAsideLeft(t, e)
}

func TestSwapFIFOInForPlaintext(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "original", true)
	swapAt(t, "opened", func(string) {
		os.Remove(e.path("a.txt"))
		syscall.Mkfifo(e.path("a.txt"), 0o644)
	})
	withTimeout(t, "SealFile", func() {
		if _, err := e.v.SealFile(context.Background(), "a.txt"); !errors.Is(err, vault.ErrChanging) {
			t.Errorf("SealFile: %v, want ErrChanging", err)
		}
	})
	if fi, err := os.Lstat(e.path("a.txt")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO is not back: %v", err)
	}
	noAsideLeft(t, e)
}

// TestEditorRenamesOverPlaintextMidSeal: a new version is renamed over the
// file while the old one is being sealed. Both versions survive.
func TestEditorRenamesOverPlaintextMidSeal(t *testing.T) {
	e := newEnv(t)
	e.write("doc.txt", "version 1", true)
	swapAt(t, "opened", func(string) {
		os.WriteFile(e.path(".doc.tmp"), []byte("version 2"), 0o644)
		os.Rename(e.path(".doc.tmp"), e.path("doc.txt"))
	})
	if _, err := e.v.SealFile(context.Background(), "doc.txt"); !errors.Is(err, vault.ErrChanging) {
		t.Fatalf("SealFile: %v, want ErrChanging", err)
	}
	e.mustOpen("doc.txt.age", "version 1")
	sameBytes(t, e.path("doc.txt"), []byte("version 2"))
	noAsideLeft(t, e)
}

// TestSwapFIFOInForSealedFile: right after the sealed file is linked into
// place, the user replaces it by a FIFO. The vault must not hang, must not
// remove what the user put there, and must keep the plaintext.
func TestSwapFIFOInForSealedFile(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "original", true)
	swapAt(t, "linked", func(rel string) {
		os.Remove(e.path(rel))
		syscall.Mkfifo(e.path(rel), 0o644)
	})
	withTimeout(t, "SealFile", func() {
		if _, err := e.v.SealFile(context.Background(), "a.txt"); !errors.Is(err, vault.ErrRefused) {
			t.Errorf("SealFile: %v, want a refusal", err)
		}
	})
	if fi, err := os.Lstat(e.path("a.txt.age")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Error("the user's FIFO was removed")
	}
	sameBytes(t, e.path("a.txt"), []byte("original"))
}

// TestSwapOtherSealedFileIn: the sealed file is replaced by another file
// sealed to this device with other content. The plaintext must stay: what
// is under the sealed name is not its sealed copy.
func TestSwapOtherSealedFileIn(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "original", true)
	swapAt(t, "linked", func(rel string) {
		f, _ := os.Create(e.path(rel + ".new"))
		w, _ := age.Encrypt(f, e.Keys.Recipient())
		io.WriteString(w, "something else")
		w.Close()
		f.Close()
		os.Rename(e.path(rel+".new"), e.path(rel))
	})
	if _, err := e.v.SealFile(context.Background(), "a.txt"); err == nil {
		t.Fatal("SealFile succeeded although its sealed file was replaced")
	}
	sameBytes(t, e.path("a.txt"), []byte("original"))
	ids, _ := e.Keys.Identities()
	if s := agenttest.Decrypt(t, e.path("a.txt.age"), ids...); s != "something else" {
		t.Errorf("the user's file was replaced: %q", s)
	}
}

// TestCancelAfterLink: once the sealed file is in place, a cancelled
// context does not stop the seal from finishing.
func TestCancelAfterLink(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "original", true)
	ctx, cancel := context.WithCancel(context.Background())
	swapAt(t, "linked", func(string) { cancel() })
	if _, err := e.v.SealFile(ctx, "a.txt"); err != nil {
		t.Fatalf("SealFile: %v", err)
	}
	e.wantFiles("a.txt.age")
	e.mustOpen("a.txt.age", "original")
}

// TestScanRestoresSpecialAsideEntries: a crash after a folder or a symlink
// was moved aside (in place of the plaintext) leaves it in the private
// folder; the scan moves it back whole.
func TestScanRestoresSpecialAsideEntries(t *testing.T) {
	e := newEnv(t)
	os.MkdirAll(e.path(".casekeep-aside-0001/work/sub"), 0o755)
	os.WriteFile(e.path(".casekeep-aside-0001/work/sub/f.txt"), []byte("f"), 0o644)
	os.MkdirAll(e.path(".casekeep-aside-0002"), 0o700)
	os.Symlink("/etc/hostname", e.path(".casekeep-aside-0002/link"))
	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Restored != 2 {
		t.Errorf("report %+v", rep)
	}
	sameBytes(t, e.path("work/sub/f.txt"), []byte("f"))
	if fi, err := os.Lstat(e.path("link")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink is not back")
	}
	noAsideLeft(t, e)
}

// TestScanRemovesOnlyOrphanTemps: a temporary file that a live process
// holds (its flock) is left alone; an orphan the vault made is removed; a
// file that only has a temporary file's name (one the vault did not make,
// however like its temporary files it looks, even empty or starting like
// an age file) is a user's: it gets an ordinary name and is sealed.
func TestScanRemovesOnlyOrphanTemps(t *testing.T) {
	e := newEnv(t)
	liveName := vault.TempName(e.v)
	e.write(vault.TempName(e.v), "age-encryption.org/v1\n-> X25519", true)
	e.write(vault.TempName(e.v), "", true)
	e.write(".impostor.casekeep-tmp", "someone's notes", true)
	e.write(".orphan.casekeep-tmp", "age-encryption.org/v1\n-> X25519", true)
	e.write(".empty.casekeep-tmp", "", true)
	forged := strings.Split(vault.TempName(e.v), ".")
	forged[1] = "0123456789ab" // another random part, the same tag
	e.write(strings.Join(forged, "."), "", true)
	e.write(liveName, "age-encryption.org/v1\n", true)
	live, err := os.Open(e.path(liveName))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := syscall.Flock(int(live.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	forgedPlain := "0123456789ab." + strings.TrimSuffix(forged[2], "casekeep-tmp")
	forgedPlain = strings.TrimSuffix(forgedPlain, ".")
	wantPlain := []string{forgedPlain, "empty", "impostor", "orphan"}
	slices.Sort(wantPlain)
	got := slices.Sorted(slices.Values(rep.Plaintext))
	if rep.TempsRemoved != 2 || !slices.Equal(got, wantPlain) {
		t.Fatalf("report %+v, want 2 temps removed and plaintext %v", rep, wantPlain)
	}
	for _, p := range wantPlain {
		if _, err := e.v.SealFile(context.Background(), p); err != nil {
			t.Fatal(p, err)
		}
	}
	e.wantFiles(liveName, "empty.age", forgedPlain+".age", "impostor.age", "orphan.age")
	e.mustOpen("impostor.age", "someone's notes")
	e.mustOpen("orphan.age", "age-encryption.org/v1\n-> X25519")
}
