//go:build !windows

package vault

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// openForSeal opens a regular file in the cache for reading. O_NONBLOCK
// keeps a FIFO swapped in after the listing from blocking the open; the
// caller checks that what it opened is what it listed.
func openForSeal(r *os.Root, _ string, rel string) (*os.File, error) {
	return r.OpenFile(filepath.FromSlash(rel), os.O_RDONLY|nonBlock|noFollow, 0)
}

func linkCount(_ *os.File, fi fs.FileInfo) (uint64, error) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink), nil
	}
	return 1, nil
}

// chownLike gives f the owner and group of fi, so a sealed file belongs to
// the user whose plaintext it was. Nothing to do when they are already ours.
func chownLike(f *os.File, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (int(st.Uid) == os.Geteuid() && int(st.Gid) == os.Getegid()) {
		return nil
	}
	return f.Chown(int(st.Uid), int(st.Gid))
}

// syncDir makes renames, links and removals in dir durable.
func syncDir(r *os.Root, dir string) error {
	d, err := r.Open(filepath.FromSlash(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

const (
	noFollow = syscall.O_NOFOLLOW
	nonBlock = syscall.O_NONBLOCK
)

// lockTemp marks a temporary file as in use by a live process with an
// exclusive flock, which the kernel drops if the process dies.
func lockTemp(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// orphaned reports whether a temporary file is a crash leftover: no live
// process holds its lock.
func orphaned(f *os.File) bool {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false
	}
	return true
}
