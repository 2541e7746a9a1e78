package server

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

// slowIngest is how long a store transaction may take before it is logged.
const slowIngest = 100 * time.Millisecond

// job is one request's heartbeats on their way to the store.
type job struct {
	hbs  []store.Heartbeat
	done chan jobResult
}

type jobResult struct {
	outcomes []store.Outcome
	err      error
}

// ingest hands heartbeats to a writer and waits for what the store did.
func (s *Server) ingest(ctx context.Context, hbs []store.Heartbeat) ([]store.Outcome, error) {
	j := &job{hbs: hbs, done: make(chan jobResult, 1)}
	stopping := fail(http.StatusServiceUnavailable, "the server is stopping; try again later")
	select {
	case <-s.closed:
		return nil, stopping
	case s.jobs <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	default:
		return nil, fail(http.StatusServiceUnavailable, "the server is too busy; try again later")
	}
	select {
	case r := <-j.done:
		return r.outcomes, r.err
	case <-s.closed:
		return nil, stopping // a writer may not have taken it: the agent sends it again
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// writer gathers jobs from many requests into one store transaction (a
// group commit: one fsync for many heartbeats), up to BatchSize heartbeats
// or BatchWait after the first.
func (s *Server) writer(ctx context.Context) {
	for {
		var first *job
		select {
		case <-ctx.Done():
			return
		case first = <-s.jobs:
		}
		batch := []*job{first}
		n := len(first.hbs)
		timer := time.NewTimer(s.cfg.BatchWait)
	gather:
		for n < s.cfg.BatchSize {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
				n += len(j.hbs)
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		all := make([]store.Heartbeat, 0, n)
		for _, j := range batch {
			all = append(all, j.hbs...)
		}
		start := time.Now()
		outcomes, err := s.cfg.Store.Ingest(context.WithoutCancel(ctx), all)
		if took := time.Since(start); took > slowIngest {
			s.log.Warn("a store transaction was slow", "took", took.Round(time.Millisecond), "heartbeats", len(all), "requests", len(batch))
		}
		if errors.Is(err, store.ErrInvalid) && len(batch) > 1 {
			// One request's values are refused, and the transaction with
			// them: store each request on its own, so only that one fails.
			for _, j := range batch {
				o, err := s.cfg.Store.Ingest(context.WithoutCancel(ctx), j.hbs)
				j.done <- jobResult{outcomes: o, err: err}
			}
			continue
		}
		for _, j := range batch {
			if err != nil {
				j.done <- jobResult{err: err}
				continue
			}
			j.done <- jobResult{outcomes: outcomes[:len(j.hbs)]}
			outcomes = outcomes[len(j.hbs):]
		}
	}
}

// prune removes heartbeat bodies past the retention period, hourly.
func (s *Server) prune(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		n, err := s.cfg.Store.PruneHeartbeats(ctx, s.cfg.Now().Add(-s.cfg.Retention))
		if err != nil && ctx.Err() == nil {
			s.log.Error("pruning old heartbeats failed", "err", err)
		} else if n > 0 {
			s.log.Info("pruned heartbeats past the retention period", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s) // the decoder checked it
	return b
}
