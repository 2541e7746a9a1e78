package vault

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/keys"
)

// changing is an ErrChanging that says when to look again.
type changing struct {
	why   string
	until time.Time // zero: the scheduler's backoff decides
}

func (c *changing) Error() string { return c.why }
func (c *changing) Unwrap() error { return ErrChanging }

// refusal is an ErrRefused with its reason.
type refusal struct{ reason string }

func (r *refusal) Error() string { return "refused: " + r.reason }
func (r *refusal) Unwrap() error { return ErrRefused }

func refused(format string, args ...any) error {
	return &refusal{reason: fmt.Sprintf(format, args...)}
}

// refusalReason says why err refused a path, in words for an event.
func refusalReason(err error) string {
	var r *refusal
	if errors.As(err, &r) {
		return r.reason
	}
	return err.Error()
}

var (
	// errGone means the path named no file when the seal began.
	errGone = fmt.Errorf("%w: no such file", fs.ErrNotExist)
	// errFolder means a path names a folder: a watch hint for a new
	// folder, whose files have hints of their own.
	errFolder = refused("is a folder")
	// errSkipped means a lock or metadata file the vault leaves alone.
	errSkipped = refused("is an editor lock or folder metadata file, left alone")
	// errAlreadySealed means the file is an age file that opens with the
	// device identity: it is sealed, whatever its name.
	errAlreadySealed = errors.New("already sealed")
	// errLockedSealed means the file is an age file the vault cannot check
	// while the device identity is locked: it is counted as waiting, and
	// looked at again once unlocked (it is never sealed a second time).
	errLockedSealed = fmt.Errorf("%w: an age file the locked vault cannot check yet", keys.ErrLocked)
)

// maxNameCandidates bounds the search for a free name.
const maxNameCandidates = 1000

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// testHook, when a test sets it, is called at the named stages of a seal:
// "opened" (the plaintext is open and about to be read), "linked" (the
// sealed file is in place, not yet checked) and "aside" (the plaintext has
// been moved aside, not yet checked). Tests use it to swap files at the
// worst moments.
var testHook func(stage, rel string)

func hook(stage, rel string) {
	if testHook != nil {
		testHook(stage, rel)
	}
}

// sealed describes a file the vault sealed or found sealed.
type sealed struct {
	rel string
	rec record
}

// SealFile seals the plaintext file rel (relative to the cache, "/"
// separators) now and records it in the index. It fails with an error
// wrapping [ErrChanging] if the file changed in the last quiet period or
// while it was sealed, [ErrRefused] if it is not a plain regular file (or is
// a lock file the vault leaves alone), [fs.ErrNotExist] if it is gone, and
// keys.ErrLocked if it is an age file the vault cannot check while the
// device identity is locked (it may be sealed already: it is left alone).
// It returns the sealed file's index entry.
func (v *Vault) SealFile(ctx context.Context, rel string) (Entry, error) {
	s, err := v.seal(ctx, rel, nil)
	if errors.Is(err, errAlreadySealed) {
		err = nil
	}
	if err != nil {
		return Entry{}, err
	}
	if err := v.index.put(map[string]record{s.rel: s.rec}, nil); err != nil {
		return Entry{}, err
	}
	return s.entry(), nil
}

func (s sealed) entry() Entry {
	return Entry{Path: s.rel, CaseRef: s.rec.CaseRef, Size: s.rec.Size, SealedAt: s.rec.SealedAt, Unverified: s.rec.Unverified}
}

