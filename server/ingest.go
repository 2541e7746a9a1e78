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

// job is one request's heartbeats, or lease request, on their way to the
// store.
type job struct {
	hbs   []store.Heartbeat
	lease *store.LeaseRequest
	done  chan jobResult
}

type jobResult struct {
	outcomes []store.Outcome
	lease    store.LeaseResult
	err      error
}

// ingest hands heartbeats to a writer and waits for what the store did.
func (s *Server) ingest(ctx context.Context, hbs []store.Heartbeat) ([]store.Outcome, error) {
	r, err := s.submit(ctx, &job{hbs: hbs, done: make(chan jobResult, 1)})
	return r.outcomes, err
}

// serveLease hands a lease request to a writer and waits for what the
// store decided.
func (s *Server) serveLease(ctx context.Context, req store.LeaseRequest) (store.LeaseResult, error) {
	r, err := s.submit(ctx, &job{lease: &req, done: make(chan jobResult, 1)})
	return r.lease, err
}

func (s *Server) submit(ctx context.Context, j *job) (jobResult, error) {
	stopping := fail(http.StatusServiceUnavailable, "the server is stopping; try again later")
	select {
	case <-s.closed:
		return jobResult{}, stopping
	case s.jobs <- j:
	case <-ctx.Done():
		return jobResult{}, ctx.Err()
	default:
		return jobResult{}, fail(http.StatusServiceUnavailable, "the server is too busy; try again later")
	}
	select {
	case r := <-j.done:
		return r, r.err
	case <-s.closed:
		return jobResult{}, stopping // a writer may not have taken it: the agent sends it again
	case <-ctx.Done():
		return jobResult{}, ctx.Err()
	}
}

// writer gathers jobs from many requests into store transactions (a group
// commit: one fsync for many heartbeats, and one for many leases), up to
// BatchSize heartbeats and lease requests or BatchWait after the first.
func (s *Server) writer(ctx context.Context) {
	for {
		var first *job
		select {
		case <-ctx.Done():
			return
		case first = <-s.jobs:
		}
		batch := []*job{first}
		n := first.size()
		timer := time.NewTimer(s.cfg.BatchWait)
	gather:
		for n < s.cfg.BatchSize {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
				n += j.size()
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		var hbJobs, leaseJobs []*job
		for _, j := range batch {
			if j.lease != nil {
				leaseJobs = append(leaseJobs, j)
			} else {
				hbJobs = append(hbJobs, j)
			}
		}
		s.storeHeartbeats(ctx, hbJobs)
		s.storeLeases(ctx, leaseJobs)
	}
}

func (j *job) size() int {
	if j.lease != nil {
		return 1
	}
	return len(j.hbs)
}

// storeHeartbeats ingests the heartbeats of jobs in one transaction.
func (s *Server) storeHeartbeats(ctx context.Context, jobs []*job) {
	if len(jobs) == 0 {
		return
	}
	var all []store.Heartbeat
	for _, j := range jobs {
		all = append(all, j.hbs...)
	}
	start := time.Now()
	outcomes, err := s.cfg.Store.Ingest(context.WithoutCancel(ctx), all)
	if took := time.Since(start); took > slowIngest {
		s.log.Warn("a store transaction was slow", "took", took.Round(time.Millisecond), "heartbeats", len(all), "requests", len(jobs))
	}
	if errors.Is(err, store.ErrInvalid) && len(jobs) > 1 {
		// One request's values are refused, and the transaction with
		// them: store each request on its own, so only that one fails.
		for _, j := range jobs {
			o, err := s.cfg.Store.Ingest(context.WithoutCancel(ctx), j.hbs)
			j.done <- jobResult{outcomes: o, err: err}
		}
		return
	}
	for _, j := range jobs {
		if err != nil {
			j.done <- jobResult{err: err}
			continue
		}
		j.done <- jobResult{outcomes: outcomes[:len(j.hbs)]}
		outcomes = outcomes[len(j.hbs):]
	}
}

// storeLeases serves the lease requests of jobs in one transaction.
func (s *Server) storeLeases(ctx context.Context, jobs []*job) {
	if len(jobs) == 0 {
		return
	}
	reqs := make([]store.LeaseRequest, len(jobs))
	for i, j := range jobs {
		reqs[i] = *j.lease
	}
	start := time.Now()
	res, err := s.cfg.Store.ServeLeases(context.WithoutCancel(ctx), reqs)
	if took := time.Since(start); took > slowIngest {
		s.log.Warn("a store transaction was slow", "took", took.Round(time.Millisecond), "leases", len(reqs))
	}
	if errors.Is(err, store.ErrInvalid) && len(jobs) > 1 {
		for _, j := range jobs {
			r, err := s.cfg.Store.ServeLeases(context.WithoutCancel(ctx), []store.LeaseRequest{*j.lease})
			if err != nil {
				j.done <- jobResult{err: err}
				continue
			}
			j.done <- jobResult{lease: r[0]}
		}
		return
	}
	for i, j := range jobs {
		if err != nil {
			j.done <- jobResult{err: err}
			continue
		}
		j.done <- jobResult{lease: res[i]}
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
