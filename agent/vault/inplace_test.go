package vault_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/vault"
)

// usb is a folder outside the cache standing in for a removable volume.
func usbFolder(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "USB STICK ü")
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		past := time.Now().Add(-time.Minute)
		os.Chtimes(p, past, past)
	}
	return dir
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// sealInPlace seals rel in dir the way the sweeper does.
func sealInPlace(ctx context.Context, e *env, dir, rel string) (string, error) {
	root, err := vault.OpenFolder(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	return e.v.SealInPlace(ctx, root, rel)
}

func TestSealInPlace(t *testing.T) {
	e := newEnv(t)
	dir := usbFolder(t, map[string]string{"Court reports/LL-123456 report.docx": "case file body"})
	got, err := sealInPlace(context.Background(), e, dir, "Court reports/LL-123456 report.docx")
	if err != nil {
		t.Fatal(err)
	}
	if got != "Court reports/LL-123456 report.docx.age" {
		t.Errorf("sealed as %q", got)
	}
	if want := []string{"Court reports", "Court reports/LL-123456 report.docx.age"}; !slices.Equal(listDir(t, dir), want) {
		t.Errorf("folder holds %v, want %v", listDir(t, dir), want)
	}
	// Only the council (escrow) and this device can read it.
	if s := agenttest.Decrypt(t, filepath.Join(dir, filepath.FromSlash(got)), e.Escrow); s != "case file body" {
		t.Errorf("escrow decrypts %q", s)
	}
	ids, _ := e.Keys.Identities()
	if s := agenttest.Decrypt(t, filepath.Join(dir, filepath.FromSlash(got)), ids[0]); s != "case file body" {
		t.Errorf("device decrypts %q", s)
	}
	if len(e.events.of(vault.EventSealed)) != 0 {
		t.Error("a vault event for a file outside the cache")
	}
	// The cache's index is not touched.
	if sum, err := e.v.Summary(); err != nil || sum.Files != 0 {
		t.Errorf("cache summary %+v, %v", sum, err)
	}
	// Sealing the sealed name again is refused, not double-sealed.
	if _, err := sealInPlace(context.Background(), e, dir, got); !errors.Is(err, vault.ErrRefused) {
		t.Errorf("sealing a sealed file: %v", err)
	}
}

func TestSealInPlaceRefuses(t *testing.T) {
	e := newEnv(t)
	outside := usbFolder(t, map[string]string{"secret.txt": "not yours"})
	dir := usbFolder(t, map[string]string{"real/a.txt": "a", "fresh.txt": "new"})
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "linked folder")); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(filepath.Join(dir, "fresh.txt"), time.Now(), time.Now())
	ctx := context.Background()
	for _, c := range []struct {
		rel  string
		want error
	}{
		{"link.txt", vault.ErrRefused},
		{"linked folder/secret.txt", vault.ErrRefused},
		{"../escape.txt", nil},
		{"missing.txt", fs.ErrNotExist},
		{"fresh.txt", vault.ErrChanging},
	} {
		_, err := sealInPlace(ctx, e, dir, c.rel)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.rel, err, c.want)
		}
	}
	if _, err := vault.OpenFolder("relative/dir"); err == nil {
		t.Error("a relative folder was accepted")
	}
	if s, _ := os.ReadFile(filepath.Join(outside, "secret.txt")); string(s) != "not yours" {
		t.Errorf("the symlink's target changed: %q", s)
	}
	if _, err := os.Lstat(filepath.Join(dir, "link.txt")); err != nil {
		t.Errorf("the symlink was removed: %v", err)
	}
}

// TestSealInPlaceTidiesCrashLeftovers: a volume unplugged or a machine that
// died mid-seal leaves a temporary file and set-aside plaintext. The next
// seal in that folder removes the temporary file, removes set-aside
// plaintext whose sealed copy is complete, and puts back (then seals) set-aside
// plaintext that has none: nothing is lost.
func TestSealInPlaceTidiesCrashLeftovers(t *testing.T) {
	e := newEnv(t)
	dir := usbFolder(t, map[string]string{"done.txt": "done body", "other.txt": "other body"})
	ctx := context.Background()
	if _, err := sealInPlace(ctx, e, dir, "done.txt"); err != nil {
		t.Fatal(err)
	}
	// The state a crash leaves: the sealed copy of done.txt complete, its
	// plaintext still set aside; lost.txt set aside with no sealed copy; a
	// temporary file holding the start of an age file.
	aside := filepath.Join(dir, ".casekeep-aside-crash1")
	os.Mkdir(aside, 0o700)
	os.WriteFile(filepath.Join(aside, "done.txt"), []byte("done body"), 0o644)
	aside2 := filepath.Join(dir, ".casekeep-aside-crash2")
	os.Mkdir(aside2, 0o700)
	os.WriteFile(filepath.Join(aside2, "lost.txt"), []byte("lost body"), 0o644)
	os.WriteFile(filepath.Join(dir, vault.TempName(e.v)), []byte("age-encryption.org/v1\n-> X25519"), 0o600)
	past := time.Now().Add(-time.Minute)
	for _, p := range []string{filepath.Join(aside, "done.txt"), filepath.Join(aside2, "lost.txt")} {
		os.Chtimes(p, past, past)
	}

	if _, err := sealInPlace(ctx, e, dir, "other.txt"); err != nil {
		t.Fatal(err)
	}
	want := []string{"done.txt.age", "lost.txt", "other.txt.age"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after tidying: %v, want %v", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "lost.txt")); string(b) != "lost body" {
		t.Errorf("put-back plaintext holds %q", b)
	}
	if _, err := sealInPlace(ctx, e, dir, "lost.txt"); err != nil {
		t.Fatal(err)
	}
	if s := agenttest.Decrypt(t, filepath.Join(dir, "lost.txt.age"), e.Escrow); s != "lost body" {
		t.Errorf("lost.txt sealed as %q", s)
	}
}

