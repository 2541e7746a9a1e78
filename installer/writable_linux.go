package installer

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/casekeep/casekeep/internal/atomicfile"
)

// protectedRoots are what systemd's ProtectHome=read-only makes read-only.
var protectedRoots = []string{"/home", "/root", "/run/user"}

// EnsureWritable makes sure that, under systemd, the agent can write the
// folders it needs in users' homes, which the unit's ProtectHome=read-only
// makes read-only. If some cannot be written, it writes a drop-in naming
// them ([WritableDropIn], with the nearest existing folder of each) under
// /run/systemd/system, reloads systemd and asks for its own restart, and
// returns true: the caller then waits to be stopped. It never asks twice
// for the same drop-in; what goes wrong is logged to log.
func EnsureWritable(folders []string, log *slog.Logger) bool {
	unit := systemdUnit()
	if unit == "" || os.Getenv("INVOCATION_ID") == "" {
		return false
	}
	var want []string
	blocked := false
	for _, f := range folders {
		if !underProtected(f) {
			continue
		}
		p := nearestExisting(f)
		if p == "" {
			continue
		}
		want = append(want, p)
		if err := unix.Access(p, unix.W_OK); errors.Is(err, unix.EROFS) {
			blocked = true
		}
	}
	if !blocked {
		return false
	}
	content := WritableDropIn(want)
	path := filepath.Join("/run/systemd/system", unit+".d", "50-casekeep-writable.conf")
	if old, err := os.ReadFile(path); err == nil && string(old) == content {
		log.Error("folders the policy needs are read-only although the service's drop-in names them", "drop_in", path, "folders", want)
		return false
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		log.Error("could not make the folders the policy needs writable", "err", err)
		return false
	}
	if err := atomicfile.WriteFile(path, []byte(content), 0o644); err != nil {
		log.Error("could not make the folders the policy needs writable", "err", err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "systemctl", "daemon-reload").CombinedOutput(); err != nil {
		log.Error("systemctl daemon-reload failed", "err", err, "output", strings.TrimSpace(string(out)))
		return false
	}
	if out, err := exec.CommandContext(ctx, "systemctl", "restart", "--no-block", unit).CombinedOutput(); err != nil {
		log.Error("could not restart the service", "err", err, "output", strings.TrimSpace(string(out)))
		return false
	}
	log.Info("restarting to take up the folders the policy needs to write", "folders", want)
	return true
}

func underProtected(p string) bool {
	for _, r := range protectedRoots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// nearestExisting returns p, or its nearest existing parent below a
// protected root, if no part of it is a symlink (a user's symlink must not
// steer what the service may write); else "".
func nearestExisting(p string) string {
	for p = filepath.Clean(p); underProtected(p); p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		switch {
		case err == nil && fi.IsDir():
			if real, err := filepath.EvalSymlinks(p); err != nil || real != p {
				return ""
			}
			return p
		case err == nil: // a symlink or a file where a folder should be
			return ""
		case !errors.Is(err, fs.ErrNotExist):
			return ""
		}
		if p == "/" {
			break
		}
	}
	return ""
}

// systemdUnit returns the name of the systemd service this process runs
// in, from its cgroup, or "".
func systemdUnit() string {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		_, path, ok := strings.Cut(sc.Text(), "::")
		if !ok {
			if i := strings.LastIndex(sc.Text(), ":"); i >= 0 {
				path = sc.Text()[i+1:]
			}
		}
		if base := filepath.Base(path); strings.HasSuffix(base, ".service") {
			return base
		}
	}
	return ""
}
