package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/local"
	"github.com/casekeep/casekeep/agent/report/reporttest"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

const (
	nobody          = 65534
	statusHelperEnv = "CASEKEEP_AGENT_STATUS_HELPER_ADDR"
)

// TestLocalStatus: an agent with a local channel answers "status" to a
// client running as uid 65534 with the vault key's state and nothing of
// the cache (no case reference, no file name), and to root with the whole
// status.
func TestLocalStatus(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "running a client as another user needs root")
	}
	// A folder every user may search (t.TempDir's are 0700), for the
	// socket's folder and a copy of the test binary uid 65534 may run.
	open := testenv.OpenDir(t, "casekeep-agent-local-")

	srv := reporttest.NewServer(t)
	d := newDevice(t, srv)
	d.local = filepath.Join(open, "channel", "casekeep.sock")
	r := d.start(srv.FirstLease())
	r.waitLease(t, wire.LeaseUnlocked)
	d.write("CASE-4711/alice-assessment.txt", "private")
	d.waitSealed("CASE-4711/alice-assessment.txt")

	// Root: the whole status.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var st agent.LocalStatus
	testenv.Eventually(t, "the channel telling root of the sealed file", func() bool {
		c, err := local.Dial(ctx, d.local)
		if err != nil {
			return false
		}
		defer c.Close()
		return c.Call(ctx, agent.OpStatus, nil, &st) == nil && st.Full != nil && st.Full.Vault.Files == 1
	})
	if st.Full == nil || st.Full.Vault.Files != 1 || st.Full.Vault.Dir != d.cache || st.Full.Keys.Lease != wire.LeaseUnlocked {
		t.Fatalf("root is told %+v (%+v %+v), want the whole status", st, st.Full.Vault, st.Full.Keys)
	}

	// uid 65534: only what concerns them.
	cmd := testenv.AsNobody(t, os.Args[0], open, "-test.run=^TestLocalStatusHelper$", "-test.v")
	cmd.Env = append(os.Environ(), statusHelperEnv+"="+d.local)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the client as uid %d: %v\n%s", nobody, err, out)
	}
	_, reply, ok := strings.Cut(string(out), "helper reply: ")
	if !ok {
		t.Fatalf("the helper did not run:\n%s", out)
	}
	reply, _, _ = strings.Cut(reply, "\n")
	for _, secret := range []string{"CASE-4711", "alice", d.cache, d.dir, `"full"`} {
		if strings.Contains(reply, secret) {
			t.Errorf("uid %d is told %q: %s", nobody, secret, reply)
		}
	}
	var u agent.LocalStatus
	if err := json.Unmarshal([]byte(reply), &u); err != nil {
		t.Fatal(err)
	}
	if u.Account != fmt.Sprint("uid ", nobody) && !strings.HasPrefix(u.Account, fmt.Sprint("uid ", nobody, " ")) {
		t.Errorf("account %q", u.Account)
	}
	if u.Full != nil || u.Lease != wire.LeaseUnlocked || !u.Enrolled || u.OwnCache != nil {
		t.Errorf("uid %d is told %+v", nobody, u)
	}

	// Stopped, the agent closes its channel; started again, it opens it.
	r.stop(t)
	if c, err := local.Dial(ctx, d.local); err == nil {
		c.Close()
		t.Error("the channel still answers after the agent stopped")
	}
	r = d.start(nil)
	testenv.Eventually(t, "the channel open again", func() bool {
		c, err := local.Dial(ctx, d.local)
		if err != nil {
			return false
		}
		defer c.Close()
		return c.Call(ctx, agent.OpStatus, nil, &st) == nil && st.Full != nil
	})
	if n := len(r.eventsOf(wire.EventAgentChannelFailed)); n != 0 {
		t.Errorf("%d channel failures on a restart", n)
	}
}

// TestLocalStatusHelper is the client TestLocalStatus runs as uid 65534;
// without its environment it does nothing.
func TestLocalStatusHelper(t *testing.T) {
	addr := os.Getenv(statusHelperEnv)
	if addr == "" {
		t.Skip("run by TestLocalStatus")
	}
	if os.Geteuid() != nobody {
		t.Fatalf("helper runs as uid %d", os.Geteuid())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := local.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Do(ctx, local.Request{Op: agent.OpStatus})
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Err(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("helper reply: %s\n", resp.Data)
}
