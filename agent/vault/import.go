package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// Import seals the file src, which is outside the cache, into the cache
// folder destDir (relative to the cache, "/"-separated; "" for the top) and
// removes src once its sealed copy is in place and opens with the device
// identity. It is what a user runs for a case file saved somewhere else. src
// must be a plain regular file with one link that no program has open, in
// a folder reached through no symlink a user could have made (see
// [OpenFolder]).
func (v *Vault) Import(ctx context.Context, src, destDir string) (Entry, error) {
	src, err := filepath.Abs(src)
	if err != nil {
		return Entry{}, err
	}
	if rel, err := filepath.Rel(v.dir, src); err == nil && filepath.IsLocal(rel) {
		return Entry{}, refused("%s is already in the cache: it is sealed there on its own", src)
	}
	srcDir, base := filepath.Split(src)
	sr, err := OpenFolder(srcDir)
	if err != nil {
		return Entry{}, err
	}
	defer sr.Close()
	return v.ImportFrom(ctx, sr, base, destDir)
}

// ImportFrom is [Vault.Import] for the file rel (relative to root, "/"
// separators) in a folder opened with [OpenFolder]: no symlink is followed
// on the way from root to the file, and rel is removed through root. The
// sealed copy is durable before the original is removed, so a crash leaves
// the file in one place or both, never neither.
func (v *Vault) ImportFrom(ctx context.Context, sr *os.Root, rel, destDir string) (Entry, error) {
	if destDir == "" {
		destDir = "."
	} else if err := checkRel(destDir); err != nil {
		return Entry{}, err
	}
	if err := checkRel(rel); err != nil {
		return Entry{}, err
	}
	if err := (&Vault{root: sr}).checkParents(path.Dir(rel)); err != nil {
		return Entry{}, err
	}
	src := filepath.Join(sr.Name(), filepath.FromSlash(rel))
	if r, err := filepath.Rel(v.dir, src); err == nil && filepath.IsLocal(r) {
		return Entry{}, refused("%s is already in the cache: it is sealed there on its own", src)
	}
	base := path.Base(rel)
	fi, err := sr.Lstat(filepath.FromSlash(rel))
	if err != nil {
		return Entry{}, err
	}
	if !fi.Mode().IsRegular() {
		return Entry{}, refused("%s is %s", src, kindOf(fi.Mode()))
	}
	f, err := openFile(sr, rel, true)
	if errors.Is(err, errReparsePoint) {
		return Entry{}, refused("%s is a symlink or junction", src)
	}
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Entry{}, err
	}
	if err := sameRegular(f, fi, st); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", src, err)
	}
	if heldOpen(f) {
		return Entry{}, fmt.Errorf("%s: %w (close it first)", src, errInUse)
	}
	if destDir != "." {
		if err := v.root.MkdirAll(filepath.FromSlash(destDir), 0o700); err != nil {
			return Entry{}, err
		}
	}
	if err := v.checkParents(destDir); err != nil {
		return Entry{}, err
	}
	s, err := v.sealInto(ctx, f, st, destDir, base)
	if err != nil {
		return Entry{}, err
	}
	if err := v.index.put(map[string]record{s.rel: s.rec}, nil); err != nil {
		return Entry{}, err
	}
	f.Close() // Windows cannot remove it while our exclusive handle is open
	// The source is outside the cache, in a folder of the user's: it is
	// removed directly (no private folder is left there), if it is still the
	// file sealed.
	now, err := sr.Lstat(filepath.FromSlash(rel))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Entry{}, fmt.Errorf("sealed as %s, but %s was not removed: %w", s.rel, src, err)
	case !os.SameFile(now, st) || now.Size() != st.Size() || !now.ModTime().Equal(st.ModTime()):
		return Entry{}, fmt.Errorf("sealed as %s, but %s changed meanwhile and was left in place", s.rel, src)
	default:
		if err := sr.Remove(filepath.FromSlash(rel)); err != nil {
			return Entry{}, fmt.Errorf("sealed as %s, but %s was not removed: %w", s.rel, src, err)
		}
	}
	v.emit(EventSealed, s.rel, s.rec.Size, "imported")
	return s.entry(), nil
}
