package sweep

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/agent/watch"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// Kind says why a folder is swept.
type Kind string

// The kinds of folder.
const (
	KindSweep  Kind = "sweep"  // a folder policy names, such as Downloads
	KindSync   Kind = "sync"   // a personal cloud-sync folder
	KindVolume Kind = "volume" // an unapproved removable volume
)

// Folder is a folder to sweep and what to do with a case file found in it.
type Folder struct {
	// Path is the folder, an absolute path.
	Path string
	Kind Kind
	// Action is policy.ActionAudit, ActionQuarantine or ActionSeal.
	Action policy.Action
	// Label names the folder for the person at the laptop and for
	// heartbeats, such as "Downloads" or "Dropbox (personal)". It must not
	// name a person.
	Label string
}

// Finding is what a Classifier decides about one file.
type Finding struct {
	CaseFile bool
	// Rule says which rule matched ("path", "name" or "marker").
	Rule string
	// CaseRef is the case reference found in the file's name, if any.
	CaseRef string
}

// Classifier decides whether a file is a case file. name is the file's full
// path with "/" separators; r reads the open file, of the given size. It
// must read a bounded number of bytes.
type Classifier func(ctx context.Context, name string, r io.ReaderAt, size int64) (Finding, error)

// Vault is what the sweeper needs of the vault: *vault.Vault has both.
// The roots are opened with [vault.OpenFolder].
type Vault interface {
	// ImportFrom seals rel (under root) into the cache folder destDir and
	// removes it.
	ImportFrom(ctx context.Context, root *os.Root, rel, destDir string) (vault.Entry, error)
	// SealInPlace seals rel (under root) where it is.
	SealInPlace(ctx context.Context, root *os.Root, rel string) (string, error)
}

// EventKind names what the sweeper did.
type EventKind string

// The sweeper's events.
const (
	// EventFound: a case file was found where policy says only to report it.
	EventFound EventKind = wire.OutsideCaseFileFound
	// EventQuarantined: a case file was moved into the vault, sealed.
	EventQuarantined EventKind = wire.OutsideQuarantined
	// EventSealed: a case file was sealed where it was found.
	EventSealed EventKind = wire.OutsideSealedInPlace
	// EventFailed: a case file was found but the action failed; it is
	// retried a few times, then reported again at the next change.
	EventFailed EventKind = wire.OutsideActionFailed
)

// Event is something the sweeper found or did. Path and Dest are for the
// laptop's own log and status; heartbeats carry only the kind, the folder's
// kind and label, the rule and the case reference.
type Event struct {
	Time    time.Time
	Kind    EventKind
	Folder  Folder
	Path    string // the file found, absolute
	CaseRef string
	Rule    string
	Dest    string // where it went: the path in the cache, or the sealed file
	Reason  string // for EventFailed: the error, for the laptop's own log
	Err     error  // for EventFailed: the error, for errors.Is
}

// Config is what a Sweeper needs. Classify and Vault are required.
type Config struct {
	Classify Classifier
	Vault    Vault
	// Events receives every event; it must not block for long.
	Events func(Event)
	// DestDir returns the cache folder ("/"-separated, relative to the
	// cache) for a quarantined file with the given case reference ("" if
	// none was found). Default: the case reference, or "Quarantine".
	DestDir func(caseRef string) string
	// Settle is how long a file must go unchanged before it is looked at
	// (default 2s): a file still being written or downloaded waits.
	Settle time.Duration
	// Rescan is the period of each folder's full rescan (default 15m).
	Rescan time.Duration
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Exclude are folders (absolute) never looked into, such as the
	// vault's cache.
	Exclude []string
}

// Retry delays and bounds.
const (
	retryFailed   = time.Minute
	maxAttempts   = 5
	maxSeen       = 200_000 // files remembered as looked at; beyond, forgotten and looked at again
	maxDepth      = 32
	keepRecent    = 50
	folderRecheck = time.Minute // a missing folder is looked for again this often
)

