package vault

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// heldOpen has no cheap answer on macOS, which has no file leases, so the
// quiet period and the size and modification-time checks decide alone.
func heldOpen(*os.File) bool { return false }

// renameNoReplace renames from to to, both relative to the folder dir of
// the cache, failing with an error matching fs.ErrExist rather than
// replacing anything at to.
func renameNoReplace(r *os.Root, dir, from, to string) error {
	d, err := openDir(r, dir)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	err = unix.RenameatxNp(fd, from, fd, to, unix.RENAME_EXCL)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EINVAL) {
		return renameFallback(r, dir, from, to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
