package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/notify"
	"github.com/casekeep/casekeep/agent/outside"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/storage"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/agent/watch"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// Config is what the agent needs to run.
type Config struct {
	// Policy is the policy in force. For an enrolled agent it is the one
	// saved in the state folder; a newer one from the server replaces it.
	Policy *policy.Policy
	// StateDir is the agent's state folder (absolute).
	StateDir string
	// CacheDir is the cache folder (absolute). Empty means the policy's
	// cache path for this OS, expanded for the user running the agent.
	CacheDir string
	// Enrollment, if not nil, makes the agent report to its server with
	// SigningKey.
	Enrollment *report.Enrollment
	SigningKey ed25519.PrivateKey
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Events, if not nil, also receives every vault event.
	Events vault.Events
	// Rescan is the period of the full rescan (default 15 minutes).
	Rescan time.Duration
	// Reporter tunes the reporter (zero values take its defaults); its
	// Store, Enrollment, Key, Snapshot, Interval, OnPolicy, OnCommands and
	// OnReply are set here.
	Reporter report.Config

	// Storage lists the volumes mounted and blocks them (default: this
	// OS's).
	Storage storage.Source
	// Homes are the home folders whose sweep and sync folders the agent
	// looks after. Nil means every user's when running as root or SYSTEM,
	// else the user's own; an empty, non-nil list means none.
	Homes []string
	// Settle is how long a file outside the vault must go unchanged before
	// it is classified (default 2s).
	Settle time.Duration
	// Posture runs the disk-encryption check (default: this OS's);
	// PostureEvery is how often (default 10 minutes).
	Posture      func(context.Context) wire.Check
	PostureEvery time.Duration
	// Notifier tells the person at the laptop what was done (default: the
	// desktop's notifications, at most one a minute).
	Notifier notify.Notifier
	// OnEvent, if not nil, also receives every event queued for a
	// heartbeat (whether or not the agent is enrolled).
	OnEvent func(wire.Event)
	// LeaseTimeout bounds the lease request at start, after which the
	// offline copy is tried (default DefaultLeaseTimeout); KeyCheckEvery
	// is how often the offline window is enforced (default
	// DefaultKeyCheckEvery). For an enrolled agent only.
	LeaseTimeout  time.Duration
	KeyCheckEvery time.Duration
	// LocalSocket, if not "", is the address of the local channel (see
	// agent/local: a Unix socket's path, or a Windows pipe's name) on which
	// Run answers the people at the laptop for as long as it runs. A
	// failure to listen is logged and reported as an
	// wire.EventAgentChannelFailed event; the agent runs on without it.
	LocalSocket string
}

// Agent is a running agent's parts.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	lock     *state.AgentLock
	store    *state.Store
	reporter *report.Reporter

	mu        sync.Mutex
	policy    *policy.Policy
	next      *policy.Policy // a newer policy, verified and saved, not yet in force
	vault     *vault.Vault   // the current one, while Run runs it
	recipient string         // the device identity's public key, for heartbeats
	newPol    chan struct{}  // signals next

	disk       wire.Check // the last disk-encryption result
	diskLoaded bool       // disk holds a result (from this run or the last)

	out        *outside.Watcher // storage outside the vault
	notifier   notify.Notifier
	statusKick chan struct{}

	// The vault key (vaultkey.go) and the wipe (wipe.go).
	keyOps     sync.Mutex    // serialises lease requests and what they do
	keyring    *keys.Keyring // an enrolled device's identity, nil until it exists
	file       *keys.File    // a device not enrolled: its plain identity
	lockedWhy  string        // why the vault is locked, in words
	pinWhy     string        // the device's public key was changed (see pin), until a lease authenticates it
	leaseUntil time.Time     // the last lease served's window
	leaseAt    time.Time     // when it was served
	clockOff   time.Duration // how far the clock was behind the trusted time at the last check (0: not)
	renew      chan struct{} // ask keyLoop for a lease request
	unlocked   chan struct{} // the identity was unlocked (device waits for it)
	wipe       *Wipe         // the wipe under way or done, if any
	wipeEvent  bool          // the wipe's vault.wiped event is queued (once, though its ack is retried)
	stopPolicy func()        // stops runPolicy (a wipe)
}

// ErrNoCachePath means the policy has no cache folder for this OS.
var ErrNoCachePath = errors.New("the policy has no cache folder for this operating system")

// version is set by the package builds (installer/build) with
// -ldflags "-X github.com/casekeep/casekeep/agent.version=V".
var version string

// AgentVersion is the agent's version, as heartbeats report it: the
// package's version, else the module's, else "(devel)".
func AgentVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

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

