package servertest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/kek"
	"github.com/casekeep/casekeep/server/store/sqlite"
)

// Options shape a [Rig]. The zero value is a rig with the policy of
// [PolicyYAML](1) on a new SQLite store, on the clock, serving agents.
type Options struct {
	// Store is the rig's store, closed when the test ends. Default: a new
	// SQLite database in the rig's folder (Rig.DB names it).
	Store store.Store
	// Policy is the YAML of the policy the rig signs and publishes, in
	// which %[1]s stands for the escrow recipient. Default: PolicyYAML(1).
	Policy string
	// Now is the clock of the server and of the people and tokens the rig
	// makes; what Handler serves should take it too. Default: time.Now.
	Now func() time.Time
	// Handler makes what the rig serves from the server each Start has
	// just made (Rig.Server). Default: the server's endpoints for agents.
	Handler func(r *Rig) (http.Handler, error)
}

// Rig is a real casekeep server on loopback over TLS.
type Rig struct {
	T testing.TB
	// Dir is the server's data folder: its key, its TLS certificate and,
	// unless Options.Store gave one, its SQLite store.
	Dir string
	// DB is the --db of the store the rig made ("sqlite:PATH"), for the
	// command line; "" for a store from Options.
	DB    string
	Store store.Store
	// Config is the server's configuration; each Start makes a new
	// server from it.
	Config server.Config
	// Server is the server serving now.
	Server *server.Server
	Key    ed25519.PrivateKey // the server key, which signs its replies
	Cert   tls.Certificate
	Pin    []byte // of Cert's key, as enrollment tokens carry it
	// PolicyKey signed Policy, which is published in Store.
	PolicyKey ed25519.PrivateKey
	Policy    *policy.Policy
	Escrow    *age.X25519Identity
	// Tokens are the API tokens of the rig's people (see Person), by role.
	Tokens map[store.Role]string
	Now    func() time.Time
	// Addr is where the rig serves, and URL its https:// address.
	Addr, URL string

	handler func(*Rig) (http.Handler, error)
	mu      sync.Mutex
	hs      *http.Server
	cancel  context.CancelFunc
	runDone chan struct{}
}

// New makes a rig and starts it; it stops when the test ends.
func New(t testing.TB, opts Options) *Rig {
	t.Helper()
	r := &Rig{T: t, Dir: t.TempDir(), Store: opts.Store, Now: opts.Now, handler: opts.Handler}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Store == nil {
		r.Store, r.DB = storeIn(t, r.Dir)
	} else {
		t.Cleanup(func() { r.Store.Close() })
		useKEK(t, r.Store, r.Dir)
	}
	yaml := opts.Policy
	if yaml == "" {
		yaml = PolicyYAML(1)
	}
	r.Policy, r.Escrow = Policy(t, yaml)
	var pub ed25519.PublicKey
	var err error
	if pub, r.PolicyKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	bundle, err := policy.Sign(r.Policy, r.PolicyKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Store.SetPolicy(context.Background(), r.Policy.Version, bundle); err != nil {
		t.Fatal(err)
	}
	if r.Key, err = server.LoadOrCreateKey(r.Dir); err != nil {
		t.Fatal(err)
	}
	if r.Cert, r.Pin, err = server.LoadOrCreateTLS(r.Dir, nil); err != nil {
		t.Fatal(err)
	}
	r.Tokens = People(t, r.Store, r.Now().UTC())
	r.Config = server.Config{Store: r.Store, Key: r.Key, PolicyKey: pub, Now: opts.Now}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Store opens a new SQLite store in a folder of the test's, closed when
// the test ends, and returns it with its --db ("sqlite:PATH").
func Store(t testing.TB) (store.Store, string) {
	t.Helper()
	return storeIn(t, t.TempDir())
}

func storeIn(t testing.TB, dir string) (store.Store, string) {
	t.Helper()
	path := filepath.Join(dir, "server.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	useKEK(t, st, dir)
	return st, "sqlite:" + path
}

// useKEK gives st the lease keys' key-encryption key of the data folder
// dir, as the server keeps it.
func useKEK(t testing.TB, st store.Store, dir string) {
	t.Helper()
	sealer, err := kek.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sl, ok := st.(store.Sealing); ok {
		sl.UseKeySealer(sealer)
	}
}

// Twin makes and starts a second server on r's keys, certificate and
// policy (already published) with its own handle st on the same store, as
// another server process sharing the database runs; tune, if not nil,
// changes its configuration. It serves what r serves.
func (r *Rig) Twin(st store.Store, tune func(*server.Config)) *Rig {
	r.T.Helper()
	useKEK(r.T, st, r.Dir)
	t := &Rig{T: r.T, Dir: r.Dir, Store: st, Config: r.Config, Key: r.Key, Cert: r.Cert, Pin: r.Pin, PolicyKey: r.PolicyKey,
		Policy: r.Policy, Escrow: r.Escrow, Tokens: r.Tokens, Now: r.Now, handler: r.handler}
	t.Config.Store = st
	if tune != nil {
		tune(&t.Config)
	}
	r.T.Cleanup(func() { st.Close() })
	t.Start()
	r.T.Cleanup(t.Stop)
	return t
}

// Start serves on the rig's address (a new one the first time), with a
// new server made from Config.
func (r *Rig) Start() {
	r.T.Helper()
	addr := r.Addr
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
		r.T.Fatal(err)
	}
	r.Addr = ln.Addr().String()
	r.URL = "https://" + r.Addr
	srv, err := server.New(r.Config)
	if err != nil {
		ln.Close()
		r.T.Fatal(err)
	}
	r.Server = srv
	var h http.Handler = srv.Handler()
	if r.handler != nil {
		if h, err = r.handler(r); err != nil {
			ln.Close()
			r.T.Fatal(err)
		}
	}
	hs := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{r.Cert}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	go hs.ServeTLS(ln, "", "")
	r.mu.Lock()
	r.hs, r.cancel, r.runDone = hs, cancel, done
	r.mu.Unlock()
}

// Stop stops serving: connections in flight are cut, as in an outage.
// Stopping a stopped rig does nothing.
func (r *Rig) Stop() {
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

// EnrollToken makes an enrollment token for uses devices, expiring after
// expires (before now, if negative).
func (r *Rig) EnrollToken(uses int, expires time.Duration) string {
	r.T.Helper()
	tok, hash, err := wire.NewToken(r.Pin)
	if err != nil {
		r.T.Fatal(err)
	}
	now := r.Now().UTC()
	if err := r.Store.CreateToken(context.Background(), store.Token{Hash: hash, Uses: uses, ExpiresAt: now.Add(expires), CreatedAt: now}); err != nil {
		r.T.Fatal(err)
	}
	return tok
}

// Client returns an HTTP client that trusts the rig by its pinned TLS key,
// as agents do.
func (r *Rig) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: wire.PinnedTLS(r.Pin)}, Timeout: 30 * time.Second}
}

// Do sends a request to the rig with an API token ("" for none) and, if
// body is not nil, body as JSON, and returns the status and the reply.
func (r *Rig) Do(method, path, token string, body any) (int, []byte) {
	r.T.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.T.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.URL+path, rd)
	if err != nil {
		r.T.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.Client().Do(req)
	if err != nil {
		r.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.T.Fatal(err)
	}
	return resp.StatusCode, b
}

// LastSeq returns a device's last stored seq: 0 for a device that has not
// reported, or is not known.
func (r *Rig) LastSeq(id string) uint64 {
	r.T.Helper()
	row, err := r.Store.Device(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		r.T.Fatal(err)
	}
	return row.State.Seq
}
