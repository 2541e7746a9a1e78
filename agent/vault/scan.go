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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/internal/atomicfile"
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
	Locked       int      // age files not in the index that the locked vault could not check (in Plaintext)
	Verified     int      // files sealed while locked whose header now opened with the device identity
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

type unknownFile struct {
	rel string
	fi  fs.FileInfo
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
	if err := sc.reconcile(); err != nil {
		return nil, err
	}
	if err := sc.verifyUnverified(); err != nil {
		return nil, err
	}

	// Report each refused path once: again only if it goes away and comes back.
	paths := slices.Sorted(maps.Keys(sc.refused))
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
	slices.Sort(sc.rep.Plaintext)
	sc.rep.Took = time.Since(start)
	return sc.rep, nil
}

// reconcile makes the index match what the scan found.
func (sc *scanner) reconcile() error {
	v := sc.v
	put, added, changed := map[string]record{}, 0, 0
	for p, r := range sc.seen {
		old, ok := sc.idx[p]
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
	for p := range sc.idx {
		if _, ok := sc.seen[p]; ok || v.isBusy(p) {
			continue
		}
		// Not seen, but a seal in flight during the walk may have put it
		// there since: only a path with no regular file goes.
		if fi, err := v.root.Lstat(filepath.FromSlash(p)); err == nil && fi.Mode().IsRegular() {
			continue
		}
		del = append(del, p)
	}
	if err := v.index.put(put, del); err != nil {
		return err
	}
	if n := added + changed + len(del); n > 0 {
		sc.rep.Repaired = n
		v.emit(EventIndexRepaired, "", 0, fmt.Sprintf("%d added, %d changed, %d removed", added, changed, len(del)))
		v.log.Info("vault index repaired", "added", added, "changed", changed, "removed", len(del))
	}
	return nil
}

// verifyUnverified checks, once the device identity is unlocked, that the
// header of every file sealed while it was locked opens with it. A header
// that does not is reported (the escrow recipients still open the file;
// `casekeep verify` says more) and not looked at again.
func (sc *scanner) verifyUnverified() error {
	v := sc.v
	var todo []string
	for p, r := range sc.seen {
		if r.Unverified && !v.isBusy(p) {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if _, err := v.cfg.Device.Identities(); err != nil {
		return nil // still locked: the next scan
	}
	put := map[string]record{}
	for _, p := range todo {
		r := sc.seen[p]
		f, fi, err := v.openSealed(p)
		if err != nil {
			continue
		}
		_, err = v.openHeader(f)
		f.Close()
		switch {
		case errors.Is(err, keys.ErrLocked):
			continue
		case fi.Size() != r.CipherSize || fi.ModTime().UnixNano() != r.ModTime:
			continue // changed since the walk: the next scan
		case err != nil:
			v.emit(EventSealFailed, p, r.Size, "sealed while the vault was locked, but its header does not open with the device identity (the escrow keys still open it): "+reasonOf(err))
			v.log.Error("vault: a file sealed while locked does not open with the device identity", "path", p, "err", err)
		default:
			sc.rep.Verified++
		}
		r.Unverified = false
		put[p] = r
	}
	return v.index.put(put, nil)
}

func (sc *scanner) refuse(rel, reason string) {
	sc.refused[rel] = reason
}

func (sc *scanner) plaintext(rel string) {
	sc.rep.Plaintext = append(sc.rep.Plaintext, rel)
}

func (sc *scanner) dir(rel string, depth int) error {
	if err := sc.ctx.Err(); err != nil {
		return err
	}
	if depth > maxDepth {
		sc.refuse(rel, fmt.Sprintf("is nested more than %d folders deep", maxDepth))
		return nil
	}
	d, err := openDir(sc.v.root, rel)
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
		switch {
		case e.Type().IsRegular() && isTemp(e.Name()):
			sc.temp(rel, e.Name())
		case e.IsDir() && isAsideDir(e.Name()):
			sc.asideDir(rel, e.Name(), names)
		default:
			rest = append(rest, e)
		}
	}
	for _, e := range rest {
		p := path.Join(rel, e.Name())
		if sc.v.isBusy(p) {
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

// file looks at one regular file: the index vouches for a sealed file it
// knows unchanged; any other is opened after the walk.
func (sc *scanner) file(rel string, fi fs.FileInfo, names map[string]bool) {
	sc.rep.Files++
	if skipped(path.Base(rel), fi.Size()) {
		sc.rep.Skipped++
		return
	}
	if n, err := linkCount(nil, fi); err == nil && n > 1 {
		if !hasTemp(names) { // else: another process is linking it into place
			sc.refuse(rel, fmt.Sprintf("has %d hard links (a hardlinked file may be someone else's)", n))
		}
		return
	}
	if r, ok := sc.idx[rel]; ok && r.CipherSize == fi.Size() && r.ModTime == fi.ModTime().UnixNano() {
		sc.sealed(rel, r)
		return
	}
	sc.unknown = append(sc.unknown, unknownFile{rel, fi})
}

// hasTemp reports whether a folder holds a temporary file: a sealed file
// being linked into place by another process has two links for a moment.
// A real hardlink is reported by a later scan.
func hasTemp(names map[string]bool) bool {
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
					sc.plaintext(u.rel)
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

// classify opens one regular file (shared: a scan never gets in a user's
// way) and tells sealed from plaintext.
func (sc *scanner) classify(rel string, fi fs.FileInfo) (class, record, string) {
	f, st, err := sc.v.openChecked(rel, fi, false)
	switch {
	case errors.Is(err, ErrRefused):
		return classRefused, record{}, refusalReason(err)
	case errors.Is(err, ErrChanging):
		return classPlaintext, record{}, "" // in use or changing: retried
	case err != nil:
		return classGone, record{}, ""
	}
	defer f.Close()
	switch s, seen := sc.v.opensSealed(rel, f, st); seen {
	case seenSealed:
		if old, known := sc.idx[rel]; known {
			s.rec.SealedAt = old.SealedAt
		}
		return classSealed, s.rec, ""
	case seenLocked:
		// An age file the locked vault cannot check: counted as waiting
		// (so compliance shows it), looked at again once unlocked.
		sc.rep.Locked++
	}
	return classPlaintext, record{}, ""
}

// temp removes a temporary file left by a crash. It checks that its name
// is one the vault made (its tag proves it: see tempName), that no live
// process holds it and that it holds what the vault writes (nothing yet, or
// the start of an age file); anything else is a user's file with an unlucky
// name, which is renamed to an ordinary name and sealed (or, an age file,
// left as the vault leaves age files it did not make).
func (sc *scanner) temp(dir, base string) {
	rel := path.Join(dir, base)
	if sc.v.isBusy(rel) {
		return
	}
	f, err := openFile(sc.v.root, rel, false)
	if err != nil {
		return
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || !orphaned(f) {
		f.Close()
		return
	}
	head := make([]byte, len(ageMagic))
	n, _ := io.ReadFull(f, head)
	f.Close()
	if ownTemp(base, sc.v.tempKey) && string(head[:n]) == ageMagic[:n] {
		if sc.v.root.Remove(filepath.FromSlash(rel)) == nil {
			sc.rep.TempsRemoved++
			sc.v.log.Info("vault removed a temporary file left by a crash", "path", rel)
		}
		return
	}
	plain := strings.TrimSuffix(strings.TrimPrefix(base, "."), atomicfile.TempSuffix)
	for i := 1; i <= maxNameCandidates; i++ {
		name := restoredName(plain, i)
		err := renameNoReplace(sc.v.root, dir, base, name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err == nil {
			sc.plaintext(path.Join(dir, name))
		}
		return
	}
}

// asideDir finishes or undoes the removals a crash interrupted: each entry
// in a set-aside folder was moved there from dir to be removed once sealed.
// A regular file whose exact content is in a sealed file beside it is
// removed; anything else is moved back, never replacing anything.
func (sc *scanner) asideDir(dir, name string, names map[string]bool) {
	adRel := path.Join(dir, name)
	if sc.v.isBusy(adRel) {
		return
	}
	d, err := openDir(sc.v.root, adRel)
	if err != nil {
		return
	}
	entries, _ := d.ReadDir(-1)
	d.Close()
	for _, e := range entries {
		if e.Type().IsRegular() && sc.finish(dir, adRel, e.Name(), names) {
			continue
		}
		restored, err := sc.v.restoreAside(adRel, dir, e.Name())
		if err != nil {
			sc.v.log.Error("vault cannot put back set-aside plaintext", "path", path.Join(adRel, e.Name()), "err", err)
			continue
		}
		sc.rep.Restored++
		if e.Type().IsRegular() {
			sc.plaintext(path.Join(dir, restored))
		}
		sc.v.log.Info("vault put back plaintext whose seal a crash interrupted", "path", path.Join(dir, restored))
	}
	sc.v.root.Remove(filepath.FromSlash(adRel)) // only if empty
}

// finish removes the set-aside regular file base if a sealed file in dir
// holds exactly its content, and reports whether it did.
func (sc *scanner) finish(dir, adRel, base string, names map[string]bool) bool {
	rel := path.Join(adRel, base)
	fi, err := sc.v.root.Lstat(filepath.FromSlash(rel))
	if err != nil {
		return false
	}
	f, st, err := sc.v.openChecked(rel, fi, false)
	if err != nil {
		return false
	}
	same := false
	for n := 1; n <= maxNameCandidates && !same; n++ {
		if cand := sealedName(base, n); names[cand] {
			same, _, _ = sc.v.sameContent(sc.ctx, path.Join(dir, cand), f, st.Size())
		}
	}
	f.Close() // before removing: Windows will not remove an open file
	if !same {
		return false
	}
	if now, err := sc.v.root.Lstat(filepath.FromSlash(rel)); err != nil || !os.SameFile(now, st) {
		return false
	}
	if sc.v.root.Remove(filepath.FromSlash(rel)) != nil {
		return false
	}
	syncDir(sc.v.root, adRel)
	sc.rep.Finished++
	sc.v.log.Info("vault finished removing plaintext after a crash", "path", path.Join(dir, base))
	return true
}
