package atomicfile

import (
	"errors"
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
