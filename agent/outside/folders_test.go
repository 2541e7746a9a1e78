package outside_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/outside"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// A personal Dropbox folder (found by its name) and the council's team
// Dropbox (named in the client's info.json) are each reported once, however
// often the watcher looks and across a policy change; only the personal one
// is swept, with the policy's action.
func TestSyncFoldersReportedOnce(t *testing.T) {
	e := newEnv(t)
	personal := filepath.Join(e.home, "Dropbox")
	team := filepath.Join(e.home, "Kent County Council Dropbox")
	for _, d := range []string{personal, team} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path, _ := json.Marshal(team)
	info := `{"business": {"path": ` + string(path) + `, "is_team": true, "subscription_type": "Business"}}`
	for _, rel := range []string{".dropbox/info.json", "AppData/Local/Dropbox/info.json"} { // where each system's client keeps it
		agenttest.WriteOld(t, filepath.Join(e.home, filepath.FromSlash(rel)), info)
	}
	const syncPolicy = `storage:
  sync_folders: {action: quarantine, approved: [{provider: dropbox, account: Kent County Council}]}
  sweep: {action: audit, folders: []}
`
	stop := e.run(e.policy(1, syncPolicy))
	found := e.waitEvent(wire.EventSyncFolderFound, 1)
	if want := "dropbox unknown account unknown"; found[0].Detail != want {
		t.Errorf("found %+v, want detail %q (never the path)", found[0], want)
	}
	approved := e.waitEvent(wire.EventSyncFolderApproved, 1)
	if want := "dropbox business account Kent County Council"; approved[0].Detail != want {
		t.Errorf("approved %+v, want detail %q", approved[0], want)
	}
	st := e.waitStatus("two sync folders, one swept", func(s outside.Status) bool {
		return len(s.SyncFolders) == 2 && slices.Contains(s.SweepFolders, personal)
	})
	for _, f := range st.SyncFolders {
		switch f.Path {
		case personal:
			if !f.Swept || f.Approved || f.Action != policy.ActionQuarantine {
				t.Errorf("personal folder %+v", f)
			}
		case team:
			if f.Swept || !f.Approved || f.Action != "" {
				t.Errorf("team folder %+v", f)
			}
		default:
			t.Errorf("folder %+v", f)
		}
	}
	if slices.Contains(st.SweepFolders, team) {
		t.Errorf("the council's folder is swept: %q", st.SweepFolders)
	}
	if got, want := e.w.Summary(), (wire.Storage{SyncFolders: 1}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	settle() // many looks, every SyncEvery
	stop()
	e.run(e.policy(2, syncPolicy))
	e.waitStatus("swept again", func(s outside.Status) bool { return slices.Contains(s.SweepFolders, personal) })
	settle()
	if f, a := len(e.eventsOf(wire.EventSyncFolderFound)), len(e.eventsOf(wire.EventSyncFolderApproved)); f != 1 || a != 1 {
		t.Errorf("%d found and %d approved events, want 1 and 1", f, a)
	}
}

// The policy's sweep folders are expanded for every home looked after,
// swept, and writable when the sweep does more than report.
func TestSweepFoldersPerHome(t *testing.T) {
	other := filepath.Join(t.TempDir(), "alex")
	e := newEnv(t, other)
	var want []string
	for _, h := range []string{e.home, other} {
		for _, d := range []string{"Downloads", "Desktop"} {
			want = append(want, filepath.Join(h, d))
		}
	}
	quarantine := e.policy(1, `storage:
  sweep: {action: quarantine, folders: [~/Downloads, ~/Desktop]}
`)
	if got := e.w.WritableFolders(quarantine); !slices.Equal(got, want) {
		t.Errorf("writable folders %q, want %q", got, want)
	}
	audit := e.policy(1, `storage:
  sweep: {action: audit, folders: [~/Downloads, ~/Desktop]}
`)
	if got := e.w.WritableFolders(audit); len(got) != 0 {
		t.Errorf("writable folders %q under an audit sweep, want none", got)
	}

	if st := e.w.Status(); len(st.SweepFolders) != 0 {
		t.Errorf("swept %q before Run", st.SweepFolders)
	}
	e.run(quarantine)
	sorted := slices.Sorted(slices.Values(want))
	e.waitStatus("the sweep folders of both homes", func(s outside.Status) bool { return slices.Equal(s.SweepFolders, sorted) })
}

// A case file in a swept folder is reported, in the heartbeat by folder,
// rule and case reference only, and in the status in plain words.
func TestSweepEvent(t *testing.T) {
	e := newEnv(t)
	e.run(e.policy(1, `storage:
  sweep: {action: audit, folders: [~/Downloads]}
`))
	agenttest.WriteOld(t, filepath.Join(e.home, "Downloads", "LL-123456 Jane Smith chronology.docx"), "chronology")
	ev := e.waitEvent(wire.PrefixSweep+wire.OutsideCaseFileFound, 1)[0]
	if ev.CaseRef != "LL-123456" || ev.Detail != "in Downloads (rule: name)" {
		t.Errorf("event %+v", ev)
	}
	st := e.waitStatus("a recent action", func(s outside.Status) bool { return len(s.Recent) == 1 })
	if what := st.Recent[0].What; !strings.HasPrefix(what, `found the case file "LL-123456 Jane Smith chronology.docx" in Downloads`) {
		t.Errorf("recent %q", what)
	}
	if told := e.told(); !strings.Contains(told, "Case file outside the vault") {
		t.Errorf("notifications %q", told)
	}
	if e.notables() == 0 {
		t.Error("a case file found outside the vault is not notable")
	}
}
