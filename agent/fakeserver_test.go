package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"

	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/storage/storagetest"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// leaseServer is a fake casekeep server for one device, over TLS (the
// agent pins its certificate): it takes heartbeats and serves the
// device's lease, as the test says, with replies signed by its key.
type leaseServer struct {
	srv *httptest.Server
	key ed25519.PrivateKey
	id  string

	mu       sync.Mutex
	devKey   ed25519.PublicKey
	down     bool          // answer 503 to everything
	refuse   string        // refuse the lease with this reason
	window   time.Duration // the offline window (Until = now + window)
	keyID    string
	leaseKey []byte
	next     *wire.NextKey  // a rotation in progress
	commands []wire.Command // sent with every reply until acknowledged
	replay   bool           // replies echo a wrong nonce
	acked    uint64         // heartbeats it holds
	got      []*wire.Heartbeat
	leases   []wire.LeaseRequest
	acks     []wire.CommandAck
	badSigs  int
}

func newLeaseServer(t testing.TB) *leaseServer {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	id, _ := wire.NewDeviceID()
	s := &leaseServer{key: key, id: id, window: time.Hour, keyID: "lk_1", leaseKey: randomKey()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathHeartbeats, s.heartbeats)
	mux.HandleFunc("POST "+wire.PathLease, s.lease)
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // a child killed mid-handshake is no news
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

func randomKey() []byte {
	k := make([]byte, wire.LeaseKeySize)
	rand.Read(k)
	return k
}

// set changes the server's behaviour under its lock.
func (s *leaseServer) set(f func(s *leaseServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *leaseServer) heartbeats(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	batch, err := wire.DecodeBatch(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	status := http.StatusConflict
	for _, sh := range batch.Heartbeats {
		h, err := wire.DecodeHeartbeat(sh.Body)
		if err != nil || wire.VerifyHeartbeat(s.devKey, sh.Body, sh.Sig) != nil {
			s.badSigs++
			http.Error(w, "bad heartbeat", http.StatusUnauthorized)
			return
		}
		if h.Seq > s.acked {
			s.got = append(s.got, h)
			s.acked = h.Seq
			status = http.StatusOK
			for _, a := range h.Acks {
				s.acks = append(s.acks, a)
				s.commands = slices.DeleteFunc(s.commands, func(c wire.Command) bool { return c.ID == a.ID })
			}
		}
	}
	nonce := batch.Nonce
	if s.replay {
		nonce = wire.NewNonce()
	}
	reply, _ := wire.Marshal(wire.Reply{V: 1, DeviceID: s.id, AckedSeq: s.acked, PolicyVersion: 1, ServerTime: time.Now().UTC(),
		Nonce: nonce, Commands: s.commands})
	w.Header().Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignReply(s.key, reply)))
	w.WriteHeader(status)
	w.Write(reply)
}

func (s *leaseServer) lease(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	sig, _ := base64.StdEncoding.DecodeString(r.Header.Get(wire.SignatureHeader))
	if wire.VerifyLease(s.devKey, body, sig) != nil {
		s.badSigs++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	req, err := wire.DecodeLeaseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.leases = append(s.leases, *req)
	if s.next != nil && req.KeyID == s.next.KeyID {
		s.keyID, s.leaseKey, s.next = s.next.KeyID, s.next.Key, nil // the rotation is done
	}
	now := time.Now().UTC()
	reply := wire.LeaseReply{V: 1, DeviceID: s.id, Nonce: req.Nonce, ServerTime: now}
	if s.refuse != "" {
		reply.Refused = s.refuse
	} else {
		g := &wire.LeaseGrant{KeyID: s.keyID, Until: now.Add(s.window), Next: s.next}
		if req.Want == wire.WantKey {
			g.Key = s.leaseKey
		}
		reply.Grant = g
	}
	rb, _ := wire.Marshal(reply)
	w.Header().Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignLeaseReply(s.key, rb)))
	w.Write(rb)
}

func (s *leaseServer) received() []*wire.Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *leaseServer) leaseRequests() []wire.LeaseRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.leases)
}

func (s *leaseServer) acksOf(id string) []wire.CommandAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wire.CommandAck
	for _, a := range s.acks {
		if a.ID == id {
			out = append(out, a)
		}
	}
	return out
}

// lastHeartbeat returns the newest heartbeat received (nil if none).
func (s *leaseServer) lastHeartbeat() *wire.Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return nil
	}
	return s.got[len(s.got)-1]
}