// Sweeper watches folders and acts on the case files it finds in them.
type Sweeper struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	ctx      context.Context // set by Run
	folders  map[Folder]*running
	queue    []task
	queued   map[key]bool
	active   map[key]bool // being checked by a worker
	again    map[key]bool // queued while active: checked again after
	signal   chan struct{}
	seen     map[key]stamp
	attempts map[key]int
	timers   map[key]*time.Timer // one pending retry per file
	future   map[key]futureSeen  // files with a future modification time, first seen
	recent   []Event
	stats    Stats
}

// Stats counts what a sweeper has done since it started.
type Stats struct {
	Looked      int // files classified
	CaseFiles   int // case files found
	Quarantined int
	Sealed      int
	Failed      int
}

type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

type key struct {
	dir string // the folder's path
	rel string // "/"-separated, relative to it
}

type task struct {
	f   Folder
	rel string
}

type stamp struct {
	size  int64
	mtime time.Time
}

type futureSeen struct {
	stamp
	at time.Time
}

// New returns a Sweeper with no folders; see [Sweeper.SetFolders].
func New(cfg Config) (*Sweeper, error) {
	if cfg.Classify == nil || cfg.Vault == nil {
		return nil, errors.New("sweep: Classify and Vault are required")
	}
	if cfg.Events == nil {
		cfg.Events = func(Event) {}
	}
	if cfg.DestDir == nil {
		cfg.DestDir = func(ref string) string {
			if ref == "" {
				return "Quarantine"
			}
			return ref
		}
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.Rescan <= 0 {
		cfg.Rescan = watch.DefaultRescan
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{
		cfg: cfg, log: log,
		folders:  map[Folder]*running{},
		queued:   map[key]bool{},
		active:   map[key]bool{},
		again:    map[key]bool{},
		signal:   make(chan struct{}, 1),
		seen:     map[key]stamp{},
		attempts: map[key]int{},
		timers:   map[key]*time.Timer{},
		future:   map[key]futureSeen{},
	}, nil
}

// SetFolders makes the sweeper watch exactly these folders: new ones are
// scanned at once, removed ones are no longer watched. It may be called
// before or while Run runs.
func (s *Sweeper) SetFolders(folders []Folder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[Folder]bool{}
	for _, f := range folders {
		if f.Path == "" || !filepath.IsAbs(f.Path) {
			s.log.Warn("sweep: not an absolute folder; skipped", "folder", f.Path)
			continue
		}
		f.Path = filepath.Clean(f.Path)
		want[f] = true
	}
	for f, r := range s.folders {
		if !want[f] {
			if r != nil {
				r.cancel()
			}
			delete(s.folders, f)
		}
	}
	for f := range want {
		if _, ok := s.folders[f]; !ok {
			s.folders[f] = nil
			if s.ctx != nil {
				s.startLocked(f)
			}
		}
	}
}

// Folders returns the folders being swept, sorted by path.
func (s *Sweeper) Folders() []Folder {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Folder, 0, len(s.folders))
	for f := range s.folders {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Folder) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Recent returns the latest events that acted on or reported a case file,
// newest last.
func (s *Sweeper) Recent() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recent)
}

// Stats returns the counters.
func (s *Sweeper) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run sweeps until ctx is done, then stops watching and returns once no
// file is being acted on.
func (s *Sweeper) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.ctx != nil {
		s.mu.Unlock()
		return errors.New("sweep: Run called twice")
	}
	s.ctx = ctx
	for f := range s.folders {
		s.startLocked(f)
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work(ctx)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	s.mu.Lock()
	for k, t := range s.timers {
		t.Stop()
		delete(s.timers, k)
	}
	var dones []chan struct{}
	for _, r := range s.folders {
		if r != nil {
			dones = append(dones, r.done)
		}
	}
	s.mu.Unlock()
	for _, d := range dones {
		<-d
	}
	return nil
}

