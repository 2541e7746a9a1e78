package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

const (
	noFollow = 0
	nonBlock = 0
)

// openFile opens a file in the cache for reading, relative to its folder's
// handle (so long names, trailing dots and junctions are not an issue), not
// following a reparse point at the name. An exclusive open (no sharing)
// fails with a sharing violation while another program has the file open,
// and keeps anyone from writing to it while it is sealed; a shared one (for
// scans) never gets in a user's way.
func openFile(r *os.Root, rel string, exclusive bool) (*os.File, error) {
	dir, base := path.Split(rel)
	d, err := openDir(r, path.Clean(dir+"."))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	name, err := windows.NewNTUnicodeString(base)
	if err != nil {
		return nil, err
	}
	oa := &windows.OBJECT_ATTRIBUTES{RootDirectory: windows.Handle(d.Fd()), ObjectName: name}
	oa.Length = uint32(unsafe.Sizeof(*oa))
	share := uint32(windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE)
	if exclusive {
		share = 0
	}
	var h windows.Handle
	var iosb windows.IO_STATUS_BLOCK
	err = windows.NtCreateFile(&h, windows.FILE_GENERIC_READ, oa, &iosb, nil, 0, share, windows.FILE_OPEN,
		windows.FILE_NON_DIRECTORY_FILE|windows.FILE_SYNCHRONOUS_IO_NONALERT|windows.FILE_OPEN_REPARSE_POINT, 0, 0)
	if err == windows.STATUS_SHARING_VIOLATION {
		return nil, errInUse
	}
	if err != nil {
		if st, ok := err.(windows.NTStatus); ok {
			err = st.Errno()
		}
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
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
	return os.NewFile(uintptr(h), filepath.Join(r.Name(), filepath.FromSlash(rel))), nil
}

func openDir(r *os.Root, rel string) (*os.File, error) {
	return r.Open(filepath.FromSlash(rel))
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

// heldOpen is answered by the exclusive open in openFile.
func heldOpen(*os.File) bool { return false }

// syncDir does nothing on Windows: NTFS journals renames, and a folder
// cannot be flushed without backup privileges.
func syncDir(*os.Root, string) error { return nil }

// lockTemp marks a temporary file as in use by a live process with a
// byte-range lock, which Windows drops when the process dies.
func lockTemp(f *os.File) error {
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
}

// orphaned reports whether a temporary file is a crash leftover: no live
// process holds its lock.
func orphaned(f *os.File) bool { return lockTemp(f) == nil }

// renameNoReplace renames from to to, both relative to the folder dir of
// the cache, failing with an error matching fs.ErrExist rather than
// replacing anything at to.
func renameNoReplace(r *os.Root, dir, from, to string) error {
	base := filepath.Join(r.Name(), filepath.FromSlash(dir))
	src, dst := longPath(filepath.Join(base, filepath.FromSlash(from))), longPath(filepath.Join(base, filepath.FromSlash(to)))
	s, err := windows.UTF16PtrFromString(src)
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(dst)
	if err != nil {
		return err
	}
	if err := windows.MoveFileEx(s, t, 0); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// longPath gives an absolute path the \\?\ prefix, which lifts the 260
// character limit and keeps names as they are.
func longPath(p string) string {
	if strings.HasPrefix(p, `\\`) || len(p) < 3 || p[1] != ':' {
		return p
	}
	return `\\?\` + p
}

// linkUnsupported reports whether a failed link means the filesystem has
// no hard links (FAT and exFAT say ERROR_INVALID_FUNCTION).
func linkUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, windows.ERROR_INVALID_FUNCTION) || errors.Is(err, windows.ERROR_NOT_SUPPORTED)
}

// ownedBySystem is false on Windows: no junction or symlink on the way to a
// folder is trusted.
func ownedBySystem(string, fs.FileInfo) bool { return false }
