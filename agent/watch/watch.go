package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for the zero values of [Options].
const (
	DefaultQuiet  = 150 * time.Millisecond
	DefaultMax    = 2 * time.Second
	DefaultRescan = 15 * time.Minute
)

// Reasons a [Hint] asks for a rescan.
const (
	ReasonStart      = "start"       // Run has started watching
	ReasonTimer      = "timer"       // the periodic rescan
	ReasonOverflow   = "overflow"    // events were lost (kernel or internal queue full)
	ReasonWatchLimit = "watch limit" // a folder could not be watched
	ReasonBacklog    = "backlog"     // the consumer fell too far behind
	ReasonError      = "error"       // fsnotify reported another error
)

var (
	// ErrNotFolder means the root is not a folder, or is a symbolic link.
	ErrNotFolder = errors.New("watch: root is not a folder")
	// ErrInvalid means the options are out of range.
	ErrInvalid = errors.New("watch: invalid options")
	// ErrWatchLimit means the root itself could not be watched because the
	// system's limit on watches or open files was reached.
	ErrWatchLimit = errors.New("watch: watch limit reached")
	// ErrRootGone means the root was removed or moved while being watched.
	ErrRootGone = errors.New("watch: root was removed or moved")
)

// maxPending bounds the paths held for a slow consumer before they are
// dropped for one rescan.
const maxPending = 100_000

// Options configure a [Watcher]. Zero values take the defaults.
type Options struct {
	// Quiet is how long a path must go without events before it is
	// reported (default 150ms).
	Quiet time.Duration
	// Max is the longest a path waits after its first unreported event,
	// even if events keep coming (default 2s). It must not be less than
	// Quiet.
	Max time.Duration
	// Rescan is the period of the timed rescan (default 15m; negative
	// disables it).
	Rescan time.Duration
	// Ignore, if not nil, is asked about every path (slash-separated,
	// relative to the root, folders included) before it is reported; a
	// path for which it returns true produces no hint. An ignored folder
	// is still watched: its contents are asked about one by one.
	Ignore func(rel string) bool
	// Logger receives warnings, such as a watch limit being reached; nil
	// discards them.
	Logger *slog.Logger
}

// Hint says something may have changed. Hints are not facts: the consumer
// looks at the disk itself, and a rescan is the truth.
type Hint struct {
	// Path is the slash-separated path, relative to the root, of a file or
	// folder that may have changed, been created, removed or renamed; ""
	// when Rescan is set.
	Path string
	// Rescan asks the consumer to rescan the whole tree. Paths with events
	// before a rescan hint are not reported separately.
	Rescan bool
	// Reason says why a rescan is asked for: one of the Reason constants.
	Reason string
}

// Watcher reports paths that may have changed under one root folder. Make
// one with [New], start it with [Watcher.Run] and receive from
// [Watcher.Hints].
type Watcher struct {
	root               string
	quiet, max, rescan time.Duration
	ignore             func(string) bool
	log                *slog.Logger
	hints              chan Hint
	started            atomic.Bool

	// Seams for tests; set before Run.
	addWatch   func(fsw *fsnotify.Watcher, dir string) error // adds one folder watch
	testErrors chan error                                    // read like fsnotify's Errors
	maxPending int
}

// New returns a Watcher for the tree under root, which must be a folder and
// not a symbolic link. Nothing is watched until [Watcher.Run].
func New(root string, opts Options) (*Watcher, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is a %s", ErrNotFolder, abs, kind(fi.Mode()))
	}
	w := &Watcher{
		root:       abs,
		quiet:      orDefault(opts.Quiet, DefaultQuiet),
		max:        orDefault(opts.Max, DefaultMax),
		rescan:     orDefault(opts.Rescan, DefaultRescan),
		ignore:     opts.Ignore,
		log:        opts.Logger,
		hints:      make(chan Hint),
		addWatch:   (*fsnotify.Watcher).Add,
		maxPending: maxPending,
	}
	if opts.Quiet < 0 || opts.Max < 0 {
		return nil, fmt.Errorf("%w: negative delay (quiet %v, max %v)", ErrInvalid, opts.Quiet, opts.Max)
	}
	if w.max < w.quiet {
		return nil, fmt.Errorf("%w: max delay %v is less than quiet delay %v", ErrInvalid, w.max, w.quiet)
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	return w, nil
}

