package installer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Layout is where casekeep lives on one computer.
type Layout struct {
	// Program is the agent's executable.
	Program string
	// Config holds what IT supplies: EnrollEnvFile. Only root/SYSTEM can
	// write it; anyone can list it.
	Config string
	// State holds the agent's keys, its enrollment (server URL and pinned
	// keys), policy, index and spool. Only root/SYSTEM can read or write it.
	State string
}

// EnrollEnvFile is the name, in Layout.Config, of the file that carries the
// server URL and enrollment token for the service's first start.
const EnrollEnvFile = "enroll.env"

// EnrollEnv returns the path of the enrollment file.
func (l Layout) EnrollEnv() string { return filepath.Join(l.Config, EnrollEnvFile) }

// Default returns the layout of this operating system:
//
//	linux:   /usr/bin/casekeep, /etc/casekeep, /var/lib/casekeep
//	darwin:  /usr/local/bin/casekeep, /Library/Application Support/casekeep/{config,state}
//	windows: %ProgramFiles%\casekeep\casekeep.exe, %ProgramData%\casekeep\{config,state}
func Default() Layout { return defaultLayout() }

// ErrNotProtected means a configuration folder can be written by someone
// other than root/SYSTEM, so what it holds cannot be trusted.
var ErrNotProtected = errors.New("the folder is not protected from other users")

// PrepareConfig creates the configuration folder dir if needed and makes
// sure only root/SYSTEM (and, on Windows, Administrators) can write it. A
// symlink, or a folder owned by another user, is refused with
// ErrNotProtected.
func PrepareConfig(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("configuration folder %q is not an absolute path", dir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("configuration folder %s is a symlink or a file: %w", dir, ErrNotProtected)
	}
	return protectConfig(dir, fi)
}
