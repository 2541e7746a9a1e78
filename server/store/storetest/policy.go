package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/casekeep/casekeep/server/store"
)

func testPolicy(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	_, _, err := s.Policy(ctx)
	is(t, "Policy before any", err, store.ErrNotFound)
	b3 := []byte("format: casekeep-policy-v1\x00\xff\n{\"version\":3}")
	ok(t, s.SetPolicy(ctx, 3, b3))
	v, b, err := s.Policy(ctx)
	ok(t, err)
	if v != 3 {
		t.Errorf("version %d, want 3", v)
	}
	sameBytes(t, "bundle", b, b3)
	is(t, "SetPolicy of the same version", s.SetPolicy(ctx, 3, []byte("other")), store.ErrRollback)
	is(t, "SetPolicy of an older version", s.SetPolicy(ctx, 2, []byte("older")), store.ErrRollback)
	ok(t, s.SetPolicy(ctx, 4, []byte("v4")))
	v, b, _ = s.Policy(ctx)
	if v != 4 || string(b) != "v4" {
		t.Errorf("Policy = %d %q, want 4 v4", v, b)
	}
}

func testPolicyConcurrent(t *testing.T, open Open) {
	s := open(t)
	const workers, versions = 8, 30
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins = map[int]int{}
	)
	for w := range workers {
		wg.Go(func() {
			for v := 1; v <= versions; v++ {
				err := s.SetPolicy(t.Context(), v, fmt.Appendf(nil, "v%d by %d", v, w))
				switch {
				case err == nil:
					mu.Lock()
					wins[v]++
					mu.Unlock()
				case !errors.Is(err, store.ErrRollback):
					t.Errorf("SetPolicy(%d): %v", v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for v := 1; v <= versions; v++ {
		if wins[v] != 1 {
			t.Errorf("version %d was stored %d times", v, wins[v])
		}
	}
	v, b, err := s.Policy(t.Context())
	ok(t, err)
	if v != versions || !strings.HasPrefix(string(b), fmt.Sprintf("v%d by ", versions)) {
		t.Errorf("Policy = %d %q", v, b)
	}
}