func TestOpenRegular(t *testing.T) {
	outside := usbFolder(t, map[string]string{"secret.txt": "not yours"})
	dir := usbFolder(t, map[string]string{"a.txt": "hello", "sub/b.txt": "b"})
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "out.txt"))
	os.Symlink("a.txt", filepath.Join(dir, "in.txt")) // a symlink that stays inside
	os.Symlink(outside, filepath.Join(dir, "folder"))
	os.Link(filepath.Join(dir, "sub/b.txt"), filepath.Join(dir, "hard.txt"))
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	f, st, err := vault.OpenRegular(root, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "hello" || st.Size() != 5 {
		t.Errorf("read %q, size %d", b, st.Size())
	}
	for _, rel := range []string{"out.txt", "in.txt", "folder/secret.txt", "hard.txt", "sub", "../x", "/etc/passwd"} {
		if f, _, err := vault.OpenRegular(root, rel); err == nil {
			f.Close()
			t.Errorf("%s was opened", rel)
		}
	}
}

// TestOpenFolderRefusesLinks: a user swaps their Downloads folder (or a
// folder above it) for a symlink to someone else's; the agent must not
// open it.
func TestOpenFolderRefusesLinks(t *testing.T) {
	other := usbFolder(t, map[string]string{"theirs.docx": "someone else's"})
	home := t.TempDir()
	agenttest.UserLink(t, other, filepath.Join(home, "Downloads"))
	agenttest.UserLink(t, filepath.Dir(other), filepath.Join(home, "Library"))
	for _, dir := range []string{filepath.Join(home, "Downloads"), filepath.Join(home, "Library", filepath.Base(other))} {
		if r, err := vault.OpenFolder(dir); err == nil {
			r.Close()
			t.Errorf("%s was opened", dir)
		}
	}
	if r, err := vault.OpenFolder(other); err != nil {
		t.Errorf("a real folder: %v", err)
	} else {
		r.Close()
	}
}

// TestNoHardLinks: on a filesystem without hard links (FAT and exFAT
// sticks), sealing falls back to a rename that never replaces.
func TestNoHardLinks(t *testing.T) {
	vault.SetLinkFile(func(*os.Root, string, string) error {
		return &os.LinkError{Op: "link", Err: syscall.EPERM}
	})
	t.Cleanup(func() { vault.SetLinkFile(nil) })
	e := newEnv(t)
	dir := usbFolder(t, map[string]string{"a.txt": "on a FAT stick"})
	got, err := sealInPlace(context.Background(), e, dir, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if s := agenttest.Decrypt(t, filepath.Join(dir, got), e.Escrow); s != "on a FAT stick" {
		t.Errorf("sealed %q", s)
	}
	if want := []string{"a.txt.age"}; !slices.Equal(listDir(t, dir), want) {
		t.Errorf("folder holds %v", listDir(t, dir))
	}
	// In the cache too.
	e.write("LL-1/b.txt", "in the cache", true)
	if _, err := e.v.SealFile(context.Background(), "LL-1/b.txt"); err != nil {
		t.Fatal(err)
	}
	e.mustOpen("LL-1/b.txt.age", "in the cache")
}

// TestFutureModTime: a file whose modification time is in the future (a
// wrong clock, a FAT stick written in another time zone) is sealed now,
// not when that time comes.
func TestFutureModTime(t *testing.T) {
	e := newEnv(t)
	e.write("LL-1/future.txt", "from the future", false)
	future := time.Now().Add(90 * 24 * time.Hour)
	os.Chtimes(e.path("LL-1/future.txt"), future, future)
	if _, err := e.v.SealFile(context.Background(), "LL-1/future.txt"); err != nil {
		t.Fatal(err)
	}
	e.mustOpen("LL-1/future.txt.age", "from the future")
}
