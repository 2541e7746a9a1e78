package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/storage"
	"github.com/casekeep/casekeep/agent/storage/storagetest"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// notes keeps the notifications an agent gives, as "title: body".
type notes struct{ agenttest.Recorder[string] }

func (n *notes) Notify(_ context.Context, title, body string) error {
	n.Add(title + ": " + body)
	return nil
}

// has reports whether a notification says sub.
func (n *notes) has(sub string) bool {
	return n.Where(func(g string) bool { return strings.Contains(g, sub) }) != nil
}

type world struct {
	t      *testing.T
	a      *agent.Agent
	home   string
	cache  string
	state  string
	vols   *storagetest.Source
	escrow *age.X25519Identity
	notes  *notes

	events agenttest.Recorder[wire.Event]
	mu     sync.Mutex
	disk   wire.Check
}

func newWorld(t *testing.T, storageYAML string) *world {
	t.Helper()
	return newWorldWith(t, storageYAML, nil)
}

// newWorldWith is newWorld with setup run on the home folder before the
// agent starts; it returns more homes for the agent to look after.
func newWorldWith(t *testing.T, storageYAML string, setup func(home string) []string) *world {
	t.Helper()
	escrow, _ := age.GenerateX25519Identity()
	p := agenttest.Policy(t, 3, escrow.Recipient().String(), `  debounce: {quiet: 50ms, max: 1s}
classify:
  name_pattern: '(?P<ref>[A-Z]{2}-[0-9]{6})'
  markers: [OFFICIAL-SENSITIVE]
`+storageYAML)
	base := t.TempDir()
	w := &world{t: t, home: filepath.Join(base, "home", "sam"), cache: filepath.Join(base, "cache"), state: filepath.Join(base, "state"),
		vols: storagetest.New(true), escrow: escrow, notes: &notes{}, disk: wire.Check{Name: "disk_encryption", Result: "pass", Evidence: "LUKS2 under /"}}
	// The volumes are the test's; blocking one is the system's.
	w.vols.BlockWith(storage.OSSource().Block)
	os.MkdirAll(filepath.Join(w.home, "Downloads"), 0o755)
	homes := []string{w.home}
	if setup != nil {
		homes = append(homes, setup(w.home)...)
	}
	var err error
	w.a, err = agent.Open(agent.Config{
		Policy: p, StateDir: w.state, CacheDir: w.cache, Storage: w.vols, Homes: homes,
		Settle: 100 * time.Millisecond, Rescan: 500 * time.Millisecond, PostureEvery: 100 * time.Millisecond,
		Posture: func(context.Context) wire.Check {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.disk
		},
		Notifier: w.notes,
		OnEvent:  w.events.Add,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		w.a.Close()
	})
	return w
}

func (w *world) eventsOf(typ string) []wire.Event { return w.events.Where(agenttest.OfType(typ)) }

func (w *world) waitEvent(typ string, n int) []wire.Event {
	w.t.Helper()
	return w.events.Wait(w.t, fmt.Sprintf("%d %s event(s)", n, typ), n, agenttest.OfType(typ))
}

func usb(mount, serial string) storage.Volume {
	return storage.Volume{MountPoint: mount, Device: "/dev/sdz1", Filesystem: "vfat", Size: 8 << 30, Removable: true,
		Bus: storage.BusUSB, VendorID: "0781", ProductID: "5581", Serial: serial, Label: "STICK", Model: "SanDisk Cruzer"}
}

