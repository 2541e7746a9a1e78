package vault_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/vault"
)

// env is a vault on a temporary cache folder, with an X25519 device
// identity and one escrow identity whose private half the test keeps.
type env struct {
	t      testing.TB
	cache  string
	state  string
	v      *vault.Vault
	device *keys.File
	escrow *age.X25519Identity
	events *eventLog
	store  *state.Store
	opts   []option
}

type option func(*vault.Config)

func newEnv(t testing.TB, opts ...option) *env {
	t.Helper()
	return newEnvIn(t, filepath.Join(t.TempDir(), "cache"), opts...)
}

func newEnvIn(t testing.TB, cache string, opts ...option) *env {
	t.Helper()
	stateDir := filepath.Join(t.TempDir(), "state")
	if err := state.Prepare(stateDir); err != nil {
		t.Fatal(err)
	}
	device, err := keys.LoadOrCreate(stateDir, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	escrow, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, cache: cache, state: stateDir, device: device, escrow: escrow, events: &eventLog{}, opts: opts}
	e.store = state.OpenStore(stateDir, 5*time.Second)
	e.v = e.reopen()
	return e
}

// config is the vault configuration of e.
func (e *env) config() vault.Config {
	cfg := vault.Config{
		Dir:     e.cache,
		Device:  e.device,
		Escrow:  []age.Recipient{e.escrow.Recipient()},
		CaseRef: func(rel string) string { ref, _, _ := strings.Cut(rel, "/"); return ref },
		Store:   e.store,
		Events:  e.events,
		Quiet:   50 * time.Millisecond,
	}
	for _, o := range e.opts {
		o(&cfg)
	}
	return cfg
}

// reopen opens another vault on the same cache and state, as a restart does.
func (e *env) reopen() *vault.Vault {
	e.t.Helper()
	v, err := vault.Open(e.config())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { v.Close() })
	return v
}

func timeAgo() time.Time { return time.Now().Add(-time.Minute) }

func (e *env) path(rel string) string { return filepath.Join(e.cache, filepath.FromSlash(rel)) }

// write creates a plaintext file; an old file has a modification time a
// minute ago, past any quiet period.
func (e *env) write(rel, content string, old bool) {
	e.t.Helper()
	p := e.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if old {
		past := time.Now().Add(-time.Minute)
		os.Chtimes(p, past, past)
	}
}

// open decrypts a sealed file with the escrow identity.
func (e *env) open(rel string) (string, error) {
	f, err := os.Open(e.path(rel))
	if err != nil {
		return "", err
	}
	defer f.Close()
	r, err := age.Decrypt(f, e.escrow)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

func (e *env) mustOpen(rel, want string) {
	e.t.Helper()
	got, err := e.open(rel)
	if err != nil {
		e.t.Fatalf("%s: %v", rel, err)
	}
	if got != want {
		e.t.Fatalf("%s decrypts to %q, want %q", rel, trunc(got), trunc(want))
	}
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// files lists every entry under the cache, "/"-separated, sorted.
func (e *env) files() []string {
	e.t.Helper()
	var out []string
	filepath.WalkDir(e.cache, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == e.cache {
			return nil
		}
		rel, _ := filepath.Rel(e.cache, p)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	slices.Sort(out)
	return out
}

func (e *env) wantFiles(want ...string) {
	e.t.Helper()
	slices.Sort(want)
	if got := e.files(); !slices.Equal(got, want) {
		e.t.Fatalf("cache holds\n  %q\nwant\n  %q", got, want)
	}
}

// run runs the vault until the test ends.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.v.Run(ctx)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
}

type eventLog struct {
	mu     sync.Mutex
	events []vault.Event
}

func (l *eventLog) Event(e vault.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) of(kind vault.EventKind) []vault.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []vault.Event
	for _, e := range l.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (l *eventLog) has(kind vault.EventKind, path string) bool {
	for _, e := range l.of(kind) {
		if e.Path == path {
			return true
		}
	}
	return false
}

func sameBytes(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s changed", path)
	}
}
