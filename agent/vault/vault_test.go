package vault_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/testenv"
)

func TestSealFile(t *testing.T) {
	e := newEnv(t)
	e.write("LL-123456/court report.docx", "the report", true)
	entry, err := e.v.SealFile(context.Background(), "LL-123456/court report.docx")
	if err != nil {
		t.Fatal(err)
	}
	if entry.Path != "LL-123456/court report.docx.age" || entry.CaseRef != "LL-123456" || entry.Size != int64(len("the report")) {
		t.Errorf("entry %+v", entry)
	}
	e.wantFiles("LL-123456/", "LL-123456/court report.docx.age")
	e.mustOpen("LL-123456/court report.docx.age", "the report")

	// The device identity opens it too.
	ids, _ := e.Keys.Identities()
	if _, err := agenttest.DecryptErr(e.path(entry.Path), ids...); err != nil {
		t.Errorf("device identity: %v", err)
	}
	fi, _ := os.Stat(e.path(entry.Path))
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("sealed file mode %v, want 0600", fi.Mode().Perm())
	}
	idx, err := vault.ReadIndex(e.store)
	if err != nil || len(idx) != 1 || idx[0] != entry {
		t.Errorf("index %+v, %v", idx, err)
	}
}

func TestSealFileWaitsForQuiet(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "fresh", false)
	_, err := e.v.SealFile(context.Background(), "a.txt")
	if !errors.Is(err, vault.ErrChanging) {
		t.Fatalf("sealing a file written just now: %v, want ErrChanging", err)
	}
	e.wantFiles("a.txt")
}

func TestSealFileEmptyAndLarge(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("0123456789abcdef", 300_000) // 4.8 MB, many age chunks
	for name, content := range map[string]string{"empty": "", "chunk": strings.Repeat("x", 64<<10), "big": big} {
		e.write(name, content, true)
		entry, err := e.v.SealFile(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if entry.Size != int64(len(content)) {
			t.Errorf("%s: size %d, want %d", name, entry.Size, len(content))
		}
		e.mustOpen(name+".age", content)
	}
}

// TestSealFileSameNameTwice seals two different files of the same name,
// then the same content again (as after a crash between writing the sealed
// file and removing the plaintext): nothing is lost or duplicated.
func TestSealFileSameNameTwice(t *testing.T) {
	e := newEnv(t)
	e.write("a.docx", "version 1", true)
	if _, err := e.v.SealFile(context.Background(), "a.docx"); err != nil {
		t.Fatal(err)
	}
	e.write("a.docx", "version 2", true)
	entry, err := e.v.SealFile(context.Background(), "a.docx")
	if err != nil {
		t.Fatal(err)
	}
	if entry.Path != "a (2).docx.age" {
		t.Errorf("second version sealed as %q", entry.Path)
	}
	e.write("a.docx", "version 2", true)
	if _, err := e.v.SealFile(context.Background(), "a.docx"); err != nil {
		t.Fatal(err)
	}
	e.wantFiles("a (2).docx.age", "a.docx.age")
	e.mustOpen("a.docx.age", "version 1")
	e.mustOpen("a (2).docx.age", "version 2")
}

func TestSealFileCancelled(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", strings.Repeat("x", 3<<20), true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.v.SealFile(ctx, "a.txt"); !errors.Is(err, context.Canceled) {
		t.Fatalf("SealFile with a cancelled context: %v", err)
	}
	e.wantFiles("a.txt") // rolled back: no temporary file, plaintext kept
}

