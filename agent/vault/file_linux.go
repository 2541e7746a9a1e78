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

// renameNoReplace renames from to to, both relative to the folder dir of
// the cache, failing with an error matching fs.ErrExist rather than
// replacing anything at to. It moves files, folders and special files alike.
func renameNoReplace(r *os.Root, dir, from, to string) error {
	d, err := openDir(r, dir)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	err = unix.Renameat2(fd, from, fd, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return renameFallback(r, dir, from, to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
