//go:build !windows

package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Nobody is the uid and gid of the unprivileged account the tests run a
// client as, to see what the service shows someone who is not root.
const Nobody = 65534

// AsNobody copies the program bin into dir (a folder from OpenDir: the
// original may sit where only root may read) and returns a command that
// runs the copy with args as [Nobody], in dir. The test must run as root.
func AsNobody(t testing.TB, bin, dir string, args ...string) *exec.Cmd {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, filepath.Base(bin))
	if err := os.WriteFile(copied, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copied, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
	return cmd
}
