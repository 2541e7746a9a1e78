package cloudsync

import (
	"io/fs"
	"syscall"
)

// Windows has no O_NOFOLLOW or O_NONBLOCK for os.OpenFile: a link at the
// last element is refused by the Lstat before the open, and the open file
// is checked to be the same file; os.Root keeps any link inside the home.
const (
	noFollow = 0
	nonBlock = 0
)

// dirLink reports a reparse point on a folder that os.Lstat does not show
// as a folder: a junction (mount point) or another name surrogate, which
// leads somewhere else. A OneDrive or iCloud placeholder folder (a cloud
// files reparse point) is shown as a folder and is not a link.
func dirLink(fi fs.FileInfo) bool {
	d, ok := fi.Sys().(*syscall.Win32FileAttributeData)
	if !ok || fi.IsDir() {
		return false
	}
	const want = syscall.FILE_ATTRIBUTE_REPARSE_POINT | syscall.FILE_ATTRIBUTE_DIRECTORY
	return d.FileAttributes&want == want
}
