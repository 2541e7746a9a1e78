package watch_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/watch"
)

// eventually bounds every wait for something that must happen. It is far
// longer than any delay under test, so a loaded machine does not fail tests;
// absence is never tested by waiting, but with a barrier (see barrier).
const eventually = 30 * time.Second

// harness runs one Watcher on a temporary root for a test.
type harness struct {
	t     *testing.T
	root  string
	w     *watch.Watcher
	seen  []watch.Hint // every hint received so far
	done  chan error
	once  sync.Once
	err   error
	endOK bool // Run may return an error
}

// newRoot returns an empty folder to watch.
func newRoot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	return root
}

// run starts a Watcher on root and waits for its start rescan; seams are
// applied before Run. The Watcher is stopped when the test ends.
func run(t *testing.T, root string, opts watch.Options, seams ...func(*watch.Watcher)) *harness {
	t.Helper()
	w, err := watch.New(root, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, seam := range seams {
		seam(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, root: root, w: w, done: make(chan error, 1)}
	go func() { h.done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range w.Hints() {
		}
		if err := h.wait(); err != nil && !h.endOK {
			t.Errorf("Run: %v", err)
		}
	})
	if first := h.next(); !first.Rescan || first.Reason != watch.ReasonStart {
		t.Fatalf("first hint %+v, want the start rescan", first)
	}
	return h
}

// wait returns Run's result, waiting for it at most eventually.
func (h *harness) wait() error {
	h.once.Do(func() {
		select {
		case h.err = <-h.done:
		case <-time.After(eventually):
			h.t.Errorf("Run did not return within %v", eventually)
		}
	})
	return h.err
}

// next returns the next hint.
func (h *harness) next() watch.Hint {
	h.t.Helper()
	select {
	case hint, ok := <-h.w.Hints():
		if !ok {
			h.t.Fatalf("Hints closed; hints so far: %+v", h.seen)
		}
		h.seen = append(h.seen, hint)
		return hint
	case <-time.After(eventually):
		h.t.Fatalf("no hint within %v; hints so far: %+v", eventually, h.seen)
	}
	panic("unreachable")
}

// waitFor receives hints until match accepts one, and returns it.
func (h *harness) waitFor(what string, match func(watch.Hint) bool) watch.Hint {
	h.t.Helper()
	deadline := time.Now().Add(eventually)
	for time.Now().Before(deadline) {
		if hint := h.next(); match(hint) {
			return hint
		}
	}
	h.t.Fatalf("no hint for %s within %v; hints: %+v", what, eventually, h.seen)
	panic("unreachable")
}

// waitPaths receives hints until every path has been reported.
func (h *harness) waitPaths(paths ...string) {
	h.t.Helper()
	want := make(map[string]bool)
	for _, p := range paths {
		want[p] = true
	}
	for _, hint := range h.seen {
		delete(want, hint.Path)
	}
	for len(want) > 0 {
		h.waitFor("paths", func(hint watch.Hint) bool {
			delete(want, hint.Path)
			return len(want) == 0
		})
	}
}

// waitRescan receives hints until a rescan with reason.
func (h *harness) waitRescan(reason string) {
	h.t.Helper()
	h.waitFor("rescan "+reason, func(hint watch.Hint) bool { return hint.Rescan && hint.Reason == reason })
}

// barrier creates a file and waits for its hint. Events are handled in the
// order the kernel reports them, and a path's hint falls due no later than
// quiet after its last event, so once the barrier's hint is received every
// hint for an earlier change has been received too.
func (h *harness) barrier(name string) {
	h.t.Helper()
	write(h.t, filepath.Join(h.root, name), "barrier")
	h.waitPaths(name)
}

// reported returns the hints received so far for path or a path below it.
func (h *harness) reported(path string) []string {
	var got []string
	for _, hint := range h.seen {
		if hint.Path == path || strings.HasPrefix(hint.Path, path+"/") {
			got = append(got, hint.Path)
		}
	}
	return got
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer is a log destination safe for the Run goroutine and the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
