package local

import (
	"io/fs"
	"os"

	"github.com/casekeep/casekeep/internal/fileowner"
)

// openNoFollow: os.Root on Windows opens a reparse point at the last name
// as itself (and Authorize has refused links by then).
const openNoFollow = 0

// ownerOf is the SID owning the file, read from its security descriptor
// by name (the name Authorize has just checked), and whether that is
// SYSTEM or the Administrators group.
func ownerOf(f *os.File, fi fs.FileInfo) (string, bool, error) {
	o, err := fileowner.Of(f.Name(), fi)
	if err != nil {
		return "", false, err
	}
	return o.String(), o.IsSystem(), nil
}
