package outside

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/casekeep/casekeep/agent/cloudsync"
	"github.com/casekeep/casekeep/agent/storage"
	"github.com/casekeep/casekeep/agent/sweep"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// Defaults for the zero values of [Config].
const (
	// DefaultSyncEvery is how often sync folders are looked for when
	// nothing else prompts it.
	DefaultSyncEvery = 15 * time.Minute
	// DefaultBlockRetry: a block that failed is tried again after 1, 2, 3
	// and 4 times BlockRetry.
	DefaultBlockRetry = time.Minute
	// DefaultBlockTimeout is how long a block may take before it counts as
	// failed.
	DefaultBlockTimeout = 30 * time.Second
)

// maxBlockTries bounds the attempts to block one volume.
const maxBlockTries = 5

// Sink is where the watcher tells the orchestrator what happened. Every
// func may be nil; none may block for long.
type Sink struct {
	// Event queues an event for the next heartbeat.
	Event func(wire.Event)
	// Notable asks for a heartbeat soon.
	Notable func()
	// Notify tells the person at the laptop, without waiting.
	Notify func(title, body string)
	// Changed says the watcher's status (see [Watcher.Status]) changed.
	Changed func()
}

// Vault is what the watcher needs of the vault: *vault.Vault has it. Case
// files are moved or sealed through it, and its folder is never swept.
type Vault interface {
	sweep.Vault
	Dir() string
}

// Config is what a [Watcher] needs. Zero values take the defaults.
type Config struct {
	// Storage lists the volumes and blocks them (default
	// storage.OSSource()).
	Storage storage.Source
	// Homes are the home folders whose sweep and sync folders are looked
	// after. Nil means every user's when running as root or SYSTEM, else
	// the user's own; an empty, non-nil list means none.
	Homes []string
	// Settle is how long a file must go unchanged before it is classified
	// (default: the sweeper's, 2s); Rescan is the period of the sweeper's
	// full rescan (default 15 minutes).
	Settle time.Duration
	Rescan time.Duration
	// SyncEvery is how often sync folders are looked for (default
	// DefaultSyncEvery).
	SyncEvery time.Duration
	// BlockRetry and BlockTimeout tune blocking (defaults
	// DefaultBlockRetry and DefaultBlockTimeout).
	BlockRetry   time.Duration
	BlockTimeout time.Duration
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Sink receives events, notifications and status changes.
	Sink Sink
}

// Watcher watches storage outside the vault: the volumes mounted, the sync
// folders found, and the folders swept, and what it did about them. It
// outlives a policy change, so a volume is reported when it arrives, not
// again each time the policy changes. Make one with [New] and call
// [Watcher.Run] for each policy in turn.
type Watcher struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	volumes  map[string]*volumeState // by mount point
	prev     map[string]*volumeState // volumes known under the previous policy, until they are listed again
	syncs    []SyncFolder
	syncSeen map[string]bool // provider+path reported
	sweeper  *sweep.Sweeper  // the current one, while Run runs
	base     []sweep.Folder  // the sweep folders of the policy in force
}

// New returns a watcher with the given configuration.
func New(cfg Config) *Watcher {
	if cfg.Storage == nil {
		cfg.Storage = storage.OSSource()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = DefaultSyncEvery
	}
	if cfg.BlockRetry <= 0 {
		cfg.BlockRetry = DefaultBlockRetry
	}
	if cfg.BlockTimeout <= 0 {
		cfg.BlockTimeout = DefaultBlockTimeout
	}
	return &Watcher{cfg: cfg, log: cfg.Logger, volumes: map[string]*volumeState{}, syncSeen: map[string]bool{}}
}

