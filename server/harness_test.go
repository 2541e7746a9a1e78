package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/sqlite"
)

// rig is a real server on loopback over TLS, with its store, policy and
// keys, which tests can stop and start again on the same address.
type rig struct {
	t         testing.TB
	dir       string
	store     store.Store
	cfg       server.Config  // each start makes a new server from it
	srv       *server.Server // the one serving now
	cert      tls.Certificate
	pin       []byte
	policyKey ed25519.PrivateKey
	policy    *policy.Policy
	addr      string
	url       string

	mu       sync.Mutex
	hs       *http.Server
	cancel   context.CancelFunc
	runDone  chan struct{}
	requests []time.Time // when each heartbeats request arrived
}

func newRig(t testing.TB) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	return newRigWith(t, dir, st)
}

func newRigWith(t testing.TB, dir string, st store.Store) *rig {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	escrow, _ := age.GenerateX25519Identity()
	p, err := policy.Parse([]byte(fmt.Sprintf(`version: 1
name: test
issued_at: 2026-11-22T09:00:00Z
vault:
  cache_paths: {linux: /tmp/ck-test-cache}
  escrow_recipients: [%s]
checks:
  required: [disk_encryption]
`, escrow.Recipient())))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := policy.Sign(p, priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetPolicy(context.Background(), p.Version, bundle); err != nil {
		t.Fatal(err)
	}
	key, err := server.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, pin, err := server.LoadOrCreateTLS(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dir: dir, store: st, cfg: server.Config{Store: st, Key: key, PolicyKey: pub},
		cert: cert, pin: pin, policyKey: priv, policy: p}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// start serves on the rig's address (a new one the first time).
func (r *rig) start() {
	r.t.Helper()
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 50 { // the old socket may linger a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.url = "https://" + r.addr
	srv, err := server.New(r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.srv = srv
	h := srv.Handler()
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == wire.PathHeartbeats {
				r.mu.Lock()
				r.requests = append(r.requests, time.Now())
				r.mu.Unlock()
			}
			h.ServeHTTP(w, req)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{r.cert}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	go hs.ServeTLS(ln, "", "")
	r.mu.Lock()
	r.hs, r.cancel, r.runDone = hs, cancel, done
	r.mu.Unlock()
}

// stop stops serving (connections in flight are cut, as in an outage).
func (r *rig) stop() {
	r.mu.Lock()
	hs, cancel, done := r.hs, r.cancel, r.runDone
	r.hs = nil
	r.mu.Unlock()
	if hs == nil {
		return
	}
	hs.Close()
	cancel()
	<-done
}

func (r *rig) token(uses int, expires time.Duration) string {
	r.t.Helper()
	tok, hash, err := wire.NewToken(r.pin)
	if err != nil {
		r.t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := r.store.CreateToken(context.Background(), store.Token{Hash: hash, Uses: uses, ExpiresAt: now.Add(expires), CreatedAt: now}); err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// device is an enrolled agent's state folder.
type device struct {
	dir string
	en  *report.Enrollment
	key ed25519.PrivateKey
}

func (r *rig) enroll(name string) *device {
	r.t.Helper()
	dir := filepath.Join(r.t.TempDir(), name)
	if err := state.Prepare(dir); err != nil {
		r.t.Fatal(err)
	}
	en, _, err := report.Enroll(context.Background(), r.url, r.token(1, time.Hour), report.HostInfo{Hostname: name, OS: "linux", User: "ann"}, dir)
	if err != nil {
		r.t.Fatal(err)
	}
	key, err := report.LoadSigningKey(dir)
	if err != nil {
		r.t.Fatal(err)
	}
	return &device{dir: dir, en: en, key: key}
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
		NotableMin: time.Millisecond,
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

// lastSeq returns the device's last stored seq.
func (r *rig) lastSeq(id string) uint64 {
	row, err := r.store.Device(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return row.State.Seq
}
