package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

// maxDepth bounds how deep a scan descends.
const maxDepth = 64

// ScanReport says what a scan of the cache found and did.
type ScanReport struct {
	Files        int      // regular files looked at
	Sealed       int      // files that open with the device identity
	SealedBytes  int64    // their plaintext bytes
	Plaintext    []string // plaintext files to seal, "/"-separated
	Refused      int      // paths refused (each reported once, ever)
	Skipped      int      // editor lock and folder metadata files left alone
	TempsRemoved int      // temporary files left by a crash, removed
	Finished     int      // set-aside plaintext whose seal had completed, removed
	Restored     int      // set-aside plaintext put back to be sealed again
	Repaired     int      // index entries added, changed or removed
	Took         time.Duration
}

type scanner struct {
	v       *Vault
	ctx     context.Context
	idx     map[string]record
	seen    map[string]record
	refused map[string]string
	rep     *ScanReport
	unknown []unknownFile
}

// Scan walks the whole cache: it removes temporary files left by a crash,
// finishes or undoes removals a crash interrupted, classifies every file as
// sealed, plaintext or refused, reconciles the index with what it found, and
// reports refused paths it has not reported before. It seals nothing: the
// plaintext it lists is for [Vault.Run] or the caller to seal.
func (v *Vault) Scan(ctx context.Context) (*ScanReport, error) {
	start := time.Now()
	idx, err := v.index.all()
	if err != nil {
		return nil, err
	}
	before, err := v.index.refused()
	if err != nil {
		return nil, err
	}
	sc := &scanner{v: v, ctx: ctx, idx: idx, seen: map[string]record{}, refused: map[string]string{}, rep: &ScanReport{}}
	if err := sc.dir(".", 0); err != nil {
		return nil, err
	}
	sc.checkUnknown()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Reconcile the index with the folder.
	put, added, changed := map[string]record{}, 0, 0
	for p, r := range sc.seen {
		old, ok := idx[p]
		switch {
		case !ok:
			added++
		case old.CipherSize != r.CipherSize || old.ModTime != r.ModTime:
			changed++
		default:
			continue
		}
		put[p] = r
	}
	var del []string
	for p := range idx {
		if _, ok := sc.seen[p]; !ok && !v.isBusy(p) {
			del = append(del, p)
		}
	}
	if err := v.index.put(put, del); err != nil {
		return nil, err
	}
	if n := added + changed + len(del); n > 0 {
		sc.rep.Repaired = n
		v.emit(EventIndexRepaired, "", 0, fmt.Sprintf("%d added, %d changed, %d removed", added, changed, len(del)))
		v.log.Info("vault index repaired", "added", added, "changed", changed, "removed", len(del))
	}

	// Report each refused path once: again only if it goes away and comes back.
	paths := sortedKeys(sc.refused)
	for _, p := range paths {
		if before[p] != sc.refused[p] {
			v.emit(EventRefused, p, 0, sc.refused[p])
			v.log.Warn("vault refused a path", "path", p, "reason", sc.refused[p])
			v.count(func(s *Stats) { s.Refused++ })
		}
	}
	sc.rep.Refused = len(paths)
	if !maps.Equal(before, sc.refused) {
		if err := v.index.setRefused(sc.refused); err != nil {
			return nil, err
		}
	}
	sort.Strings(sc.rep.Plaintext)
	sc.rep.Took = time.Since(start)
	return sc.rep, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (sc *scanner) refuse(rel, reason string) {
	sc.refused[rel] = reason
}

func (sc *scanner) dir(rel string, depth int) error {
	if err := sc.ctx.Err(); err != nil {
		return err
	}
	if depth > maxDepth {
		sc.refuse(rel, fmt.Sprintf("is nested more than %d folders deep", maxDepth))
		return nil
	}
	d, err := sc.v.root.Open(filepath.FromSlash(rel))
	if err != nil {
		if rel == "." {
			return err
		}
		return nil // gone, or replaced: the next scan sees it
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil && rel == "." {
		return err
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	// Crash leftovers first: a temporary file still linked to its sealed
	// name would make that file look hardlinked, and set-aside plaintext is
	// either finished or put back before the folder's files are classified.
	var rest []fs.DirEntry
	for _, e := range entries {
		if e.Type().IsRegular() && isTemp(e.Name()) {
			sc.temp(path.Join(rel, e.Name()))
		} else {
			rest = append(rest, e)
		}
	}
	for _, e := range rest {
		if e.IsDir() && isAsideDir(e.Name()) {
			sc.asideDir(rel, e.Name(), names)
		}
	}
	for _, e := range rest {
		p := path.Join(rel, e.Name())
		if rel == "." {
			p = e.Name()
		}
		if e.IsDir() && isAsideDir(e.Name()) || sc.v.isBusy(p) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // gone since the listing
		}
		switch m := fi.Mode(); {
		case m.IsDir():
			if err := sc.dir(p, depth+1); err != nil {
				return err
			}
		case !m.IsRegular():
			sc.refuse(p, "is "+kindOf(m))
		default:
			sc.file(p, fi, names)
		}
	}
	return nil
}

// file classifies one regular file.
func (sc *scanner) file(rel string, fi fs.FileInfo, names map[string]bool) {
	sc.rep.Files++
	if skipped(path.Base(rel), fi.Size()) {
		sc.rep.Skipped++
		return
	}
	if n, err := linkCount(nil, fi); err == nil && n > 1 {
		if !sc.hasTemp(names) { // else: another process is linking it into place
			sc.refuse(rel, fmt.Sprintf("has %d hard links (a hardlinked file may be someone else's)", n))
		}
		return
	}
	if r, ok := sc.idx[rel]; ok && r.CipherSize == fi.Size() && r.ModTime == fi.ModTime().UnixNano() {
		sc.sealed(rel, r)
		return
	}
	sc.unknown = append(sc.unknown, unknownFile{rel, fi}) // checked after the walk, in parallel
}

type unknownFile struct {
	rel string
	fi  fs.FileInfo
}

// checkUnknown opens every file the index did not vouch for and reads its
// header, on the vault's workers: a first scan of a large cache that was
// never indexed spends its time here.
func (sc *scanner) checkUnknown() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan unknownFile)
	for range sc.v.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				kind, rec, reason := sc.classify(u.rel, u.fi)
				mu.Lock()
				switch kind {
				case classSealed:
					sc.sealed(u.rel, rec)
				case classPlaintext:
					sc.rep.Plaintext = append(sc.rep.Plaintext, u.rel)
				case classRefused:
					sc.refuse(u.rel, reason)
				}
				mu.Unlock()
			}
		}()
	}
	for _, u := range sc.unknown {
		if sc.ctx.Err() != nil {
			break
		}
		work <- u
	}
	close(work)
	wg.Wait()
}

