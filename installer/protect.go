package installer

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/casekeep/casekeep/internal/fileowner"
)

// checkOwner refuses a file or folder that belongs neither to the system
// (root; SYSTEM or Administrators) nor, where selfMayOwn, to the user
// running the installer.
func checkOwner(path string, fi fs.FileInfo) error {
	o, err := fileowner.Of(path, fi)
	if errors.Is(err, fileowner.ErrNoOwner) {
		return fmt.Errorf("it has no owner that can be read: %w", ErrNotProtected)
	}
	if err != nil {
		return fmt.Errorf("reading its owner: %w", err)
	}
	if o.IsSystem() {
		return nil
	}
	if me, err := fileowner.Current(); selfMayOwn && err == nil && o.Equal(me) {
		return nil
	}
	return fmt.Errorf("it belongs to %s: %w", o, ErrNotProtected)
}
