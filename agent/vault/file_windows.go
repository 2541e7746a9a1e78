package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// openForSeal opens a file exclusively (no sharing), so a file another
// program still has open fails with a sharing violation and is retried,
// and no one can write to it while it is sealed. The reparse point itself is
// opened, never followed; the caller refuses anything that is not a plain
// regular file.
func openForSeal(_ *os.Root, dir, rel string) (*os.File, error) {
	name := filepath.Join(dir, filepath.FromSlash(rel))
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ, 0, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_SEQUENTIAL_SCAN, 0)
	if errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return nil, errInUse
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	if info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 {
		windows.CloseHandle(h)
		return nil, fmt.Errorf("%s: %w", rel, errReparsePoint)
	}
	return os.NewFile(uintptr(h), name), nil
}

// linkCount needs an open handle on Windows; without one (a listing) it
// reports 1 and the check is made when the file is opened.
func linkCount(f *os.File, _ fs.FileInfo) (uint64, error) {
	if f == nil {
		return 1, nil
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &info); err != nil {
		return 0, err
	}
	return uint64(info.NumberOfLinks), nil
}

// chownLike does nothing on Windows: a sealed file inherits the ACL of its
// folder, which already gives the user access.
func chownLike(*os.File, fs.FileInfo) error { return nil }

// heldOpen is answered by the exclusive open in openForSeal.
func heldOpen(*os.File) bool { return false }

// syncDir does nothing on Windows: NTFS journals renames, and a folder
// cannot be flushed without backup privileges.
func syncDir(*os.Root, string) error { return nil }

const (
	noFollow = 0
	nonBlock = 0
)

// lockTemp does nothing on Windows: a file another process holds open
// cannot be removed, which keeps a live temporary file safe from scans.
func lockTemp(*os.File) error { return nil }

// orphaned reports true; removing a temporary file a live process holds
// open fails with a sharing violation, and the scan leaves it.
func orphaned(*os.File) bool { return true }
