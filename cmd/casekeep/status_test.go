package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/internal/testenv"
)

func TestStatus(t *testing.T) {
	s := newSetup(t)
	home := t.TempDir()
	dl := filepath.Join(home, "Downloads")
	os.MkdirAll(dl, 0o755)
	// The default sweep action is quarantine; the default marker makes it a case file.
	os.WriteFile(filepath.Join(dl, "export.txt"), []byte("OFFICIAL-SENSITIVE\ncase notes"), 0o644)
	past := time.Now().Add(-time.Minute)
	os.Chtimes(filepath.Join(dl, "export.txt"), past, past)
	a := startAgent(t, append(s.flags(), "--home", home)...)

	var st agent.Status
	testenv.Eventually(t, "a status showing the quarantined file", func() bool {
		r := run(t, "status", "--state", s.state, "--json")
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &st) != nil {
			return false
		}
		return len(st.Recent) == 1 && st.DiskEncryption.Result != ""
	})
	if !strings.Contains(st.Recent[0].What, `moved "export.txt" from Downloads into the vault, as Quarantine/export.txt.age`) {
		t.Errorf("recent %+v", st.Recent)
	}
	if st.Vault.Dir != s.cache || st.Heartbeat != nil || !strings.Contains(strings.Join(st.SweepFolders, ","), dl) {
		t.Errorf("status %+v", st)
	}
	if exists(filepath.Join(dl, "export.txt")) || !exists(filepath.Join(s.cache, "Quarantine", "export.txt.age")) {
		t.Error("the case file was not moved into the vault")
	}

	r := run(t, "status", "--state", s.state).Want(t, 0)
	if want := "over its local channel (" + agent.ChannelAddr(s.state) + ")"; !strings.Contains(r.Stderr, want) {
		t.Errorf("status does not say it asked the service (%q):\n%s", want, r.Stderr)
	}
	for _, want := range []string{"casekeep running", "Vault: " + s.cache, "Disk encryption:", "Drives:", "Cloud folders:", "Recently:", "Server: not enrolled"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.Stdout)
		}
	}
	if !strings.Contains(r.Stdout, "What to do:") && !strings.Contains(r.Stdout, "Nothing to do") {
		t.Errorf("status says nothing about what to do:\n%s", r.Stdout)
	}

	// A stopped agent: the status is old, and status says so and exits 1.
	a.cmd.Process.Kill()
	a.cmd.Wait()
	st.UpdatedAt = time.Now().Add(-time.Hour)
	b, _ := json.Marshal(st)
	os.WriteFile(filepath.Join(agent.StatusDir(s.state), agent.StatusFile), b, 0o644)
	r = run(t, "status", "--state", s.state).Want(t, 1)
	if !strings.Contains(r.Stdout, "NOT RUNNING") || !strings.Contains(r.Stderr, "not running") || !strings.Contains(r.Stderr, "did not answer") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}
	// No agent ever ran there; a corrupt status file.
	run(t, "status", "--state", t.TempDir()).Want(t, 1)
	os.WriteFile(filepath.Join(agent.StatusDir(s.state), agent.StatusFile), []byte("{not json"), 0o644)
	if r := run(t, "status", "--state", s.state).Want(t, 1); !strings.Contains(r.Stderr, agent.StatusFile) {
		t.Errorf("stderr %q", r.Stderr)
	}
}

func TestStatusIsTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain ü text":           "plain ü text",
		"\x1b]0;owned\x07label":  "?]0;owned?label",
		"a\u202eevil":            "a?evil",
		"two\nlines\r":           "two\nlines?",
		"\u2066iso\u2069 \u200b": "?iso? ?",
		"bad \xff byte":          "bad ? byte",
		"tab\there":              "tab?here",
	} {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
