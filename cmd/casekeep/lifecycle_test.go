package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/posture"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/installer"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/servertest"
)

// lifecycleServer is a real casekeep server (the server's test rig) whose
// policy puts the vault in cache.
func lifecycleServer(t *testing.T, cache string) *servertest.Rig {
	t.Helper()
	return servertest.New(t, servertest.Options{Policy: `version: 1
name: lifecycle
issued_at: 2026-11-22T09:00:00Z
vault:
  cache_paths: {linux: ` + cache + `, macos: ` + cache + `, windows: 'C:\casekeep-test'}
  escrow_recipients: [%[1]s]
heartbeat: {interval: 1m}
`})
}

// TestEnrollFromFileThenDoctor: a service installed without enrollment
// waits for enroll.env; once IT writes it, the agent enrolls, forgets the
// token, reports, and the doctor finds all well, until the cache folder
// becomes writable by anyone or the clock drifts.
func TestEnrollFromFileThenDoctor(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	srv := lifecycleServer(t, filepath.ToSlash(cache))
	l := installer.Layout{Program: "/usr/bin/casekeep", Config: filepath.Join(dir, "config"), State: filepath.Join(dir, "state")}
	if err := installer.PrepareConfig(l.Config); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	type result struct {
		en  *report.Enrollment
		err error
	}
	got := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		en, err := report.EnrollWhenAsked(ctx, report.EnrollOptions{StateDir: l.State, EnvFile: l.EnrollEnv(),
			Host: report.LocalHost(agent.AgentVersion()), Interactive: interactive(), Log: log, Poll: 200 * time.Millisecond})
		got <- result{en, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("enrolled with no enrollment file: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	tok := srv.EnrollToken(1, time.Hour)
	if err := installer.WriteEnrollEnv(l.EnrollEnv(), installer.EnrollEnv{Server: srv.URL, Token: tok}); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("did not enroll within 30 s of the file appearing")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	env, err := installer.ReadEnrollEnv(l.EnrollEnv())
	if err != nil || env.Token != "" || env.Server != srv.URL {
		t.Errorf("after enrolling, enroll.env = %+v, %v; want the server and no token", env, err)
	}
	if dev, err := srv.Store.Device(context.Background(), r.en.DeviceID); err != nil || dev.ID != r.en.DeviceID {
		t.Fatalf("the server does not know the device: %v", err)
	}

	// Run the agent until the server has acknowledged a heartbeat.
	pol, err := r.en.LoadPolicy(l.State)
	if err != nil {
		t.Fatal(err)
	}
	key, err := report.LoadSigningKey(l.State)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.Open(agent.Config{Policy: pol, StateDir: l.State, Enrollment: r.en, SigningKey: key, Homes: []string{},
		Posture: func(context.Context) wire.Check {
			return wire.Check{Name: "disk_encryption", Result: "pass", Evidence: "test"}
		}})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	var ast *agent.Status
	testenv.Eventually(t, "an acknowledged heartbeat in the status file", func() bool {
		st, err := agent.ReadStatus(l.State)
		ast = st
		return err == nil && st.Heartbeat != nil && !st.Heartbeat.LastAck.IsZero() && st.Vault.Dir != "" && st.Keys.Lease != ""
	})
	acancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := a.Farewell(context.Background(), wire.StopService); err != nil {
		t.Fatal(err)
	}
	a.Close()
	os.Chmod(cache, 0o700)

	skew := time.Duration(0)
	d := doctor{
		layout: l, now: time.Now,
		service:        func() (string, error) { return "running", nil },
		diskEncryption: func(context.Context) posture.Check { return posture.Check{Result: posture.Pass, Evidence: "dm-crypt"} },
		serverTime: func(ctx context.Context, en *report.Enrollment) (time.Time, error) {
			t, err := serverTime(ctx, en)
			return t.Add(skew), err
		},
	}
	show := func(fs []finding) string {
		var b strings.Builder
		for _, f := range fs {
			fmt.Fprintf(&b, "%s %s: %s\n", f.mark(), f.what, f.detail)
		}
		return b.String()
	}
	level := func(fs []finding, what string) level {
		for _, f := range fs {
			if f.what == what {
				return f.level
			}
		}
		t.Fatalf("no %q finding in\n%s", what, show(fs))
		return 0
	}
	fs := d.run(context.Background())
	// The vault key: wrapped by the server's lease, its offline copy held
	// by the OS here (no TPM), which is only a warning. A server that does
	// not serve leases leaves the identity a plain file: that fails.
	leases := ast.Keys.Lease != wire.LeasePlaintext
	for _, f := range fs {
		want := levelOK
		switch {
		case f.what == "vault key" && !leases:
			want = levelFail
			if !strings.Contains(f.detail, "plain file") {
				t.Errorf("a plaintext identity on an enrolled device: %s", f.detail)
			}
		case f.what == "offline copy" && ast.Keys.OfflineCopy == wire.OfflineOS:
			want = levelWarn
		}
		if f.level != want {
			t.Errorf("healthy device (the server serves leases: %v): %s", leases, show(fs))
			break
		}
	}
	if !strings.Contains(show(fs), "version 1 (lifecycle)") {
		t.Errorf("the policy finding does not name the version:\n%s", show(fs))
	}

	os.Chmod(cache, 0o777)
	skew = 10 * time.Minute
	fs = d.run(context.Background())
	if level(fs, "cache") != levelFail || level(fs, "clock") != levelFail {
		t.Errorf("world-writable cache and a 10-minute skew should fail:\n%s", show(fs))
	}
	os.Chmod(cache, 0o700)

	// A policy file tampered with no longer checks against the pinned key.
	pf := filepath.Join(l.State, report.PolicyFile)
	b, _ := os.ReadFile(pf)
	os.WriteFile(pf, []byte(strings.Replace(string(b), "lifecycle", "lifecyclX", 1)), 0o600)
	skew = 0
	fs = d.run(context.Background())
	if level(fs, "policy") != levelFail {
		t.Errorf("a tampered policy should fail:\n%s", show(fs))
	}
}

// TestRunWithoutEnrollment: from a terminal, run says how to enroll rather
// than waiting.
func TestRunWithoutEnrollment(t *testing.T) {
	dir := t.TempDir()
	r := run(t, "run", "--state", filepath.Join(dir, "state"), "--config", filepath.Join(dir, "config")).Want(t, 2)
	if !strings.Contains(r.Stderr, "enroll.env") {
		t.Errorf("stderr does not say where enrollment goes: %s", r.Stderr)
	}
	os.MkdirAll(filepath.Join(dir, "config"), 0o755)
	os.WriteFile(filepath.Join(dir, "config", "enroll.env"), []byte("CASEKEEP_SERVER=ftp://x\n"), 0o600)
	r = run(t, "run", "--state", filepath.Join(dir, "state"), "--server", "ftp://x", "--token", "t").Want(t, 2)
	if !strings.Contains(r.Stderr, "not an https://host URL") {
		t.Errorf("a bad --server is not refused plainly: %s", r.Stderr)
	}
}
