package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Remove removes the file at path and syncs its folder, so that the
// removal survives a crash. A file that does not exist is not an error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// Overwrite overwrites the regular file at path in place with zeros, its
// whole length, and fsyncs it, so that what it held is not left in the
// blocks a removal frees: for a file that holds key material, before
// [Remove]. A symlink or anything but a regular file is left alone (an
// error), and so is a file with other names (a hard link: the other name
// may be someone else's file, and keeps the data anyway); a file swapped
// for another while it is opened is not written. A file that does not
// exist is not an error.
//
// It is best-effort, not a guarantee: on an SSD (wear levelling, the
// controller's spare blocks) and on a copy-on-write or journalling
// filesystem (btrfs, ZFS, APFS, data=journal ext4) the write may go to new
// blocks and leave the old ones as they were until reused; snapshots keep
// them too. Only disk encryption, or the key being useless without
// another held elsewhere, protects what such blocks hold.
func Overwrite(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("atomicfile: %s is not a regular file: not overwritten", path)
	case links(fi) > 1:
		return fmt.Errorf("atomicfile: %s has %d hard links: not overwritten", path, links(fi))
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	now, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(fi, now) {
		return fmt.Errorf("atomicfile: %s changed while it was opened: not overwritten", path)
	}
	zeros := make([]byte, 32<<10)
	for left := now.Size(); left > 0; {
		n := int64(len(zeros))
		if left < n {
			n = left
		}
		if _, err := f.Write(zeros[:n]); err != nil {
			return err
		}
		left -= n
	}
	return f.Sync()
}

// OverwriteRemove overwrites the file at path ([Overwrite]) and then
// removes it ([Remove]). The overwrite is best-effort: its failure does
// not stop the removal, and is not returned (the removal is what must
// not fail); only the removal's error is.
func OverwriteRemove(path string) error {
	_ = Overwrite(path)
	return Remove(path)
}