func (s *Sweeper) startLocked(f Folder) {
	ctx, cancel := context.WithCancel(s.ctx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	s.folders[f] = r
	go func() {
		defer close(r.done)
		s.watchFolder(ctx, f)
	}()
}

// watchFolder watches one folder until ctx is done, waiting for it to
// exist if it does not yet.
func (s *Sweeper) watchFolder(ctx context.Context, f Folder) {
	for ctx.Err() == nil {
		w, err := watch.New(f.Path, watch.Options{
			Quiet: s.cfg.Settle / 2, Max: 4 * s.cfg.Settle, Rescan: s.cfg.Rescan, Ignore: ignored, Logger: s.log,
		})
		if err == nil {
			err = s.consume(ctx, f, w)
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Debug("sweep: cannot watch a folder; looking again later", "folder", f.Path, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(min(folderRecheck, s.cfg.Rescan)):
		}
	}
}

func (s *Sweeper) consume(ctx context.Context, f Folder, w *watch.Watcher) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for h := range w.Hints() {
		if h.Rescan {
			s.walk(ctx, f)
		} else {
			s.enqueue(f, h.Path)
		}
	}
	return <-done
}

// walk queues every regular file under f, following no symlink.
func (s *Sweeper) walk(ctx context.Context, f Folder) {
	filepath.WalkDir(f.Path, func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return filepath.SkipAll
		}
		if err != nil || p == f.Path {
			return nil
		}
		rel, rerr := filepath.Rel(f.Path, p)
		if rerr != nil {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if ignored(rel) || strings.Count(rel, "/") >= maxDepth || s.excluded(p) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && !ignored(rel) {
			s.enqueue(f, rel)
		}
		return nil
	})
}

func (s *Sweeper) enqueue(f Folder, rel string) {
	k := key{f.Path, rel}
	s.mu.Lock()
	_, retrying := s.timers[k] // a retry is due soon anyway
	if _, ok := s.folders[f]; !ok || s.queued[k] || retrying {
		s.mu.Unlock()
		return
	}
	s.queued[k] = true
	s.queue = append(s.queue, task{f, rel})
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// enqueueAfter looks at rel again after d. A file has at most one retry
// pending: a later request for it is dropped, so retries never multiply.
func (s *Sweeper) enqueueAfter(ctx context.Context, f Folder, rel string, d time.Duration) {
	k := key{f.Path, rel}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, pending := s.timers[k]; pending || ctx.Err() != nil {
		return
	}
	s.timers[k] = time.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.timers, k)
		s.mu.Unlock()
		if ctx.Err() == nil {
			s.enqueue(f, rel)
		}
	})
}

func (s *Sweeper) work(ctx context.Context) {
	for {
		s.mu.Lock()
		var t task
		ok := len(s.queue) > 0
		if ok {
			t = s.queue[0]
			s.queue[0] = task{}
			s.queue = s.queue[1:]
			delete(s.queued, key{t.f.Path, t.rel})
			if len(s.queue) == 0 {
				s.queue = nil // let the backing array go
			} else {
				select { // another worker may take the next one
				case s.signal <- struct{}{}:
				default:
				}
			}
		}
		_, live := s.folders[t.f]
		k := key{t.f.Path, t.rel}
		busy := ok && s.active[k]
		if busy {
			s.again[k] = true // one file is checked by one worker at a time
		} else if ok && live {
			s.active[k] = true
		}
		s.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-s.signal:
			}
			continue
		}
		if !live || busy {
			continue
		}
		retry := s.check(ctx, t.f, t.rel)
		s.mu.Lock()
		delete(s.active, k)
		again := s.again[k]
		delete(s.again, k)
		s.mu.Unlock()
		switch {
		case ctx.Err() != nil:
		case again:
			s.enqueue(t.f, t.rel)
		case retry > 0:
			s.enqueueAfter(ctx, t.f, t.rel, retry)
		}
	}
}