// seal seals rel, calling found (if not nil) once it has checked that rel is
// plaintext it can seal. The steps are ordered so that a crash or a
// cancelled ctx at any point leaves the plaintext or a complete sealed file.
func (v *Vault) seal(ctx context.Context, rel string, found func(size int64)) (sealed, error) {
	if err := checkRel(rel); err != nil {
		return sealed{}, err
	}
	dir, base := path.Split(rel)
	dir = path.Clean(dir + ".")
	if isTemp(base) || inAside(rel) {
		return sealed{}, refused("is one of the vault's working files")
	}
	v.hold(rel)
	defer v.release(rel)

	if err := v.checkParents(dir); err != nil {
		return sealed{}, err
	}
	fi, err := v.root.Lstat(filepath.FromSlash(rel))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return sealed{}, errGone
	case err != nil:
		return sealed{}, err
	case fi.IsDir():
		return sealed{}, errFolder
	case !fi.Mode().IsRegular():
		return sealed{}, refused("is %s", kindOf(fi.Mode()))
	case skipped(base, fi.Size()):
		return sealed{}, errSkipped
	}
	// A modification time in the future (a clock that was wrong, a FAT
	// stick written in another time zone) says nothing about writing now:
	// a write would have set it to now. Only a recent one makes it wait.
	if now, wait := v.cfg.Now(), fi.ModTime().Add(v.cfg.Quiet); now.Before(wait) && !fi.ModTime().After(now.Add(time.Second)) {
		return sealed{}, &changing{why: "modified less than the quiet period ago", until: wait}
	}
	f, st, err := v.openChecked(rel, fi, true)
	if err != nil {
		return sealed{}, err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	if heldOpen(f) {
		return sealed{}, errInUse
	}
	switch s, seen := v.opensSealed(rel, f, st); seen {
	case seenSealed:
		return s, errAlreadySealed
	case seenLocked:
		return sealed{}, errLockedSealed
	}
	if found != nil {
		found(st.Size())
	}
	hook("opened", rel)
	s, err := v.sealInto(ctx, f, st, dir, base)
	if err != nil {
		return sealed{}, err
	}
	// Windows cannot rename a file while our exclusive handle is open; the
	// check after moving it aside makes sure it is still the file sealed.
	f.Close()
	f = nil
	if err := v.removePlaintext(dir, base, st); err != nil {
		return sealed{}, err
	}
	return s, nil
}

// sealInto seals the content of f (a plain file named base, listed as st)
// into the cache folder destDir, under the first free sealed name, and
// checks the result opens with the device identity. A sealed file that
// already holds exactly this content is used instead of writing another
// (the case after a crash between sealing and removing the plaintext). On
// return the sealed file is durable.
func (v *Vault) sealInto(ctx context.Context, f *os.File, st fs.FileInfo, destDir, base string) (sealed, error) {
	outBase, existing, err := v.chooseName(ctx, destDir, base, f, st)
	if err != nil {
		return sealed{}, err
	}
	outRel := path.Join(destDir, outBase)
	v.hold(outRel)
	defer v.release(outRel)
	want := existing
	if want == nil {
		if want, err = v.writeSealed(ctx, destDir, outRel, f, st); err != nil {
			return sealed{}, err
		}
	}
	hook("linked", outRel)
	// From here the work is finished rather than rolled back, whatever ctx
	// says: the sealed file is in place.
	ofi, hdrLen, unverified, err := v.checkSealed(outRel, want, existing != nil, st.Size())
	if err != nil {
		var r *refusal
		if existing == nil && !errors.As(err, &r) {
			v.root.Remove(filepath.FromSlash(outRel)) // ours (same file), and useless
		}
		return sealed{}, fmt.Errorf("the sealed file does not check out: %w", err)
	}
	rec := v.recordFor(outRel, ofi, hdrLen, v.cfg.Now())
	rec.Unverified = unverified
	return sealed{rel: outRel, rec: rec}, nil
}

// checkParents checks that every folder on the way to dir is a real folder:
// os.Root would follow a symlink that stays inside the cache, and the vault
// follows none.
func (v *Vault) checkParents(dir string) error {
	if dir == "." {
		return nil
	}
	p := ""
	for _, elem := range strings.Split(dir, "/") {
		p = path.Join(p, elem)
		fi, err := v.root.Lstat(filepath.FromSlash(p))
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return refused("is inside a folder that is %s", kindOf(fi.Mode()))
		}
	}
	return nil
}

