package watch

import "github.com/fsnotify/fsnotify"

// Seams for the tests in package watch_test; call them before Run.

// SetAddWatch replaces the function that adds one folder watch.
func SetAddWatch(w *Watcher, add func(dir string, real func() error) error) {
	w.addWatch = func(fsw *fsnotify.Watcher, dir string) error {
		return add(dir, func() error { return fsw.Add(dir) })
	}
}

// InjectErrors returns a channel whose errors Run handles as if fsnotify
// had reported them.
func InjectErrors(w *Watcher) chan<- error {
	w.testErrors = make(chan error)
	return w.testErrors
}

// SetMaxPending sets the number of pending paths beyond which they are
// dropped for a rescan.
func SetMaxPending(w *Watcher, n int) { w.maxPending = n }