// Open prepares the state folder and takes the agent lock. The cache is
// opened by Run, for the policy in force.
func Open(cfg Config) (*Agent, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := state.Prepare(cfg.StateDir); err != nil {
		return nil, err
	}
	lock, err := state.Lock(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if cfg.Posture == nil {
		cfg.Posture = diskEncryptionCheck
	}
	if cfg.Notifier == nil {
		cfg.Notifier = notify.NewLimited(notify.Desktop(), time.Minute)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, lock: lock, store: state.OpenStore(cfg.StateDir, 10*time.Second),
		policy: cfg.Policy, newPol: make(chan struct{}, 1), notifier: cfg.Notifier, statusKick: make(chan struct{}, 1),
		renew: make(chan struct{}, 1), unlocked: make(chan struct{}, 1)}
	a.out = outside.New(outside.Config{
		Storage: cfg.Storage, Homes: cfg.Homes, Settle: cfg.Settle, Rescan: cfg.Rescan, Logger: cfg.Logger,
		Sink: outside.Sink{Event: a.outsideEvent, Notable: a.notable, Notify: a.notify, Changed: a.statusChanged},
	})
	a.loadPosture()
	if cfg.Enrollment != nil {
		rc := cfg.Reporter
		rc.Store, rc.Enrollment, rc.Key, rc.Logger = a.store, cfg.Enrollment, cfg.SigningKey, cfg.Logger
		rc.Snapshot = a.snapshot
		rc.Interval, rc.Jitter = cfg.Policy.Heartbeat.Interval, cfg.Policy.Heartbeat.Jitter
		rc.OnPolicy = a.onPolicy
		rc.OnCommands = a.onCommands
		rc.OnServerTime = a.trustTime
		rc.OnReply = func(context.Context, *wire.Reply) { a.askRenew() }
		if a.reporter, err = report.New(rc); err != nil {
			lock.Unlock()
			return nil, err
		}
		switch w, err := ReadWipe(cfg.StateDir); {
		case err != nil:
			lock.Unlock()
			return nil, err
		case w != nil && w.DeviceID == cfg.Enrollment.DeviceID:
			a.wipe = w // finished by Run
		case w != nil:
			// An earlier device's, before this folder was enrolled again.
			os.Remove(filepath.Join(cfg.StateDir, WipeFile))
		}
	}
	return a, nil
}

// Reporter returns the agent's reporter, or nil if it is not enrolled.
func (a *Agent) Reporter() *report.Reporter { return a.reporter }

// Vault returns the vault Run is running, or nil.
func (a *Agent) Vault() *vault.Vault {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.vault
}

// Policy returns the policy in force.
func (a *Agent) Policy() *policy.Policy {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.policy
}

// Run keeps the cache sealed, and reports to the server if enrolled, until
// ctx is done or watching fails. A newer policy from the server takes
// effect at once: the cache is reopened under it. An enrolled agent first
// unlocks the vault key (see vaultkey.go), and carries out the server's
// commands; after a wipe (or when it finds one begun) it finishes it and
// then idles until ctx is done. With Config.LocalSocket it answers on the
// local channel (see localstatus.go) from its start until it returns. Run
// returns nil after a clean stop, with any seal in progress finished or
// rolled back.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before the Wait: a failure stops the reporter too
	a.checkPreviousRun()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.aliveLoop(ctx)
	}()
	if a.cfg.LocalSocket != "" {
		// Before the lease is asked for: a locked vault is said so too.
		a.serveLocal(ctx, &wg)
	}
	if a.reporter != nil && a.wiping() == nil {
		a.openKeys(ctx)
		wg.Add(2)
		go func() {
			defer wg.Done()
			a.reporter.Run(ctx)
		}()
		go func() {
			defer wg.Done()
			a.keyLoop(ctx)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.postureLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		a.writeStatusLoop(ctx)
	}()
	for a.wiping() == nil {
		p := a.Policy()
		pctx, stop := context.WithCancel(ctx)
		a.mu.Lock()
		a.stopPolicy = stop
		if a.wipe != nil {
			stop()
		}
		a.mu.Unlock()
		var next *policy.Policy
		var err error
		if pinned := a.enrolledPin(); p.Version < pinned {
			next = a.waitPolicy(pctx, p, pinned)
		} else {
			if a.cfg.Enrollment != nil {
				a.pinPolicy(p, pinned)
			}
			next, err = a.runPolicy(pctx, p)
		}
		stop()
		if ctx.Err() == nil && a.wiping() != nil {
			break
		}
		if err != nil || next == nil {
			return err
		}
		a.mu.Lock()
		a.policy = next
		a.mu.Unlock()
		if a.reporter != nil {
			a.reporter.SetInterval(next.Heartbeat.Interval, next.Heartbeat.Jitter)
		}
		a.log.Info("new policy in force", "version", next.Version, "sha256", next.Hash()[:16])
	}
	if err := a.runWipe(ctx); err != nil {
		return nil // stopped: the next start finishes the wipe
	}
	<-ctx.Done()
	return nil
}