// orDefault returns d, or def if d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}

// Hints returns the channel of hints. It is unbuffered and is closed when
// [Watcher.Run] returns. The first hint is a rescan with [ReasonStart], sent
// once every folder is watched.
func (w *Watcher) Hints() <-chan Hint { return w.hints }

// Run watches the tree until ctx is done, when it returns nil, or until a
// fatal error: fsnotify cannot start, the root cannot be watched (wrapping
// [ErrWatchLimit] if a limit was reached), or the root is removed or moved
// ([ErrRootGone]). Either way it stops watching and closes the Hints
// channel. Run never waits for the consumer, so a consumer may stop
// receiving and cancel ctx at any time. Run may be called once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("watch: Run called twice")
	}
	defer close(w.hints)

	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		if isWatchLimit(err) {
			w.log.Error("watch: cannot start watching: "+limitAdvice, "err", err)
			return fmt.Errorf("%w: %w", ErrWatchLimit, err)
		}
		return fmt.Errorf("watch: %w", err)
	}
	p := startPump(fsw)
	defer func() {
		fsw.Close()
		<-p.done
	}()

	r := &runner{
		Watcher: w,
		ctx:     ctx,
		fsw:     fsw,
		pump:    p,
		deb:     newDebouncer(w.quiet, w.max),
		dirs:    make(map[string]*watched),
	}
	if err := r.watchRoot(); err != nil {
		return err
	}
	r.requestRescan(ReasonStart) // first, even if the walk hits a limit
	r.addTree(w.root, false)
	return r.loop()
}

// runner is the state of one Run, owned by its goroutine.
type runner struct {
	*Watcher
	ctx  context.Context
	fsw  *fsnotify.Watcher
	pump *pump
	deb  *debouncer
	// dirs holds every watched folder. A folder is watched only if its
	// parent is, so they form one tree.
	dirs        map[string]*watched
	rescans     []string // reasons not yet sent, oldest first
	resync      bool     // check the watches against the disk
	atLimit     bool     // the last watch attempt hit the limit
	limitLogged bool
}

// watched is a watched folder.
type watched struct {
	fi       os.FileInfo         // to notice it was replaced
	children map[string]struct{} // watched subfolders
}

func (r *runner) watchRoot() error {
	if err := r.addWatch(r.fsw, r.root); err != nil {
		if isWatchLimit(err) {
			r.log.Error("watch: cannot watch the root: "+limitAdvice, "root", r.root, "err", err)
			return fmt.Errorf("%w: %w", ErrWatchLimit, err)
		}
		return fmt.Errorf("watch: %w", err)
	}
	fi, err := os.Lstat(r.root)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: %s", ErrRootGone, r.root)
	}
	os.SameFile(fi, fi) // on Windows, read the file ID now, not when compared
	r.dirs[r.root] = &watched{fi: fi, children: make(map[string]struct{})}
	return nil
}