func TestQuarantineAndUnapprovedVolume(t *testing.T) {
	w := newWorld(t, `storage:
  removable_media:
    action: seal
    allow: [{vendor_id: "0781", product_id: "5581", serial: "GOOD*", description: Council stick}]
  sweep: {action: quarantine, folders: [~/Downloads]}
`)
	// A case file in Downloads (by its name) goes into the vault, sealed.
	agenttest.WriteOld(t, filepath.Join(w.home, "Downloads", "LL-123456 court report.docx"), "court report")
	e := w.waitEvent("sweep.quarantined", 1)[0]
	if e.CaseRef != "LL-123456" || !strings.Contains(e.Detail, "Downloads") || strings.Contains(e.Detail, "court report") {
		t.Errorf("event %+v (must name the folder, not the file)", e)
	}
	got := agenttest.Decrypt(t, filepath.Join(w.cache, "LL-123456", "LL-123456 court report.docx.age"), w.escrow)
	if got != "court report" {
		t.Errorf("sealed %q", got)
	}

	// An unapproved USB stick: reported, and the case file on it sealed.
	bad := filepath.Join(t.TempDir(), "STICK")
	agenttest.WriteOld(t, filepath.Join(bad, "notes", "export.txt"), "OFFICIAL-SENSITIVE case notes")
	agenttest.WriteOld(t, filepath.Join(bad, "song.mp3"), "la la")
	good := filepath.Join(t.TempDir(), "GOODSTICK")
	agenttest.WriteOld(t, filepath.Join(good, "LL-000001 plan.docx"), "OFFICIAL-SENSITIVE plan")
	w.vols.Set(t, usb(bad, "BAD01"), usb(good, "GOOD42"))
	ue := w.waitEvent("storage.volume_unapproved", 1)[0]
	if !strings.Contains(ue.Detail, `usb 0781:5581 serial "BAD01"`) {
		t.Errorf("unapproved event %+v", ue)
	}
	ae := w.waitEvent("storage.volume_approved", 1)[0]
	if !strings.Contains(ae.Detail, "Council stick") {
		t.Errorf("approved event %+v", ae)
	}
	w.waitEvent("storage.sealed_in_place", 1)
	if s := agenttest.Decrypt(t, filepath.Join(bad, "notes", "export.txt.age"), w.escrow); s != "OFFICIAL-SENSITIVE case notes" {
		t.Errorf("sealed on the stick: %q", s)
	}
	if _, err := os.Stat(filepath.Join(bad, "song.mp3")); err != nil {
		t.Error("a file that is not a case file was touched")
	}
	if _, err := os.Stat(filepath.Join(good, "LL-000001 plan.docx")); err != nil {
		t.Error("a file on the approved stick was touched")
	}

	// The status file says it all, in plain words.
	var st *agent.Status
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		st, err = agent.ReadStatus(w.state)
		if err == nil && len(st.Volumes) == 2 && len(st.Recent) >= 2 && st.DiskEncryption.Result == "pass" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v, %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Vault.Files != 1 || st.Vault.Dir != w.cache {
		t.Errorf("vault %+v", st.Vault)
	}
	var advice = strings.Join(st.Advice, "\n")
	if !strings.Contains(advice, "USB drive STICK is not an approved drive") || strings.Contains(advice, "GOOD") {
		t.Errorf("advice %q", advice)
	}
	// The person was told.
	told := strings.Join(w.notes.All(), "\n")
	if !strings.Contains(told, "LL-123456 court report.docx") || !strings.Contains(told, "not approved") {
		t.Errorf("notifications %q", told)
	}

	// The stick is removed.
	w.vols.Set(t, usb(good, "GOOD42"))
	w.waitEvent("storage.volume_removed", 1)
}

func TestBlockWhereImpossible(t *testing.T) {
	w := newWorld(t, `storage:
  removable_media: {action: block}
  sweep: {action: audit, folders: []}
`)
	// A folder that is not a mount point cannot be remounted read-only:
	// the failure is reported, and case files on it are reported.
	dir := filepath.Join(t.TempDir(), "NOTAMOUNT")
	agenttest.WriteOld(t, filepath.Join(dir, "LL-222222 assessment.pdf"), "x")
	w.vols.Set(t, usb(dir, "S1"))
	e := w.waitEvent("storage.block_failed", 1)[0]
	if !strings.Contains(e.Detail, `serial "S1"`) {
		t.Errorf("event %+v", e)
	}
	f := w.waitEvent("storage.case_file_found", 1)[0]
	if f.CaseRef != "LL-222222" {
		t.Errorf("event %+v", f)
	}
	if _, err := os.Stat(filepath.Join(dir, "LL-222222 assessment.pdf")); err != nil {
		t.Error("audit touched the file")
	}
}