type class int

const (
	classGone class = iota
	classSealed
	classPlaintext
	classRefused
)

// classify opens one regular file and tells sealed from plaintext.
func (sc *scanner) classify(rel string, fi fs.FileInfo) (class, record, string) {
	f, st, err := sc.v.openChecked(rel, fi)
	switch {
	case errors.Is(err, ErrRefused):
		return classRefused, record{}, refusalReason(err)
	case errors.Is(err, ErrChanging):
		return classPlaintext, record{}, "" // in use or changing: retried
	case err != nil:
		return classGone, record{}, ""
	}
	defer f.Close()
	if s, ok := sc.v.opensSealed(rel, f, st); ok {
		if old, known := sc.idx[rel]; known {
			s.rec.SealedAt = old.SealedAt
		}
		return classSealed, s.rec, ""
	}
	return classPlaintext, record{}, ""
}

// hasTemp reports whether the folder holds a temporary file: a sealed file
// being linked into place by another process has two links for a moment.
// A real hardlink is reported by a later scan.
func (sc *scanner) hasTemp(names map[string]bool) bool {
	for n := range names {
		if isTemp(n) {
			return true
		}
	}
	return false
}

func (sc *scanner) sealed(rel string, r record) {
	sc.seen[rel] = r
	sc.rep.Sealed++
	sc.rep.SealedBytes += r.Size
}

