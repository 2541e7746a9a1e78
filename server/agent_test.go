package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server/store"
)

// TestAgentTakesNewPolicy runs a whole agent enrolled with the server: a
// newly published policy reaches it at its next heartbeat, is verified and
// saved, and the cache is reopened under it, still sealing.
func TestAgentTakesNewPolicy(t *testing.T) {
	r := newRig(t)
	d := r.enroll("whole-agent")
	cache := filepath.Join(t.TempDir(), "cache")
	a := d.agent(t, cache)
	defer a.Close()
	defer run(t, a)()
	testenv.Eventually(t, "the agent reporting", func() bool { return r.LastSeq(d.en.DeviceID) >= 1 })

	p2 := *r.Policy
	p2.Version, p2.Name = 2, "tightened"
	bundle, err := policy.Sign(&p2, r.PolicyKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Store.SetPolicy(context.Background(), 2, bundle); err != nil {
		t.Fatal(err)
	}
	r.Stop() // a fresh server: no cached policy
	r.Start()
	testenv.Eventually(t, "version 2 in force", func() bool {
		a.Reporter().Notable()
		return a.Policy().Version == 2
	})
	if saved, err := d.en.LoadPolicy(d.dir); err != nil || saved.Version != 2 {
		t.Errorf("saved policy: %v", err)
	}
	// Still sealing under the new policy.
	os.MkdirAll(filepath.Join(cache, "LL-5"), 0o755)
	os.WriteFile(filepath.Join(cache, "LL-5", "after.txt"), []byte("after the change"), 0o644)
	testenv.Eventually(t, "sealed under version 2", func() bool {
		_, err := os.Stat(filepath.Join(cache, "LL-5", "after.txt.age"))
		return err == nil
	})
	testenv.Eventually(t, "reported under version 2", func() bool {
		a.Reporter().Notable()
		row, err := r.Store.Device(context.Background(), d.en.DeviceID)
		return err == nil && row.State.PolicyVersion == 2 && row.State.SealedFiles == 1
	})
}

// TestAgentRunReturnsFailure: when the cache cannot be opened, Run returns
// the error (and stops its reporter) rather than hanging.
func TestAgentRunReturnsFailure(t *testing.T) {
	r := newRig(t)
	d := r.enroll("broken")
	p, _ := d.en.LoadPolicy(d.dir)
	notADir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notADir, []byte("x"), 0o644)
	a, err := agent.Open(agent.Config{Policy: p, StateDir: d.dir, CacheDir: notADir, Enrollment: d.en, SigningKey: d.key})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run returned nil with a cache that is a file")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run hung instead of returning the failure")
	}
}

// TestAgentSaysItStops runs a whole agent against the server: its farewell
// on removal reaches the server as "uninstall"; a run that ends without one
// (killed) is reported by the next start as an unannounced stop, with the
// time it was last known alive, and a normal heartbeat says it runs again.
func TestAgentSaysItStops(t *testing.T) {
	r := newRig(t)
	d := r.enroll("stopper")
	cache := filepath.Join(t.TempDir(), "cache")
	open := func() *agent.Agent { return d.agent(t, cache) }
	device := func() store.DeviceRow {
		row, err := r.Store.Device(context.Background(), d.en.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		return row
	}
	runUntilReported := func(a *agent.Agent, seq uint64) (stop func()) {
		stop = run(t, a)
		testenv.Eventually(t, "a heartbeat acknowledged", func() bool { return r.LastSeq(d.en.DeviceID) >= seq })
		return stop
	}

	// 1. Runs, then is removed: the farewell says so.
	a := open()
	stop := runUntilReported(a, 1)
	stop()
	if err := a.Farewell(context.Background(), wire.StopUninstall); err != nil {
		t.Fatalf("Farewell: %v", err)
	}
	a.Close()
	if got := device().Agent; got.Stopping != wire.StopUninstall || got.StoppingAt.IsZero() {
		t.Fatalf("after the farewell the server holds %+v, want stopping %q", got, wire.StopUninstall)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "alive")); !os.IsNotExist(err) {
		t.Errorf("the alive file outlived a clean stop: %v", err)
	}

	// 2. Runs again (the server sees it running), then is killed: no farewell.
	a = open()
	seq := r.LastSeq(d.en.DeviceID)
	stop = runUntilReported(a, seq+1)
	if got := device().Agent; got.Stopping != "" {
		t.Errorf("running again, the server still holds stopping %q", got.Stopping)
	}
	stop()
	a.Close() // no Farewell: as if killed
	alive, err := os.ReadFile(filepath.Join(d.dir, "alive"))
	if err != nil {
		t.Fatalf("no alive file after an unannounced stop: %v", err)
	}
	lastAlive, _ := time.Parse(time.RFC3339, string(alive[:len(alive)-1]))

	// 3. The next start reports it.
	a = open()
	defer a.Close()
	seq = r.LastSeq(d.en.DeviceID)
	stop = runUntilReported(a, seq+1)
	defer stop()
	testenv.Eventually(t, "the unannounced stop on the server", func() bool {
		return device().Agent.UnannouncedStops == 1
	})
	if got := device().Agent.LastUnannouncedStop; !got.Equal(lastAlive) {
		t.Errorf("last unannounced stop %v, want when it was last alive, %v", got, lastAlive)
	}
}

