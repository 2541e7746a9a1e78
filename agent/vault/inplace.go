package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// SealInPlace seals the plaintext file rel (relative to root, "/"
// separators) where it is, in a folder outside the cache such as a
// removable volume or a cloud-sync folder, opened with [OpenFolder]: it
// becomes rel's name plus [SealedExt], encrypted to the vault's recipients
// (the device and the council's escrow keys), and the plaintext is removed.
// The steps are those of sealing in the cache (temporary file, fsync, link
// or no-replace rename into place, check, set aside, remove), so a crash or
// an unplugged volume leaves the plaintext or a complete sealed file, never
// neither. Before sealing, it finishes or undoes what an interrupted earlier
// seal left in rel's folder. Nothing is recorded in the index, and the
// event it reports has no case reference: the cache's summary counts only
// the cache. Calls are serialised. It returns the sealed file's path
// relative to root, and fails like [Vault.SealFile] (ErrChanging,
// ErrRefused, fs.ErrNotExist).
func (v *Vault) SealInPlace(ctx context.Context, root *os.Root, rel string) (string, error) {
	if err := checkRel(rel); err != nil {
		return "", err
	}
	if base := path.Base(rel); strings.HasSuffix(base, SealedExt) {
		return "", refused("is already a sealed file")
	}
	if r, err := filepath.Rel(v.dir, root.Name()); err == nil && filepath.IsLocal(r) || r == "." {
		return "", refused("is in the cache: it is sealed there on its own")
	}
	// One at a time: a seal in one folder must not tidy away what another
	// has just set aside there.
	v.inPlace.Lock()
	defer v.inPlace.Unlock()
	fv := v.foreign(root)
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
	return s.rel, nil // no vault event: the file is not in the cache; the caller reports it
}

// OpenFolder opens dir, an absolute path, as a root for [Vault.SealInPlace],
// [Vault.ImportFrom] and [OpenRegular], refusing it if any folder on the
// way is a symlink or junction that a user could have made (on Unix, only
// symlinks owned by root, such as macOS's /var, are followed): the agent
// runs as root or SYSTEM, and a user who swaps their Downloads folder for a
// link to someone else's must not make it act there. It checks after
// opening that the path still names what it opened.
func OpenFolder(dir string) (*os.Root, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("vault: folder %q is not an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if err := checkFolderPath(dir, root); err != nil {
		root.Close()
		return nil, err
	}
	return root, nil
}

// checkFolderPath checks, after root was opened from dir, that no element
// of dir is a symlink a user could have made and that dir names root.
func checkFolderPath(dir string, root *os.Root) error {
	vol := filepath.VolumeName(dir)
	p := vol + string(filepath.Separator)
	for _, elem := range strings.Split(strings.TrimPrefix(dir[len(vol):], string(filepath.Separator)), string(filepath.Separator)) {
		if elem == "" {
			continue
		}
		p = filepath.Join(p, elem)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 && ownedBySystem(p, fi) && p != dir {
			continue
		}
		if !fi.IsDir() {
			return refused("%s is %s, not a folder", p, kindOf(fi.Mode()))
		}
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	rfi, err := root.Stat(".")
	if err != nil {
		return err
	}
	if !os.SameFile(fi, rfi) {
		return &changing{why: dir + " changed while it was opened"}
	}
	return nil
}

// foreign returns a vault over root that shares v's keys, clock and
// events but has no index; only the seal and tidy steps are used on it.
func (v *Vault) foreign(root *os.Root) *Vault {
	cfg := v.cfg
	cfg.CaseRef = func(string) string { return "" } // outside the cache, paths carry no case reference
	return &Vault{
		cfg:        cfg,
		dir:        root.Name(),
		root:       root,
		recipients: v.recipients,
		stanzas:    v.stanzas,
		log:        v.log,
		tempKey:    v.tempKey,
		index:      &index{}, // never used: seal and tidy do not touch the index
		sched:      newScheduler(cfg.Now),
		busy:       map[string]int{},
	}
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

// LooksSealed reports whether r starts like an age file (a sealed file),
// without opening it: for telling a real .age file from plaintext with
// that name.
func LooksSealed(r io.ReaderAt) bool {
	b := make([]byte, len(ageMagic))
	n, _ := r.ReadAt(b, 0)
	return n == len(b) && string(b) == ageMagic
}
