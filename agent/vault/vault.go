package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/wire"
)

// Errors returned when a file is not sealed (yet). They are causes, found
// with errors.Is; the event for the file says the same in its Reason.
var (
	// ErrChanging means the file changed while it was looked at or sealed;
	// it is retried later.
	ErrChanging = errors.New("file is still being written")
	// ErrRefused means the file is not a plain regular file (a symlink,
	// a hardlinked file, a FIFO, a socket or a device) and is left alone.
	ErrRefused = errors.New("refused")
	// errInUse means another program holds the file open.
	errInUse = fmt.Errorf("%w: another program has it open", ErrChanging)
	// errReparsePoint means a Windows open found a symlink or junction.
	errReparsePoint = errors.New("is a reparse point (symlink or junction)")
)

// EventKind names what happened.
type EventKind string

// The vault's events.
const (
	EventSealed         EventKind = wire.VaultSealed         // a plaintext file was sealed and removed
	EventPlaintextFound EventKind = wire.VaultPlaintextFound // plaintext is in the cache (sealed soon)
	EventSealFailed     EventKind = wire.VaultSealFailed     // sealing failed; Reason says why
	EventRefused        EventKind = wire.VaultRefused        // a path the vault will not touch; reported once
	EventIndexRepaired  EventKind = wire.VaultIndexRepaired  // the scan corrected the index; Reason counts
)

// Event is something the vault did or found. Path is relative to the cache
// folder, with "/" separators; it is for the laptop's own logs and status,
// and the reporter sends only CaseRef and counts off the device.
type Event struct {
	Time    time.Time
	Kind    EventKind
	Path    string
	CaseRef string
	Size    int64 // plaintext bytes, where known
	Reason  string
}

// Events receives the vault's events. Event is called from the vault's
// goroutines and must not block for long.
type Events interface {
	Event(Event)
}

// EventFunc adapts a function to [Events].
type EventFunc func(Event)

// Event implements [Events].
func (f EventFunc) Event(e Event) { f(e) }

