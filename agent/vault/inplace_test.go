package vault_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"filippo.io/age"

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

func decryptFile(t *testing.T, p string, id age.Identity) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := age.Decrypt(f, id)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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

func TestSealInPlace(t *testing.T) {
	e := newEnv(t)
	dir := usbFolder(t, map[string]string{"Court reports/LL-123456 report.docx": "case file body"})
	got, err := e.v.SealInPlace(context.Background(), dir, "Court reports/LL-123456 report.docx")
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
	if s := decryptFile(t, filepath.Join(dir, filepath.FromSlash(got)), e.escrow); s != "case file body" {
		t.Errorf("escrow decrypts %q", s)
	}
	ids, _ := e.device.Identities()
	if s := decryptFile(t, filepath.Join(dir, filepath.FromSlash(got)), ids[0]); s != "case file body" {
		t.Errorf("device decrypts %q", s)
	}
	if !e.events.has(vault.EventSealed, "Court reports/LL-123456 report.docx") {
		t.Error("no sealed event")
	}
	// The cache's index is not touched.
	if sum, err := e.v.Summary(); err != nil || sum.Files != 0 {
		t.Errorf("cache summary %+v, %v", sum, err)
	}
	// Sealing the sealed name again is refused, not double-sealed.
	if _, err := e.v.SealInPlace(context.Background(), dir, got); !errors.Is(err, vault.ErrRefused) {
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
		_, err := e.v.SealInPlace(ctx, dir, c.rel)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.rel, err, c.want)
		}
	}
	if _, err := e.v.SealInPlace(ctx, "relative/dir", "a.txt"); err == nil {
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
	if _, err := e.v.SealInPlace(ctx, dir, "done.txt"); err != nil {
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
	os.WriteFile(filepath.Join(dir, ".x1y2z3.casekeep-tmp"), []byte("age-encryption.org/v1\n-> X25519"), 0o600)
	past := time.Now().Add(-time.Minute)
	for _, p := range []string{filepath.Join(aside, "done.txt"), filepath.Join(aside2, "lost.txt")} {
		os.Chtimes(p, past, past)
	}

	if _, err := e.v.SealInPlace(ctx, dir, "other.txt"); err != nil {
		t.Fatal(err)
	}
	want := []string{"done.txt.age", "lost.txt", "other.txt.age"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after tidying: %v, want %v", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "lost.txt")); string(b) != "lost body" {
		t.Errorf("put-back plaintext holds %q", b)
	}
	if _, err := e.v.SealInPlace(ctx, dir, "lost.txt"); err != nil {
		t.Fatal(err)
	}
	if s := decryptFile(t, filepath.Join(dir, "lost.txt.age"), e.escrow); s != "lost body" {
		t.Errorf("lost.txt sealed as %q", s)
	}
}

// TestSealInPlaceSwap: the file is replaced while it is sealed; the new
// version is neither removed nor lost.
func TestSealInPlaceSwap(t *testing.T) {
	e := newEnv(t)
	dir := usbFolder(t, map[string]string{"a.txt": "version 1"})
	swapAt(t, "linked", func(string) {
		os.Remove(filepath.Join(dir, "a.txt"))
		os.WriteFile(filepath.Join(dir, "a.txt"), []byte("version 2"), 0o644)
	})
	_, err := e.v.SealInPlace(context.Background(), dir, "a.txt")
	if !errors.Is(err, vault.ErrChanging) {
		t.Fatalf("err = %v, want ErrChanging", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "version 2" {
		t.Errorf("the new version holds %q", b)
	}
	if s := decryptFile(t, filepath.Join(dir, "a.txt.age"), e.escrow); s != "version 1" {
		t.Errorf("sealed %q", s)
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
