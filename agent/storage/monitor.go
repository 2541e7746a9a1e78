package storage

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of [Options].
const (
	DefaultInterval = time.Second
	// NotifiedInterval is how often the volumes are listed when the source
	// notifies of changes (if Interval is shorter).
	NotifiedInterval = 15 * time.Second
	// ChangesBuffer is the capacity of [Monitor.Changes].
	ChangesBuffer = 64
)

// Options configure a [Monitor]. Zero values take the defaults.
type Options struct {
	// Source lists the volumes (default [OSSource]). If it is also a
	// [Notifier] the monitor lists again as soon as it is notified.
	Source Source
	// Interval is how often the volumes are listed (default 1s; at least
	// NotifiedInterval when the source notifies of changes).
	Interval time.Duration
	// Logger receives warnings, such as a listing that failed; nil
	// discards them.
	Logger *slog.Logger
	// Now tells the time of a change (default time.Now).
	Now func() time.Time
}

// Monitor reports the volumes that arrive and leave. Make one with
// [NewMonitor], take changes from [Monitor.Changes] and call [Monitor.Run].
type Monitor struct {
	src      Source
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time
	changes  chan Change
	started  atomic.Bool

	mu      sync.Mutex
	current []Volume // sorted
}

// NewMonitor returns a monitor with the given options.
func NewMonitor(opts Options) *Monitor {
	m := &Monitor{
		src:      opts.Source,
		interval: opts.Interval,
		log:      opts.Logger,
		now:      opts.Now,
		changes:  make(chan Change, ChangesBuffer),
	}
	if m.src == nil {
		m.src = OSSource()
	}
	if m.interval <= 0 {
		m.interval = DefaultInterval
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Changes returns the channel of changes. It holds [ChangesBuffer] changes
// and is closed when [Monitor.Run] returns. Run never waits for the
// consumer: a consumer that falls behind by more than the buffer is given,
// once it takes from the channel again, the difference between what it was
// last told and the current set (volumes that left first, then changed,
// then arrived, each in mount point order). Replaying every change it has
// taken therefore always leads to the current set, but a volume that
// arrived and left while the buffer was full is never reported.
func (m *Monitor) Changes() <-chan Change { return m.changes }

// Volumes returns the volumes mounted at the last listing, sorted by mount
// point (then device); none before the first listing.
func (m *Monitor) Volumes() []Volume {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.current)
}

// volKey identifies a volume across listings: the same device at the same
// mount point.
type volKey struct{ mount, device string }

func keyOf(v Volume) volKey { return volKey{v.MountPoint, v.Device} }

// seen is a volume in the current listing, with the time of the listing
// that first saw it as it is.
type seen struct {
	v  Volume
	at time.Time
}

// Run lists the volumes at once, reporting each as [Arrived], then again
// every Interval and whenever the source notifies, reporting the changes,
// until ctx is done; then it closes the Changes channel and returns nil. A
// listing that fails is logged and the last good one stands. Run may be
// called once; later calls return [ErrRunning].
func (m *Monitor) Run(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(m.changes)

	var wake <-chan struct{}
	if n, ok := m.src.(Notifier); ok {
		c, err := n.Notify(ctx)
		if err != nil {
			m.log.Debug("storage: no mount notifications, polling only", "interval", m.interval, "err", err)
		} else {
			wake = c
		}
	}
	// With notifications, polling is only a safety net (an attribute that
	// changes without a mount), so an idle laptop is not woken every second.
	every := m.interval
	if wake != nil {
		every = max(every, NotifiedInterval)
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()

	cur := map[volKey]seen{}
	told := map[volKey]Volume{}      // what the consumer has been sent
	goneAt := map[volKey]time.Time{} // when a volume it was told of was first missed
	var lastErr string

	scan := func() {
		vols, err := m.src.Volumes(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if err.Error() != lastErr {
				m.log.Warn("storage: listing volumes failed; keeping the last listing", "err", err)
				lastErr = err.Error()
			}
			return
		}
		if lastErr != "" {
			m.log.Info("storage: listing volumes works again")
			lastErr = ""
		}
		now := m.now()
		next := make(map[volKey]seen, len(vols))
		for _, v := range vols {
			k := keyOf(v)
			if old, ok := cur[k]; ok && old.v == v {
				next[k] = old
			} else {
				next[k] = seen{v, now}
			}
			delete(goneAt, k)
		}
		for k := range told {
			if _, ok := next[k]; !ok {
				if _, ok := goneAt[k]; !ok {
					goneAt[k] = now
				}
			}
		}
		cur = next
		list := make([]Volume, 0, len(cur))
		for _, s := range cur {
			list = append(list, s.v)
		}
		sortVolumes(list)
		m.mu.Lock()
		m.current = list
		m.mu.Unlock()
	}

	scan()
	for {
		var out chan<- Change
		next, ok := nextChange(told, cur, goneAt, m.now)
		if ok {
			out = m.changes
		}
		select {
		case <-ctx.Done():
			return nil
		case out <- next:
			k := keyOf(next.Volume)
			if next.Kind == Left {
				delete(told, k)
				delete(goneAt, k)
			} else {
				told[k] = next.Volume
			}
		case <-ticker.C:
			scan()
		case _, open := <-wake:
			if !open {
				wake = nil
				ticker.Reset(m.interval)
				m.log.Debug("storage: mount notifications stopped, polling only")
				continue
			}
			scan()
		}
	}
}

// nextChange returns the first difference between what the consumer was
// told and the current set: Left, then Changed, then Arrived, each in mount
// point order.
func nextChange(told map[volKey]Volume, cur map[volKey]seen, goneAt map[volKey]time.Time, now func() time.Time) (Change, bool) {
	var best Change
	found := false
	consider := func(c Change) {
		if !found || changeLess(c, best) {
			best, found = c, true
		}
	}
	for k, v := range told {
		s, ok := cur[k]
		switch {
		case !ok:
			at, ok := goneAt[k]
			if !ok {
				at = now()
			}
			consider(Change{Kind: Left, Volume: v, Time: at})
		case s.v != v:
			consider(Change{Kind: Changed, Volume: s.v, Time: s.at})
		}
	}
	for k, s := range cur {
		if _, ok := told[k]; !ok {
			consider(Change{Kind: Arrived, Volume: s.v, Time: s.at})
		}
	}
	return best, found
}

func changeLess(a, b Change) bool {
	return cmp.Or(
		kindRank(a.Kind)-kindRank(b.Kind),
		strings.Compare(a.Volume.MountPoint, b.Volume.MountPoint),
		strings.Compare(a.Volume.Device, b.Volume.Device),
	) < 0
}

// kindRank orders the kinds of change: Left, Changed, Arrived.
func kindRank(k ChangeKind) int {
	switch k {
	case Left:
		return 0
	case Changed:
		return 1
	}
	return 2
}