// openChecked opens rel, listed as fi, exclusively if asked (Windows only;
// for sealing), and checks that what it opened is that same plain regular
// file with a single link.
func (v *Vault) openChecked(rel string, fi fs.FileInfo, exclusive bool) (*os.File, fs.FileInfo, error) {
	f, err := openFile(v.root, rel, exclusive)
	if errors.Is(err, errReparsePoint) {
		return nil, nil, refused("is a symlink or junction")
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := sameRegular(f, fi, st); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// sameRegular checks that st (of the open f) is the regular file fi was
// listed as, unchanged, with one link.
func sameRegular(f *os.File, fi, st fs.FileInfo) error {
	switch {
	case !st.Mode().IsRegular():
		return refused("is %s", kindOf(st.Mode()))
	case !os.SameFile(fi, st):
		return &changing{why: "was replaced while it was opened"}
	case st.Size() != fi.Size() || !st.ModTime().Equal(fi.ModTime()):
		return &changing{why: "changed while it was opened"}
	}
	n, err := linkCount(f, st)
	if err != nil {
		return fmt.Errorf("counting its links: %w", err)
	}
	if n > 1 {
		return refused("has %d hard links (a hardlinked file may be someone else's)", n)
	}
	return nil
}

// What opensSealed saw.
type seen int

const (
	seenPlain  seen = iota // not an age file that opens with the device identity
	seenSealed             // an age file that opens with the device identity
	seenLocked             // an age file, but the identity is locked: cannot tell whose
)

// opensSealed tells whether f is an age file that opens with the device
// identity (and if so describes it), or one the vault cannot check because
// the identity is locked. It leaves f at its start.
func (v *Vault) opensSealed(rel string, f *os.File, st fs.FileInfo) (sealed, seen) {
	defer f.Seek(0, io.SeekStart)
	hdrLen, err := v.openHeader(f)
	switch {
	case errors.Is(err, keys.ErrLocked):
		return sealed{}, seenLocked
	case err != nil:
		return sealed{}, seenPlain
	}
	return sealed{rel: rel, rec: v.recordFor(rel, st, hdrLen, st.ModTime())}, seenSealed
}

const ageMagic = "age-encryption.org/v1\n"

// readHeader reads an age header from r.
func readHeader(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(r, 4096)
	if magic, err := br.Peek(len(ageMagic)); err != nil || string(magic) != ageMagic {
		return nil, errors.New("not an age file")
	}
	return age.ExtractHeader(br)
}

// openHeader reads an age header from r and checks that it opens with the
// device identity. It returns the header's length. A header that parses
// while the identity is locked gives an error wrapping keys.ErrLocked.
func (v *Vault) openHeader(r io.Reader) (int64, error) {
	hdr, err := readHeader(r)
	if err != nil {
		return 0, err
	}
	return int64(len(hdr)), v.opens(hdr)
}

// opens checks that the header hdr opens with the device identity.
func (v *Vault) opens(hdr []byte) error {
	ids, err := v.cfg.Device.Identities()
	if err != nil {
		return err
	}
	key, err := age.DecryptHeader(hdr, ids...)
	if err != nil {
		return err
	}
	clear(key)
	return nil
}

// checkStructure checks, without any identity, that hdr is the header of
// an age file sealed to the vault's recipients (one stanza of each
// recipient's kind, and no other), and that the whole file is there: its
// size is that of size bytes of plaintext sealed under hdr. It is how a
// file sealed while the device identity is locked is checked.
func (v *Vault) checkStructure(hdr []byte, cipherSize, size int64) error {
	got := map[string]int{}
	for _, line := range strings.Split(string(hdr), "\n") {
		if typ, ok := strings.CutPrefix(line, "-> "); ok {
			typ, _, _ = strings.Cut(typ, " ")
			got[typ]++
		}
	}
	if !maps.Equal(got, v.stanzas) {
		return fmt.Errorf("its header has stanzas %v, not one for each recipient (%v)", got, v.stanzas)
	}
	if n := plaintextSize(cipherSize, int64(len(hdr))); n != size {
		return fmt.Errorf("it holds %d bytes of plaintext, not %d: it is incomplete", n, size)
	}
	return nil
}

// stanzaKinds counts the kinds of header stanza sealing to rs writes.
func stanzaKinds(rs []age.Recipient) (map[string]int, error) {
	kinds := map[string]int{}
	fileKey := make([]byte, 16)
	for _, r := range rs {
		ss, err := r.Wrap(fileKey)
		if err != nil {
			return nil, fmt.Errorf("vault: a recipient cannot seal: %w", err)
		}
		for _, s := range ss {
			kinds[s.Type]++
		}
	}
	return kinds, nil
}

// openSealed opens a sealed file for reading without blocking on a FIFO
// swapped in under its name, and checks it is a regular file.
func (v *Vault) openSealed(rel string) (*os.File, fs.FileInfo, error) {
	f, err := openFile(v.root, rel, false)
	if errors.Is(err, errReparsePoint) {
		return nil, nil, refused("its sealed file is a symlink or junction")
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, refused("its sealed file is %s", kindOf(fi.Mode()))
	}
	return f, fi, nil
}

// checkSealed reopens the sealed file rel, checks it is want (the file the
// vault wrote, or an existing one it chose: someone may have replaced it
// since), makes an existing one durable (a written one is already), and
// checks its header opens with the device identity. While the identity is
// locked, a file the vault has just written from size bytes of plaintext
// is checked for its structure instead, and reported unverified.
func (v *Vault) checkSealed(rel string, want fs.FileInfo, existing bool, size int64) (fi fs.FileInfo, hdrLen int64, unverified bool, err error) {
	f, fi, err := v.openSealed(rel)
	if err != nil {
		return nil, 0, false, err
	}
	defer f.Close()
	if !os.SameFile(fi, want) || fi.Size() != want.Size() {
		return nil, 0, false, refused("was replaced while it was being sealed")
	}
	if existing {
		if err := f.Sync(); err != nil {
			return nil, 0, false, err
		}
	}
	hdr, err := readHeader(f)
	if err != nil {
		return nil, 0, false, err
	}
	err = v.opens(hdr)
	if errors.Is(err, keys.ErrLocked) && !existing {
		return fi, int64(len(hdr)), true, v.checkStructure(hdr, fi.Size(), size)
	}
	return fi, int64(len(hdr)), false, err
}

// chooseName picks the sealed name for base in dir: the first candidate that
// is free, or one that already holds exactly this content sealed to this
// device, which it returns.
func (v *Vault) chooseName(ctx context.Context, dir, base string, f *os.File, st fs.FileInfo) (string, fs.FileInfo, error) {
	for n := 1; n <= maxNameCandidates; n++ {
		name := sealedName(base, n)
		_, err := v.root.Lstat(filepath.FromSlash(path.Join(dir, name)))
		if errors.Is(err, fs.ErrNotExist) {
			return name, nil, nil
		}
		if err != nil {
			return "", nil, err
		}
		same, fi, err := v.sameContent(ctx, path.Join(dir, name), f, st.Size())
		if errors.Is(err, keys.ErrLocked) {
			continue // cannot tell while locked: leave it, and take another name
		}
		if err != nil {
			return "", nil, err
		}
		if same {
			return name, fi, nil
		}
	}
	return "", nil, fmt.Errorf("no free sealed name after %d tries", maxNameCandidates)
}

// sameContent reports whether the sealed file rel opens with the device
// identity and decrypts to exactly the content of plain (size bytes), and
// returns what it opened. It leaves plain at its start. While the identity
// is locked it cannot tell: the error wraps keys.ErrLocked.
func (v *Vault) sameContent(ctx context.Context, rel string, plain *os.File, size int64) (bool, fs.FileInfo, error) {
	defer plain.Seek(0, io.SeekStart)
	sf, fi, err := v.openSealed(rel)
	if err != nil {
		return false, nil, nil
	}
	defer sf.Close()
	ids, err := v.cfg.Device.Identities()
	if err != nil {
		return false, nil, err
	}
	r, err := age.Decrypt(bufio.NewReaderSize(sf, 64<<10), ids...)
	if err != nil {
		return false, nil, nil
	}
	if _, err := plain.Seek(0, io.SeekStart); err != nil {
		return false, nil, err
	}
	same, err := equalReaders(ctx, r, io.LimitReader(plain, size+1))
	return same, fi, err
}

func equalReaders(ctx context.Context, a, b io.Reader) (bool, error) {
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		na, errA := io.ReadFull(a, bufA)
		nb, errB := io.ReadFull(b, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		endA := errA == io.EOF || errA == io.ErrUnexpectedEOF
		endB := errB == io.EOF || errB == io.ErrUnexpectedEOF
		switch {
		case errA != nil && !endA:
			return false, nil // corrupt or truncated ciphertext: not the same
		case errB != nil && !endB:
			return false, errB
		case endA || endB:
			return endA && endB, nil
		}
	}
}

// writeSealed encrypts f into a temporary file in dir and links it into
// place as outRel, and returns the sealed file's identity. On any failure,
// or if ctx is cancelled before the link, the temporary file is removed and
// nothing else has changed. The temporary file stays open, and locked, until
// it is gone, so a scan in another process never takes it for a leftover.
func (v *Vault) writeSealed(ctx context.Context, dir, outRel string, f *os.File, st fs.FileInfo) (fs.FileInfo, error) {
	tmpRel := path.Join(dir, tempName(randomTag(), v.tempKey))
	v.hold(tmpRel)
	defer v.release(tmpRel)
	tf, err := v.root.OpenFile(filepath.FromSlash(tmpRel), os.O_RDWR|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
	if err != nil {
		return nil, err
	}
	defer tf.Close()
	done := false
	defer func() {
		if !done {
			v.root.Remove(filepath.FromSlash(tmpRel))
		}
	}()
	if err := lockTemp(tf); err != nil {
		return nil, err
	}
	if err := chownLike(tf, st); err != nil && os.Geteuid() == 0 {
		return nil, fmt.Errorf("giving the sealed file its owner: %w", err)
	}
	bw := bufio.NewWriterSize(tf, 64<<10)
	w, err := age.Encrypt(bw, v.recipients...)
	if err != nil {
		return nil, err
	}
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(w, ctxReader{ctx, f}, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	// The plaintext must not have changed while it was read.
	after, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if n != st.Size() || after.Size() != st.Size() || !after.ModTime().Equal(st.ModTime()) {
		return nil, &changing{why: "changed while it was being sealed"}
	}
	if err := tf.Sync(); err != nil {
		return nil, err
	}
	tfi, err := tf.Stat()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the last moment to roll back
	}
	// A link, unlike a rename, never replaces a file that appeared meanwhile.
	// Filesystems without hard links (FAT and exFAT USB sticks) get a
	// rename that refuses to replace instead.
	renamed := false
	err = linkFile(v.root, filepath.FromSlash(tmpRel), filepath.FromSlash(outRel))
	if err != nil && !errors.Is(err, fs.ErrExist) && linkUnsupported(err) {
		tf.Close() // Windows renames no open file
		err = renameNoReplace(v.root, dir, path.Base(tmpRel), path.Base(outRel))
		renamed = err == nil
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, &changing{why: "its sealed name was taken meanwhile"}
		}
		return nil, err
	}
	done = true // the sealed name holds it now; the temporary name goes below
	if !renamed {
		if err := v.root.Remove(filepath.FromSlash(tmpRel)); err != nil {
			v.log.Warn("vault could not remove a temporary name", "path", tmpRel, "err", err) // a scan will
		}
	}
	if err := syncDir(v.root, dir); err != nil {
		return nil, err
	}
	return tfi, nil
}

// linkFile makes a hard link; tests replace it to act as a filesystem
// without hard links.
var linkFile = func(r *os.Root, oldname, newname string) error { return r.Link(oldname, newname) }

// removePlaintext removes the plaintext base in dir, which was sealed from
// st. It first moves it into a private folder beside it, and removes it only
// if what it moved is that same regular file, unchanged; otherwise (an
// editor saved a new version meanwhile, or something else was put there) it
// moves it back, never replacing anything, and reports ErrChanging, so the
// new version is sealed in its turn. A crash between the move and the
// removal leaves the plaintext in that folder, under its own name, for the
// next scan to finish or undo. Once the plaintext is gone, later errors
// (tidying the private folder) are only logged: the seal is done.
func (v *Vault) removePlaintext(dir, base string, st fs.FileInfo) error {
	rel := path.Join(dir, base)
	asideDir := path.Join(dir, asidePrefix+randomTag())
	v.hold(asideDir) // before it exists, so a scan never takes it for a leftover
	defer v.release(asideDir)
	if err := v.root.Mkdir(filepath.FromSlash(asideDir), 0o700); err != nil {
		return err
	}
	aside := path.Join(asideDir, base)
	if err := v.root.Rename(filepath.FromSlash(rel), filepath.FromSlash(aside)); err != nil {
		v.root.Remove(filepath.FromSlash(asideDir))
		if _, lerr := v.root.Lstat(filepath.FromSlash(rel)); errors.Is(lerr, fs.ErrNotExist) {
			return nil // already gone
		}
		return err
	}
	hook("aside", aside)
	ast, err := v.root.Lstat(filepath.FromSlash(aside))
	if err != nil {
		return err
	}
	if !ast.Mode().IsRegular() || !os.SameFile(ast, st) || ast.Size() != st.Size() || !ast.ModTime().Equal(st.ModTime()) {
		if _, err := v.restoreAside(asideDir, dir, base); err != nil {
			return err
		}
		return &changing{why: "was replaced or changed while it was being sealed"}
	}
	if err := v.root.Remove(filepath.FromSlash(aside)); err != nil {
		return err
	}
	if err := v.root.Remove(filepath.FromSlash(asideDir)); err != nil {
		v.log.Warn("vault could not remove its private folder", "path", asideDir, "err", err)
	}
	if err := syncDir(v.root, dir); err != nil {
		v.log.Warn("vault could not flush a folder", "path", dir, "err", err)
	}
	return nil
}

// restoreAside moves what is set aside as asideDir/base back into dir under
// base, or under a "(unsealed N)" name if that has been taken meanwhile,
// never replacing anything, removes asideDir, and returns the name used. It
// moves whatever is there, folders and special files included.
func (v *Vault) restoreAside(asideDir, dir, base string) (string, error) {
	from := path.Join(path.Base(asideDir), base)
	for n := 1; n <= maxNameCandidates; n++ {
		name := restoredName(base, n)
		err := renameNoReplace(v.root, dir, from, name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		v.root.Remove(filepath.FromSlash(asideDir))
		return name, syncDir(v.root, dir)
	}
	return "", fmt.Errorf("no free name to put a set-aside file back under after %d tries", maxNameCandidates)
}

// recordFor makes the index record of a sealed file.
func (v *Vault) recordFor(rel string, fi fs.FileInfo, hdrLen int64, sealedAt time.Time) record {
	return record{
		CaseRef:    v.cfg.CaseRef(rel),
		Size:       plaintextSize(fi.Size(), hdrLen),
		SealedAt:   sealedAt.UTC(),
		CipherSize: fi.Size(),
		ModTime:    fi.ModTime().UnixNano(),
	}
}

// plaintextSize computes the plaintext length of an age file from its size
// and header length: the payload is a 16-byte nonce, then 64 KiB chunks of
// plaintext each followed by a 16-byte tag, with at least one chunk.
func plaintextSize(size, hdrLen int64) int64 {
	const chunk, tag, nonce = 64 << 10, 16, 16
	payload := size - hdrLen - nonce
	if payload < tag {
		return 0
	}
	chunks := (payload + chunk + tag - 1) / (chunk + tag)
	return payload - chunks*tag
}

func randomTag() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ctxReader stops a copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// checkRel refuses paths that are not clean, relative and inside the cache.
// Names need not be UTF-8: Unix file names are bytes.
func checkRel(rel string) error {
	bad := rel == "" || rel == "." || strings.HasPrefix(rel, "/") || strings.ContainsRune(rel, 0)
	for _, elem := range strings.Split(rel, "/") {
		bad = bad || elem == "" || elem == "." || elem == ".."
	}
	if bad {
		return refused("is not a clean path inside the cache")
	}
	return nil
}

// hold marks paths the vault is working on, so that a concurrent scan in
// this process leaves them alone; release unmarks them.
func (v *Vault) hold(rel string) {
	v.mu.Lock()
	v.busy[rel]++
	v.mu.Unlock()
}

func (v *Vault) release(rel string) {
	v.mu.Lock()
	if v.busy[rel]--; v.busy[rel] <= 0 {
		delete(v.busy, rel)
	}
	v.mu.Unlock()
}

func (v *Vault) isBusy(rel string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.busy[rel] > 0
}
