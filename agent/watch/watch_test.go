package watch_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/casekeep/casekeep/agent/watch"
)

// fast reports changes quickly; tests that need a wide window set their own.
var fast = watch.Options{Quiet: 20 * time.Millisecond, Max: 200 * time.Millisecond}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	write(t, file, "x")
	type refusal struct {
		name string
		root string
		opts watch.Options
		want error
	}
	tests := []refusal{
		{"file", file, watch.Options{}, watch.ErrNotFolder},
		{"missing", filepath.Join(dir, "missing"), watch.Options{}, fs.ErrNotExist},
		{"negative quiet", dir, watch.Options{Quiet: -1}, watch.ErrInvalid},
		{"negative max", dir, watch.Options{Max: -1}, watch.ErrInvalid},
		{"max below quiet", dir, watch.Options{Quiet: time.Second, Max: time.Millisecond}, watch.ErrInvalid},
		{"default max below quiet", dir, watch.Options{Quiet: 3 * time.Second}, watch.ErrInvalid},
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(t.TempDir(), link); err == nil {
		tests = append(tests, refusal{"symlink to folder", link, watch.Options{}, watch.ErrNotFolder})
	} else {
		t.Logf("symlink case skipped: %v", err)
	}
	for _, tt := range tests {
		if _, err := watch.New(tt.root, tt.opts); !errors.Is(err, tt.want) {
			t.Errorf("%s: New = %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := watch.New(dir, watch.Options{Rescan: -1}); err != nil {
		t.Errorf("negative Rescan (disabled): %v", err)
	}
}

func TestNestedFolderCreatedAfterStart(t *testing.T) {
	t.Parallel()
	h := run(t, newRoot(t), fast)
	// The files are written at once, before the watcher can have added
	// the new folders: the walk of each new folder must find them.
	mkdirAll(t, filepath.Join(h.root, "a", "b", "c"))
	write(t, filepath.Join(h.root, "a", "one.txt"), "1")
	write(t, filepath.Join(h.root, "a", "b", "two.txt"), "2")
	write(t, filepath.Join(h.root, "a", "b", "c", "three.txt"), "3")
	h.waitPaths("a/one.txt", "a/b/two.txt", "a/b/c/three.txt")

	// By now a/b/c is watched, so a later file there is an event.
	write(t, filepath.Join(h.root, "a", "b", "c", "later.txt"), "4")
	h.waitPaths("a/b/c/later.txt")
}

func TestFolderMovedIn(t *testing.T) {
	t.Parallel()
	root := newRoot(t)
	outside := filepath.Join(filepath.Dir(root), "outside")
	mkdirAll(t, filepath.Join(outside, "case-1", "letters"))
	write(t, filepath.Join(outside, "case-1", "notes.txt"), "n")
	write(t, filepath.Join(outside, "case-1", "letters", "letter.txt"), "l")
	h := run(t, root, fast)

	rename(t, filepath.Join(outside, "case-1"), filepath.Join(root, "case-1"))
	h.waitPaths("case-1", "case-1/notes.txt", "case-1/letters/letter.txt")
	write(t, filepath.Join(root, "case-1", "letters", "reply.txt"), "r")
	h.waitPaths("case-1/letters/reply.txt")
}

func TestFolderRenamedInsideRoot(t *testing.T) {
	t.Parallel()
	root := newRoot(t)
	mkdirAll(t, filepath.Join(root, "a", "sub"))
	write(t, filepath.Join(root, "a", "sub", "f.txt"), "f")
	h := run(t, root, fast)

	rename(t, filepath.Join(root, "a"), filepath.Join(root, "b"))
	h.waitPaths("a", "b", "b/sub/f.txt")
	// inotify keeps a moved folder's watches under their old names unless
	// they are dropped and added again.
	write(t, filepath.Join(root, "b", "sub", "new.txt"), "n")
	h.waitPaths("b/sub/new.txt")
	if got := h.reported("a/sub"); len(got) > 0 {
		t.Errorf("hints under the old name: %q", got)
	}
}

func TestBurstIsOneHint(t *testing.T) {
	t.Parallel()
	// The quiet delay is far longer than the burst takes.
	h := run(t, newRoot(t), watch.Options{Quiet: time.Second, Max: time.Hour})
	f, err := os.Create(filepath.Join(h.root, "burst.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := f.WriteString("more "); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitPaths("burst.txt")
	h.barrier("barrier.txt")
	if got := h.reported("burst.txt"); len(got) != 1 {
		t.Errorf("burst.txt reported %d times, want once: %+v", len(got), h.seen)
	}
}

func TestContinuousWritesReportedByMax(t *testing.T) {
	t.Parallel()
	// Writes every 10ms never leave the path quiet for 2s: only the
	// maximum delay can report it while they go on.
	h := run(t, newRoot(t), watch.Options{Quiet: 2 * time.Second, Max: 3 * time.Second})
	path := filepath.Join(h.root, "growing.txt")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		f, err := os.Create(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := f.WriteString("x"); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	h.waitPaths("growing.txt")
}

func TestRemoveAndRename(t *testing.T) {
	t.Parallel()
	root := newRoot(t)
	for _, name := range []string{"old.txt", "gone.txt", "written.txt"} {
		write(t, filepath.Join(root, name), "x")
	}
	h := run(t, root, fast)
	rename(t, filepath.Join(root, "old.txt"), filepath.Join(root, "new.txt"))
	if err := os.Remove(filepath.Join(root, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "written.txt"), "y")
	h.waitPaths("old.txt", "new.txt", "gone.txt", "written.txt")
}

func TestChmodIsNoHint(t *testing.T) {
	t.Parallel()
	root := newRoot(t)
	path := filepath.Join(root, "chmod.txt")
	write(t, path, "x")
	h := run(t, root, fast)
	for _, mode := range []fs.FileMode{0o644, 0o600, 0o640, 0o600} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	h.barrier("barrier.txt")
	if got := h.reported("chmod.txt"); len(got) > 0 {
		t.Errorf("chmod reported: %q", got)
	}
}

func TestIgnore(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	asked := make(map[string]bool)
	opts := fast
	opts.Ignore = func(rel string) bool {
		mu.Lock()
		defer mu.Unlock()
		asked[rel] = true
		return strings.HasSuffix(rel, ".casekeep-tmp")
	}
	h := run(t, newRoot(t), opts)
	mkdirAll(t, filepath.Join(h.root, "sub"))
	write(t, filepath.Join(h.root, ".x.casekeep-tmp"), "t")
	write(t, filepath.Join(h.root, "sub", ".y.casekeep-tmp"), "t")
	write(t, filepath.Join(h.root, "sub", "keep.txt"), "k")
	h.waitPaths("sub", "sub/keep.txt")
	h.barrier("barrier.txt")
	for _, hint := range h.seen {
		if strings.HasSuffix(hint.Path, ".casekeep-tmp") {
			t.Errorf("ignored path reported: %q", hint.Path)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !asked["sub/.y.casekeep-tmp"] {
		t.Errorf("Ignore was not asked about sub/.y.casekeep-tmp; asked %v", asked)
	}
}

func TestSymlinkToOutsideFolderIsNotFollowed(t *testing.T) {
	t.Parallel()
	root := newRoot(t)
	outside := filepath.Join(filepath.Dir(root), "outside")
	mkdirAll(t, filepath.Join(outside, "inner"))
	if err := os.Symlink(outside, filepath.Join(root, "before")); err != nil {
		t.Skipf("cannot make a symbolic link: %v", err)
	}
	h := run(t, root, fast)
	if err := os.Symlink(outside, filepath.Join(root, "after")); err != nil {
		t.Fatal(err)
	}
	h.waitPaths("after") // the link itself may be reported
	write(t, filepath.Join(outside, "secret.txt"), "s")
	write(t, filepath.Join(outside, "inner", "deep.txt"), "d")
	mkdirAll(t, filepath.Join(outside, "new"))
	write(t, filepath.Join(outside, "new", "f.txt"), "f")
	h.barrier("barrier.txt")
	for _, link := range []string{"before", "after"} {
		for _, p := range h.reported(link) {
			if p != link {
				t.Errorf("reported %q, below the link %q", p, link)
			}
		}
	}
}

func TestOverflowAndErrorsRescan(t *testing.T) {
	t.Parallel()
	var inject chan<- error
	var failed atomic.Bool
	h := run(t, newRoot(t), fast, func(w *watch.Watcher) {
		inject = watch.InjectErrors(w)
		// The first watch on "late" fails, as if its Create had been lost.
		watch.SetAddWatch(w, func(dir string, add func() error) error {
			if filepath.Base(dir) == "late" && failed.CompareAndSwap(false, true) {
				return fs.ErrPermission
			}
			return add()
		})
	})
	send := func(err error) {
		t.Helper()
		select {
		case inject <- err:
		case <-time.After(eventually):
			t.Fatal("Run did not take the injected error")
		}
	}
	mkdirAll(t, filepath.Join(h.root, "late"))
	h.waitPaths("late")
	if !failed.Load() {
		t.Fatal("no attempt to watch late")
	}

	send(fsnotify.ErrEventOverflow)
	h.waitRescan(watch.ReasonOverflow)
	// The rescan hint comes after the watches were checked: late is
	// watched now.
	write(t, filepath.Join(h.root, "late", "after.txt"), "a")
	h.waitPaths("late/after.txt")

	send(errors.New("some read error"))
	h.waitRescan(watch.ReasonError)
}

func TestWatchLimit(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	opts := fast
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	h := run(t, newRoot(t), opts, func(w *watch.Watcher) {
		watch.SetAddWatch(w, func(dir string, add func() error) error {
			if strings.HasPrefix(filepath.Base(dir), "full") {
				return watch.LimitError
			}
			return add()
		})
	})
	mkdirAll(t, filepath.Join(h.root, "full1"))
	h.waitRescan(watch.ReasonWatchLimit)

	// Still at the limit: logged once, and no second rescan.
	mkdirAll(t, filepath.Join(h.root, "full2"))
	h.waitPaths("full2")
	// Watching still works where it can.
	mkdirAll(t, filepath.Join(h.root, "ok"))
	h.waitPaths("ok")
	write(t, filepath.Join(h.root, "ok", "later.txt"), "l")
	h.waitPaths("ok/later.txt")

	rescans := 0
	for _, hint := range h.seen {
		if hint.Rescan && hint.Reason == watch.ReasonWatchLimit {
			rescans++
		}
	}
	if rescans != 1 {
		t.Errorf("%d watch limit rescans, want 1", rescans)
	}
	out := logs.String()
	if n := strings.Count(out, "level=ERROR"); n != 1 {
		t.Errorf("%d errors logged, want 1:\n%s", n, out)
	}
	if runtime.GOOS == "linux" && !strings.Contains(out, "max_user_watches") {
		t.Errorf("log does not say how to raise max_user_watches:\n%s", out)
	}
}

func TestBacklog(t *testing.T) {
	t.Parallel()
	// Nothing falls due during the test, so the pending set only grows.
	h := run(t, newRoot(t), watch.Options{Quiet: time.Hour, Max: time.Hour}, func(w *watch.Watcher) {
		watch.SetMaxPending(w, 5)
	})
	for i := range 10 {
		write(t, filepath.Join(h.root, "f"+string(rune('a'+i))), "x")
	}
	h.waitRescan(watch.ReasonBacklog)
}

func TestPeriodicRescan(t *testing.T) {
	t.Parallel()
	opts := fast
	opts.Rescan = 50 * time.Millisecond
	h := run(t, newRoot(t), opts)
	h.waitRescan(watch.ReasonTimer)
	h.waitRescan(watch.ReasonTimer)
}

func TestRootRemoved(t *testing.T) {
	t.Parallel()
	h := run(t, newRoot(t), fast)
	h.endOK = true
	if err := os.Remove(h.root); err != nil {
		t.Fatal(err)
	}
	for range h.w.Hints() {
	}
	if err := h.wait(); !errors.Is(err, watch.ErrRootGone) {
		t.Errorf("Run = %v, want ErrRootGone", err)
	}
}

// TestCancel is not parallel: it counts the process's goroutines.
func TestCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	root := newRoot(t)
	mkdirAll(t, filepath.Join(root, "a", "b"))
	w, err := watch.New(root, fast)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	if first := <-w.Hints(); first.Reason != watch.ReasonStart {
		t.Fatalf("first hint %+v", first)
	}
	if err := w.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
	// Changes the consumer never receives must not hold Run up.
	for i := range 20 {
		write(t, filepath.Join(root, "a", "b", "f"+string(rune('a'+i))), "x")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(eventually):
		t.Fatal("Run did not return after cancel")
	}
	if hint, ok := <-w.Hints(); ok {
		t.Errorf("Hints not closed: received %+v", hint)
	}

	var stacks string
	for deadline := time.Now().Add(eventually); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		left := strings.Contains(stacks, "fsnotify") || strings.Contains(stacks, "agent/watch.(")
		if runtime.NumGoroutine() <= before && !left {
			return
		}
	}
	t.Errorf("goroutines left: %d before, %d after:\n%s", before, runtime.NumGoroutine(), stacks)
}