func TestSealFileRefusesBadPaths(t *testing.T) {
	e := newEnv(t)
	for _, rel := range []string{"", ".", "..", "../x", "/etc/passwd", "a//b", "a/./b", "a/../../b"} {
		if _, err := e.v.SealFile(context.Background(), rel); !errors.Is(err, vault.ErrRefused) {
			t.Errorf("SealFile(%q): %v, want ErrRefused", rel, err)
		}
	}
	if _, err := e.v.SealFile(context.Background(), "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestScan(t *testing.T) {
	e := newEnv(t)
	e.write("A/sealed.txt", "s", true)
	if _, err := e.v.SealFile(context.Background(), "A/sealed.txt"); err != nil {
		t.Fatal(err)
	}
	e.write("A/plain.txt", "p", true)
	e.write("B/deep/er/plain2.txt", "p2", true)
	e.write(".DS_Store", "finder", true)
	e.write("~$report.docx", "owner file", true)
	if err := os.Symlink("/etc/hostname", e.path("link")); err != nil {
		t.Fatal(err)
	}
	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sealed != 1 || strings.Join(rep.Plaintext, ",") != "A/plain.txt,B/deep/er/plain2.txt" ||
		rep.Refused != 1 || rep.Skipped != 2 || rep.Files != 5 {
		t.Errorf("report %+v", rep)
	}
	if !e.events.has(vault.EventRefused, "link") {
		t.Error("no refused event for the symlink")
	}
	// A second scan reports the refused path no more.
	if _, err := e.v.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.events.of(vault.EventRefused)); n != 1 {
		t.Errorf("%d refused events after two scans, want 1", n)
	}
	// A vault opened afresh (a restart) remembers that it reported it.
	again := e.reopen()
	if _, err := again.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.events.of(vault.EventRefused)); n != 1 {
		t.Errorf("%d refused events after a restart, want 1", n)
	}
	// Gone and back: reported again.
	os.Remove(e.path("link"))
	again.Scan(context.Background())
	os.Symlink("/etc/hostname", e.path("link"))
	again.Scan(context.Background())
	if n := len(e.events.of(vault.EventRefused)); n != 2 {
		t.Errorf("%d refused events after the symlink came back, want 2", n)
	}
}

