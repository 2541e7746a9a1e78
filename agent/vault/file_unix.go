//go:build !windows

package vault

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/casekeep/casekeep/internal/fileowner"
)

const (
	noFollow = syscall.O_NOFOLLOW
	nonBlock = syscall.O_NONBLOCK // a FIFO swapped in must never block an open
)

// openFile opens a file in the cache for reading; exclusive opens exist only
// on Windows. The caller checks that what it opened is what it listed.
func openFile(r *os.Root, rel string, _ bool) (*os.File, error) {
	return r.OpenFile(filepath.FromSlash(rel), os.O_RDONLY|nonBlock|noFollow, 0)
}

// openDir opens a folder in the cache; anything else fails at once.
func openDir(r *os.Root, rel string) (*os.File, error) {
	return r.OpenFile(filepath.FromSlash(rel), os.O_RDONLY|syscall.O_DIRECTORY|nonBlock, 0)
}

// linkCount is the number of hard links to the file fi describes.
func linkCount(_ *os.File, fi fs.FileInfo) (uint64, error) { return fileowner.Links(fi), nil }

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
	d, err := openDir(r, dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lockTemp marks a temporary file as in use by a live process with an
// exclusive flock, which the kernel drops when the process dies.
func lockTemp(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// orphaned reports whether a temporary file is a crash leftover: no live
// process holds its lock.
func orphaned(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// renameNoReplace renames from to to, both relative to the folder dir of
// the cache, failing with an error matching fs.ErrExist rather than
// replacing anything at to. It moves files, folders and special files alike.
// Where the filesystem has no such rename, it checks first, which leaves a
// moment in which a file created under to would be replaced.
func renameNoReplace(r *os.Root, dir, from, to string) error {
	d, err := openDir(r, dir)
	if err != nil {
		return err
	}
	defer d.Close()
	supported, err := renameExcl(int(d.Fd()), from, to)
	if !supported {
		target := filepath.FromSlash(filepath.Join(dir, to))
		if _, err := r.Lstat(target); err == nil {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
		}
		return r.Rename(filepath.FromSlash(filepath.Join(dir, from)), target)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// linkUnsupported reports whether a failed link means the filesystem has
// no hard links (vfat and exfat say EPERM).
func linkUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.EPERM)
}

// ownedBySystem reports whether the file at path, which fi describes,
// belongs to root, whom no user can impersonate: a symlink root made (such
// as /var on macOS) is trusted.
func ownedBySystem(path string, fi fs.FileInfo) bool {
	o, err := fileowner.Of(path, fi)
	return err == nil && o.IsSystem()
}
