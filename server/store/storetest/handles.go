package storetest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

func testReopen(t *testing.T, open Open) {
	s := open(t)
	createDevices(t, s, "d")
	c := newChain("d")
	ingest(t, s, c.next())
	ok(t, s.Close())
	for range 2 { // migrations already applied are not applied again
		s = open(t)
		r, err := s.Device(t.Context(), "d")
		ok(t, err)
		if r.State.Seq != 1 {
			t.Errorf("last seq %d after reopening, want 1", r.State.Seq)
		}
		ok(t, s.Close())
	}
	s = open(t)
	outcomes(t, ingest(t, s, c.next()), out(store.Accepted, 2))
}

// testTwoHandles is two server processes on one database, both receiving
// every heartbeat of one device (a load balancer retrying, say).
func testTwoHandles(t *testing.T, open Open) {
	a, b := open(t), open(t)
	createDevices(t, a, "d")
	const n = 500
	c := newChain("d")
	hbs := make([]store.Heartbeat, n)
	for i := range hbs {
		hbs[i] = c.next()
	}
	results := [2][]store.Outcome{make([]store.Outcome, n), make([]store.Outcome, n)}
	// Both handles start each seq together, so each one's is a race.
	start := make([]sync.WaitGroup, n)
	for i := range start {
		start[i].Add(2)
	}
	var wg sync.WaitGroup
	for k, s := range []store.Store{a, b} {
		wg.Go(func() {
			for i := range hbs {
				start[i].Done()
				start[i].Wait()
				out, err := s.Ingest(t.Context(), hbs[i:i+1])
				if err != nil {
					t.Errorf("handle %d, seq %d: %v", k, i+1, err)
					for j := i + 1; j < n; j++ {
						start[j].Done()
					}
					return
				}
				results[k][i] = out[0]
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	stored := 0
	for i := range hbs {
		x, y := results[0][i].Result, results[1][i].Result
		if x == store.Gap || y == store.Gap {
			t.Errorf("seq %d: a gap was invented (%v, %v)", i+1, x, y)
		}
		if (x == store.Accepted) == (y == store.Accepted) || (x != store.Replay && y != store.Replay) {
			t.Errorf("seq %d: outcomes %v and %v, want one accepted and one replay", i+1, x, y)
		}
		if x == store.Accepted {
			stored++
		}
	}
	t.Logf("handle a stored %d, handle b %d", stored, n-stored)
	for _, s := range []store.Store{a, b} {
		if got := lastSeq(t, s, "d"); got != n {
			t.Errorf("last seq %d, want %d", got, n)
		}
		gaps, err := s.Gaps(t.Context(), "d")
		ok(t, err)
		if len(gaps) != 0 {
			t.Errorf("%d gaps, want none: %+v", len(gaps), gaps[0])
		}
	}
	for _, h := range hbs {
		body, err := b.Heartbeat(t.Context(), "d", h.Seq)
		ok(t, err)
		sameBytes(t, "body", body, h.Body)
	}
	evs, err := a.Events(t.Context(), "d", time.Time{}, t0.Add(30*24*time.Hour))
	ok(t, err)
	if len(evs) != 2*n {
		t.Errorf("%d events, want %d", len(evs), 2*n)
	}
}

// testConcurrentBatches has several goroutines on one handle send the same
// heartbeats of many devices, in batches whose device order differs, which
// would deadlock a store that locks devices in the order given.
func testConcurrentBatches(t *testing.T, open Open) {
	s := open(t)
	const devices, seqs, workers = 12, 20, 4
	chains := make([]*chain, devices)
	hbs := make([][]store.Heartbeat, devices) // [device][seq-1]
	for d := range chains {
		chains[d] = newChain(fmt.Sprintf("dev-%02d", d))
		createDevices(t, s, chains[d].dev)
		for range seqs {
			hbs[d] = append(hbs[d], chains[d].next())
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted = map[[2]uint64]int{}
	)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for seq := range seqs {
				batch := make([]store.Heartbeat, 0, devices)
				for _, d := range rng.Perm(devices) {
					batch = append(batch, hbs[d][seq])
				}
				outs, err := s.Ingest(t.Context(), batch)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				mu.Lock()
				for i, o := range outs {
					switch o.Result {
					case store.Accepted:
						var d uint64
						fmt.Sscanf(batch[i].DeviceID, "dev-%d", &d)
						accepted[[2]uint64{d, batch[i].Seq}]++
					case store.Replay:
					default:
						t.Errorf("worker %d: %s seq %d: %v", w, batch[i].DeviceID, batch[i].Seq, o.Result)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for d := range devices {
		for seq := 1; seq <= seqs; seq++ {
			if n := accepted[[2]uint64{uint64(d), uint64(seq)}]; n != 1 {
				t.Errorf("dev-%02d seq %d accepted %d times", d, seq, n)
			}
		}
		if got := lastSeq(t, s, chains[d].dev); got != seqs {
			t.Errorf("%s last seq %d, want %d", chains[d].dev, got, seqs)
		}
	}
}
