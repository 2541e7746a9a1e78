package cloudsync

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/casekeep/casekeep/internal/fileowner"
)

// maxConfig bounds a configuration file: a larger one is not read.
const maxConfig = 1 << 20

// maxEntries bounds the names read from one folder (a home, or
// ~/Library/CloudStorage).
const maxEntries = 100_000

// home is one user's home, opened as an [os.Root] so that nothing read
// through it can lead outside the home.
type home struct {
	dir  string
	root *os.Root
}

// path returns the full path of rel, a slash-separated path in the home.
func (h *home) path(rel string) string {
	return filepath.Join(h.dir, filepath.FromSlash(rel))
}

// lstat returns what is at rel without following a link anywhere: every
// folder on the way must be a real folder, else the error matches
// ErrRefused; a missing one gives an error matching fs.ErrNotExist.
func (h *home) lstat(rel string) (fs.FileInfo, error) {
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		dir := path.Join(parts[:i]...)
		fi, err := h.root.Lstat(filepath.FromSlash(dir))
		if err != nil {
			return nil, err
		}
		if isDir, isLink := folderType(fi); !isDir || isLink {
			if !isDir {
				return nil, &fs.PathError{Op: "lstat", Path: h.path(dir), Err: fs.ErrNotExist}
			}
			return nil, fmt.Errorf("%w: %s: a link, not followed", ErrRefused, h.path(dir))
		}
	}
	return h.root.Lstat(filepath.FromSlash(rel))
}

// folder reports whether rel is a folder in the home, and whether it is a
// link (not followed). A missing folder, or anything that is neither a
// folder nor a link, is not reported; a link on the way is a problem.
func (h *home) folder(rel string) (ok, link bool, err error) {
	fi, err := h.lstat(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, false, nil
		}
		return false, false, err
	}
	ok, link = folderType(fi)
	return ok, link, nil
}

// readConfig reads the configuration file at rel: a regular file, not a
// link, not larger than maxConfig, and the very file that was looked at
// (checked again on the open file). A missing file gives an error matching
// fs.ErrNotExist; anything else that keeps it from being read, ErrRefused.
func (h *home) readConfig(rel string) ([]byte, error) {
	name := h.path(rel)
	fi, err := h.lstat(rel)
	if err != nil {
		return nil, err
	}
	if err := configType(name, fi); err != nil {
		return nil, err
	}
	f, err := h.root.OpenFile(filepath.FromSlash(rel), os.O_RDONLY|noFollow|nonBlock, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrRefused, name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrRefused, name, err)
	}
	if err := configType(name, st); err != nil {
		return nil, err
	}
	if n := fileowner.Links(st); n > 1 {
		// A hard link to a file the user may not read (root's, say) must
		// not be read as root on their behalf. (Windows does not tell,
		// and needs no telling: a hard link to another user's file needs
		// write access to it there.)
		return nil, fmt.Errorf("%w: %s: has %d hard links", ErrRefused, name, n)
	}
	if !os.SameFile(fi, st) {
		return nil, fmt.Errorf("%w: %s: replaced while being opened", ErrRefused, name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfig+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrRefused, name, err)
	}
	if len(b) > maxConfig {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrRefused, name, maxConfig)
	}
	return b, nil
}

// configType refuses anything but a regular file of at most maxConfig bytes.
func configType(name string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: %s: a symbolic link, not followed", ErrRefused, name)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: %s: not a regular file (%v)", ErrRefused, name, fi.Mode().Type())
	case fi.Size() > maxConfig:
		return fmt.Errorf("%w: %s: larger than %d bytes", ErrRefused, name, maxConfig)
	}
	return nil
}

// names returns the names in the folder rel ("." for the home itself),
// at most maxEntries of them. A missing folder has none.
func (h *home) names(rel string) ([]string, error) {
	if rel != "." {
		ok, link, err := h.folder(rel)
		if err != nil || !ok {
			return nil, err
		}
		if link {
			return nil, fmt.Errorf("%w: %s: a link, not followed", ErrRefused, h.path(rel))
		}
	}
	d, err := h.root.Open(filepath.FromSlash(rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer d.Close()
	st, err := d.Stat()
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s: not a folder", ErrRefused, h.path(rel))
	}
	var names []string
	for len(names) < maxEntries {
		batch, err := d.Readdirnames(1024) // names only: no stat per entry
		names = append(names, batch...)
		if err == io.EOF || len(batch) == 0 {
			break
		}
		if err != nil {
			return names, err
		}
	}
	return names, nil
}

// folderAt reports whether the absolute path p, taken from a configuration,
// is a folder, and whether it is a link (not followed). It only looks; it
// never reads what is there.
func folderAt(p string) (ok, link bool) {
	fi, err := os.Lstat(p)
	if err != nil {
		return false, false
	}
	return folderType(fi)
}

// folderType classifies what an Lstat found: a folder, a link to somewhere
// (a symbolic link, or a junction on Windows), or neither.
func folderType(fi fs.FileInfo) (isFolder, isLink bool) {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0 || dirLink(fi):
		return true, true
	case fi.IsDir():
		return true, false
	}
	return false, false
}