// enrolledPin is the pinned policy version of an enrolled agent (0 if not
// enrolled, or none pinned).
func (a *Agent) enrolledPin() int {
	if a.cfg.Enrollment == nil {
		return 0
	}
	return a.pinnedPolicy()
}

// waitPolicy waits, with the vault not running, for a policy newer than p
// (older than the version pinned) until ctx is done (nil).
func (a *Agent) waitPolicy(ctx context.Context, p *policy.Policy, pinned int) *policy.Policy {
	a.policyRolledBack(p, pinned)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.newPol:
			a.mu.Lock()
			next := a.next
			a.next = nil
			a.mu.Unlock()
			if next != nil {
				return next
			}
		}
	}
}

// runPolicy runs the vault and the watcher under p until ctx is done (nil,
// nil), watching fails (nil, err) or a new policy arrives (it, nil).
func (a *Agent) runPolicy(ctx context.Context, p *policy.Policy) (*policy.Policy, error) {
	cache := a.cfg.CacheDir
	if cache == "" {
		var err error
		if cache, err = CacheDir(p); err != nil {
			return nil, err
		}
	}
	device, err := a.device(ctx, p)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	v, err := vault.Open(vault.Config{
		Dir:     cache,
		Device:  device,
		Escrow:  p.Vault.EscrowRecipients,
		CaseRef: p.Vault.CaseRef,
		Store:   a.store,
		Events:  &eventSink{a: a},
		Logger:  a.log,
		Quiet:   p.Vault.Debounce.Quiet,
	})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	w, err := watch.New(cache, watch.Options{
		Quiet: p.Vault.Debounce.Quiet, Max: p.Vault.Debounce.Max, Rescan: a.cfg.Rescan, Ignore: vault.Ignored, Logger: a.log,
	})
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.vault = v
	if r, ok := device.Recipient().(fmt.Stringer); ok {
		a.recipient = r.String()
	}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.vault = nil
		a.mu.Unlock()
	}()
	a.log.Info("casekeep agent running", "cache", cache, "state", a.cfg.StateDir,
		"policy_version", p.Version, "policy_sha256", p.Hash()[:16], "enrolled", a.cfg.Enrollment != nil)

	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	vaultDone := make(chan error, 1)
	go func() { vaultDone <- v.Run(inner) }()
	outsideDone := make(chan error, 1)
	go func() { outsideDone <- a.out.Run(inner, p, v) }()
	watchDone := make(chan error, 1)
	go func() { watchDone <- w.Run(inner) }()
	var next *policy.Policy
	hints := w.Hints()
	for hints != nil {
		select {
		case h, ok := <-hints:
			switch {
			case !ok:
				hints = nil
			case h.Rescan:
				a.log.Debug("rescan", "reason", h.Reason)
				v.Rescan()
			default:
				v.Notify(h.Path)
			}
		case <-a.newPol:
			a.mu.Lock()
			next, a.next = a.next, nil
			a.mu.Unlock()
			if next != nil {
				cancel()
			}
		}
	}
	werr := <-watchDone
	cancel()
	if err := <-outsideDone; err != nil {
		a.log.Error("watching storage outside the vault failed", "err", err)
	}
	verr := <-vaultDone
	if werr != nil && next == nil && ctx.Err() == nil {
		return nil, fmt.Errorf("watching %s: %w", cache, werr)
	}
	if ctx.Err() != nil {
		a.log.Info("casekeep agent stopped")
		return nil, verr
	}
	return next, verr
}

// WritableFolders returns the folders the agent writes in under policy p:
// the cache, and the sweep folders of every home it looks after when the
// sweep does more than report. A service manager that confines the agent
// (systemd's ProtectHome) must leave these writable.
func (a *Agent) WritableFolders(p *policy.Policy) []string {
	var out []string
	cache := a.cfg.CacheDir
	if cache == "" {
		cache, _ = CacheDir(p)
	}
	if cache != "" {
		out = append(out, cache)
	}
	return append(out, a.out.WritableFolders(p)...)
}

// Close releases the agent lock.
func (a *Agent) Close() error {
	return a.lock.Unlock()
}

// onPolicy fetches, checks and saves a newer policy the server names, and
// hands it to Run. It never blocks on Run: the newest policy waits in a slot.
func (a *Agent) onPolicy(ctx context.Context, version int) {
	a.mu.Lock()
	have := a.policy.Version
	if a.next != nil {
		have = max(have, a.next.Version)
	}
	a.mu.Unlock()
	if version <= have {
		return
	}
	bundle, err := a.reporter.FetchPolicy(ctx)
	if err != nil {
		a.log.Warn("could not fetch the new policy", "version", version, "err", err)
		return
	}
	p, err := a.cfg.Enrollment.SavePolicy(a.cfg.StateDir, bundle, have)
	if err != nil {
		a.log.Error("refused the server's new policy", "version", version, "err", err)
		return
	}
	a.mu.Lock()
	a.next = p
	a.mu.Unlock()
	select {
	case a.newPol <- struct{}{}:
	default:
	}
}

