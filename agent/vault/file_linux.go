package vault

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// heldOpen reports whether another process has the file open, by asking for
// a write lease, which the kernel grants only when no other descriptor for
// the file exists, and releasing it at once. Where leases are not available
// (some filesystems, or a file we may not lease) it reports false and the
// quiet period and stability checks decide alone.
func heldOpen(f *os.File) bool {
	fd := int(f.Fd())
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_WRLCK)
	if err == nil {
		unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
		return false
	}
	return err == unix.EAGAIN
}

// renameExcl renames from to to in the folder fd without replacing, with
// renameat2; supported is false where the filesystem cannot.
func renameExcl(fd int, from, to string) (supported bool, err error) {
	err = unix.Renameat2(fd, from, fd, to, unix.RENAME_NOREPLACE)
	return !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS), err
}
