package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// SealInPlace seals the plaintext file rel (relative to dir, "/"
// separators) where it is, in a folder outside the cache such as a
// removable volume or a cloud-sync folder: it becomes rel's name plus
// [SealedExt], encrypted to the vault's recipients (the device and the
// council's escrow keys), and the plaintext is removed. The steps are those
// of sealing in the cache (temporary file, fsync, link into place, check,
// set aside, remove), so a crash or an unplugged volume leaves the plaintext
// or a complete sealed file, never neither. Before sealing, it finishes or
// undoes what an interrupted earlier seal left in rel's folder. Nothing is
// recorded in the index: the cache's summary counts only the cache. It
// returns the sealed file's path relative to dir, and fails like
// [Vault.SealFile] (ErrChanging, ErrRefused, fs.ErrNotExist).
func (v *Vault) SealInPlace(ctx context.Context, dir, rel string) (string, error) {
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("vault: folder %q is not an absolute path", dir)
	}
	if err := checkRel(rel); err != nil {
		return "", err
	}
	if base := path.Base(rel); strings.HasSuffix(base, SealedExt) {
		return "", refused("is already a sealed file")
	}
	fv, err := v.foreign(dir)
	if err != nil {
		return "", err
	}
	defer fv.root.Close()
	folder := path.Dir(rel)
	if err := fv.checkParents(folder); err != nil {
		return "", err
	}
	if err := fv.tidy(ctx, folder); err != nil {
		return "", err
	}
	s, err := fv.seal(ctx, rel, nil)
	if errors.Is(err, errAlreadySealed) {
		return s.rel, nil
	}
	if errors.Is(err, errGone) {
		return "", fmt.Errorf("%s: %w", rel, fs.ErrNotExist)
	}
	if err != nil {
		return "", err
	}
	fv.emit(EventSealed, rel, s.rec.Size, "sealed in place")
	return s.rel, nil
}

// foreign returns a vault over dir that shares v's keys, clock and events
// but has no index; only the seal and tidy steps are used on it.
func (v *Vault) foreign(dir string) (*Vault, error) {
	dir = filepath.Clean(dir)
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("vault: %s is not a folder (a symlink is refused)", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if rfi, err := root.Stat("."); err != nil || !os.SameFile(fi, rfi) {
		root.Close()
		return nil, fmt.Errorf("vault: folder %s changed while it was opened", dir)
	}
	cfg := v.cfg
	cfg.CaseRef = func(string) string { return "" } // outside the cache, paths carry no case reference
	return &Vault{
		cfg:        cfg,
		dir:        dir,
		root:       root,
		recipients: v.recipients,
		log:        v.log,
		index:      &index{}, // never used: seal and tidy do not touch the index
		sched:      newScheduler(cfg.Now),
		busy:       map[string]int{},
	}, nil
}

// tidy finishes or undoes, in one folder of a foreign vault, what a seal
// interrupted by a crash left: temporary files and set-aside plaintext.
func (v *Vault) tidy(ctx context.Context, folder string) error {
	d, err := openDir(v.root, folder)
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	sc := &scanner{v: v, ctx: ctx, rep: &ScanReport{}}
	for _, e := range entries {
		switch {
		case e.Type().IsRegular() && isTemp(e.Name()):
			sc.temp(folder, e.Name())
		case e.IsDir() && isAsideDir(e.Name()):
			sc.asideDir(folder, e.Name(), names)
		}
	}
	return ctx.Err()
}

// OpenRegular opens the file rel (relative to root, "/" separators) for
// reading the way the vault opens files in folders users can write: it
// follows no symlink (not even one inside root, nor a symlinked folder on
// the way), never blocks on a FIFO, and checks that what it opened is the
// plain regular file it listed, with one link, unchanged since it was
// listed; on Windows the open is exclusive, so a file another program has
// open fails with [ErrChanging]. It fails with [ErrRefused] for anything
// else. The caller closes the file.
func OpenRegular(root *os.Root, rel string) (*os.File, fs.FileInfo, error) {
	if err := checkRel(rel); err != nil {
		return nil, nil, err
	}
	v := &Vault{root: root}
	if err := v.checkParents(path.Dir(rel)); err != nil {
		return nil, nil, err
	}
	fi, err := root.Lstat(filepath.FromSlash(rel))
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, refused("is %s", kindOf(fi.Mode()))
	}
	f, st, err := v.openChecked(rel, fi, true)
	if err != nil {
		return nil, nil, err
	}
	if heldOpen(f) {
		f.Close()
		return nil, nil, errInUse
	}
	return f, st, nil
}
