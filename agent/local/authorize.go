package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/casekeep/casekeep/internal/fileowner"
)

// Target is a file a request may act on, as [Authorize] found it.
type Target struct {
	// File is the file, open for reading. The caller closes it.
	File *os.File
	// Root is the folder it was found in: the caller's cache, or all
	// caches' folder for an admin.
	Root string
	// Rel is its path under Root.
	Rel string
}

// Authorize decides whether p may act through the channel on the file at
// path, and opens it if so. own is p's own cache (the caller maps the
// account to it); all is the folder an admin may reach, holding every
// cache (own when empty).
//
// path must be absolute, hold no "..", and lie in the folder: ErrOutside.
// It is found through [os.Root], so nothing it names can lead out of the
// folder, and no part of it may be a link; it must be a regular file with
// one name, not a FIFO, a device or a socket (ErrNotRegular), opened
// without following a link and without waiting on a FIFO, and checked again
// once open. A user other than an admin may act only on a file they or the
// system own: another user's file in their cache is ErrDenied.
func Authorize(p Peer, own, all, path string) (*Target, error) {
	root := own
	if p.Admin && all != "" {
		root = all
	}
	rel, err := within(root, path)
	if err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("%w: the cache cannot be opened: %w", ErrInternal, err)
	}
	defer r.Close()
	// No link anywhere on the way: os.Root alone would follow one that
	// stays inside the folder.
	parts := strings.Split(rel, string(filepath.Separator))
	for i := range parts {
		fi, err := r.Lstat(filepath.Join(parts[:i+1]...))
		if err != nil {
			return nil, notFound(err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%w: the path goes through a link", ErrNotRegular)
		}
		if i < len(parts)-1 && !fi.IsDir() {
			return nil, fmt.Errorf("%w: the path goes through a file", ErrNotRegular)
		}
		if i == len(parts)-1 && !fi.Mode().IsRegular() {
			// Not opened at all: opening a device can do things.
			return nil, fmt.Errorf("%w: %s", ErrNotRegular, kind(fi.Mode()))
		}
	}
	f, err := r.OpenFile(rel, os.O_RDONLY|openNoFollow, 0)
	if err != nil {
		return nil, notFound(err)
	}
	if err := checkOpen(p, f); err != nil {
		f.Close()
		return nil, err
	}
	return &Target{File: f, Root: root, Rel: rel}, nil
}

// within is path's place under root, or ErrOutside.
func within(root, path string) (string, error) {
	if !filepath.IsAbs(root) {
		return "", fmt.Errorf("%w: the cache %q is not an absolute path", ErrInternal, root)
	}
	if !filepath.IsAbs(path) || strings.ContainsRune(path, 0) {
		return "", fmt.Errorf("%w: not an absolute path", ErrOutside)
	}
	for _, e := range strings.FieldsFunc(path, isSeparator) {
		if e == ".." {
			return "", fmt.Errorf("%w: the path holds \"..\"", ErrOutside)
		}
	}
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(path))
	if err != nil || rel == "." || !filepath.IsLocal(rel) {
		return "", ErrOutside
	}
	return rel, nil
}

func isSeparator(r rune) bool { return os.IsPathSeparator(uint8(r)) && r < 0x80 }

// checkOpen checks the file f, once open, is a regular file with one name
// that p may act on.
func checkOpen(p Peer, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInternal, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s", ErrNotRegular, kind(fi.Mode()))
	}
	if fileowner.Links(fi) != 1 {
		return fmt.Errorf("%w: the file has another name", ErrNotRegular)
	}
	if p.Admin {
		return nil
	}
	id, system, err := ownerOf(f, fi)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInternal, err)
	}
	if !system && id != p.ID {
		return fmt.Errorf("%w: the file is another account's", ErrDenied)
	}
	return nil
}

// notFound turns an error finding the file into what the caller may read:
// whether it is missing, never the OS's text with its path.
func notFound(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: no such file in your cache", ErrOutside)
	case errors.Is(err, fs.ErrPermission):
		return ErrDenied
	}
	return fmt.Errorf("%w: the file cannot be opened", ErrNotRegular)
}

// kind names what a file is, for the person who named it.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeSymlink != 0:
		return "a link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
