package report_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/installer"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// enrollServer answers enrollments: down (503) or refusing the token (401)
// while the test says so, else with a signed reply and policy.
type enrollServer struct {
	srv    *httptest.Server
	key    ed25519.PrivateKey
	polKey ed25519.PublicKey
	bundle []byte

	mu       sync.Mutex
	downFor  int  // how many more requests to answer 503
	refuse   bool // answer 401: the token is not known
	requests int
	lease    *wire.LeaseGrant // the first lease, in the reply
}

func newEnrollServer(t *testing.T) *enrollServer {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	polPub, polPriv, _ := ed25519.GenerateKey(rand.Reader)
	escrow, _ := age.GenerateX25519Identity()
	p, err := policy.Parse([]byte(fmt.Sprintf(`version: 1
name: enroll
issued_at: 2026-11-22T09:00:00Z
vault:
  cache_paths: {linux: /tmp/casekeep-test, macos: /tmp/casekeep-test, windows: 'C:\casekeep-test'}
  escrow_recipients: [%s]
`, escrow.Recipient())))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := policy.Sign(p, polPriv)
	if err != nil {
		t.Fatal(err)
	}
	s := &enrollServer{key: key, polKey: polPub, bundle: bundle}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *enrollServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if r.URL.Path != wire.PathEnroll {
		http.NotFound(w, r)
		return
	}
	if s.downFor > 0 {
		s.downFor--
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if s.refuse {
		http.Error(w, "unknown token", http.StatusUnauthorized)
		return
	}
	id, _ := wire.NewDeviceID()
	reply, _ := wire.Marshal(wire.EnrollReply{V: wire.Version, DeviceID: id,
		ServerKey: s.key.Public().(ed25519.PublicKey), PolicyKey: s.polKey, Policy: s.bundle, Lease: s.lease})
	w.Header().Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignEnrollReply(s.key, reply)))
	w.Write(reply)
}

func (s *enrollServer) set(f func(s *enrollServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *enrollServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *enrollServer) token(t *testing.T) string {
	t.Helper()
	tok, _, err := wire.NewToken(wire.CertPin(s.srv.Certificate()))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// waits records how long EnrollWhenAsked asks to wait, without waiting;
// then, if set, runs the test's step for the nth wait (from 1).
type waits struct {
	got  []time.Duration
	then func(n int) (stop bool)
}

func (w *waits) after(d time.Duration) <-chan time.Time {
	w.got = append(w.got, d)
	if w.then != nil && w.then(len(w.got)) {
		return nil // never: the test has cancelled the context
	}
	c := make(chan time.Time, 1)
	c <- time.Now()
	return c
}

// setup is an enrollment server set as tune says, and the options of a
// service (not interactive) with fresh folders, waiting through w (or for
// real, if w is nil).
func setup(t *testing.T, tune func(s *enrollServer), w *waits) (*enrollServer, report.EnrollOptions) {
	srv := newEnrollServer(t)
	if tune != nil {
		srv.set(tune)
	}
	dir := t.TempDir()
	o := report.EnrollOptions{StateDir: filepath.Join(dir, "state"), EnvFile: filepath.Join(dir, "config", installer.EnrollEnvFile),
		Host: report.HostInfo{Hostname: "h", OS: "linux"}}
	if w != nil {
		report.SetAfter(&o, w.after)
	}
	return srv, o
}

func enrolled(t *testing.T, o report.EnrollOptions, en *report.Enrollment, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	saved, lerr := report.LoadEnrollment(o.StateDir)
	if lerr != nil || saved.DeviceID != en.DeviceID {
		t.Fatalf("the enrollment is not kept in the state folder: %v", lerr)
	}
	if _, err := en.LoadPolicy(o.StateDir); err != nil {
		t.Errorf("the policy in force does not load: %v", err)
	}
}

// A server that is down when the service starts is retried, 10 s after
// the first failure and then twice as long each time, until it answers;
// the token, once used, is removed from the service's command line.
func TestEnrollWhenAskedRetriesUntilUp(t *testing.T) {
	w := &waits{}
	srv, o := setup(t, func(s *enrollServer) { s.downFor = 3 }, w)
	o.Server, o.Token = srv.srv.URL, srv.token(t)
	forgot := 0
	o.ForgetServiceToken = func() error { forgot++; return nil }
	en, err := report.EnrollWhenAsked(context.Background(), o)
	enrolled(t, o, en, err)
	if want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second}; !slices.Equal(w.got, want) {
		t.Errorf("waited %v, want %v", w.got, want)
	}
	if n := srv.count(); n != 4 {
		t.Errorf("the server had %d enrollment attempts, want 4", n)
	}
	if forgot != 1 {
		t.Errorf("the service's command line was cleaned %d times, want 1", forgot)
	}
	if fi, err := os.Stat(filepath.Dir(o.EnvFile)); err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		t.Errorf("the service did not prepare its configuration folder: %v", err)
	}
}

