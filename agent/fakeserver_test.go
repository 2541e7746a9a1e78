package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"

	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/report/reporttest"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/storage/storagetest"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

func randomKey() []byte {
	k := make([]byte, wire.LeaseKeySize)
	rand.Read(k)
	return k
}

// device is an enrolled device's folders and keys, as the agent keeps
// them, for the fake server.
type device struct {
	t      testing.TB
	srv    *reporttest.Server
	dir    string // the test's folder
	state  string
	cache  string
	en     *report.Enrollment
	key    ed25519.PrivateKey
	escrow *age.X25519Identity
	policy *policy.Policy
	notes  *notes
	local  string // the agent's LocalSocket ("" for none)
}

// newDevice enrolls a device with srv (on paper: the enrollment is written
// as Enroll writes it) and keeps its state and cache in a new folder.
func newDevice(t testing.TB, srv *reporttest.Server) *device {
	t.Helper()
	dir := t.TempDir()
	d := &device{t: t, srv: srv, dir: dir, state: filepath.Join(dir, "state"), cache: filepath.Join(dir, "cache"), notes: &notes{}}
	if err := state.Prepare(d.state); err != nil {
		t.Fatal(err)
	}
	d.en, d.key = srv.Enroll()
	eb, _ := json.Marshal(d.en)
	os.WriteFile(filepath.Join(d.state, report.EnrollmentFile), eb, 0o600)
	os.WriteFile(filepath.Join(d.state, report.SigningKeyFile), policy.MarshalPrivateKey(d.key), 0o600)
	d.escrow, _ = age.GenerateX25519Identity()
	d.policy = testPolicy(t, d.escrow.Recipient().String())
	return d
}

// testPolicy is a policy sealing to escrow, with heartbeats every 200 ms.
func testPolicy(t testing.TB, escrow string) *policy.Policy {
	t.Helper()
	p := agenttest.Policy(t, 1, escrow, "  debounce: {quiet: 20ms, max: 1s}\n")
	p.Heartbeat.Interval, p.Heartbeat.Jitter = 200*time.Millisecond, 0
	return p
}

// running is an agent the test runs.
type running struct {
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan error
	events agenttest.Recorder[wire.Event]
}

// start opens and runs the device's agent until stop (or the test's end).
// first, if set, is the enrollment's first lease.
func (d *device) start(first *wire.LeaseGrant) *running {
	d.t.Helper()
	en := *d.en
	en.Lease = first
	r := &running{done: make(chan error, 1)}
	a, err := agent.Open(agent.Config{
		Policy: d.policy, StateDir: d.state, CacheDir: d.cache, Enrollment: &en, SigningKey: d.key,
		Homes: []string{}, Storage: storagetest.New(true), Notifier: d.notes,
		Posture: func(context.Context) wire.Check {
			return wire.Check{Name: "disk_encryption", Result: "pass", Evidence: "test"}
		},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		LeaseTimeout: 2 * time.Second, KeyCheckEvery: 50 * time.Millisecond,
		Reporter:    report.Config{NotableMin: time.Millisecond, SettleQuiet: time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
		OnEvent:     r.events.Add,
		LocalSocket: d.local,
	})
	if err != nil {
		d.t.Fatal(err)
	}
	r.a = a
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	d.t.Cleanup(func() { r.stop(d.t) })
	return r
}

// stop stops the agent (once).
func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Error(err)
	}
	r.a.Close()
}

func (r *running) eventsOf(typ string) []wire.Event { return r.events.Where(agenttest.OfType(typ)) }

func (r *running) waitEvent(t testing.TB, typ string) wire.Event {
	t.Helper()
	return r.events.Wait(t, "a "+typ+" event", 1, agenttest.OfType(typ))[0]
}

// vault waits until Run has opened the vault and returns it: the lease
// can be unlocked a moment before the vault is running.
func (r *running) vault(t testing.TB) *vault.Vault {
	t.Helper()
	var v *vault.Vault
	testenv.Eventually(t, "the vault running", func() bool { v = r.a.Vault(); return v != nil })
	return v
}

// waitLease waits until the agent reports the lease state want.
func (r *running) waitLease(t testing.TB, want string) agent.Status {
	t.Helper()
	var st agent.Status
	testenv.Eventually(t, "the vault "+want, func() bool { st = r.a.Status(); return st.Keys.Lease == want })
	return st
}

// write puts a plaintext file in the cache, a minute old.
func (d *device) write(rel, content string) {
	d.t.Helper()
	agenttest.WriteOld(d.t, filepath.Join(d.cache, filepath.FromSlash(rel)), content)
}

// waitSealed waits until rel is sealed (its plaintext gone, rel.age there).
func (d *device) waitSealed(rel string) {
	d.t.Helper()
	p := filepath.Join(d.cache, filepath.FromSlash(rel))
	testenv.Eventually(d.t, rel+" sealed", func() bool {
		_, err1 := os.Lstat(p)
		_, err2 := os.Lstat(p + ".age")
		return os.IsNotExist(err1) && err2 == nil
	})
}

// escrowOpens decrypts the sealed file rel in the cache with the escrow
// identity.
func (d *device) escrowOpens(rel string) string {
	d.t.Helper()
	return d.escrowOpensFile(filepath.Join(d.cache, filepath.FromSlash(rel)))
}

// escrowOpensFile decrypts the sealed file at path with the escrow identity.
func (d *device) escrowOpensFile(path string) string {
	d.t.Helper()
	return agenttest.Decrypt(d.t, path, d.escrow)
}

// noSecretIn fails the test if any file under dir holds an age identity.
func noSecretIn(t testing.TB, dir string, secrets ...string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		for _, s := range append([]string{"AGE-SECRET-KEY"}, secrets...) {
			if bytes.Contains(bytes.ToUpper(b), []byte(strings.ToUpper(s))) {
				t.Errorf("%s holds %s", p, s[:min(len(s), 20)])
			}
		}
		return nil
	})
}

// stateStore opens the device's state store, as `casekeep ls` does beside
// a running agent.
func stateStore(d *device) *state.Store { return state.OpenStore(d.state, 5*time.Second) }

// enrolledAndUnlocked is a device just enrolled with a new fake server,
// its agent running with the vault unlocked by the first lease.
func enrolledAndUnlocked(t testing.TB) (*reporttest.Server, *device, *running) {
	t.Helper()
	srv := reporttest.NewServer(t)
	d := newDevice(t, srv)
	r := d.start(srv.FirstLease())
	r.waitLease(t, wire.LeaseUnlocked)
	return srv, d, r
}
