package sweep_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/sweep"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/policy"
)

const marker = "OFFICIAL-SENSITIVE"

// markerClassifier is a stand-in for agent/classify: a file is a case file
// when its first 4 KiB hold the marker. It records the most it was asked
// to read.
func markerClassifier(ctx context.Context, name string, r io.ReaderAt, size int64) (sweep.Finding, error) {
	buf := make([]byte, min(size, 4096))
	n, err := r.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return sweep.Finding{}, err
	}
	if bytes.Contains(buf[:n], []byte(marker)) {
		ref := ""
		if i := strings.Index(filepath.Base(name), "LL-"); i >= 0 && len(filepath.Base(name)) >= i+9 {
			ref = filepath.Base(name)[i : i+9]
		}
		return sweep.Finding{CaseFile: true, Rule: "marker", CaseRef: ref}, nil
	}
	return sweep.Finding{}, nil
}

type env struct {
	t      *testing.T
	v      *vault.Vault
	cache  string
	escrow age.Identity
	s      *sweep.Sweeper
	events agenttest.Recorder[sweep.Event]
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d := agenttest.NewDevice(t, false)
	e := &env{t: t, cache: filepath.Join(t.TempDir(), "cache"), escrow: d.Escrow}
	var err error
	e.v, err = vault.Open(vault.Config{
		Dir: e.cache, Device: d.Keys, Escrow: []age.Recipient{d.EscrowRecipient},
		Store: state.OpenStore(d.State, 5*time.Second), Quiet: 10 * time.Millisecond,
		CaseRef: func(rel string) string { ref, _, _ := strings.Cut(rel, "/"); return ref },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.v.Close() })
	e.s, err = sweep.New(sweep.Config{
		Classify: markerClassifier, Vault: e.v, Settle: 200 * time.Millisecond, Rescan: 300 * time.Millisecond,
		Events: e.events.Add,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) run(folders ...sweep.Folder) {
	e.s.SetFolders(folders)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.s.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Error(err)
		}
	})
}

func (e *env) eventsOf(kind sweep.EventKind) []sweep.Event {
	return e.events.Where(func(ev sweep.Event) bool { return ev.Kind == kind })
}

func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	e.events.Until(e.t, what, cond)
}

func (e *env) openSealed(rel string) string {
	e.t.Helper()
	return agenttest.Decrypt(e.t, filepath.Join(e.cache, filepath.FromSlash(rel)), e.escrow)
}

func write(t *testing.T, p, content string, age time.Duration) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if age > 0 {
		past := time.Now().Add(-age)
		os.Chtimes(p, past, past)
	}
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func TestQuarantineFromDownloads(t *testing.T) {
	e := newEnv(t)
	dl := filepath.Join(t.TempDir(), "Downloads ü")
	write(t, filepath.Join(dl, "LL-123456 court report.docx"), "header "+marker+" body", time.Minute)
	write(t, filepath.Join(dl, "holiday.jpg"), "just a photo", time.Minute)
	e.run(sweep.Folder{Path: dl, Kind: sweep.KindSweep, Action: policy.ActionQuarantine, Label: "Downloads"})

	e.waitFor("quarantine", func() bool { return len(e.eventsOf(sweep.EventQuarantined)) == 1 })
	ev := e.eventsOf(sweep.EventQuarantined)[0]
	if ev.Dest != "LL-123456/LL-123456 court report.docx.age" || ev.CaseRef != "LL-123456" || ev.Folder.Label != "Downloads" || ev.Rule != "marker" {
		t.Errorf("event %+v", ev)
	}
	if exists(filepath.Join(dl, "LL-123456 court report.docx")) {
		t.Error("the case file is still in Downloads")
	}
	if got := e.openSealed(ev.Dest); got != "header "+marker+" body" {
		t.Errorf("sealed copy holds %q", got)
	}
	// A file written later is found by its watch event.
	write(t, filepath.Join(dl, "sub", "notes.txt"), marker, 0)
	e.waitFor("second quarantine", func() bool { return len(e.eventsOf(sweep.EventQuarantined)) == 2 })
	if ev := e.eventsOf(sweep.EventQuarantined)[1]; ev.Dest != "Quarantine/notes.txt.age" {
		t.Errorf("second event %+v", ev)
	}
	time.Sleep(700 * time.Millisecond) // two rescans
	if !exists(filepath.Join(dl, "holiday.jpg")) || len(e.eventsOf(sweep.EventQuarantined)) != 2 {
		t.Errorf("non-case file touched, or extra events: %+v", e.events.All())
	}
	if st := e.s.Stats(); st.Quarantined != 2 || st.CaseFiles != 2 {
		t.Errorf("stats %+v", st)
	}
	if r := e.s.Recent(); len(r) != 2 {
		t.Errorf("recent %+v", r)
	}
}