// TestFarewellWhileServerAway: a farewell the server cannot take now is
// spooled (so the next start does not count an unannounced stop) and
// reaches the server with the next start's heartbeats.
func TestFarewellWhileServerAway(t *testing.T) {
	r := newRig(t)
	d := r.enroll("offline-stop")
	cache := filepath.Join(t.TempDir(), "cache")
	a := d.agent(t, cache)
	stop := run(t, a)
	testenv.Eventually(t, "a heartbeat acknowledged", func() bool { return r.LastSeq(d.en.DeviceID) >= 1 })
	stop()
	r.Stop()
	fctx, fcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer fcancel()
	if err := a.Farewell(fctx, wire.StopShutdown); err == nil {
		t.Fatal("Farewell reported success with the server down")
	}
	a.Close()
	if _, err := os.Stat(filepath.Join(d.dir, "alive")); !os.IsNotExist(err) {
		t.Errorf("the farewell was spooled, yet the alive file is still there: %v", err)
	}

	r.Start()
	a = d.agent(t, cache)
	defer a.Close()
	defer run(t, a)()
	testenv.Eventually(t, "the spooled farewell and a new heartbeat on the server", func() bool {
		row, err := r.Store.Device(context.Background(), d.en.DeviceID)
		return err == nil && row.Agent.Stopping == "" && r.LastSeq(d.en.DeviceID) >= 3 // 2 was the farewell
	})
	evs, err := r.Store.Events(context.Background(), d.en.DeviceID, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == wire.EventUnannouncedStop {
			t.Errorf("a spooled farewell was counted as an unannounced stop: %+v", e)
		}
	}
}

// TestAgentReportsSealWhenSettled runs a whole agent with the default
// settle quiet and window and a policy interval of minutes: files dropped
// into its cache are sealed, and the server's row says so within seconds,
// from the heartbeat made when the seals settle, with nobody asking for one.
func TestAgentReportsSealWhenSettled(t *testing.T) {
	r := newRig(t)
	d := r.enroll("settles")
	cache := filepath.Join(t.TempDir(), "cache")
	a := d.agentWith(t, cache, report.Config{NotableMin: 2 * time.Second})
	defer a.Close()
	defer run(t, a)()
	testenv.Eventually(t, "the agent reporting", func() bool { return r.LastSeq(d.en.DeviceID) >= 1 })
	os.MkdirAll(filepath.Join(cache, "LL-7"), 0o755)
	for _, name := range []string{"a.txt", "b.txt", "c.txt"} {
		os.WriteFile(filepath.Join(cache, "LL-7", name), []byte("notes "+name), 0o644)
	}
	dropped := time.Now()
	testenv.Eventually(t, "the server showing the three sealed", func() bool {
		row, err := r.Store.Device(context.Background(), d.en.DeviceID)
		return err == nil && row.State.SealedFiles == 3 && row.State.PlaintextFiles == 0
	})
	t.Logf("the server showed the files sealed %v after they were dropped", time.Since(dropped).Round(time.Millisecond))
}
