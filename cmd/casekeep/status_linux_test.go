package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

// TestStatusAsOtherUser: `casekeep status` run by uid 65534 asks the
// service over the channel and is told the vault key's state, never the
// vault's folder, its files or case references.
func TestStatusAsOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "running casekeep status as another user needs root")
	}
	// A folder every user may search (t.TempDir's are 0700): the socket's
	// folder is beside the state folder, and uid 65534 runs a copy of the
	// binary from here.
	open := testenv.OpenDir(t, "casekeep-status-")
	s := newSetup(t)
	s.state = filepath.Join(open, "state")
	a := startAgent(t, s.flags()...)
	os.MkdirAll(filepath.Join(s.cache, "CASE-4711"), 0o700)
	os.WriteFile(filepath.Join(s.cache, "CASE-4711", "alice-notes.txt"), []byte("private"), 0o600)
	testenv.Eventually(t, "the file sealed", func() bool { return exists(filepath.Join(s.cache, "CASE-4711", "alice-notes.txt.age")) })

	asNobody := func(args ...string) (string, string) {
		t.Helper()
		cmd := testenv.AsNobody(t, binary, open, args...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("casekeep %s as uid 65534: %v\n%s\n%s\nagent log:\n%s", strings.Join(args, " "), err, out.String(), errOut.String(), a.logText())
		}
		return out.String(), errOut.String()
	}
	out, errOut := asNobody("status", "--state", s.state, "--json")
	if !strings.Contains(errOut, "over its local channel") {
		t.Errorf("stderr %q", errOut)
	}
	var ls agent.LocalStatus
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if ls.Full != nil || ls.Lease != wire.LeaseNone || ls.Enrolled || !strings.HasPrefix(ls.Account, "uid 65534") {
		t.Errorf("uid 65534 is told %+v", ls)
	}
	text, _ := asNobody("status", "--state", s.state)
	for _, o := range []string{out, text} {
		for _, secret := range []string{"CASE-4711", "alice", s.cache, s.dir} {
			if strings.Contains(o, secret) {
				t.Errorf("uid 65534 is told %q:\n%s", secret, o)
			}
		}
	}
	for _, want := range []string{"casekeep running (you are uid 65534", "Vault key:", "Server: not enrolled", "Your cache: not shown"} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
}
