package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/agent/watch"
	"github.com/casekeep/casekeep/policy"
)

// Config is what the agent needs to run.
type Config struct {
	// Policy is the policy in force.
	Policy *policy.Policy
	// StateDir is the agent's state folder (absolute).
	StateDir string
	// CacheDir is the cache folder (absolute). Empty means the policy's
	// cache path for this OS, expanded for the user running the agent.
	CacheDir string
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Events, if not nil, also receives every vault event.
	Events vault.Events
	// Rescan is the period of the full rescan (default 15 minutes).
	Rescan time.Duration
}

// Agent is a running agent's parts.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	lock    *state.AgentLock
	vault   *vault.Vault
	watcher *watch.Watcher
}

// ErrNoCachePath means the policy has no cache folder for this OS.
var ErrNoCachePath = errors.New("the policy has no cache folder for this operating system")

// CacheDir returns the cache folder the policy sets for this OS, expanded
// for the user running this process.
func CacheDir(p *policy.Policy) (string, error) {
	raw := p.Vault.CachePaths.For(runtime.GOOS)
	if raw == "" {
		return "", ErrNoCachePath
	}
	home, _ := os.UserHomeDir()
	return policy.ExpandPath(raw, runtime.GOOS, home, os.LookupEnv)
}

// Open prepares the state folder, takes the agent lock, loads or creates
// the device identity of the kind the policy requires, and opens the cache.
// Close releases them.
func Open(cfg Config) (*Agent, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.CacheDir == "" {
		dir, err := CacheDir(cfg.Policy)
		if err != nil {
			return nil, err
		}
		cfg.CacheDir = dir
	}
	if err := state.Prepare(cfg.StateDir); err != nil {
		return nil, err
	}
	lock, err := state.Lock(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, lock: lock}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	device, err := keys.LoadOrCreate(cfg.StateDir, cfg.Policy.Vault.PostQuantum(), time.Now())
	if err != nil {
		return nil, err
	}
	v := cfg.Policy.Vault
	a.vault, err = vault.Open(vault.Config{
		Dir:     cfg.CacheDir,
		Device:  device,
		Escrow:  v.EscrowRecipients,
		CaseRef: v.CaseRef,
		Store:   state.OpenStore(cfg.StateDir, 10*time.Second),
		Events:  &eventLogger{log: log, next: cfg.Events},
		Logger:  log,
		Quiet:   v.Debounce.Quiet,
	})
	if err != nil {
		return nil, err
	}
	a.watcher, err = watch.New(cfg.CacheDir, watch.Options{
		Quiet:  v.Debounce.Quiet,
		Max:    v.Debounce.Max,
		Rescan: cfg.Rescan,
		Ignore: vault.Ignored,
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// Vault returns the agent's vault.
func (a *Agent) Vault() *vault.Vault { return a.vault }

// Run keeps the cache sealed until ctx is done or watching fails. It
// returns nil after a clean stop, with any seal in progress finished or
// rolled back.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.log.Info("casekeep agent running", "cache", a.cfg.CacheDir, "state", a.cfg.StateDir,
		"policy_version", a.cfg.Policy.Version, "policy_sha256", a.cfg.Policy.Hash()[:16])
	vaultDone := make(chan error, 1)
	go func() { vaultDone <- a.vault.Run(ctx) }()
	watchDone := make(chan error, 1)
	go func() { watchDone <- a.watcher.Run(ctx) }()
	for h := range a.watcher.Hints() {
		if h.Rescan {
			a.log.Debug("rescan", "reason", h.Reason)
			a.vault.Rescan()
		} else {
			a.vault.Notify(h.Path)
		}
	}
	// The hints stop when the watcher stops: on ctx, or a fatal error.
	werr := <-watchDone
	cancel()
	verr := <-vaultDone
	if werr != nil {
		return fmt.Errorf("watching %s: %w", a.cfg.CacheDir, werr)
	}
	a.log.Info("casekeep agent stopped")
	return verr
}

// Close releases the cache and the agent lock.
func (a *Agent) Close() error {
	if a.vault != nil {
		a.vault.Close()
	}
	return a.lock.Unlock()
}

// eventLogger logs vault events in plain words, and passes them on.
type eventLogger struct {
	log  *slog.Logger
	next vault.Events
}

func (l *eventLogger) Event(e vault.Event) {
	switch e.Kind {
	case vault.EventSealed:
		l.log.Info("sealed", "case_ref", e.CaseRef, "bytes", e.Size)
	case vault.EventPlaintextFound:
		l.log.Info("plaintext found; sealing it", "case_ref", e.CaseRef, "bytes", e.Size)
	case vault.EventSealFailed:
		l.log.Warn("could not seal a file yet", "path", e.Path, "reason", e.Reason)
	case vault.EventRefused:
		l.log.Warn("left alone: not a plain file", "path", e.Path, "reason", e.Reason)
	case vault.EventIndexRepaired:
		l.log.Info("index repaired", "detail", e.Reason)
	}
	if l.next != nil {
		l.next.Event(e)
	}
}