// check looks at one file and acts on it; it returns when to look again
// (0: not until the next change).
func (s *Sweeper) check(ctx context.Context, f Folder, rel string) time.Duration {
	if ignored(rel) {
		return 0
	}
	k := key{f.Path, rel}
	if s.excluded(filepath.Join(f.Path, filepath.FromSlash(rel))) {
		return 0
	}
	// Opened afresh, refusing a symlink anywhere on the way: the user may
	// have swapped the folder for a link to someone else's since it was
	// watched.
	root, err := vault.OpenFolder(f.Path)
	if err != nil {
		return 0 // gone or replaced; its watcher notices
	}
	defer root.Close()
	fi, err := root.Lstat(filepath.FromSlash(rel))
	if err != nil || !fi.Mode().IsRegular() {
		s.forget(k)
		return 0
	}
	if downloading(root, rel) {
		return s.cfg.Settle
	}
	st := stamp{fi.Size(), fi.ModTime()}
	now := s.cfg.Now()
	if fi.ModTime().After(now.Add(time.Second)) {
		// A modification time in the future (a wrong clock, a FAT stick
		// written in another time zone) cannot tell whether the file is
		// still changing: it must look the same twice, Settle apart.
		s.mu.Lock()
		seen, ok := s.future[k]
		if !ok || seen.stamp != st {
			s.future[k] = futureSeen{st, now}
		}
		s.mu.Unlock()
		if !ok || seen.stamp != st || now.Sub(seen.at) < s.cfg.Settle {
			return s.cfg.Settle
		}
	} else if wait := fi.ModTime().Add(s.cfg.Settle).Sub(now); wait > 0 {
		return wait + 10*time.Millisecond
	}
	s.mu.Lock()
	prev, looked := s.seen[k]
	s.mu.Unlock()
	if looked && prev == st {
		return 0
	}
	base := path.Base(rel)
	if (strings.HasPrefix(base, "~$") || strings.HasPrefix(base, ".~lock.")) && fi.Size() <= maxLockFile {
		return 0 // an Office or LibreOffice lock file
	}
	file, ofi, err := vault.OpenRegular(root, rel)
	switch {
	case errors.Is(err, vault.ErrChanging):
		return s.cfg.Settle
	case err != nil:
		s.remember(k, st) // refused (a hardlink, say) or unreadable: not again until it changes
		s.log.Debug("sweep: left a file alone", "path", filepath.Join(f.Path, rel), "err", err)
		return 0
	}
	if strings.HasSuffix(base, vault.SealedExt) && vault.LooksSealed(file) {
		file.Close()
		s.remember(k, st) // already encrypted
		return 0
	}
	full := filepath.ToSlash(filepath.Join(f.Path, filepath.FromSlash(rel)))
	finding, err := s.cfg.Classify(ctx, full, file, ofi.Size())
	file.Close()
	s.count(func(st *Stats) { st.Looked++ })
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("sweep: could not classify a file", "path", full, "err", err)
			s.remember(k, st)
		}
		return 0
	}
	if !finding.CaseFile {
		s.remember(k, st)
		return 0
	}
	// Still the file classified? A download that resumed waits.
	if now, err := root.Lstat(filepath.FromSlash(rel)); err != nil || !os.SameFile(now, ofi) ||
		now.Size() != ofi.Size() || !now.ModTime().Equal(ofi.ModTime()) {
		return s.cfg.Settle
	}
	return s.act(ctx, root, f, rel, filepath.FromSlash(full), finding, k, st)
}