// snapshot is what the next heartbeat reports.
func (a *Agent) snapshot() report.Snapshot {
	p := a.Policy()
	s := report.Snapshot{
		AgentVersion: AgentVersion(),
		Policy:       wire.PolicyRef{Version: p.Version, Hash: p.Hash()},
		Posture:      []wire.Check{},
		Vault:        wire.Vault{CaseRefs: []wire.CaseCount{}},
		Storage:      a.out.Summary(),
	}
	ks := a.keyState()
	s.Lease, s.OfflineCopy = ks.lease, ks.offline
	if c := a.diskEncryption(); c.Result != "" {
		s.Posture = append(s.Posture, c)
	}
	if c, ok := a.clockCheck(); ok {
		s.Posture = append(s.Posture, c)
	}
	a.mu.Lock()
	s.Recipient = a.recipient
	a.mu.Unlock()
	// The open vault's summary; while none is open (at start, or while the
	// cache is reopened), the index's last known state: never an empty vault.
	var sum vault.Summary
	var err error
	if v := a.Vault(); v != nil {
		sum, err = v.Summary()
	} else {
		sum, err = vault.IndexSummary(a.store)
	}
	if err != nil {
		a.log.Warn("could not summarise the vault for a heartbeat", "err", err)
	}
	s.Vault.Files, s.Vault.Bytes, s.Vault.Plaintext = sum.Files, sum.Bytes, sum.Plaintext
	for ref, n := range sum.CaseRefs {
		s.Vault.CaseRefs = append(s.Vault.CaseRefs, wire.CaseCount{Ref: wire.Clean(ref, wire.MaxShortString), Files: int(n)})
	}
	sort.Slice(s.Vault.CaseRefs, func(i, j int) bool { return s.Vault.CaseRefs[i].Ref < s.Vault.CaseRefs[j].Ref })
	return s
}

// eventSink logs vault events in plain words, passes them to Config.Events,
// and queues them for the next heartbeat (with a case reference and a
// reason, never a file's name).
type eventSink struct{ a *Agent }

func (s *eventSink) Event(e vault.Event) {
	log := s.a.log
	switch e.Kind {
	case vault.EventSealed:
		log.Debug("sealed", "case_ref", e.CaseRef, "bytes", e.Size)
	case vault.EventPlaintextFound:
		log.Info("plaintext found; sealing it", "case_ref", e.CaseRef, "bytes", e.Size)
	case vault.EventSealFailed:
		log.Warn("could not seal a file yet", "path", e.Path, "reason", e.Reason)
	case vault.EventRefused:
		log.Warn("left alone: not a plain file", "path", e.Path, "reason", e.Reason)
	case vault.EventIndexRepaired:
		log.Info("index repaired", "detail", e.Reason)
	}
	if s.a.cfg.Events != nil {
		s.a.cfg.Events.Event(e)
	}
	s.a.statusChanged()
	s.a.event(wire.Event{Time: e.Time.UTC(), Type: wire.PrefixVault + string(e.Kind), CaseRef: e.CaseRef, Detail: e.Reason})
	// Every vault event changes what the heartbeat's vault counts say: a
	// heartbeat follows when the burst settles (see report.Config.SettleQuiet).
	s.a.notable()
}

// event queues a heartbeat event, if the agent reports.
func (a *Agent) event(e wire.Event) {
	if r := a.reporter; r != nil {
		r.Event(e)
	}
	if a.cfg.OnEvent != nil {
		a.cfg.OnEvent(e)
	}
}

// outsideEvent queues an event of the outside watcher; a storage event
// (a volume connected, approved, removed or blocked) is notable, so the
// server's view of the device's storage follows within seconds.
func (a *Agent) outsideEvent(e wire.Event) {
	a.event(e)
	if strings.HasPrefix(e.Type, wire.PrefixStorage) {
		a.notable()
	}
}

// notable asks for a heartbeat when things settle (see
// report.Config.SettleQuiet): the one home of that rule.
func (a *Agent) notable() {
	if r := a.reporter; r != nil {
		r.Notable()
	}
}

// notify tells the person at the laptop, without waiting.
func (a *Agent) notify(title, body string) {
	if a.notifier == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.notifier.Notify(ctx, title, body); err != nil {
			a.log.Debug("no desktop notification", "err", err)
		}
	}()
}
