//go:build !windows

package state

import (
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/casekeep/casekeep/internal/fileowner"
)

// makePrivate refuses a folder another user owns (its owner could read the
// device keys) and makes it the owner's alone.
func makePrivate(dir string, fi fs.FileInfo) error {
	o, err := fileowner.Of(dir, fi)
	if err != nil {
		return fmt.Errorf("state folder %s: cannot read its owner", dir)
	}
	if me, _ := fileowner.Current(); !o.Equal(me) {
		return fmt.Errorf("state folder %s is owned by %s, not by this user (%s): refusing it, since its owner could read the device keys", dir, o, me)
	}
	if fi.Mode().Perm() != 0o700 {
		return os.Chmod(dir, 0o700)
	}
	return nil
}

func lockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}
