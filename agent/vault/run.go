package vault

import (
	"container/heap"
	"context"
	"errors"
	"io/fs"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// Retry delays.
const (
	maxChangingDelay = 5 * time.Second  // between looks at a file that keeps changing
	maxFailDelay     = time.Minute      // between attempts after a failure
	keepsChanging    = 30 * time.Second // a file changing this long is reported
	commitEvery      = 50 * time.Millisecond
	largeScan        = 10_000 // files; after a scan this large, memory is returned to the OS
)

// Notify says that rel (relative to the cache, "/"-separated) may have
// changed, as a watch hint does. If it is plaintext, Run seals it.
func (v *Vault) Notify(rel string) {
	v.sched.add(rel, v.cfg.Now(), true)
}

// Rescan asks Run for a full scan; requests made while one runs are merged.
func (v *Vault) Rescan() {
	select {
	case v.rescan <- struct{}{}:
	default:
	}
}

// Run keeps the cache sealed until ctx is done. It scans at once and seals
// the plaintext it finds, then seals what [Vault.Notify] names and rescans
// when [Vault.Rescan] asks. When ctx is cancelled, seals in progress are
// finished if their sealed file is already in place, and rolled back
// otherwise; Run returns once they have stopped and the index is written.
func (v *Vault) Run(ctx context.Context) error {
	commits := make(chan sealed, 1024)
	var workers, committer sync.WaitGroup
	committer.Add(1)
	go func() {
		defer committer.Done()
		v.commitLoop(commits)
	}()
	v.Rescan()
	workers.Add(1)
	go func() {
		defer workers.Done()
		v.scanLoop(ctx)
	}()
	for range v.cfg.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				t, ok := v.sched.next(ctx)
				if !ok {
					return
				}
				v.work(ctx, t, commits)
			}
		}()
	}
	workers.Wait()
	close(commits)
	committer.Wait()
	return nil
}

func (v *Vault) scanLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-v.rescan:
		}
		rep, err := v.Scan(ctx)
		if err != nil {
			if ctx.Err() == nil {
				v.log.Error("vault scan failed", "err", err)
			}
			continue
		}
		now := v.cfg.Now()
		for _, p := range rep.Plaintext {
			v.sched.add(p, now, false) // a file already waiting keeps its backoff
		}
		v.log.Info("vault scan", "files", rep.Files, "sealed", rep.Sealed, "plaintext", len(rep.Plaintext),
			"refused", rep.Refused, "temps_removed", rep.TempsRemoved, "repaired", rep.Repaired, "took", rep.Took.Round(time.Millisecond))
		if rep.Files >= largeScan {
			// A large scan's maps are garbage now; give the memory back at
			// once rather than over minutes, so an idle agent stays small.
			debug.FreeOSMemory()
		}
	}
}

