package watch

import (
	"sync"

	"github.com/fsnotify/fsnotify"
)

// maxQueued bounds the events the pump holds for the Run loop; past it,
// events are dropped for one rescan, as when the kernel's queue overflows.
const maxQueued = 1 << 16

// pump receives fsnotify's events and errors on a goroutine of its own and
// queues them, so that fsnotify's reader never waits for the Run loop: not
// while the loop walks a new folder, and not while it adds a watch. That
// matters beyond speed: on Windows, adding a watch waits for the goroutine
// that sends events, and inotify sends some errors while holding the lock
// that adding a watch takes, so a loop that reads events and adds watches
// itself can deadlock.
type pump struct {
	mu     sync.Mutex
	events []fsnotify.Event
	errs   []error
	lost   bool // events were dropped since the last take
	closed bool // fsnotify closed its channels
	wake   chan struct{}
	done   chan struct{}
}

func startPump(fsw *fsnotify.Watcher) *pump {
	p := &pump{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go p.run(fsw.Events, fsw.Errors)
	return p
}

// run returns when fsnotify has closed both channels, which it does when
// the fsnotify watcher is closed.
func (p *pump) run(events <-chan fsnotify.Event, errs <-chan error) {
	defer close(p.done)
	defer p.signal(func() { p.closed = true })
	for events != nil || errs != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if !ev.Has(fsnotify.Create | fsnotify.Write | fsnotify.Remove | fsnotify.Rename) {
				continue // Chmod only: dropped here so storms of it cost nothing
			}
			p.signal(func() {
				if len(p.events) < maxQueued {
					p.events = append(p.events, ev)
				} else {
					p.lost = true
				}
			})
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			p.signal(func() {
				if len(p.errs) < 100 {
					p.errs = append(p.errs, err)
				} else {
					p.lost = true
				}
			})
		}
	}
}

// signal changes the queue under the lock and wakes the Run loop.
func (p *pump) signal(change func()) {
	p.mu.Lock()
	change()
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// take returns what is queued, and gives the pump spare, emptied, to fill
// next.
func (p *pump) take(spare []fsnotify.Event) (events []fsnotify.Event, errs []error, lost, closed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	events, p.events = p.events, spare[:0]
	errs, p.errs = p.errs, nil
	lost, p.lost = p.lost, false
	return events, errs, lost, p.closed
}
