package servertest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/servertest"
	"github.com/casekeep/casekeep/server/store"
)

// TestRig: a rig publishes its signed policy, has a person of each role
// with a working token, makes enrollment tokens carrying its pin, serves
// what Handler makes over TLS pinned to its certificate, and serves again
// on the same address after a stop.
func TestRig(t *testing.T) {
	now := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	var got struct {
		auth string
		body []byte
	}
	r := servertest.New(t, servertest.Options{Policy: servertest.PolicyYAML(7), Now: func() time.Time { return now },
		Handler: func(r *servertest.Rig) (http.Handler, error) {
			mux := http.NewServeMux()
			mux.Handle("/", r.Server.Handler())
			mux.HandleFunc("/echo", func(w http.ResponseWriter, req *http.Request) {
				got.auth = req.Header.Get("Authorization")
				got.body, _ = io.ReadAll(req.Body)
				w.WriteHeader(http.StatusTeapot)
				w.Write([]byte("tea"))
			})
			return mux, nil
		}})
	ctx := context.Background()

	version, bundle, err := r.Store.Policy(ctx)
	if err != nil || version != 7 || r.Policy.Version != 7 || len(r.Policy.Vault.EscrowRecipients) != 1 {
		t.Fatalf("published version %d (%v); policy %+v", version, err, r.Policy)
	}
	if p, err := policy.Verify(bundle, r.PolicyKey.Public().(ed25519.PublicKey), 0); err != nil || p.Version != 7 {
		t.Errorf("the bundle does not verify with the policy key: %v", err)
	}
	g := &access.Guard{Store: r.Store}
	for _, role := range store.Roles {
		p, err := g.Check(ctx, r.Tokens[role])
		if err != nil || p.User.Name != servertest.Person(role) || p.User.Role != role || !p.User.CreatedAt.Equal(now) {
			t.Errorf("%s's token: %+v, %v", role, p, err)
		}
	}
	tok := r.EnrollToken(1, time.Hour)
	hash, pin, err := wire.ParseToken(tok)
	if err != nil || !bytes.Equal(pin, r.Pin) {
		t.Errorf("enrollment token %q: pin %x, %v", tok, pin, err)
	}
	if err := r.Store.UseToken(ctx, hash, now); err != nil {
		t.Errorf("using the token: %v", err)
	}
	if err := r.Store.UseToken(ctx, hash, now); !errors.Is(err, store.ErrTokenUsedUp) {
		t.Errorf("using a one-use token twice: %v", err)
	}

	if code, body := r.Do("POST", "/echo", "tok", map[string]int{"a": 1}); code != http.StatusTeapot || string(body) != "tea" || got.auth != "Bearer tok" || string(got.body) != `{"a":1}` {
		t.Errorf("Do: %d %q; the server saw %q %q", code, body, got.auth, got.body)
	}
	if code, _ := r.Do("GET", wire.PathPolicy, "", nil); code == http.StatusNotFound {
		t.Errorf("the agents' endpoints are not served")
	}
	addr := r.Addr
	r.Stop()
	r.Stop() // twice is harmless
	if _, err := r.Client().Get(r.URL + "/echo"); err == nil {
		t.Error("a stopped rig answered")
	}
	r.Start()
	if code, _ := r.Do("GET", "/echo", "", nil); code != http.StatusTeapot || r.Addr != addr {
		t.Errorf("after a restart: %d on %s, was %s", code, r.Addr, addr)
	}
	if r.LastSeq("nope") != 0 || r.DB == "" {
		t.Errorf("LastSeq of an unknown device, or no DB %q", r.DB)
	}
	// Another server process on the same keys, with its own store handle.
	st, _ := servertest.Store(t)
	twin := r.Twin(st, nil)
	if twin.Addr == r.Addr || !bytes.Equal(twin.Pin, r.Pin) || twin.Store != st {
		t.Errorf("twin on %s pin %x", twin.Addr, twin.Pin)
	}
	if code, _ := twin.Do("GET", "/echo", "", nil); code != http.StatusTeapot {
		t.Errorf("the twin: %d", code)
	}
	// A client pinned to another key is refused.
	other := servertest.New(t, servertest.Options{})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: wire.PinnedTLS(other.Pin)}}
	if _, err := c.Get(r.URL + "/echo"); err == nil {
		t.Error("a client pinned to another server's key was answered")
	}
}