// Run runs, under policy p and with vault v, the sweeper, the volume
// monitor and the sync-folder finder until ctx is done, then returns nil.
// It fails only if p's rules cannot be used. One Run at a time: a new
// policy's Run starts after the last one returned.
func (w *Watcher) Run(ctx context.Context, p *policy.Policy, v Vault) error {
	cl, err := classifier(p)
	if err != nil {
		return err
	}
	sw, err := sweep.New(sweep.Config{
		Classify: cl,
		Vault:    v,
		Events:   w.sweepEvent,
		DestDir: func(ref string) string {
			// A case reference from a file's name is a folder in the cache
			// only if the vault's pattern reads it back from that folder.
			if ref != "" && p.Vault.CaseRef(ref+"/x") == ref {
				return ref
			}
			return "Quarantine"
		},
		Rescan:  w.cfg.Rescan,
		Settle:  w.cfg.Settle,
		Logger:  w.log,
		Exclude: []string{v.Dir()},
	})
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.sweeper = sw
	w.base = w.sweepBase(p)
	// The new monitor lists every volume again; those already reported
	// keep what was done about them (see volumeChange), and those gone
	// meanwhile are forgotten.
	w.prev, w.volumes = w.volumes, map[string]*volumeState{}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.sweeper = nil
		w.mu.Unlock()
	}()

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	run := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	run(func() { sw.Run(ctx) })
	mon := storage.NewMonitor(storage.Options{Source: w.cfg.Storage, Logger: w.log})
	run(func() {
		if err := mon.Run(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("the removable-media monitor stopped", "err", err)
		}
	})
	run(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ch, ok := <-mon.Changes():
				if !ok {
					return
				}
				w.volumeChange(ctx, p, ch)
			}
		}
	})
	run(func() {
		t := time.NewTicker(w.cfg.SyncEvery)
		defer t.Stop()
		for {
			w.findSyncFolders(ctx, p)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	<-ctx.Done()
	return nil
}

// Status is what the watcher knows now, for the person at the laptop.
type Status struct {
	// Volumes are the volumes mounted, by mount point.
	Volumes []VolumeStatus
	// SyncFolders are the sync folders found.
	SyncFolders []SyncFolder
	// SweepFolders are the folders swept now (none while no Run runs).
	SweepFolders []string
	// Recent is what the sweeper did lately, oldest first.
	Recent []Action
}

// Action is something the watcher did with a file outside the vault.
type Action struct {
	Time time.Time `json:"time"`
	What string    `json:"what"` // in plain words
}

// Status returns what the watcher knows now. Its lists are never nil.
func (w *Watcher) Status() Status {
	s := Status{Volumes: []VolumeStatus{}, SyncFolders: []SyncFolder{}, SweepFolders: []string{}, Recent: []Action{}}
	w.mu.Lock()
	for _, vs := range w.volumes {
		s.Volumes = append(s.Volumes, vs.VolumeStatus)
	}
	s.SyncFolders = append(s.SyncFolders, w.syncs...)
	sw := w.sweeper
	w.mu.Unlock()
	slices.SortFunc(s.Volumes, func(x, y VolumeStatus) int { return strings.Compare(x.MountPoint, y.MountPoint) })
	if sw != nil {
		for _, f := range sw.Folders() {
			s.SweepFolders = append(s.SweepFolders, f.Path)
		}
		for _, e := range sw.Recent() {
			s.Recent = append(s.Recent, Action{Time: e.Time.UTC(), What: describeSweep(e)})
		}
	}
	return s
}

// Summary is the heartbeat's storage section: removable volumes mounted
// now, how many of them are unapproved, and the sync folders found that
// are not the council's.
func (w *Watcher) Summary() wire.Storage {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s wire.Storage
	for _, vs := range w.volumes {
		if vs.Removable {
			s.Volumes++
			if !vs.Approved {
				s.Unapproved++
			}
		}
	}
	for _, sf := range w.syncs {
		if !sf.Approved {
			s.SyncFolders++
		}
	}
	return s
}

// WritableFolders returns the folders the watcher writes in under policy
// p: the sweep folders of every home it looks after, when the sweep does
// more than report.
func (w *Watcher) WritableFolders(p *policy.Policy) []string {
	if p.Storage.Sweep.Action == policy.ActionAudit {
		return nil
	}
	var out []string
	for _, f := range w.sweepBase(p) {
		out = append(out, f.Path)
	}
	return out
}

// homes returns the home folders whose sweep and sync folders the watcher
// looks after: every user's when it runs as root or SYSTEM, else its own.
func (w *Watcher) homes() []string {
	if w.cfg.Homes != nil {
		return w.cfg.Homes
	}
	if privileged() {
		if hs, err := cloudsync.Homes(); err == nil && len(hs) > 0 {
			return hs
		}
	}
	if h, err := os.UserHomeDir(); err == nil {
		return []string{h}
	}
	return nil
}

func privileged() bool {
	if runtime.GOOS == "windows" {
		h, _ := os.UserHomeDir()
		return strings.Contains(strings.ToLower(h), `systemprofile`)
	}
	return os.Geteuid() == 0
}

// The sink's funcs, where set.

func (w *Watcher) event(e wire.Event) {
	if f := w.cfg.Sink.Event; f != nil {
		f(e)
	}
}

func (w *Watcher) notable() {
	if f := w.cfg.Sink.Notable; f != nil {
		f()
	}
}

func (w *Watcher) notify(title, body string) {
	if f := w.cfg.Sink.Notify; f != nil {
		f(title, body)
	}
}

func (w *Watcher) changed() {
	if f := w.cfg.Sink.Changed; f != nil {
		f()
	}
}
