//go:build unix

package installer_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/casekeep/casekeep/installer"
)

// A FIFO in place of the file must be refused, not opened: opening it
// would block the service until someone writes to it.
func TestReadEnrollEnvFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "enroll.env")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := installer.ReadEnrollEnv(p)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, installer.ErrBadEnrollEnv) {
			t.Errorf("a FIFO: %v, want ErrBadEnrollEnv", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadEnrollEnv blocked on a FIFO")
	}
	if err := installer.ForgetToken(p); !errors.Is(err, installer.ErrBadEnrollEnv) {
		t.Errorf("ForgetToken on a FIFO: %v, want ErrBadEnrollEnv", err)
	}
}

// A file another user owns could name a server of their choosing: refused.
func TestReadEnrollEnvForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the file to another user")
	}
	p := filepath.Join(t.TempDir(), "enroll.env")
	if err := os.WriteFile(p, []byte("CASEKEEP_SERVER=https://evil.example\nCASEKEEP_ENROLL_TOKEN=t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := installer.ReadEnrollEnv(p); !errors.Is(err, installer.ErrNotProtected) {
		t.Errorf("a file owned by uid 65534: %v, want ErrNotProtected", err)
	}
}