// From a terminal, a server on the command line that cannot be reached is
// an error at once, and the configuration folder is left alone.
func TestEnrollWhenAskedInteractiveFailsAtOnce(t *testing.T) {
	w := &waits{}
	srv, o := setup(t, func(s *enrollServer) { s.downFor = 1 }, w)
	o.Server, o.Token, o.Interactive = srv.srv.URL, srv.token(t), true
	o.ForgetServiceToken = func() error { t.Error("a terminal's token was removed from the service"); return nil }
	if en, err := report.EnrollWhenAsked(context.Background(), o); err == nil {
		t.Fatalf("enrolled with a server that is down: %+v", en)
	}
	if len(w.got) != 0 || srv.count() != 1 {
		t.Errorf("retried from a terminal: waits %v, %d attempts", w.got, srv.count())
	}
	if _, err := os.Stat(filepath.Dir(o.EnvFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a terminal's run made the configuration folder: %v", err)
	}
}

// A service installed without enrollment looks at the enrollment file every
// poll; once IT writes it, the service enrolls with it and removes the
// token from it, keeping the server URL.
func TestEnrollWhenAskedFileLater(t *testing.T) {
	w := &waits{}
	srv, o := setup(t, nil, w)
	o.ForgetServiceToken = func() error { t.Error("a token from the file was removed from the service"); return nil }
	w.then = func(n int) bool {
		if srv.count() != 0 {
			t.Errorf("an enrollment was tried before the file was written")
		}
		if n == 3 {
			if err := installer.WriteEnrollEnv(o.EnvFile, installer.EnrollEnv{Server: srv.srv.URL, Token: srv.token(t)}); err != nil {
				t.Fatal(err)
			}
		}
		return false
	}
	en, err := report.EnrollWhenAsked(context.Background(), o)
	enrolled(t, o, en, err)
	if want := []time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second}; !slices.Equal(w.got, want) {
		t.Errorf("waited %v, want %v", w.got, want)
	}
	env, err := installer.ReadEnrollEnv(o.EnvFile)
	if err != nil || env.Token != "" || env.Server != srv.srv.URL {
		t.Errorf("after enrolling, enroll.env = %+v, %v; want the server and no token", env, err)
	}

	// Poll sets the time between looks.
	w2 := &waits{}
	_, o2 := setup(t, nil, w2)
	o2.Poll = time.Second
	ctx, cancel := context.WithCancel(context.Background())
	w2.then = func(n int) bool {
		if n == 2 {
			cancel()
			return true
		}
		return false
	}
	report.EnrollWhenAsked(ctx, o2)
	if want := []time.Duration{time.Second, time.Second}; !slices.Equal(w2.got, want) {
		t.Errorf("with Poll 1s, waited %v, want %v", w2.got, want)
	}
}

// A token the server refuses is tried again, but slowly: the wait doubles
// from 10 s to 10 minutes and stays there, never the file's 30-s poll.
func TestEnrollWhenAskedBadTokenSlowly(t *testing.T) {
	w := &waits{}
	srv, o := setup(t, func(s *enrollServer) { s.refuse = true }, w)
	if err := installer.PrepareConfig(filepath.Dir(o.EnvFile)); err != nil {
		t.Fatal(err)
	}
	if err := installer.WriteEnrollEnv(o.EnvFile, installer.EnrollEnv{Server: srv.srv.URL, Token: srv.token(t)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.then = func(n int) bool {
		if n == 9 {
			cancel()
			return true
		}
		return false
	}
	en, err := report.EnrollWhenAsked(ctx, o)
	if !errors.Is(err, context.Canceled) || en != nil {
		t.Fatalf("EnrollWhenAsked = %v, %v; want context.Canceled", en, err)
	}
	m := time.Minute
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 320 * time.Second, 10 * m, 10 * m, 10 * m}
	if !slices.Equal(w.got, want) {
		t.Errorf("waited %v, want %v", w.got, want)
	}
	if n := srv.count(); n != 9 {
		t.Errorf("%d attempts, want 9", n)
	}
	if env, err := installer.ReadEnrollEnv(o.EnvFile); err != nil || env.Token == "" {
		t.Errorf("the token was removed though it was never used: %+v, %v", env, err)
	}
	if _, err := report.LoadEnrollment(o.StateDir); !errors.Is(err, report.ErrNotEnrolled) {
		t.Errorf("after refusals, LoadEnrollment: %v", err)
	}
}

// Cancelling the context ends the wait at once, whether it is for the
// file (30 s) or for a server that is down (10 s).
func TestEnrollWhenAskedCancel(t *testing.T) {
	for _, fromServer := range []bool{false, true} {
		srv, o := setup(t, func(s *enrollServer) { s.downFor = 1 << 30 }, nil)
		if fromServer {
			o.Server, o.Token = srv.srv.URL, srv.token(t)
		}
		server := o.Server
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := report.EnrollWhenAsked(ctx, o)
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("server %q: after cancel, %v", server, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("server %q: still waiting 5 s after the context was cancelled", server)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("server %q: took %v", server, d)
		}
	}
}

// LocalHost names this computer as the OS does, with the agent's version.
func TestLocalHost(t *testing.T) {
	h := report.LocalHost("1.2.3")
	name, _ := os.Hostname()
	if h.Hostname != name || h.OS != runtime.GOOS || h.Arch != runtime.GOARCH || h.AgentVersion != "1.2.3" || h.User == "" {
		t.Errorf("LocalHost = %+v", h)
	}
}
