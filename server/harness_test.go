package server_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/servertest"
)

// rig is the server test rig (a real server on loopback over TLS, with its
// store, policy and keys, which tests can stop and start again on the same
// address) that also notes when each heartbeats request arrived.
type rig struct {
	*servertest.Rig

	mu       sync.Mutex
	requests []time.Time // when each heartbeats request arrived
}

func newRig(t testing.TB) *rig { return newRigWith(t, servertest.Options{}) }

func newRigWith(t testing.TB, opts servertest.Options) *rig {
	t.Helper()
	r := &rig{}
	opts.Handler = func(sr *servertest.Rig) (http.Handler, error) {
		h := sr.Server.Handler()
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == wire.PathHeartbeats {
				r.mu.Lock()
				r.requests = append(r.requests, time.Now())
				r.mu.Unlock()
			}
			h.ServeHTTP(w, req)
		}), nil
	}
	r.Rig = servertest.New(t, opts)
	return r
}

// device is an enrolled agent's state folder.
type device struct {
	dir string
	en  *report.Enrollment
	key ed25519.PrivateKey
}

func (r *rig) enroll(name string) *device {
	r.T.Helper()
	dir := filepath.Join(r.T.TempDir(), name)
	if err := state.Prepare(dir); err != nil {
		r.T.Fatal(err)
	}
	en, _, err := report.Enroll(context.Background(), r.URL, r.EnrollToken(1, time.Hour), report.HostInfo{Hostname: name, OS: "linux", User: "ann"}, dir)
	if err != nil {
		r.T.Fatal(err)
	}
	key, err := report.LoadSigningKey(dir)
	if err != nil {
		r.T.Fatal(err)
	}
	return &device{dir: dir, en: en, key: key}
}

// agent opens a whole agent for d, enrolled and under the policy it was
// given, with its cache in cache, no homes to look after, and notable
// heartbeats sent at once.
func (d *device) agent(t testing.TB, cache string) *agent.Agent {
	t.Helper()
	return d.agentWith(t, cache, report.Config{NotableMin: time.Millisecond, SettleQuiet: time.Millisecond})
}

// agentWith is agent with the reporter's settings rc.
func (d *device) agentWith(t testing.TB, cache string, rc report.Config) *agent.Agent {
	t.Helper()
	p, err := d.en.LoadPolicy(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.Open(agent.Config{Policy: p, StateDir: d.dir, CacheDir: cache, Enrollment: d.en, SigningKey: d.key,
		Homes: []string{}, Reporter: rc})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// run runs a until stop is called, which fails the test if Run returned an
// error.
func run(t testing.TB, a *agent.Agent) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// reporter makes a reporter for d with fast settings, and a snapshot that
// passes the policy's check.
func (d *device) reporter(t testing.TB, tune func(*report.Config)) *report.Reporter {
	t.Helper()
	cfg := report.Config{
		Store: state.OpenStore(d.dir, 10*time.Second), Enrollment: d.en, Key: d.key,
		Snapshot: func() report.Snapshot {
			return report.Snapshot{AgentVersion: "test", Policy: wire.PolicyRef{Version: 1},
				Posture: []wire.Check{{Name: "disk_encryption", Result: "pass"}}, Lease: "none",
				Vault: wire.Vault{Files: 2, CaseRefs: []wire.CaseCount{{Ref: "LL-1", Files: 2}}}}
		},
		Interval: time.Hour, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, DrainEvery: 10 * time.Millisecond,
		NotableMin: time.Millisecond, SettleQuiet: time.Millisecond,
	}
	if tune != nil {
		tune(&cfg)
	}
	rep, err := report.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// runReporter runs rep until the test ends.
func runReporter(t testing.TB, rep *report.Reporter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rep.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}
