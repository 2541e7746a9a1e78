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
	"github.com/casekeep/casekeep/policy"
)

// TestAgentTakesNewPolicy runs a whole agent enrolled with the server: a
// newly published policy reaches it at its next heartbeat, is verified and
// saved, and the cache is reopened under it, still sealing.
func TestAgentTakesNewPolicy(t *testing.T) {
	r := newRig(t)
	d := r.enroll("whole-agent")
	p, err := d.en.LoadPolicy(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "cache")
	a, err := agent.Open(agent.Config{Policy: p, StateDir: d.dir, CacheDir: cache, Enrollment: d.en, SigningKey: d.key,
		Reporter: report.Config{NotableMin: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
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
