package vault_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/vault"
)

// env is a vault on a temporary cache folder, for an X25519 device: its
// identity and one escrow identity whose private half the test keeps.
type env struct {
	*agenttest.Device
	t      testing.TB
	cache  string
	v      *vault.Vault
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
	e := &env{Device: agenttest.NewDevice(t, false), t: t, cache: cache, events: &eventLog{}, opts: opts}
	e.store = state.OpenStore(e.State, 5*time.Second)
	e.v = e.reopen()
	return e
}

// config is the vault configuration of e.
func (e *env) config() vault.Config {
	cfg := vault.Config{
		Dir:     e.cache,
		Device:  e.Keys,
		Escrow:  []age.Recipient{e.EscrowRecipient},
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

// open decrypts a sealed file with the escrow identity; an error fails
// the test.
func (e *env) open(rel string) string {
	e.t.Helper()
	return agenttest.Decrypt(e.t, e.path(rel), e.Escrow)
}

func (e *env) mustOpen(rel, want string) {
	e.t.Helper()
	if got := e.open(rel); got != want {
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

// eventLog keeps the vault's events.
type eventLog struct {
	agenttest.Recorder[vault.Event]
}

func (l *eventLog) Event(e vault.Event) { l.Add(e) }

func (l *eventLog) of(kind vault.EventKind) []vault.Event {
	return l.Where(func(e vault.Event) bool { return e.Kind == kind })
}

func (l *eventLog) has(kind vault.EventKind, path string) bool {
	return l.Where(func(e vault.Event) bool { return e.Kind == kind && e.Path == path }) != nil
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