// commitLoop writes sealed files to the index in batches: within
// commitEvery of the first file of a batch, or at 512 files. It sleeps while
// nothing is sealed.
func (v *Vault) commitLoop(commits <-chan sealed) {
	batch := map[string]record{}
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := v.index.put(batch, nil); err != nil {
			// The folder is the truth: the next scan re-adds them.
			v.log.Error("vault index update failed", "files", len(batch), "err", err)
		}
		batch = map[string]record{}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case s, ok := <-commits:
			if !ok {
				flush()
				return
			}
			if len(batch) == 0 {
				timer.Reset(commitEvery)
			}
			batch[s.rel] = s.rec
			if len(batch) >= 512 {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// work makes one attempt at sealing t and reschedules it if needed.
func (v *Vault) work(ctx context.Context, t *task, commits chan<- sealed) {
	s, err := v.seal(ctx, t.rel, func(size int64) {
		if !t.found {
			t.found = true
			v.emit(EventPlaintextFound, t.rel, size, "")
		}
	})
	now := v.cfg.Now()
	switch {
	case err == nil:
		commits <- s
		v.count(func(st *Stats) { st.Sealed++; st.SealedBytes += s.rec.Size })
		v.emit(EventSealed, s.rel, s.rec.Size, "")
		v.log.Debug("vault sealed", "path", t.rel, "case_ref", s.rec.CaseRef, "bytes", s.rec.Size)
		v.sched.done(t, time.Time{})
	case errors.Is(err, errAlreadySealed):
		commits <- s
		v.sched.done(t, time.Time{})
	case errors.Is(err, errLockedSealed):
		// Counted as waiting until the vault is unlocked; the scan after
		// the unlock looks at it again, and so does this retry.
		v.sched.done(t, now.Add(maxFailDelay))
	case errors.Is(err, errGone), errors.Is(err, errFolder), errors.Is(err, errSkipped):
		v.sched.done(t, time.Time{}) // gone, a folder, or left alone
	case errors.Is(err, ErrRefused):
		v.emit(EventRefused, t.rel, 0, refusalReason(err))
		v.count(func(st *Stats) { st.Refused++ })
		v.sched.done(t, time.Time{})
	case ctx.Err() != nil:
		v.sched.done(t, time.Time{}) // shutting down: rolled back, found again at start
	case errors.Is(err, ErrChanging):
		t.attempts++
		retry := now.Add(min(v.cfg.Quiet<<min(t.attempts, 10), maxChangingDelay))
		var c *changing
		if errors.As(err, &c) && c.until.After(retry) {
			retry = c.until
		}
		if now.Sub(t.since) > keepsChanging && !t.failing {
			t.failing = true
			v.emit(EventSealFailed, t.rel, 0, "keeps changing: "+reasonOf(err)+"; still trying")
		}
		v.sched.done(t, retry)
	default:
		t.attempts++
		v.count(func(st *Stats) { st.Failed++ })
		if !t.failing {
			t.failing = true
			v.emit(EventSealFailed, t.rel, 0, reasonOf(err))
			v.log.Warn("vault could not seal a file; will retry", "path", t.rel, "err", err)
		}
		v.sched.done(t, now.Add(min(time.Second<<min(t.attempts, 10), maxFailDelay)))
	}
}

// task is a path waiting to be sealed.
type task struct {
	rel      string
	due      time.Time
	since    time.Time // when it was first queued
	attempts int
	found    bool // plaintext_found reported
	failing  bool // seal_failed reported
	i        int  // heap index
}

// scheduler holds the paths waiting to be sealed, ordered by when they are
// due, and makes sure no path is sealed by two workers at once.
type scheduler struct {
	now      func() time.Time
	mu       sync.Mutex
	tasks    map[string]*task
	queue    taskHeap
	inflight map[string]*task
	again    map[string]bool // changed while in flight
	recheck  map[string]bool // found by a scan while in flight
	wake     chan struct{}
}

func newScheduler(now func() time.Time) *scheduler {
	return &scheduler{now: now, tasks: map[string]*task{}, inflight: map[string]*task{},
		again: map[string]bool{}, recheck: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (s *scheduler) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tasks) + len(s.inflight)
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// add queues rel, due at due. A change (a watch hint) brings forward a
// queued retry, and makes a path in flight go again as soon as it lands; a
// path found by a scan joins the queue if it is not in it, and a path in
// flight is looked at again if its attempt ends it.
func (s *scheduler) add(rel string, due time.Time, change bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.inflight[rel]; ok {
		if change {
			s.again[rel] = true
		} else {
			s.recheck[rel] = true
		}
		return
	}
	if t, ok := s.tasks[rel]; ok {
		if change && due.Before(t.due) {
			t.due = due
			heap.Fix(&s.queue, t.i)
		}
	} else {
		t := &task{rel: rel, due: due, since: due}
		s.tasks[rel] = t
		heap.Push(&s.queue, t)
	}
	s.signal()
}

// next waits for a due task and marks it in flight. It returns false when
// ctx is done.
func (s *scheduler) next(ctx context.Context) (*task, bool) {
	for {
		s.mu.Lock()
		wait := time.Hour
		if len(s.queue) > 0 {
			t := s.queue[0]
			if d := t.due.Sub(s.now()); d > 0 {
				wait = d
			} else {
				heap.Pop(&s.queue)
				delete(s.tasks, t.rel)
				s.inflight[t.rel] = t
				if len(s.queue) > 0 {
					s.signal() // more may be due: wake another worker
				}
				s.mu.Unlock()
				return t, true
			}
		}
		s.mu.Unlock()
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, false
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// done ends t's flight. A zero retry ends the task; otherwise it is queued
// again at retry. A change while it was in flight brings it back at once,
// and a scan that saw it meanwhile brings back a task that ended; a task
// that ended and comes back starts afresh (a new version of the file).
func (s *scheduler) done(t *task, retry time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, t.rel)
	again, recheck := s.again[t.rel], s.recheck[t.rel]
	delete(s.again, t.rel)
	delete(s.recheck, t.rel)
	now := s.now()
	switch {
	case retry.IsZero() && (again || recheck):
		t = &task{rel: t.rel, due: now, since: now}
	case retry.IsZero():
		return
	case again:
		t.due = now
	default:
		t.due = retry
	}
	s.tasks[t.rel] = t
	heap.Push(&s.queue, t)
	s.signal()
}

type taskHeap []*task

func (h taskHeap) Len() int           { return len(h) }
func (h taskHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h taskHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].i = i; h[j].i = j }
func (h *taskHeap) Push(x any)        { t := x.(*task); t.i = len(*h); *h = append(*h, t) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// reasonOf says why an operation failed without naming a file: events leave
// the laptop, and file names can name people (the event's Path carries the
// name for local use).
func reasonOf(err error) string {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Op + ": " + pe.Err.Error()
	case errors.As(err, &le):
		return le.Op + ": " + le.Err.Error()
	}
	return err.Error()
}
