package keys

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxudstpm"

	"github.com/casekeep/casekeep/internal/testenv"
)

// startSWTPM starts a software TPM 2.0 (Debian's swtpm) with its state in
// a fresh folder, a TPM of its own, and returns an opener for it through
// go-tpm's Unix-socket transport. The TPM stops when the test ends.
func startSWTPM(t testing.TB) tpmOpener {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		testenv.Unavailable(t, "swtpm is not installed (apt-get install swtpm swtpm-tools): the TPM tests need a software TPM")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tpm.sock")
	cmd := exec.Command(bin, "socket", "--tpm2",
		"--server", "type=unixio,path="+sock,
		"--ctrl", "type=unixio,path="+filepath.Join(dir, "ctrl.sock"),
		"--flags", "not-need-init,startup-clear",
		"--tpmstate", "dir="+state,
		"--log", "file="+filepath.Join(dir, "swtpm.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "swtpm.log"))
			t.Fatalf("swtpm did not start: %s", log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return func() (transport.TPMCloser, error) { return linuxudstpm.Open(sock) }
}
