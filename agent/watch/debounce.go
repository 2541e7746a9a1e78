package watch

import (
	"container/heap"
	"time"
)

// debouncer holds the paths with unreported events. A path is due when it
// has been quiet for the quiet delay, or when the maximum delay has passed
// since its first unreported event, whichever is earlier. It never reads a
// clock: every call that needs the time is given it, so tests control time.
type debouncer struct {
	quiet, max time.Duration
	byPath     map[string]*pending
	queue      dueQueue
	seq        uint64
}

type pending struct {
	path  string
	first time.Time // first unreported event
	due   time.Time // min(last event + quiet, first + max)
	seq   uint64    // orders paths that fall due at the same time
	index int       // in the heap
}

func newDebouncer(quiet, max time.Duration) *debouncer {
	return &debouncer{quiet: quiet, max: max, byPath: make(map[string]*pending)}
}

// touch records an event for path at now.
func (d *debouncer) touch(path string, now time.Time) {
	if p := d.byPath[path]; p != nil {
		due := now.Add(d.quiet)
		if limit := p.first.Add(d.max); limit.Before(due) {
			due = limit
		}
		if !due.Equal(p.due) {
			p.due = due
			heap.Fix(&d.queue, p.index)
		}
		return
	}
	d.seq++
	due := now.Add(min(d.quiet, d.max))
	p := &pending{path: path, first: now, due: due, seq: d.seq}
	d.byPath[path] = p
	heap.Push(&d.queue, p)
}

// next returns the path that falls due first, and when; ok is false if
// nothing is pending.
func (d *debouncer) next() (path string, due time.Time, ok bool) {
	if len(d.queue) == 0 {
		return "", time.Time{}, false
	}
	p := d.queue[0]
	return p.path, p.due, true
}

// pop removes and returns the first path if it is due at now.
func (d *debouncer) pop(now time.Time) (string, bool) {
	path, due, ok := d.next()
	if !ok || due.After(now) {
		return "", false
	}
	d.remove(path)
	return path, true
}

// remove forgets path; its next event starts a new debounce.
func (d *debouncer) remove(path string) {
	p := d.byPath[path]
	if p == nil {
		return
	}
	heap.Remove(&d.queue, p.index)
	delete(d.byPath, path)
}

func (d *debouncer) len() int { return len(d.queue) }

// clear forgets every pending path, and the memory a backlog used.
func (d *debouncer) clear() {
	d.byPath = make(map[string]*pending)
	d.queue = nil
}

// dueQueue is a min-heap of pending paths by due time, then by arrival.
type dueQueue []*pending

func (q dueQueue) Len() int { return len(q) }

func (q dueQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}

func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *dueQueue) Push(x any) {
	p := x.(*pending)
	p.index = len(*q)
	*q = append(*q, p)
}

func (q *dueQueue) Pop() any {
	old := *q
	n := len(old) - 1
	p := old[n]
	old[n] = nil
	*q = old[:n]
	return p
}
