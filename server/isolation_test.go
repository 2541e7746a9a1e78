package server_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/servertest"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/sqlite"
)

// refusingStore refuses, as invalid, any batch holding a heartbeat of one
// device: a fault no decoder check catches, injected.
type refusingStore struct {
	store.Store
	bad   string
	mu    sync.Mutex
	calls []int // heartbeats in each Ingest call
}

func (s *refusingStore) Ingest(ctx context.Context, hbs []store.Heartbeat) ([]store.Outcome, error) {
	s.mu.Lock()
	s.calls = append(s.calls, len(hbs))
	s.mu.Unlock()
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
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, servertest.Options{Store: st})
	good, bad := r.enroll("good"), r.enroll("bad")
	r.Stop()
	refusing := &refusingStore{Store: st, bad: bad.en.DeviceID}
	r.Config.Store, r.Config.BatchWait = refusing, 200*time.Millisecond
	r.Start()
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
	if r.LastSeq(good.en.DeviceID) != 1 || r.LastSeq(bad.en.DeviceID) != 0 {
		t.Errorf("last seqs %d and %d", r.LastSeq(good.en.DeviceID), r.LastSeq(bad.en.DeviceID))
	}
	// The point: both were gathered into one transaction, which failed,
	// and then were stored one by one.
	refusing.mu.Lock()
	defer refusing.mu.Unlock()
	if len(refusing.calls) != 3 || refusing.calls[0] != 2 {
		t.Errorf("store calls %v: want one of 2 heartbeats, then 1 and 1", refusing.calls)
	}
}