// firstLease is the lease the server gives at enrollment.
func (s *leaseServer) firstLease() *wire.LeaseGrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &wire.LeaseGrant{KeyID: s.keyID, Key: slices.Clone(s.leaseKey), Until: time.Now().Add(s.window)}
}

// device is an enrolled device's folders and keys, as the agent keeps
// them, for the fake server.
type device struct {
	t      testing.TB
	srv    *leaseServer
	dir    string // the test's folder
	state  string
	cache  string
	en     *report.Enrollment
	key    ed25519.PrivateKey
	escrow *age.X25519Identity
	policy *policy.Policy
	notes  *notes
}

// newDevice enrolls a device with srv (on paper: the enrollment is written
// as Enroll writes it) and keeps its state and cache in a new folder.
func newDevice(t testing.TB, srv *leaseServer) *device {
	t.Helper()
	dir := t.TempDir()
	d := &device{t: t, srv: srv, dir: dir, state: filepath.Join(dir, "state"), cache: filepath.Join(dir, "cache"), notes: &notes{}}
	if err := state.Prepare(d.state); err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	d.key = key
	srv.set(func(s *leaseServer) { s.devKey = pub })
	d.en = &report.Enrollment{Server: srv.srv.URL, DeviceID: srv.id, ServerKey: srv.key.Public().(ed25519.PublicKey),
		PolicyKey: pub, TLSPin: wire.CertPin(srv.srv.Certificate()), EnrolledAt: time.Now().UTC()}
	eb, _ := json.Marshal(d.en)
	os.WriteFile(filepath.Join(d.state, report.EnrollmentFile), eb, 0o600)
	os.WriteFile(filepath.Join(d.state, report.SigningKeyFile), policy.MarshalPrivateKey(key), 0o600)
	d.escrow, _ = age.GenerateX25519Identity()
	d.policy = testPolicy(t, d.escrow.Recipient().String())
	return d
}

// testPolicy is a policy sealing to escrow, with heartbeats every 200 ms.
func testPolicy(t testing.TB, escrow string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(`version: 1
name: Test council
issued_at: 2026-11-22T09:00:00Z
vault:
  cache_paths: {linux: /unused, macos: /unused, windows: 'C:\unused'}
  case_ref_pattern: '^(?P<ref>[A-Z]{2}-[0-9]{6})/'
  escrow_recipients: [` + escrow + `]
  debounce: {quiet: 20ms, max: 1s}
`))
	if err != nil {
		t.Fatal(err)
	}
	p.Heartbeat.Interval, p.Heartbeat.Jitter = 200*time.Millisecond, 0
	return p
}

// running is an agent the test runs.
type running struct {
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan error
	events eventLog
}

// eventLog keeps the events an agent queued for its heartbeats.
type eventLog struct {
	mu     sync.Mutex
	events []wire.Event
}

func (l *eventLog) add(e wire.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) all() []wire.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// of returns the events of type typ.
func (l *eventLog) of(typ string) []wire.Event {
	var out []wire.Event
	for _, e := range l.all() {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
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
		Reporter: report.Config{NotableMin: time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
		OnEvent:  r.events.add,
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

func (r *running) eventsOf(typ string) []wire.Event { return r.events.of(typ) }

func (r *running) waitEvent(t testing.TB, typ string) wire.Event {
	t.Helper()
	var got []wire.Event
	testenv.Eventually(t, "a "+typ+" event", func() bool { got = r.eventsOf(typ); return len(got) > 0 })
	return got[0]
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
	p := filepath.Join(d.cache, filepath.FromSlash(rel))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		d.t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	os.Chtimes(p, past, past)
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
	b, err := os.ReadFile(path)
	if err != nil {
		d.t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(b), d.escrow)
	if err != nil {
		d.t.Fatalf("%s: %v", path, err)
	}
	out, _ := io.ReadAll(r)
	return string(out)
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

func (n *notes) has(sub string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, g := range n.got {
		if strings.Contains(g, sub) {
			return true
		}
	}
	return false
}

// stateStore opens the device's state store, as `casekeep ls` does beside
// a running agent.
func stateStore(d *device) *state.Store { return state.OpenStore(d.state, 5*time.Second) }

// enrolledAndUnlocked is a device just enrolled with a new fake server,
// its agent running with the vault unlocked by the first lease.
func enrolledAndUnlocked(t *testing.T) (*leaseServer, *device, *running) {
	t.Helper()
	srv := newLeaseServer(t)
	d := newDevice(t, srv)
	r := d.start(srv.firstLease())
	r.waitLease(t, wire.LeaseUnlocked)
	return srv, d, r
}
