package agent_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/cloudsync"
	"github.com/casekeep/casekeep/agent/local"
	"github.com/casekeep/casekeep/agent/outside"
	"github.com/casekeep/casekeep/agent/report/reporttest"
	"github.com/casekeep/casekeep/internal/wire"
)

// A status full of what only an admin may see.
func richStatus() agent.Status {
	return agent.Status{
		PolicyVersion: 3,
		Vault:         agent.VaultStatus{Dir: "/home/alice/Cases", Files: 7, Plaintext: 2, CaseRefs: 3},
		SyncFolders:   []outside.SyncFolder{{Folder: cloudsync.Folder{Path: "/home/bob/Dropbox"}, Swept: true}},
		SweepFolders:  []string{"/home/bob/Downloads"},
		Recent:        []outside.Action{{What: `found the case file "CASE-4711/bob-notes.docx" in Downloads`}},
		Heartbeat:     &agent.HeartbeatInfo{Server: "https://casekeep.example", LastAck: time.Now().Add(-time.Minute)},
		Keys:          agent.KeyStatus{Lease: wire.LeaseLocked, Why: "the server refused the lease", OfflineCopy: wire.OfflineOS},
		Advice:        []string{"A case file was found outside the vault (CASE-4711/bob-notes.docx)"},
	}
}

// TestStatusFor: the one rule of what an account sees.
func TestStatusFor(t *testing.T) {
	s := richStatus()
	root := agent.StatusFor(local.Peer{ID: "0", UID: 0, Admin: true}, s, nil)
	if root.Full == nil || root.Full.Vault.Files != 7 || root.Full.Recent[0].What != s.Recent[0].What {
		t.Fatalf("root sees %+v, want the whole status", root)
	}
	for _, own := range []*agent.OwnCache{nil, {Sealed: 4, Plaintext: 1}} {
		u := agent.StatusFor(local.Peer{ID: "1000", UID: 1000, GID: 1000}, s, own)
		b, _ := json.Marshal(u)
		for _, secret := range []string{"CASE-4711", "bob", "alice", "Dropbox", "Downloads", "/home", `"files"`, "full"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("a user sees %q: %s", secret, b)
			}
		}
		if u.Full != nil || u.Lease != wire.LeaseLocked || u.Why == "" || !u.Enrolled || !u.Online || u.LastAck.IsZero() {
			t.Errorf("a user sees %+v", u)
		}
		if !strings.Contains(strings.Join(u.Advice, "\n"), "locked") {
			t.Errorf("a user's advice %q does not say the vault is locked", u.Advice)
		}
		switch {
		case own == nil && u.OwnCache != nil:
			t.Errorf("counts %+v for a cache the agent cannot tell is theirs", u.OwnCache)
		case own != nil && (u.OwnCache == nil || *u.OwnCache != *own):
			t.Errorf("own cache %+v, want %+v", u.OwnCache, own)
		}
	}
	s.Heartbeat.LastError = "connection refused"
	if u := agent.StatusFor(local.Peer{ID: "1000", UID: 1000}, s, nil); u.Online {
		t.Error("online while the server does not answer")
	}
	s.Heartbeat = nil
	if u := agent.StatusFor(local.Peer{ID: "1000", UID: 1000}, s, nil); u.Enrolled || u.Online {
		t.Error("enrolled without a server")
	}
}

// TestChannelFailed: an agent whose channel's folder is a link reports the
// failure as an event, and goes on sealing.
func TestChannelFailed(t *testing.T) {
	srv := reporttest.NewServer(t)
	d := newDevice(t, srv)
	real := filepath.Join(d.dir, "real")
	os.Mkdir(real, 0o755)
	link := filepath.Join(d.dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	d.local = filepath.Join(link, "casekeep.sock")
	r := d.start(srv.FirstLease())
	e := r.waitEvent(t, wire.EventAgentChannelFailed)
	if e.Detail == "" {
		t.Error("the event does not say why")
	}
	r.waitLease(t, wire.LeaseUnlocked)
	d.write("CASE-1/a.txt", "sealed all the same")
	d.waitSealed("CASE-1/a.txt")
	if got := d.escrowOpens("CASE-1/a.txt.age"); got != "sealed all the same" {
		t.Errorf("escrow opens %q", got)
	}
	if _, err := os.Lstat(filepath.Join(real, "casekeep.sock")); err == nil {
		t.Error("a socket was made through the link")
	}
}