func (s *Sweeper) act(ctx context.Context, root *os.Root, f Folder, rel, full string, finding Finding, k key, st stamp) time.Duration {
	e := Event{Time: s.cfg.Now(), Folder: f, Path: full, CaseRef: finding.CaseRef, Rule: finding.Rule}
	var err error
	switch f.Action {
	case policy.ActionQuarantine:
		var entry vault.Entry
		if entry, err = s.cfg.Vault.ImportFrom(ctx, root, rel, s.cfg.DestDir(finding.CaseRef)); err == nil {
			e.Kind, e.Dest = EventQuarantined, entry.Path
			if entry.CaseRef != "" {
				e.CaseRef = entry.CaseRef
			}
		}
	case policy.ActionSeal:
		var sealed string
		if sealed, err = s.cfg.Vault.SealInPlace(ctx, root, rel); err == nil {
			e.Kind, e.Dest = EventSealed, filepath.Join(f.Path, filepath.FromSlash(sealed))
		}
	default: // audit
		e.Kind = EventFound
	}
	switch {
	case errors.Is(err, vault.ErrChanging), errors.Is(err, fs.ErrNotExist) && ctx.Err() != nil:
		return s.cfg.Settle
	case errors.Is(err, fs.ErrNotExist):
		s.forget(k)
		return 0
	case ctx.Err() != nil:
		return 0
	case err != nil:
		s.mu.Lock()
		s.attempts[k]++
		n := s.attempts[k]
		s.mu.Unlock()
		e.Kind, e.Reason, e.Err = EventFailed, err.Error(), err
		s.record(e, func(st *Stats) { st.Failed++ })
		s.log.Warn("sweep: could not act on a case file", "path", full, "action", f.Action, "attempt", n, "err", err)
		if n < maxAttempts && !errors.Is(err, vault.ErrRefused) {
			return retryFailed
		}
		s.remember(k, st)
		return 0
	}
	s.mu.Lock()
	delete(s.attempts, k)
	s.mu.Unlock()
	switch e.Kind {
	case EventFound:
		s.remember(k, st)
		s.record(e, func(st *Stats) { st.CaseFiles++ })
	case EventQuarantined:
		s.forget(k)
		s.record(e, func(st *Stats) { st.CaseFiles++; st.Quarantined++ })
	case EventSealed:
		s.forget(k)
		s.record(e, func(st *Stats) { st.CaseFiles++; st.Sealed++ })
	}
	return 0
}

func (s *Sweeper) record(e Event, count func(*Stats)) {
	s.mu.Lock()
	count(&s.stats)
	s.recent = append(s.recent, e)
	if len(s.recent) > keepRecent {
		s.recent = slices.Clone(s.recent[len(s.recent)-keepRecent:])
	}
	s.mu.Unlock()
	s.cfg.Events(e)
}

func (s *Sweeper) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *Sweeper) remember(k key, st stamp) {
	s.mu.Lock()
	if len(s.seen) >= maxSeen {
		clear(s.seen)
	}
	s.seen[k] = st
	s.mu.Unlock()
}

func (s *Sweeper) forget(k key) {
	s.mu.Lock()
	delete(s.seen, k)
	delete(s.attempts, k)
	delete(s.future, k)
	s.mu.Unlock()
}

// excluded reports whether p is in or is one of the excluded folders.
func (s *Sweeper) excluded(p string) bool {
	for _, d := range s.cfg.Exclude {
		if r, err := filepath.Rel(d, p); err == nil && (r == "." || filepath.IsLocal(r)) {
			return true
		}
	}
	return false
}

// maxLockFile is the largest a file named like an editor's lock file may
// be and still be left alone as one.
const maxLockFile = 4096

// partialSuffixes are the names browsers and download tools give a file
// while it downloads. A file with such a name, or with a sibling of its own
// name plus one (Firefox keeps an empty placeholder under the final name),
// is not complete yet.
var partialSuffixes = []string{".crdownload", ".part", ".partial", ".download", ".opdownload", ".tmp", ".!ut", ".!qb", ".aria2"}

func isPartial(base string) bool {
	lower := strings.ToLower(base)
	for _, suf := range partialSuffixes {
		if strings.HasSuffix(lower, suf) {
			return true
		}
	}
	return false
}

func downloading(root *os.Root, rel string) bool {
	for _, elem := range strings.Split(rel, "/") {
		if isPartial(elem) { // Safari downloads into a "name.download" folder
			return true
		}
	}
	for _, suf := range partialSuffixes {
		if _, err := root.Lstat(filepath.FromSlash(rel + suf)); err == nil {
			return true
		}
	}
	return false
}

// ignored says whether a path (relative to a swept folder) is never looked
// at: the vault's own working files and downloads in progress (they are
// looked at once renamed). Sealed files and lock files are checked by
// their content and size (see check), so a name alone hides nothing.
func ignored(rel string) bool {
	base := path.Base(rel)
	switch {
	case strings.HasSuffix(base, vault.SealedExt):
	case vault.Ignored(rel), strings.HasPrefix(base, ".casekeep-"):
		return true
	}
	for _, elem := range strings.Split(rel, "/") {
		if isPartial(elem) {
			return true
		}
	}
	return false
}