// TestDownloadInProgress: a browser's partial file is never moved; the file
// is moved once it has its final name and has stopped changing.
func TestDownloadInProgress(t *testing.T) {
	e := newEnv(t)
	dl := t.TempDir()
	// Chrome: a .crdownload name. Firefox: an empty placeholder under the
	// final name plus the data in a .part file.
	write(t, filepath.Join(dl, "a.docx.crdownload"), marker+" partial", time.Minute)
	write(t, filepath.Join(dl, "b.docx"), "", time.Minute)
	write(t, filepath.Join(dl, "b.docx.part"), marker+" partial", time.Minute)
	e.run(sweep.Folder{Path: dl, Kind: sweep.KindSweep, Action: policy.ActionQuarantine, Label: "Downloads"})
	time.Sleep(time.Second)
	if n := len(e.eventsOf(sweep.EventQuarantined)); n != 0 || !exists(filepath.Join(dl, "a.docx.crdownload")) || !exists(filepath.Join(dl, "b.docx")) {
		t.Fatalf("a download in progress was touched: %+v", e.events.All())
	}
	// The downloads finish; then one keeps growing for a while.
	os.Rename(filepath.Join(dl, "a.docx.crdownload"), filepath.Join(dl, "a.docx"))
	os.Rename(filepath.Join(dl, "b.docx.part"), filepath.Join(dl, "b.docx"))
	grow := filepath.Join(dl, "c.docx")
	f, _ := os.Create(grow)
	want := marker
	f.WriteString(marker)
	for i := range 8 {
		time.Sleep(100 * time.Millisecond)
		chunk := fmt.Sprintf(" chunk %d", i)
		f.WriteString(chunk)
		want += chunk
		if len(e.eventsOf(sweep.EventQuarantined)) > 2 {
			t.Fatal("a file still being written was moved")
		}
	}
	f.Close()
	e.waitFor("three quarantines", func() bool { return len(e.eventsOf(sweep.EventQuarantined)) == 3 })
	for _, ev := range e.eventsOf(sweep.EventQuarantined) {
		if filepath.Base(ev.Path) == "c.docx" {
			if got := e.openSealed(ev.Dest); got != want {
				t.Errorf("c.docx sealed as %q, want %q", got, want)
			}
		}
	}
}

func TestAuditReportsOnce(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "report.pdf"), marker, time.Minute)
	e.run(sweep.Folder{Path: dir, Kind: sweep.KindSync, Action: policy.ActionAudit, Label: "Dropbox (personal)"})
	e.waitFor("found", func() bool { return len(e.eventsOf(sweep.EventFound)) == 1 })
	time.Sleep(time.Second) // several rescans
	if n := len(e.eventsOf(sweep.EventFound)); n != 1 {
		t.Errorf("reported %d times", n)
	}
	if !exists(filepath.Join(dir, "report.pdf")) {
		t.Error("audit moved the file")
	}
	// A change is a new version: reported again.
	write(t, filepath.Join(dir, "report.pdf"), marker+" v2", 0)
	e.waitFor("found again", func() bool { return len(e.eventsOf(sweep.EventFound)) == 2 })
}

func TestSealOnVolume(t *testing.T) {
	e := newEnv(t)
	usb := filepath.Join(t.TempDir(), "KINGSTON")
	write(t, filepath.Join(usb, "cases", "LL-654321 chronology.xlsx"), marker+" rows", time.Minute)
	write(t, filepath.Join(usb, "music.mp3"), "la la", time.Minute)
	e.run(sweep.Folder{Path: usb, Kind: sweep.KindVolume, Action: policy.ActionSeal, Label: "USB KINGSTON"})
	e.waitFor("sealed", func() bool { return len(e.eventsOf(sweep.EventSealed)) == 1 })
	ev := e.eventsOf(sweep.EventSealed)[0]
	if ev.Dest != filepath.Join(usb, "cases", "LL-654321 chronology.xlsx.age") || exists(filepath.Join(usb, "cases", "LL-654321 chronology.xlsx")) {
		t.Errorf("event %+v", ev)
	}
	if b := agenttest.Decrypt(t, ev.Dest, e.escrow); b != marker+" rows" || !exists(filepath.Join(usb, "music.mp3")) {
		t.Errorf("sealed %q", b)
	}
	time.Sleep(700 * time.Millisecond)
	if n := len(e.eventsOf(sweep.EventSealed)); n != 1 {
		t.Errorf("sealed %d times (the .age file must be left alone)", n)
	}
}

