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
	"github.com/casekeep/casekeep/server/store"
)

// TestAgentSaysItStops runs a whole agent against the server: its farewell
// on removal reaches the server as "uninstall"; a run that ends without one
// (killed) is reported by the next start as an unannounced stop, with the
// time it was last known alive, and a normal heartbeat says it runs again.
func TestAgentSaysItStops(t *testing.T) {
	r := newRig(t)
	d := r.enroll("stopper")
	p, err := d.en.LoadPolicy(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "cache")
	open := func() *agent.Agent {
		a, err := agent.Open(agent.Config{Policy: p, StateDir: d.dir, CacheDir: cache, Enrollment: d.en, SigningKey: d.key,
			Homes: []string{}, Reporter: report.Config{NotableMin: time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	device := func() store.DeviceRow {
		row, err := r.Store.Device(context.Background(), d.en.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		return row
	}
	runUntilReported := func(a *agent.Agent, seq uint64) context.CancelFunc {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		testenv.Eventually(t, "a heartbeat acknowledged", func() bool { return r.LastSeq(d.en.DeviceID) >= seq })
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
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
	p, err := d.en.LoadPolicy(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.Config{Policy: p, StateDir: d.dir, CacheDir: filepath.Join(t.TempDir(), "cache"), Enrollment: d.en, SigningKey: d.key,
		Homes: []string{}, Reporter: report.Config{NotableMin: time.Millisecond}}
	a, err := agent.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	testenv.Eventually(t, "a heartbeat acknowledged", func() bool { return r.LastSeq(d.en.DeviceID) >= 1 })
	cancel()
	<-done
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
	a, err = agent.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
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
