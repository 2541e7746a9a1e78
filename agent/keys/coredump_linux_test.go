package keys

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func init() {
	childOps["coredump"] = func(string) error {
		fmt.Println("ready")
		if err := DisableCoreDumps(); err != nil {
			return err
		}
		dumpable, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		if err != nil {
			return err
		}
		var core unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_CORE, &core); err != nil {
			return err
		}
		fmt.Printf("dumpable=%d core=%d/%d\n", dumpable, core.Cur, core.Max)
		return nil
	}
}

// TestDisableCoreDumps runs DisableCoreDumps in a child process (it cannot
// be undone) and checks what the kernel then says.
func TestDisableCoreDumps(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=coredump")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "dumpable=0 core=0/0\n") {
		t.Fatalf("after DisableCoreDumps the child says %q", out)
	}
}
