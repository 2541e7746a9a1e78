package sysfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MaxAttr is the most bytes Attr reads of one attribute.
const MaxAttr = 4096

// ResolveIn resolves the links in p, which must lead to a folder inside
// root (root itself resolved); ok is false otherwise.
func ResolveIn(root, p string) (resolved string, ok bool) {
	rp, err := filepath.EvalSymlinks(p)
	if err != nil || !strings.HasPrefix(rp, root+string(filepath.Separator)) {
		return "", false
	}
	if fi, err := os.Stat(rp); err != nil || !fi.IsDir() {
		return "", false
	}
	return rp, true
}

// errNotRegular means an attribute is not a regular file.
var errNotRegular = errors.New("not a regular file")

// AttrErr reads the attribute at p, trimmed, reading at most MaxAttr
// bytes and only from a regular file.
func AttrErr(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", &os.PathError{Op: "read", Path: p, Err: errNotRegular}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxAttr))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Attr is AttrErr, with "" for an attribute that cannot be read.
func Attr(p string) string {
	s, _ := AttrErr(p)
	return s
}

// IsFile reports whether p is (or links to) a regular file.
func IsFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// IsDir reports whether p is (or links to) a folder.
func IsDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