// Config is what a vault needs. Dir, Device, Escrow and Store are
// required (Device not with EscrowOnly).
type Config struct {
	// Dir is the cache folder, an absolute path. It is created (mode 0700)
	// if missing; a symlink is refused.
	Dir string
	// Device is the device identity; files are sealed to its recipient.
	Device keys.Device
	// EscrowOnly seals to the escrow recipients alone, not to Device's
	// (for a wipe whose device identity does not open, or whose public key
	// is not authenticated). Device may then be nil: the vault is locked.
	EscrowOnly bool
	// Escrow are the policy's escrow recipients; files are sealed to them too.
	Escrow []age.Recipient
	// CaseRef derives a case reference from a path relative to Dir; nil
	// means none.
	CaseRef func(rel string) string
	// Store is the agent's state store, for the index.
	Store *state.Store
	// Events receives events; nil drops them.
	Events Events
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Quiet is how long a file must go unchanged before it is sealed
	// (default 150ms).
	Quiet time.Duration
	// Workers is how many files are sealed at once (default: the number of
	// CPUs, at least 2).
	Workers int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// noDevice is the Device of an escrow-only vault opened without one: it
// is locked for ever.
type noDevice struct{}

func (noDevice) Recipient() age.Recipient { return nil }
func (noDevice) Identities() ([]age.Identity, error) {
	return nil, fmt.Errorf("%w: the vault seals to the escrow keys alone", keys.ErrLocked)
}

// Vault is an open cache folder.
type Vault struct {
	cfg        Config
	dir        string
	root       *os.Root
	recipients []age.Recipient
	stanzas    map[string]int // the kinds of header stanza sealing to recipients writes
	log        *slog.Logger
	index      *index
	tempKey    []byte // proves a temporary file the vault's (tempName), from the state store

	sched  *scheduler
	rescan chan struct{}

	inPlace sync.Mutex // serialises SealInPlace and ImportFrom

	mu    sync.Mutex
	stats Stats
	busy  map[string]int // paths being worked on; see hold
}

// Stats counts what the vault has done since it was opened.
type Stats struct {
	Sealed      int   // files sealed
	SealedBytes int64 // plaintext bytes sealed
	Pending     int   // plaintext files waiting to be sealed
	Failed      int   // seal attempts that failed (and will be retried)
	Refused     int   // paths refused
}

// Open opens the cache folder described by cfg.
func Open(cfg Config) (*Vault, error) {
	if (cfg.Device == nil && !cfg.EscrowOnly) || len(cfg.Escrow) == 0 || cfg.Store == nil {
		return nil, errors.New("vault: Device, Escrow and Store are required")
	}
	if cfg.Device == nil {
		cfg.Device = noDevice{}
	}
	if !filepath.IsAbs(cfg.Dir) {
		return nil, fmt.Errorf("vault: cache folder %q is not an absolute path", cfg.Dir)
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = 150 * time.Millisecond
	}
	if cfg.Workers <= 0 {
		cfg.Workers = max(2, runtime.GOMAXPROCS(0))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CaseRef == nil {
		cfg.CaseRef = func(string) string { return "" }
	}
	if cfg.Events == nil {
		cfg.Events = EventFunc(func(Event) {})
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Clean(cfg.Dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: creating the cache folder: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("vault: cache folder %s is not a folder (a symlink is refused)", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if rfi, err := root.Stat("."); err != nil || !os.SameFile(fi, rfi) {
		root.Close()
		return nil, fmt.Errorf("vault: cache folder %s changed while it was opened", dir)
	}
	// age refuses to mix post-quantum and classic recipients; say so here
	// rather than at every seal.
	recipients := append([]age.Recipient{cfg.Device.Recipient()}, cfg.Escrow...)
	if cfg.EscrowOnly {
		recipients = slices.Clone(cfg.Escrow)
	}
	if err := checkKinds(recipients); err != nil {
		root.Close()
		return nil, err
	}
	stanzas, err := stanzaKinds(recipients)
	if err != nil {
		root.Close()
		return nil, err
	}
	tempKey, err := loadTempKey(cfg.Store)
	if err != nil {
		root.Close()
		return nil, err
	}
	return &Vault{
		cfg:        cfg,
		dir:        dir,
		root:       root,
		recipients: recipients,
		stanzas:    stanzas,
		log:        log,
		index:      &index{store: cfg.Store},
		tempKey:    tempKey,
		sched:      newScheduler(cfg.Now),
		rescan:     make(chan struct{}, 1),
		busy:       map[string]int{},
	}, nil
}

func checkKinds(rs []age.Recipient) error {
	pq := 0
	for _, r := range rs {
		if _, ok := r.(*age.HybridRecipient); ok {
			pq++
		}
	}
	if pq != 0 && pq != len(rs) {
		return errors.New("vault: the device identity and the escrow recipients must all be post-quantum or all classic")
	}
	return nil
}

// Dir returns the cache folder.
func (v *Vault) Dir() string { return v.dir }

// Close releases the cache folder.
func (v *Vault) Close() error { return v.root.Close() }

// Stats returns the counters.
func (v *Vault) Stats() Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.stats
	s.Pending = v.sched.pending()
	return s
}

func (v *Vault) count(f func(*Stats)) {
	v.mu.Lock()
	f(&v.stats)
	v.mu.Unlock()
}

func (v *Vault) emit(kind EventKind, rel string, size int64, reason string) {
	e := Event{Time: v.cfg.Now(), Kind: kind, Path: rel, Size: size, Reason: reason}
	if rel != "" {
		e.CaseRef = v.cfg.CaseRef(rel)
	}
	v.cfg.Events.Event(e)
}

// kindOf names a file type that the vault refuses.
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "a device"
	case m.IsDir():
		return "a folder"
	case m.IsRegular():
		return "a regular file"
	}
	return "not a regular file"
}
