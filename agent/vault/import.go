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
// must be a plain regular file with one link that no program has open.
func (v *Vault) Import(ctx context.Context, src, destDir string) (Entry, error) {
	src, err := filepath.Abs(src)
	if err != nil {
		return Entry{}, err
	}
	if destDir == "" {
		destDir = "."
	} else if err := checkRel(destDir); err != nil {
		return Entry{}, err
	}
	srcDir, base := filepath.Split(src)
	if rel, err := filepath.Rel(v.dir, src); err == nil && filepath.IsLocal(rel) {
		return Entry{}, fmt.Errorf("%s is already in the cache: it is sealed there on its own", src)
	}
	sr, err := os.OpenRoot(srcDir)
	if err != nil {
		return Entry{}, err
	}
	defer sr.Close()
	fi, err := sr.Lstat(base)
	if err != nil {
		return Entry{}, err
	}
	if !fi.Mode().IsRegular() {
		return Entry{}, refused("%s is %s", src, kindOf(fi.Mode()))
	}
	f, err := openForSeal(sr, srcDir, base)
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
	if !os.SameFile(fi, st) || !st.Mode().IsRegular() {
		return Entry{}, &changing{why: "was replaced while it was opened"}
	}
	if n, err := linkCount(f, st); err != nil || n > 1 {
		return Entry{}, refused("%s has %d hard links: remove the others first", src, n)
	}
	if heldOpen(f) {
		return Entry{}, fmt.Errorf("%s: %w (close it first)", src, errInUse)
	}

	if destDir != "." {
		if err := v.root.MkdirAll(filepath.FromSlash(destDir), 0o700); err != nil {
			return Entry{}, err
		}
	}
	outBase, dup, err := v.chooseName(ctx, destDir, base, f, st)
	if err != nil {
		return Entry{}, err
	}
	outRel := path.Join(destDir, outBase)
	v.hold(outRel)
	defer v.release(outRel)
	if !dup {
		if err := v.writeSealed(ctx, destDir, base, outRel, f, st); err != nil {
			return Entry{}, err
		}
	}
	ofi, hdrLen, err := v.checkSealed(outRel)
	if err != nil {
		if !dup {
			v.root.Remove(filepath.FromSlash(outRel))
		}
		return Entry{}, fmt.Errorf("the sealed file does not open with the device identity: %w", err)
	}
	rec := v.recordFor(outRel, ofi, hdrLen, v.cfg.Now())
	if err := v.index.put(map[string]record{outRel: rec}, nil); err != nil {
		return Entry{}, err
	}
	f.Close() // Windows cannot rename it while our exclusive handle is open
	if err := v.removePlaintext(sr, ".", base, st); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		} else {
			return Entry{}, fmt.Errorf("sealed as %s, but %s was not removed: %w", outRel, src, err)
		}
	}
	v.emit(EventSealed, outRel, rec.Size, "imported")
	return Entry{Path: outRel, CaseRef: rec.CaseRef, Size: rec.Size, SealedAt: rec.SealedAt}, nil
}
