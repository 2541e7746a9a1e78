package server_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	mrand "math/rand/v2"

	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

// checkChain checks the device's heartbeats 1..n are stored, each once, in
// a chain without a gap.
func (r *rig) checkChain(t *testing.T, id string, n uint64) {
	t.Helper()
	if got := r.LastSeq(id); got != n {
		t.Fatalf("last seq %d, want %d", got, n)
	}
	for seq := uint64(1); seq <= n; seq++ {
		if _, err := r.Store.Heartbeat(context.Background(), id, seq); err != nil {
			t.Fatalf("heartbeat %d: %v", seq, err)
		}
	}
	gaps, err := r.Store.Gaps(context.Background(), id)
	if err != nil || len(gaps) != 0 {
		t.Fatalf("gaps %+v %v", gaps, err)
	}
}

// TestServerDown stops the server while the agent keeps making heartbeats
// and events, then starts it again: every heartbeat arrives exactly once,
// in order, and the backlog drains no faster than the bound.
func TestServerDown(t *testing.T) {
	r := newRig(t)
	d := r.enroll("roaming")
	const batchMax, drainEvery = 5, 50 * time.Millisecond
	rep := d.reporter(t, func(c *report.Config) {
		c.BatchMax, c.DrainEvery, c.BackoffMax = batchMax, drainEvery, 300*time.Millisecond
	})
	runReporter(t, rep)
	testenv.Eventually(t, "the first heartbeat stored and acknowledged", func() bool {
		return r.LastSeq(d.en.DeviceID) == 1 && rep.Status().AckedSeq == 1
	})

	r.Stop()
	for i := range 60 { // offline: events keep happening, heartbeats keep being made
		rep.Event(wire.Event{Time: time.Now().UTC(), Type: "vault.sealed", CaseRef: "LL-" + strconv.Itoa(i)})
		rep.MakeHeartbeat()
		time.Sleep(10 * time.Millisecond)
	}
	if st := rep.Status(); st.Spooled != 60 || st.LastError == "" {
		t.Fatalf("while the server was down: %+v", st)
	}
	r.mu.Lock()
	r.requests = nil
	r.mu.Unlock()
	r.Start()
	testenv.Eventually(t, "the backlog drained", func() bool { return rep.Status().Spooled == 0 })
	r.checkChain(t, d.en.DeviceID, 61)
	events, _ := r.Store.Events(context.Background(), d.en.DeviceID, time.Time{}, time.Now().Add(time.Hour))
	if len(events) != 60 {
		t.Errorf("%d events stored, want 60", len(events))
	}
	// The bound: at most one request per drainEvery (some slack for timers).
	r.mu.Lock()
	reqs := append([]time.Time(nil), r.requests...)
	r.mu.Unlock()
	if len(reqs) < 60/batchMax {
		t.Errorf("%d requests for 60 heartbeats in batches of %d", len(reqs), batchMax)
	}
	for i := 1; i < len(reqs); i++ {
		if gap := reqs[i].Sub(reqs[i-1]); gap < drainEvery*8/10 {
			t.Errorf("requests %d and %d came %v apart, under the %v bound", i-1, i, gap, drainEvery)
		}
	}
	t.Logf("backlog of 60 heartbeats drained in %d requests over %v", len(reqs), reqs[len(reqs)-1].Sub(reqs[0]).Round(time.Millisecond))
}

// TestReporterHelperProcess is the agent TestAgentKilled kills; it does
// nothing unless started by it.
func TestReporterHelperProcess(t *testing.T) {
	dir := os.Getenv("CASEKEEP_REPORTER_HELPER")
	if dir == "" {
		t.Skip("run by TestAgentKilled")
	}
	en, err := report.LoadEnrollment(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := report.LoadSigningKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := report.New(report.Config{
		Store: state.OpenStore(dir, 10*time.Second), Enrollment: en, Key: key,
		Snapshot: func() report.Snapshot {
			return report.Snapshot{AgentVersion: "test", Policy: wire.PolicyRef{Version: 1}, Lease: "none", Vault: wire.Vault{CaseRefs: []wire.CaseCount{}}}
		},
		Interval: 5 * time.Millisecond, DrainEvery: time.Millisecond, BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond, BatchMax: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep.Run(context.Background()) // until killed
}

// TestAgentKilled kills a real reporting process with SIGKILL at random
// moments, 50 times, while it makes and sends heartbeats. Nothing in the
// spool may be lost or stored twice: at the end the server holds every
// heartbeat the agent made, once, in an unbroken chain.
func TestAgentKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	r := newRig(t)
	d := r.enroll("killed")
	for i := range 50 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReporterHelperProcess$")
		cmd.Env = append(os.Environ(), "CASEKEEP_REPORTER_HELPER="+d.dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+mrand.IntN(150)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if i%10 == 9 {
			// Now and then the server goes away too, mid-stream.
			r.Stop()
			r.Start()
		}
	}
	// Let the spool drain: one last run, stopped cleanly once it is empty.
	rep := d.reporter(t, nil)
	runReporter(t, rep)
	var made uint64
	testenv.Eventually(t, "the spool drained", func() bool {
		made = spoolNext(t, d.dir) - 1
		return rep.Status().Spooled == 0 && r.LastSeq(d.en.DeviceID) == made
	})
	if made < 50 {
		t.Fatalf("only %d heartbeats made in 50 runs", made)
	}
	r.checkChain(t, d.en.DeviceID, made)
	t.Logf("50 kills: %d heartbeats made, all stored once, chain unbroken", made)
}

// spoolNext reads the next seq the agent would use.
func spoolNext(t *testing.T, dir string) uint64 {
	rep, err := report.NextSeq(state.OpenStore(dir, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