func (r *runner) loop() error {
	var tick <-chan time.Time
	if r.rescan > 0 {
		t := time.NewTicker(r.rescan)
		defer t.Stop()
		tick = t.C
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var timerAt time.Time
	var batch []fsnotify.Event

	for {
		if r.resync {
			r.resync = false
			if err := r.checkWatches(); err != nil {
				return err
			}
		}
		var out chan<- Hint
		var next Hint
		now := time.Now()
		if len(r.rescans) > 0 {
			out, next = r.hints, Hint{Rescan: true, Reason: r.rescans[0]}
		} else if path, due, ok := r.deb.next(); ok {
			if !due.After(now) {
				out, next = r.hints, Hint{Path: path}
			} else if !due.Equal(timerAt) {
				timer.Reset(due.Sub(now))
				timerAt = due
			}
		}

		select {
		case <-r.ctx.Done():
			return nil
		case out <- next:
			if next.Rescan {
				r.rescans = r.rescans[1:]
				r.deb.clear()
			} else {
				r.deb.remove(next.Path)
			}
		case <-r.pump.wake:
			var errs []error
			var lost, closed bool
			batch, errs, lost, closed = r.pump.take(batch)
			for _, ev := range batch {
				if err := r.event(ev); err != nil {
					return err
				}
			}
			for _, err := range errs {
				r.fsError(err)
			}
			if lost {
				r.log.Warn("watch: too many events queued, rescanning")
				r.requestRescan(ReasonOverflow)
			}
			if closed {
				return errors.New("watch: fsnotify stopped")
			}
		case err := <-r.testErrors:
			r.fsError(err)
		case <-tick:
			r.requestRescan(ReasonTimer)
		case <-timer.C:
			timerAt = time.Time{}
		}
	}
}

// event handles one fsnotify event.
func (r *runner) event(ev fsnotify.Event) error {
	if ev.Name == r.root {
		if ev.Has(fsnotify.Remove | fsnotify.Rename) {
			r.log.Error("watch: the root was removed or moved", "root", r.root, "op", ev.Op.String())
			return fmt.Errorf("%w: %s", ErrRootGone, r.root)
		}
		return nil
	}
	if !ev.Has(fsnotify.Create | fsnotify.Write | fsnotify.Remove | fsnotify.Rename) {
		return nil // Chmod only
	}
	rel, ok := r.rel(ev.Name)
	if !ok {
		return nil
	}
	// Only report what is directly in a folder this package watches: this
	// drops events a backend reports under a stale name, or under a link.
	if _, ok := r.dirs[filepath.Dir(ev.Name)]; !ok {
		return nil
	}
	if ev.Op == fsnotify.Write {
		if _, ok := r.dirs[ev.Name]; ok {
			// kqueue and Windows report a folder written when an entry
			// in it changes; the entry is reported itself.
			return nil
		}
	}
	if ev.Has(fsnotify.Remove | fsnotify.Rename) {
		// Forget the watches on a folder that went away, and on everything
		// under it; inotify would otherwise keep reporting its subfolders
		// under their old names after a move.
		r.unwatch(ev.Name)
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			r.addTree(ev.Name, true)
		}
	}
	r.touch(rel)
	return nil
}

// fsError handles an error from fsnotify.
func (r *runner) fsError(err error) {
	switch {
	case errors.Is(err, fsnotify.ErrEventOverflow):
		r.log.Warn("watch: events were lost, rescanning", "err", err)
		r.requestRescan(ReasonOverflow)
	case isWatchLimit(err):
		r.limitReached("", err)
	default:
		r.log.Warn("watch: fsnotify error, rescanning", "err", err)
		r.requestRescan(ReasonError)
	}
}

// rel returns name relative to the root with "/" separators, or false if
// name is not strictly below the root.
func (r *runner) rel(name string) (string, bool) {
	prefix := r.root
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" || filepath.Clean(name) != name {
		return "", false
	}
	rel := filepath.ToSlash(rest)
	for elem := range strings.SplitSeq(rel, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return "", false
		}
	}
	return rel, true
}

// touch records an event for the path rel.
func (r *runner) touch(rel string) {
	if r.ignore != nil && r.ignore(rel) {
		return
	}
	r.deb.touch(rel, time.Now())
	if r.deb.len() > r.maxPending {
		r.log.Warn("watch: too many paths waiting for the consumer, rescanning instead", "paths", r.deb.len())
		r.deb.clear()
		r.requestRescan(ReasonBacklog)
	}
}

// requestRescan queues a rescan hint, unless one for the same reason is
// waiting. A timed rescan is dropped if another rescan is waiting, and
// replaced by one that comes later. After a lost event, and on the timer,
// the watches are checked against the disk before the hint is sent: a
// folder created or moved during the loss is watched, and one the watch
// limit kept out is tried again.
func (r *runner) requestRescan(reason string) {
	if !r.queueRescan(reason) {
		return
	}
	switch reason {
	case ReasonOverflow, ReasonError, ReasonTimer:
		r.resync = true
	}
}

