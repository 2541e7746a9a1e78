//go:build !windows

package installer

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/casekeep/casekeep/internal/fileowner"
)

// selfMayOwn: on Unix a file of the user running the installer (root, when
// it installs) is as trusted as root's.
const selfMayOwn = true

// protectConfig refuses a folder owned by another user and takes group and
// world write permission away.
func protectConfig(dir string, fi fs.FileInfo) error {
	o, err := fileowner.Of(dir, fi)
	if err != nil {
		return fmt.Errorf("configuration folder %s: cannot read its owner", dir)
	}
	if me, _ := fileowner.Current(); !o.Equal(me) {
		return fmt.Errorf("configuration folder %s is owned by %s, not %s: %w", dir, o, me, ErrNotProtected)
	}
	if who, _ := fileowner.WritableByOthers(dir, fi); who != "" {
		return os.Chmod(dir, fi.Mode().Perm()&^0o022)
	}
	return nil
}

// protectSecret makes a file that holds a secret readable by its owner only.
func protectSecret(path string) error { return os.Chmod(path, 0o600) }
