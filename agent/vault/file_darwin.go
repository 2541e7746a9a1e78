package vault

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// heldOpen has no cheap answer on macOS, which has no file leases, so the
// quiet period and the size and modification-time checks decide alone.
func heldOpen(*os.File) bool { return false }

// renameExcl renames from to to in the folder fd without replacing, with
// renameatx_np; supported is false where the filesystem cannot.
func renameExcl(fd int, from, to string) (supported bool, err error) {
	err = unix.RenameatxNp(fd, from, fd, to, unix.RENAME_EXCL)
	return !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EINVAL), err
}
