package agent_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/internal/wire"
)

// TestWipeUnremovableSealedFile: a sealed file the agent cannot remove
// (immutable here; on Windows, one held open without delete sharing) does
// not stop the wipe: the keys are shredded first, the other files are
// removed, and the acknowledgement (failed) says how many were left and
// why, without their names; the file left opens with the escrow keys.
func TestWipeUnremovableSealedFile(t *testing.T) {
	srv, d, r := enrolledAndUnlocked(t)
	defer r.stop(t)
	d.write("LL-000001/a.txt", "first case")
	d.write("LL-000002/b.txt", "second case")
	d.waitSealed("LL-000001/a.txt")
	d.waitSealed("LL-000002/b.txt")
	waitEntry(t, d, "LL-000001/a.txt.age")
	waitEntry(t, d, "LL-000002/b.txt.age")
	p := filepath.Join(d.cache, "LL-000001", "a.txt.age")
	if out, err := exec.Command("chattr", "+i", p).CombinedOutput(); err != nil {
		t.Skipf("chattr +i (needs root and a filesystem that has it): %v %s", err, out)
	}
	defer exec.Command("chattr", "-i", p).Run()

	a := wipeNow(t, srv, d)
	t.Logf("ack: %s %q", a.Result, a.Reason)
	if a.Result != wire.AckFailed || !strings.Contains(a.Reason, "removed 1 sealed file(s)") ||
		!strings.Contains(a.Reason, "1 sealed file(s) could not be removed") || !strings.Contains(a.Reason, "operation not permitted") {
		t.Errorf("wipe ack %+v", a)
	}
	if strings.Contains(a.Reason, "a.txt") {
		t.Errorf("the reason names the file: %q", a.Reason)
	}
	keysGone(t, d)
	if got := d.escrowOpens("LL-000001/a.txt.age"); got != "first case" {
		t.Errorf("the file left: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(d.cache, "LL-000002", "b.txt.age")); !os.IsNotExist(err) {
		t.Errorf("b.txt.age is left: %v", err)
	}
}
