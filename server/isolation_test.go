package server_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/sqlite"
)

// refusingStore refuses, as invalid, any batch holding a heartbeat of one
// device: a fault no decoder check catches, injected.
type refusingStore struct {
	store.Store
	bad string
}

func (s *refusingStore) Ingest(ctx context.Context, hbs []store.Heartbeat) ([]store.Outcome, error) {
	for _, h := range hbs {
		if h.DeviceID == s.bad {
			return nil, fmt.Errorf("injected: %w", store.ErrInvalid)
		}
	}
	return s.Store.Ingest(ctx, hbs)
}

// TestInvalidRequestFailsAlone: when the store refuses one request's values,
// the other requests gathered into the same transaction are stored anyway.
func TestInvalidRequestFailsAlone(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, dir, st)
	good, bad := r.enroll("good"), r.enroll("bad")
	r.stop()
	r.srv, err = server.New(server.Config{
		Store: &refusingStore{Store: st, bad: bad.en.DeviceID}, Key: mustKey(t, dir),
		PolicyKey: r.policyKey.Public().(ed25519.PublicKey), BatchWait: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.start()
	var wg sync.WaitGroup
	statuses := map[string]int{}
	var mu sync.Mutex
	for name, d := range map[string]*device{"good": good, "bad": bad} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := r.post(wire.PathHeartbeats, batch(heartbeat(t, d, 1, "", nil)), nil)
			mu.Lock()
			statuses[name] = res.status
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses["good"] != http.StatusOK || statuses["bad"] != http.StatusBadRequest {
		t.Errorf("statuses %v: want good 200, bad 400", statuses)
	}
	if r.lastSeq(good.en.DeviceID) != 1 || r.lastSeq(bad.en.DeviceID) != 0 {
		t.Errorf("last seqs %d and %d", r.lastSeq(good.en.DeviceID), r.lastSeq(bad.en.DeviceID))
	}
}