func (r *runner) queueRescan(reason string) bool {
	for i, q := range r.rescans {
		if q == reason {
			return false
		}
		if q == ReasonTimer {
			r.rescans[i] = reason
			return true
		}
	}
	if reason == ReasonTimer && len(r.rescans) > 0 {
		return false
	}
	r.rescans = append(r.rescans, reason)
	return true
}

// addTree watches the folder top and every folder below it, without
// following symbolic links. If emit is set, it reports every other entry:
// they may have been created before their folder was watched.
func (r *runner) addTree(top string, emit bool) {
	filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// Gone already, or unreadable: events or a rescan cover it.
			r.log.Debug("watch: cannot read", "path", path, "err", err)
			return nil
		}
		if d.IsDir() {
			if r.ctx.Err() != nil {
				return filepath.SkipAll
			}
			if path != r.root {
				r.watchDir(path)
			}
			return nil
		}
		if emit {
			if rel, ok := r.rel(path); ok {
				r.touch(rel)
			}
		}
		return nil
	})
}

// watchDir adds a watch on one folder below the root, if its parent is
// watched and it is not.
func (r *runner) watchDir(dir string) {
	parent, ok := r.dirs[filepath.Dir(dir)]
	if !ok {
		return
	}
	if _, ok := r.dirs[dir]; ok {
		return
	}
	if err := r.addWatch(r.fsw, dir); err != nil {
		if isWatchLimit(err) {
			r.limitReached(dir, err)
		} else {
			r.log.Debug("watch: cannot watch folder", "path", dir, "err", err)
		}
		return
	}
	r.atLimit = false
	// fsnotify follows a symbolic link it is asked to watch: if the folder
	// was replaced by a link since the walk saw it, drop the watch.
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		r.fsw.Remove(dir)
		return
	}
	os.SameFile(fi, fi) // on Windows, read the file ID now, not when compared
	r.dirs[dir] = &watched{fi: fi, children: make(map[string]struct{})}
	parent.children[dir] = struct{}{}
}

// unwatch drops the watches on path, if it is a watched folder, and on
// every folder below it.
func (r *runner) unwatch(path string) {
	d, ok := r.dirs[path]
	if !ok {
		return
	}
	for child := range d.children {
		r.unwatch(child)
	}
	r.fsw.Remove(path) // fails if the kernel dropped it already: fine
	delete(r.dirs, path)
	if parent, ok := r.dirs[filepath.Dir(path)]; ok {
		delete(parent.children, path)
	}
}

// checkWatches brings the watches back in line with the disk after events
// may have been lost: it drops the watches on folders that are gone or were
// replaced, and watches the folders that are not watched yet, including
// those a watch limit kept out.
func (r *runner) checkWatches() error {
	fi, err := os.Lstat(r.root)
	if err != nil || !os.SameFile(fi, r.dirs[r.root].fi) {
		r.log.Error("watch: the root was removed or replaced", "root", r.root)
		return fmt.Errorf("%w: %s", ErrRootGone, r.root)
	}
	for dir, d := range r.dirs {
		if dir == r.root {
			continue
		}
		if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() || !os.SameFile(fi, d.fi) {
			r.unwatch(dir)
		}
	}
	r.addTree(r.root, false)
	return nil
}

// limitReached logs, once, how to raise the limit, and asks for a rescan
// each time watching goes from working to failing.
func (r *runner) limitReached(dir string, err error) {
	if !r.limitLogged {
		r.limitLogged = true
		r.log.Error("watch: "+limitAdvice, "path", dir, "err", err)
	} else {
		r.log.Debug("watch: watch limit", "path", dir, "err", err)
	}
	if !r.atLimit {
		r.atLimit = true
		r.requestRescan(ReasonWatchLimit)
	}
}