// temp removes a temporary file left by a crash. It checks the file is a
// regular file that no live process holds, and that it holds what the vault
// writes (nothing yet, or the start of an age file); anything else is a
// user's file with an unlucky name and is sealed instead.
func (sc *scanner) temp(rel string) {
	if sc.v.isBusy(rel) {
		return
	}
	f, err := sc.v.root.OpenFile(filepath.FromSlash(rel), os.O_RDONLY|noFollow|nonBlock, 0)
	if err != nil {
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || !orphaned(f) {
		return
	}
	head := make([]byte, len(ageMagic))
	n, _ := io.ReadFull(f, head)
	if string(head[:n]) != ageMagic[:n] {
		sc.rep.Plaintext = append(sc.rep.Plaintext, rel)
		return
	}
	if err := sc.v.root.Remove(filepath.FromSlash(rel)); err == nil {
		sc.rep.TempsRemoved++
		sc.v.log.Info("vault removed a temporary file left by a crash", "path", rel)
	}
}

// asideDir finishes or undoes the removals a crash interrupted: each file
// in a set-aside folder is plaintext that was sealed. If a sealed file in the
// folder holds exactly its content the seal was done and the plaintext is
// removed; otherwise it is put back, to be sealed again.
func (sc *scanner) asideDir(dir, name string, names map[string]bool) {
	adRel := path.Join(dir, name)
	if sc.v.isBusy(adRel) {
		return
	}
	d, err := sc.v.root.Open(filepath.FromSlash(adRel))
	if err != nil {
		return
	}
	entries, _ := d.ReadDir(-1)
	d.Close()
	for _, e := range entries {
		rel := path.Join(adRel, e.Name())
		if !e.Type().IsRegular() {
			sc.refuse(rel, "is "+kindOf(e.Type()))
			continue
		}
		sc.aside(dir, adRel, e.Name(), names)
	}
	sc.v.root.Remove(filepath.FromSlash(adRel)) // only if empty
}

func (sc *scanner) aside(dir, adRel, base string, names map[string]bool) {
	rel := path.Join(adRel, base)
	fi, err := sc.v.root.Lstat(filepath.FromSlash(rel))
	if err != nil {
		return
	}
	f, st, err := sc.v.openChecked(rel, fi)
	if errors.Is(err, ErrRefused) {
		sc.refuse(rel, refusalReason(err))
		return
	}
	if err != nil {
		return
	}
	defer f.Close()
	for n := 1; n <= maxNameCandidates; n++ {
		cand := sealedName(base, n)
		if !names[cand] {
			continue
		}
		same, err := sc.v.sameContent(sc.ctx, path.Join(dir, cand), f, st.Size())
		if err == nil && same {
			if sc.v.root.Remove(filepath.FromSlash(rel)) == nil {
				syncDir(sc.v.root, adRel)
				sc.rep.Finished++
				sc.v.log.Info("vault finished removing plaintext after a crash", "path", path.Join(dir, base))
			}
			return
		}
	}
	name, err := restoreAside(sc.v.root, adRel, dir, base)
	if err != nil {
		sc.v.log.Error("vault cannot put back set-aside plaintext", "path", rel, "err", err)
		return
	}
	sc.rep.Restored++
	sc.rep.Plaintext = append(sc.rep.Plaintext, path.Join(dir, name))
	sc.v.log.Info("vault put back plaintext whose seal a crash interrupted", "path", path.Join(dir, name))
}

func refusalReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(pe.Err, syscall.ELOOP) {
		return "is a symlink"
	}
	s := err.Error()
	const prefix = "refused: "
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):]
	}
	return s
}