// TestHostileFiles: symlinks to case files elsewhere, symlinked folders,
// hardlinks and FIFOs are never followed, moved or read.
func TestHostileFiles(t *testing.T) {
	e := newEnv(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.docx")
	write(t, secret, marker+" someone else's", time.Minute)
	dl := t.TempDir()
	os.Symlink(secret, filepath.Join(dl, "link.docx"))
	os.Symlink(outside, filepath.Join(dl, "linked folder"))
	os.Link(secret, filepath.Join(dl, "hard.docx"))
	mkfifo(t, filepath.Join(dl, "pipe.docx"))
	write(t, filepath.Join(dl, "real.docx"), marker, time.Minute)
	e.run(sweep.Folder{Path: dl, Kind: sweep.KindSweep, Action: policy.ActionQuarantine, Label: "Downloads"})
	e.waitFor("the real file", func() bool { return len(e.eventsOf(sweep.EventQuarantined)) == 1 })
	time.Sleep(700 * time.Millisecond)
	if n := len(e.eventsOf(sweep.EventQuarantined)); n != 1 {
		t.Errorf("%d quarantined: %+v", n, e.eventsOf(sweep.EventQuarantined))
	}
	for _, p := range []string{secret, filepath.Join(dl, "link.docx"), filepath.Join(dl, "hard.docx"), filepath.Join(outside)} {
		if !exists(p) {
			t.Errorf("%s is gone", p)
		}
	}
	if b, _ := os.ReadFile(secret); string(b) != marker+" someone else's" {
		t.Errorf("the symlink's target changed: %q", b)
	}
}

func TestSetFoldersStops(t *testing.T) {
	e := newEnv(t)
	a, b := t.TempDir(), t.TempDir()
	fa := sweep.Folder{Path: a, Kind: sweep.KindVolume, Action: policy.ActionAudit, Label: "A"}
	fb := sweep.Folder{Path: b, Kind: sweep.KindVolume, Action: policy.ActionAudit, Label: "B"}
	e.run(fa, fb)
	write(t, filepath.Join(a, "x.txt"), marker, 0)
	e.waitFor("found in A", func() bool { return len(e.eventsOf(sweep.EventFound)) == 1 })
	e.s.SetFolders([]sweep.Folder{fb})
	if got := e.s.Folders(); !slices.Equal(got, []sweep.Folder{fb}) {
		t.Errorf("folders %+v", got)
	}
	write(t, filepath.Join(a, "y.txt"), marker, 0)
	write(t, filepath.Join(b, "z.txt"), marker, 0)
	e.waitFor("found in B", func() bool { return len(e.eventsOf(sweep.EventFound)) == 2 })
	time.Sleep(700 * time.Millisecond)
	for _, ev := range e.eventsOf(sweep.EventFound) {
		if filepath.Base(ev.Path) == "y.txt" {
			t.Error("a folder no longer swept was acted on")
		}
	}
	// A folder that appears later is picked up.
	c := filepath.Join(t.TempDir(), "later")
	e.s.SetFolders([]sweep.Folder{fb, {Path: c, Kind: sweep.KindSweep, Action: policy.ActionAudit, Label: "Desktop"}})
	time.Sleep(100 * time.Millisecond)
	write(t, filepath.Join(c, "w.txt"), marker, time.Minute)
	e.waitFor("found in the late folder", func() bool { return len(e.eventsOf(sweep.EventFound)) == 3 })
}

// TestHugeFile: a large file is classified by its first bytes only.
func TestHugeFile(t *testing.T) {
	e := newEnv(t)
	dl := t.TempDir()
	p := filepath.Join(dl, "disk image.iso")
	f, _ := os.Create(p)
	f.WriteString(marker)
	f.Truncate(4 << 30) // sparse: 4 GiB
	f.Close()
	past := time.Now().Add(-time.Minute)
	os.Chtimes(p, past, past)
	e.run(sweep.Folder{Path: dl, Kind: sweep.KindSweep, Action: policy.ActionAudit, Label: "Downloads"})
	e.waitFor("found", func() bool { return len(e.eventsOf(sweep.EventFound)) == 1 })
}

// TestFolderSwappedForLink: while a file waits to settle, the user swaps
// their Downloads folder for a link to someone else's folder holding a
// file of the same name. The agent must not move or read the other file.
func TestFolderSwappedForLink(t *testing.T) {
	e := newEnv(t)
	home := t.TempDir()
	dl := filepath.Join(home, "Downloads")
	other := t.TempDir()
	write(t, filepath.Join(other, "x.docx"), marker+" not yours", time.Minute)
	write(t, filepath.Join(dl, "x.docx"), marker+" mine", 0) // settles in 200ms
	e.run(sweep.Folder{Path: dl, Kind: sweep.KindSweep, Action: policy.ActionQuarantine, Label: "Downloads"})
	time.Sleep(50 * time.Millisecond)
	os.Rename(dl, filepath.Join(home, "old"))
	agenttest.UserLink(t, other, dl)
	time.Sleep(time.Second)
	if n := len(e.eventsOf(sweep.EventQuarantined)); n != 0 {
		t.Fatalf("quarantined through a link: %+v", e.eventsOf(sweep.EventQuarantined))
	}
	if b, err := os.ReadFile(filepath.Join(other, "x.docx")); err != nil || string(b) != marker+" not yours" {
		t.Errorf("the other folder's file: %q, %v", b, err)
	}
}

// slowVault fails every import as "still changing", counting attempts.
type slowVault struct {
	mu    sync.Mutex
	calls int
}

func (v *slowVault) ImportFrom(context.Context, *os.Root, string, string) (vault.Entry, error) {
	v.mu.Lock()
	v.calls++
	v.mu.Unlock()
	return vault.Entry{}, fmt.Errorf("held open: %w", vault.ErrChanging)
}

func (v *slowVault) SealInPlace(context.Context, *os.Root, string) (string, error) {
	return "", vault.ErrChanging
}

// TestRetriesDoNotMultiply: a file that keeps failing as "changing" is
// retried once per settle period, however many rescans find it meanwhile.
func TestRetriesDoNotMultiply(t *testing.T) {
	sv := &slowVault{}
	s, err := sweep.New(sweep.Config{Classify: markerClassifier, Vault: sv, Settle: 100 * time.Millisecond, Rescan: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dl := t.TempDir()
	write(t, filepath.Join(dl, "a.docx"), marker, time.Minute)
	s.SetFolders([]sweep.Folder{{Path: dl, Kind: sweep.KindSweep, Action: policy.ActionQuarantine, Label: "Downloads"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(3 * time.Second)
	cancel()
	<-done
	sv.mu.Lock()
	n := sv.calls
	sv.mu.Unlock()
	// 3s / 100ms = 30 retries; rescans (30 of them) must not add chains.
	if n < 5 || n > 45 {
		t.Errorf("%d attempts in 3s with a 100ms settle period", n)
	}
}

// TestNamesHideNothing: a name alone does not keep a case file from being
// swept (a big "~$" file, a plaintext ".age" file), while real lock files,
// real age files, Safari downloads in progress and excluded folders are
// left alone.
func TestNamesHideNothing(t *testing.T) {
	e := newEnv(t)
	dl := t.TempDir()
	big := marker + strings.Repeat(" padding", 1000)
	write(t, filepath.Join(dl, "~$report.docx"), big, time.Minute)
	write(t, filepath.Join(dl, "~$small.docx"), marker, time.Minute)
	write(t, filepath.Join(dl, "notes.age"), marker+" plain", time.Minute)
	write(t, filepath.Join(dl, "real.age"), "age-encryption.org/v1\n-> X25519 "+marker, time.Minute)
	write(t, filepath.Join(dl, "big.pdf.download", "big.pdf"), marker+" half", time.Minute)
	write(t, filepath.Join(dl, "cache", "LL-1", "open.docx"), marker, time.Minute)
	future := filepath.Join(dl, "future.docx")
	write(t, future, marker+" from 2100", 0)
	later := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(future, later, later)

	var err error
	e.s, err = sweep.New(sweep.Config{Classify: markerClassifier, Vault: e.v, Settle: 200 * time.Millisecond, Rescan: 300 * time.Millisecond,
		Exclude: []string{filepath.Join(dl, "cache")},
		Events:  e.events.Add})
	if err != nil {
		t.Fatal(err)
	}
	e.run(sweep.Folder{Path: dl, Kind: sweep.KindSweep, Action: policy.ActionQuarantine, Label: "Downloads"})
	e.waitFor("three quarantines", func() bool { return len(e.eventsOf(sweep.EventQuarantined)) == 3 })
	time.Sleep(time.Second)
	var moved []string
	for _, ev := range e.eventsOf(sweep.EventQuarantined) {
		moved = append(moved, filepath.Base(ev.Path))
	}
	slices.Sort(moved)
	if want := []string{"future.docx", "notes.age", "~$report.docx"}; !slices.Equal(moved, want) {
		t.Errorf("moved %v, want %v", moved, want)
	}
	for _, p := range []string{"~$small.docx", "real.age", "big.pdf.download/big.pdf", "cache/LL-1/open.docx"} {
		if !exists(filepath.Join(dl, filepath.FromSlash(p))) {
			t.Errorf("%s was moved", p)
		}
	}
}