func TestPostureChangeIsAnEvent(t *testing.T) {
	w := newWorld(t, "")
	first := w.waitEvent("posture.disk_encryption", 1)[0]
	if !strings.HasPrefix(first.Detail, "pass (not checked before)") {
		t.Errorf("first %+v", first)
	}
	time.Sleep(300 * time.Millisecond) // several checks, no change: no event
	if n := len(w.eventsOf("posture.disk_encryption")); n != 1 {
		t.Errorf("%d events without a change", n)
	}
	w.mu.Lock()
	w.disk = wire.Check{Name: "disk_encryption", Result: "fail", Evidence: "root on sda2, no dm-crypt"}
	w.mu.Unlock()
	second := w.waitEvent("posture.disk_encryption", 2)[1]
	if second.Detail != "fail (was pass): root on sda2, no dm-crypt" {
		t.Errorf("second %+v", second)
	}
}

func TestPersonalSyncFolder(t *testing.T) {
	w := newWorldWith(t, `storage:
  sync_folders: {action: quarantine, approved: [{provider: onedrive, account: example.gov.uk}]}
  sweep: {action: audit, folders: []}
`, func(home string) []string {
		// Dropbox's folder, found by its name: not the council's.
		agenttest.WriteOld(t, filepath.Join(home, "Dropbox", "holiday.txt"), "photos")
		return nil
	})
	f := w.waitEvent("sync.folder_found", 1)[0]
	if !strings.HasPrefix(f.Detail, "dropbox") || strings.Contains(f.Detail, w.home) {
		t.Errorf("event %+v (must not carry the path)", f)
	}
	agenttest.WriteOld(t, filepath.Join(w.home, "Dropbox", "Work", "LL-333333 chronology.docx"), "chronology")
	q := w.waitEvent("sync.quarantined", 1)[0]
	if q.CaseRef != "LL-333333" || !strings.Contains(q.Detail, "Dropbox") {
		t.Errorf("event %+v", q)
	}
	if got := agenttest.Decrypt(t, filepath.Join(w.cache, "LL-333333", "LL-333333 chronology.docx.age"), w.escrow); got != "chronology" {
		t.Errorf("sealed %q", got)
	}
	if _, err := os.Stat(filepath.Join(w.home, "Dropbox", "holiday.txt")); err != nil {
		t.Error("a file that is not a case file was moved")
	}
	st, err := agent.ReadStatus(w.state)
	for deadline := time.Now().Add(10 * time.Second); err == nil && len(st.SyncFolders) == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		st, err = agent.ReadStatus(w.state)
	}
	if err != nil || !st.SyncFolders[0].Swept || st.SyncFolders[0].Action != policy.ActionQuarantine {
		t.Errorf("status %+v, %v", st, err)
	}
}

// TestSyncConfigCannotSteer: one user's sync configuration names a folder
// in another user's home. The agent reports it but never sweeps it: what
// root moves must not be chosen by a file one user can write.
func TestSyncConfigCannotSteer(t *testing.T) {
	var bob string
	w := newWorldWith(t, `storage:
  sync_folders: {action: quarantine}
  sweep: {action: audit, folders: []}
`, func(home string) []string {
		bob = filepath.Join(filepath.Dir(home), "bob")
		agenttest.WriteOld(t, filepath.Join(bob, "Documents", "LL-555555 bob's case.docx"), "bob's")
		agenttest.WriteOld(t, filepath.Join(home, ".config", "onedrive", "config"), "sync_dir = \""+filepath.Join(bob, "Documents")+"\"\n")
		return []string{bob}
	})
	w.waitEvent("sync.folder_found", 1)
	time.Sleep(time.Second)
	if n := len(w.eventsOf("sync.quarantined")) + len(w.eventsOf("sync.case_file_found")); n != 0 {
		t.Errorf("%d sweep events in bob's folder", n)
	}
	if _, err := os.Stat(filepath.Join(bob, "Documents", "LL-555555 bob's case.docx")); err != nil {
		t.Errorf("bob's file: %v", err)
	}
	st, err := agent.ReadStatus(w.state)
	for deadline := time.Now().Add(10 * time.Second); (err != nil || len(st.SyncFolders) == 0) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		st, err = agent.ReadStatus(w.state)
	}
	if err != nil || len(st.SyncFolders) != 1 || st.SyncFolders[0].Swept {
		t.Errorf("status %+v, %v", st, err)
	}
}
