package agent_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/internal/testenv"
)

// TestFailureNamesNoFile: when sealing on a volume fails (here it is
// mounted read-only), the heartbeat event says why in words that name no
// file, while the full error stays in the laptop's log.
func TestFailureNamesNoFile(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root to bind-mount a read-only folder")
	}
	dir := filepath.Join(t.TempDir(), "RO STICK")
	agenttest.WriteOld(t, filepath.Join(dir, "LL-444444 Jane Smith chronology.docx"), "OFFICIAL-SENSITIVE")
	if out, err := exec.Command("mount", "--bind", dir, dir).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "bind mount not permitted here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	if out, err := exec.Command("mount", "-o", "remount,ro,bind", dir).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "read-only remount not permitted here: %v %s", err, out)
	}
	w := newWorld(t, `storage:
  removable_media: {action: seal}
  sweep: {action: audit, folders: []}
`)
	w.vols.Set(t, usb(dir, "RO1"))
	e := w.waitEvent("storage.action_failed", 1)[0]
	if strings.Contains(e.Detail, "Jane") || strings.Contains(e.Detail, "chronology") || !strings.Contains(e.Detail, "read-only volume") {
		t.Errorf("event detail %q", e.Detail)
	}
	if e.CaseRef != "LL-444444" {
		t.Errorf("case ref %q", e.CaseRef)
	}
}
