package vault

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Removal counts what [Vault.RemoveSealed] did.
type Removal struct {
	Removed int // sealed files removed
	Kept    int // indexed files left because they are no longer what the vault sealed
	// Failed counts the sealed files the vault made that could not be
	// removed (immutable, held open without delete sharing, ...); Why says
	// why (the errors' texts, without the files' names), and Cases the
	// case references of their folders, where known.
	Failed int
	Why    []string
	Cases  []string
}

// RemoveSealed removes the sealed files the vault made, for a wipe: every
// file in its index that is still the file it indexed (a plain regular
// file with one link, of the size and modification time indexed, that
// starts like an age file) is removed, then the index itself. A file it
// did not make, or one changed since, is never removed. It is best-effort:
// a file that cannot be removed is counted in Failed (and logged with its
// name) and the others are removed all the same; only a failure to read
// or clear the index, or ctx, is an error. It is idempotent: run again
// after a crash, it removes what is left. Run it with no [Vault.Run] in
// progress.
func (v *Vault) RemoveSealed(ctx context.Context) (Removal, error) {
	var out Removal
	recs, err := v.index.all()
	if err != nil {
		return out, err
	}
	dirs := map[string]bool{}
	for p, r := range recs {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		switch ok, err := v.removeIfIndexed(p, r); {
		case err != nil:
			out.Failed++
			v.log.Error("the wipe could not remove a sealed file: it is left", "path", p, "err", err)
			why := err.Error()
			if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
				why = pe.Op + ": " + pe.Err.Error() // no name
			}
			if !slices.Contains(out.Why, why) {
				out.Why = append(out.Why, why)
			}
			if ref := v.cfg.CaseRef(p); ref != "" && !slices.Contains(out.Cases, ref) {
				out.Cases = append(out.Cases, ref)
			}
		case ok:
			out.Removed++
			dirs[path.Dir(p)] = true
		default:
			out.Kept++
		}
	}
	for d := range dirs {
		syncDir(v.root, d)
	}
	err = v.cfg.Store.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{filesBucket, refusedBucket} {
			if err := tx.DeleteBucket(b); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
	return out, err
}

// removeIfIndexed removes rel if it is the sealed file r describes, and
// reports whether it did; a file already gone counts as removed.
func (v *Vault) removeIfIndexed(rel string, r record) (bool, error) {
	if checkRel(rel) != nil {
		return false, nil
	}
	if err := v.checkParents(path.Dir(rel)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		return false, nil
	}
	fi, err := v.root.Lstat(filepath.FromSlash(rel))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, err
	case !fi.Mode().IsRegular() || fi.Size() != r.CipherSize || fi.ModTime().UnixNano() != r.ModTime:
		return false, nil
	}
	f, st, err := v.openChecked(rel, fi, false)
	if err != nil {
		return false, nil // refused (a link), or changed: not ours to remove
	}
	looks := LooksSealed(f)
	f.Close()
	if !looks {
		return false, nil
	}
	now, err := v.root.Lstat(filepath.FromSlash(rel))
	if err != nil || !os.SameFile(now, st) {
		return false, nil
	}
	if err := v.root.Remove(filepath.FromSlash(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}
