package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/cli/clitest"
	"github.com/casekeep/casekeep/internal/testenv"
)

// TestServiceLifecycleSystemd installs the agent as a systemd service under
// a temporary name, through kardianos/service, and checks status, stop and
// uninstall. It needs root and a running systemd; CI machines that are
// containers have neither running, so it skips there with a message (the
// unit itself is checked by systemd-analyze in the installer's tests).
func TestServiceLifecycleSystemd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to install a systemd service")
	}
	if fi, err := os.Stat("/run/systemd/system"); err != nil || !fi.IsDir() {
		t.Skip("systemd is not running on this machine (a container?): the service cannot be installed here")
	}
	name := fmt.Sprintf("casekeep-test-%d", os.Getpid())
	base := filepath.Join("/var/lib", name) // not /tmp: the unit has PrivateTmp
	os.MkdirAll(base, 0o755)
	t.Cleanup(func() {
		run(t, "service", "uninstall", "--purge", "--name", name, "--program", filepath.Join(base, "bin", "casekeep"),
			"--config", filepath.Join(base, "config"), "--state", filepath.Join(base, "state"))
		os.RemoveAll(base)
		os.RemoveAll("/var/lib/" + name + "-status")
	})
	flags := []string{"--name", name, "--program", filepath.Join(base, "bin", "casekeep"),
		"--config", filepath.Join(base, "config"), "--state", filepath.Join(base, "state")}
	svc := func(args ...string) clitest.Result {
		return run(t, append(append([]string{"service"}, args...), flags...)...)
	}

	svc("install").Want(t, 0)
	unit := "/etc/systemd/system/" + name + ".service"
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatalf("no unit after install: %v", err)
	}
	if !strings.Contains(string(b), "Restart=always") || !strings.Contains(string(b), filepath.Join(base, "state")) {
		t.Errorf("the installed unit is not casekeep's:\n%s", b)
	}
	testenv.Eventually(t, "the service running", func() bool {
		return strings.Contains(svc("status").Stdout, "is running")
	})
	// Not enrolled: it runs, waiting for enroll.env.
	time.Sleep(2 * time.Second)
	if r := svc("status"); !strings.Contains(r.Stdout, "is running") {
		t.Fatalf("the service did not stay up waiting for enrollment: %s %s", r.Stdout, r.Stderr)
	}
	svc("stop").Want(t, 0)
	if r := svc("status"); !strings.Contains(r.Stdout, "is stopped") {
		t.Errorf("after stop: %s %s", r.Stdout, r.Stderr)
	}
	svc("uninstall").Want(t, 0)
	if _, err := os.Stat(unit); err == nil {
		t.Errorf("%s is still there after uninstall", unit)
	}
	if r := svc("status"); !strings.Contains(r.Stdout, "not installed") {
		t.Errorf("after uninstall: %s %s", r.Stdout, r.Stderr)
	}
}