func TestScanRepairsIndex(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b"} {
		e.write(n, n, true)
		if _, err := e.v.SealFile(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	// Remove one sealed file behind the vault's back, and add one sealed
	// by someone else to this device.
	os.Remove(e.path("b.age"))
	f, _ := os.Create(e.path("c.pdf.age"))
	w, _ := age.Encrypt(f, e.Keys.Recipient())
	w.Write([]byte("from elsewhere"))
	w.Close()
	f.Close()

	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Repaired != 2 || rep.Sealed != 2 {
		t.Errorf("report %+v", rep)
	}
	if len(e.events.of(vault.EventIndexRepaired)) != 1 {
		t.Error("no index_repaired event")
	}
	idx, _ := vault.ReadIndex(e.store)
	if len(idx) != 2 || idx[0].Path != "a.age" || idx[1].Path != "c.pdf.age" || idx[1].Size != int64(len("from elsewhere")) {
		t.Errorf("index after repair: %+v", idx)
	}
	// Nothing to repair the second time.
	if rep, _ := e.v.Scan(context.Background()); rep.Repaired != 0 {
		t.Errorf("second scan repaired %d", rep.Repaired)
	}
}

// TestScanAgeImpostors: files that look sealed but are not for this
// device (a fake age header, a real age file for someone else) are
// plaintext as far as the vault is concerned, and get sealed.
func TestScanAgeImpostors(t *testing.T) {
	e := newEnv(t)
	e.write("fake.docx.age", "age-encryption.org/v1\n-> X25519 abc\n--- def\nplaintext case notes", true)
	other, _ := age.GenerateX25519Identity()
	f, _ := os.Create(e.path("foreign.age"))
	w, _ := age.Encrypt(f, other.Recipient())
	w.Write([]byte("someone else's"))
	w.Close()
	f.Close()
	past := e.path("foreign.age")
	os.Chtimes(past, timeAgo(), timeAgo())

	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Plaintext, ",") != "fake.docx.age,foreign.age" {
		t.Fatalf("plaintext %q", rep.Plaintext)
	}
	for _, p := range rep.Plaintext {
		if _, err := e.v.SealFile(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	e.wantFiles("fake.docx.age.age", "foreign.age.age")
	e.mustOpen("fake.docx.age.age", "age-encryption.org/v1\n-> X25519 abc\n--- def\nplaintext case notes")
}

func TestOpenRefusesSymlinkedCache(t *testing.T) {
	e := newEnv(t)
	link := e.cache + "-link"
	if err := os.Symlink(e.cache, link); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Dir = link
	if _, err := vault.Open(cfg); err == nil {
		t.Fatal("Open accepted a symlinked cache folder")
	}
	cfg.Dir = "relative/cache"
	if _, err := vault.Open(cfg); err == nil {
		t.Fatal("Open accepted a relative cache folder")
	}
	cfg = e.config()
	cfg.Escrow = nil
	if _, err := vault.Open(cfg); err == nil {
		t.Fatal("Open accepted no escrow recipients")
	}
	pq, _ := age.GenerateHybridIdentity()
	cfg = e.config()
	cfg.Escrow = []age.Recipient{pq.Recipient()}
	if _, err := vault.Open(cfg); err == nil || !strings.Contains(err.Error(), "post-quantum") {
		t.Fatalf("Open with mixed kinds: %v", err)
	}
}

func TestLongAndOddNames(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("non-UTF-8 names are a Linux matter")
	}
	e := newEnv(t)
	long := strings.Repeat("é", 125) + ".docx" // 255 bytes: nothing can be added
	odd := "case\xff\xfe notes.txt"
	spaced := " leading and trailing spaces .txt "
	for _, n := range []string{long, odd, spaced} {
		e.write(n, "content of "+n, true)
		entry, err := e.v.SealFile(context.Background(), n)
		if err != nil {
			t.Fatalf("%q: %v", n, err)
		}
		if len(entry.Path) > 255 || !strings.HasSuffix(entry.Path, ".age") {
			t.Errorf("%q sealed as %q", n, entry.Path)
		}
		e.mustOpen(entry.Path, "content of "+n)
		if _, err := os.Stat(e.path(n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%q: plaintext still there", n)
		}
	}
	if len(e.files()) != 3 {
		t.Errorf("cache holds %q", e.files())
	}
}

func TestVerify(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"good", "flipped", "truncated", "missing"} {
		e.write(n, strings.Repeat(n, 50_000), true)
		if _, err := e.v.SealFile(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(e.path("flipped.age"))
	b[len(b)-100] ^= 1
	os.WriteFile(e.path("flipped.age"), b, 0o600)
	b, _ = os.ReadFile(e.path("truncated.age"))
	os.WriteFile(e.path("truncated.age"), b[:len(b)-1000], 0o600)
	os.Remove(e.path("missing.age"))

	var calls int
	problems, err := e.v.Verify(context.Background(), func(done, total int) {
		calls++
		if total != 4 {
			t.Errorf("total %d", total)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, p := range problems {
		bad = append(bad, p.Path)
	}
	if strings.Join(bad, ",") != "flipped.age,missing.age,truncated.age" || calls != 4 {
		t.Errorf("problems %v, progress calls %d", problems, calls)
	}
	if !errors.Is(problems[1].Err, fs.ErrNotExist) {
		t.Errorf("missing: %v", problems[1].Err)
	}
}

func TestImport(t *testing.T) {
	e := newEnv(t)
	outside := t.TempDir()
	src := outside + "/Assessment LL-1.docx"
	os.WriteFile(src, []byte("saved elsewhere"), 0o644)
	entry, err := e.v.Import(context.Background(), src, "LL-1")
	if err != nil {
		t.Fatal(err)
	}
	if entry.Path != "LL-1/Assessment LL-1.docx.age" || entry.CaseRef != "LL-1" {
		t.Errorf("entry %+v", entry)
	}
	e.mustOpen(entry.Path, "saved elsewhere")
	if _, err := os.Stat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Error("source not removed")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("left in the source folder: %v", entries)
	}

	// A symlink, a hardlinked file, and a file already in the cache are refused.
	target := outside + "/target"
	os.WriteFile(target, []byte("t"), 0o644)
	os.Symlink(target, outside+"/link")
	if _, err := e.v.Import(context.Background(), outside+"/link", ""); !errors.Is(err, vault.ErrRefused) {
		t.Errorf("symlink: %v", err)
	}
	os.Link(target, outside+"/hard")
	if _, err := e.v.Import(context.Background(), outside+"/hard", ""); !errors.Is(err, vault.ErrRefused) {
		t.Errorf("hardlink: %v", err)
	}
	sameBytes(t, target, []byte("t"))
	e.write("in-cache.txt", "x", true)
	if _, err := e.v.Import(context.Background(), e.path("in-cache.txt"), ""); !errors.Is(err, vault.ErrRefused) {
		t.Errorf("a file in the cache: %v, want a refusal", err)
	}
	if _, err := e.v.Import(context.Background(), src, "../escape"); !errors.Is(err, vault.ErrRefused) {
		t.Errorf("destination outside the cache: %v", err)
	}
}

func TestIgnored(t *testing.T) {
	for rel, want := range map[string]bool{
		"a.docx.age":                    true,
		"LL-1/.abc123.casekeep-tmp":     true,
		".casekeep-aside-1a2b/a.docx":   true,
		"x/.casekeep-aside-1a2b/a.docx": true,
		"a.docx":                        false,
		"casekeep-aside-1/a":            false,
		"a.agenda":                      false,
	} {
		if got := vault.Ignored(rel); got != want {
			t.Errorf("Ignored(%q) = %v", rel, got)
		}
	}
}

// TestScanFinishesInterruptedRemoval builds by hand what a crash between
// setting plaintext aside and removing it leaves: the scan removes the
// plaintext whose sealed copy is complete, and puts back the one whose is
// not (also under another name if its own was taken meanwhile).
func TestScanFinishesInterruptedRemoval(t *testing.T) {
	e := newEnv(t)
	e.write("LL-1/done.docx", "sealed before the crash", true)
	if _, err := e.v.SealFile(context.Background(), "LL-1/done.docx"); err != nil {
		t.Fatal(err)
	}
	e.write("LL-1/.casekeep-aside-0001/done.docx", "sealed before the crash", true)
	e.write("LL-1/.casekeep-aside-0002/notdone.docx", "never sealed", true)
	e.write("LL-1/.casekeep-aside-0003/taken.docx", "old version", true)
	e.write("LL-1/taken.docx", "new version written since", true)
	e.write("LL-1/.casekeep-aside-0004/changed.docx", "changed after sealing", true)
	e.write("LL-1/changed.docx.age", "not a sealed file at all", true)

	rep, err := e.v.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Finished != 1 || rep.Restored != 3 {
		t.Errorf("report %+v", rep)
	}
	want := "LL-1/changed.docx,LL-1/changed.docx.age,LL-1/notdone.docx,LL-1/taken (unsealed 2).docx,LL-1/taken.docx"
	if got := strings.Join(rep.Plaintext, ","); got != want {
		t.Errorf("plaintext\n  %s\nwant\n  %s", got, want)
	}
	e.wantFiles("LL-1/", "LL-1/changed.docx", "LL-1/changed.docx.age", "LL-1/done.docx.age", "LL-1/notdone.docx",
		"LL-1/taken (unsealed 2).docx", "LL-1/taken.docx")
	sameBytes(t, e.path("LL-1/taken (unsealed 2).docx"), []byte("old version"))
	sameBytes(t, e.path("LL-1/taken.docx"), []byte("new version written since"))
}

// TestRunFolderHint: a hint for a folder is not a refusal.
func TestRunFolderHint(t *testing.T) {
	e := newEnv(t)
	e.run()
	e.write("LL-9/a.txt", "a", false)
	e.v.Notify("LL-9")
	e.v.Notify("LL-9/a.txt")
	testenv.Eventually(t, "sealed", func() bool { return e.events.has(vault.EventSealed, "LL-9/a.txt.age") })
	if ev := e.events.of(vault.EventRefused); len(ev) != 0 {
		t.Errorf("refused events: %+v", ev)
	}
}
