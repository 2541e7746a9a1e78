//go:build !windows

package installer

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// protectConfig refuses a folder owned by another user and takes group and
// world write permission away.
func protectConfig(dir string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("configuration folder %s: cannot read its owner", dir)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("configuration folder %s is owned by uid %d, not uid %d: %w", dir, st.Uid, os.Geteuid(), ErrNotProtected)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return os.Chmod(dir, fi.Mode().Perm()&^0o022)
	}
	return nil
}

// protectSecret makes a file that holds a secret readable by its owner only.
func protectSecret(path string) error { return os.Chmod(path, 0o600) }

// checkOwner refuses a file another user owns.
func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("cannot read its owner: %w", ErrNotProtected)
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("it belongs to uid %d: %w", st.Uid, ErrNotProtected)
	}
	return nil
}
