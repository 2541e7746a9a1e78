package report_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/report/reporttest"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

// newFake is a fake server that answers lease requests with 404 until a
// test answers them.
func newFake(t *testing.T) *reporttest.Server {
	f := reporttest.NewServer(t)
	f.Set(func(c *reporttest.Settings) { c.NoLeases = true })
	return f
}

// reporter makes a reporter enrolled (on paper) with the fake server.
func reporter(t *testing.T, f *reporttest.Server, snap func() report.Snapshot, tune func(*report.Config)) (*report.Reporter, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	state.Prepare(dir)
	en, key := f.Enroll()
	if snap == nil {
		snap = func() report.Snapshot {
			return report.Snapshot{AgentVersion: "test", Lease: "none", Vault: wire.Vault{CaseRefs: []wire.CaseCount{}}}
		}
	}
	cfg := report.Config{Store: state.OpenStore(dir, 5*time.Second), Enrollment: en, Key: key, Snapshot: snap,
		Interval: time.Hour, DrainEvery: time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	if tune != nil {
		tune(&cfg)
	}
	r, err := report.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

func run(t *testing.T, r *report.Reporter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestSpoolFullCoalesces(t *testing.T) {
	f := newFake(t)
	f.SetDown(true)
	r, _ := reporter(t, f, nil, func(c *report.Config) { c.SpoolMax = 3 })
	for i := range 6 {
		r.Event(wire.Event{Time: time.Now().UTC(), Type: "vault.sealed", CaseRef: fmt.Sprint("LL-", i)})
		r.Event(wire.Event{Time: time.Now().UTC(), Type: "vault.refused"})
		r.MakeHeartbeat()
	}
	if st := r.Status(); st.Spooled != 3 {
		t.Fatalf("spooled %d, want the bound 3", st.Spooled)
	}
	f.SetDown(false)
	run(t, r) // its heartbeat at start finds the spool still full: a fourth skip
	// Wait for the acknowledgement, not the fake's receipt: until the agent
	// has read the reply the spool is still full.
	testenv.Eventually(t, "the three sent and acknowledged", func() bool { return len(f.Received()) >= 3 && r.Status().Spooled == 0 })
	r.MakeHeartbeat() // the first that fits
	testenv.Eventually(t, "the fourth sent", func() bool { return len(f.Received()) >= 4 })
	got := f.Received()
	fourth := got[3]
	if fourth.Skipped != 4 {
		t.Errorf("the next heartbeat says %d skipped, want 4", fourth.Skipped)
	}
	// 6 sealed and 6 refused events: 3+3 went in the spooled heartbeats, the
	// rest was counted while the spool was full.
	listed := 0
	for _, h := range got {
		listed += len(h.Events)
	}
	counted := 0
	for _, h := range got {
		for _, c := range h.Coalesced {
			counted += c.Count
		}
	}
	for _, c := range fourth.Coalesced {
		if c.First.IsZero() || c.Last.Before(c.First) {
			t.Errorf("coalesced %+v", c)
		}
	}
	if listed+counted != 12 {
		t.Errorf("%d events listed and %d counted, want 12 in all: none lost", listed, counted)
	}
}

func TestServerAheadRenumbers(t *testing.T) {
	f := newFake(t)
	f.Set(func(c *reporttest.Settings) { c.Acked = 100 }) // the server holds 100 heartbeats of this device; the agent lost its state
	r, _ := reporter(t, f, nil, nil)
	for range 3 {
		r.Event(wire.Event{Time: time.Now().UTC(), Type: "vault.sealed"})
		r.MakeHeartbeat()
	}
	run(t, r) // plus the heartbeat it makes at start
	testenv.Eventually(t, "all delivered", func() bool { return len(f.Received()) >= 4 })
	got := f.Received()
	if got[0].Seq != 101 || got[3].Seq != 104 || got[0].PrevHash != strings.Repeat("0", 64) {
		t.Errorf("seqs %d..%d, first prev %s", got[0].Seq, got[3].Seq, got[0].PrevHash)
	}
	for i, h := range got[:3] {
		if len(h.Events) != 1 {
			t.Errorf("heartbeat %d lost its events", i)
		}
	}
	if f.BadSignatures() != 0 {
		t.Errorf("%d renumbered heartbeats were not signed again", f.BadSignatures())
	}
}

func TestCorruptRecordDropped(t *testing.T) {
	f := newFake(t)
	f.SetDown(true)
	r, dir := reporter(t, f, nil, nil)
	for range 3 {
		r.MakeHeartbeat()
	}
	// Damage heartbeat 2 in the spool, as a bad disk would.
	st := state.OpenStore(dir, time.Second)
	err := st.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("report-spool"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		v := bytes.Clone(b.Get(k))
		v[len(v)-1] ^= 1
		return b.Put(k, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.SetDown(false)
	run(t, r)
	testenv.Eventually(t, "the others delivered", func() bool { return len(f.Received()) >= 3 })
	got := f.Received()
	if got[0].Seq != 1 || got[1].Seq != 3 || got[2].Seq != 4 {
		t.Errorf("delivered %d and %d, want 1 and 3 (2 was corrupt: a gap, not a forgery)", got[0].Seq, got[1].Seq)
	}
}

func TestBatchesFitTheLimit(t *testing.T) {
	f := newFake(t)
	f.SetDown(true)
	refs := make([]wire.CaseCount, 700)
	for i := range refs {
		refs[i] = wire.CaseCount{Ref: fmt.Sprintf("CASE-REFERENCE-%06d", i), Files: i}
	}
	r, _ := reporter(t, f, func() report.Snapshot {
		return report.Snapshot{AgentVersion: "test", Lease: "none", Vault: wire.Vault{CaseRefs: refs}}
	}, nil)
	for range 50 {
		r.MakeHeartbeat()
	}
	f.SetDown(false)
	run(t, r)
	testenv.Eventually(t, "all 50 delivered", func() bool { return len(f.Received()) >= 51 })
	for _, n := range f.Sizes() {
		if n > wire.MaxRequest {
			t.Errorf("a request of %d bytes, over the server's limit", n)
		}
	}
}

// TestNothingRefusedIsSpooled feeds events the server would refuse (control
// characters, overlong details) and a clock before 2000: nothing that would
// block the spool is ever made.
func TestNothingRefusedIsSpooled(t *testing.T) {
	f := newFake(t)
	now := time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC)
	var mu sync.Mutex
	r, _ := reporter(t, f, nil, func(c *report.Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	r.MakeHeartbeat()
	if st := r.Status(); st.Spooled != 0 {
		t.Fatal("a heartbeat was made with the clock at 1970")
	}
	mu.Lock()
	now = time.Now()
	mu.Unlock()
	r.Event(wire.Event{Time: time.Now().UTC(), Type: "vault.seal_failed", Detail: "write:\nno space\x00 " + strings.Repeat("x", 5000)})
	r.Event(wire.Event{Time: time.Now().UTC(), Type: "", CaseRef: "LL-1\t\xff"})
	r.MakeHeartbeat()
	run(t, r)
	testenv.Eventually(t, "delivered", func() bool { return len(f.Received()) >= 1 })
	h := f.Received()[0]
	if len(h.Events) != 2 || len(h.Events[0].Detail) > 1024 || strings.ContainsAny(h.Events[0].Detail, "\n\x00") {
		t.Errorf("events %+v", h.Events)
	}
}

func TestEnrollRefusesPinlessToken(t *testing.T) {
	f := newFake(t)
	dir := t.TempDir()
	tok, _, _ := wire.NewToken(nil)
	_, _, err := report.Enroll(context.Background(), f.TLS.URL, tok, report.HostInfo{Hostname: "h"}, dir)
	if !errors.Is(err, wire.ErrToken) || !strings.Contains(err.Error(), "no certificate pin") {
		t.Errorf("a token without a pin: %v", err)
	}
	if _, _, err := report.Enroll(context.Background(), "http://"+f.TLS.Listener.Addr().String(), tok, report.HostInfo{Hostname: "h"}, dir); err == nil {
		t.Error("an http:// server was accepted")
	}
}
