package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/api"
	"github.com/casekeep/casekeep/server/store"
)

// TestLeases: a device's lease log, newest first, as JSON and CSV, for
// every role; a lost device's refusals are in it.
func TestLeases(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reqs := []store.LeaseRequest{
		{DeviceID: "dev-a", Kind: store.LeaseKindEnroll, At: f.now.Add(-2 * time.Hour), Window: 72 * time.Hour, Source: "192.0.2.1:1"},
		{DeviceID: "dev-a", Kind: store.LeaseKindRenew, At: f.now.Add(-time.Hour), Window: 72 * time.Hour, Source: "192.0.2.1:2", Nonce: wire.NewNonce(), AgentTime: f.now.Add(-time.Hour)},
	}
	if _, err := f.st.ServeLeases(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if err := f.st.MarkLost(ctx, store.LostReport{DeviceID: "dev-a", LostAt: f.now, DiscoveredAt: f.now, RecordedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.ServeLeases(ctx, []store.LeaseRequest{{DeviceID: "dev-a", Kind: store.LeaseKindKey, At: f.now, Window: 72 * time.Hour,
		Source: "=cmd|' /C calc'!A0", Nonce: wire.NewNonce()}}); err != nil {
		t.Fatal(err)
	}
	for _, role := range store.Roles {
		code, body := f.do("GET", "/api/v1/devices/dev-a/leases", f.tokens[role], nil)
		var ls []api.LeaseView
		if code != 200 || json.Unmarshal(body, &ls) != nil {
			t.Fatalf("as %s: %d %s", role, code, body)
		}
		if len(ls) != 3 || ls[0].Served || ls[0].Refused != wire.RefusedLost || !ls[0].Until.IsZero() ||
			!ls[1].Served || ls[1].Kind != "renew" || !ls[1].Until.Equal(f.now.Add(71*time.Hour)) || ls[1].Window != "72h0m0s" ||
			ls[1].Nonce != reqs[1].Nonce || ls[2].Kind != "enroll" || ls[2].Source != "192.0.2.1:1" || !strings.HasPrefix(ls[2].KeyID, "lk_") {
			t.Errorf("as %s: %+v", role, ls)
		}
	}
	au := f.tokens[store.RoleAuditor]
	code, body := f.do("GET", "/api/v1/devices/dev-a/leases?format=csv", au, nil)
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(recs) != 4 || recs[0][0] != "at" || recs[1][8] != "lost" || recs[1][3] != "'=cmd|' /C calc'!A0" || recs[1][2] != "1" {
		t.Errorf("csv %d %v %q", code, err, recs)
	}
	if code, body := f.do("GET", "/api/v1/devices/dev-a/leases?limit=1", au, nil); code != 200 || strings.Count(string(body), `"at"`) != 1 {
		t.Errorf("limit=1: %d %s", code, body)
	}
	if code, _ := f.do("GET", "/api/v1/devices/dev-a/leases?from="+f.now.Add(-90*time.Minute).Format(time.RFC3339)+"&to="+f.now.Format(time.RFC3339), au, nil); code != 200 {
		t.Errorf("a range: %d", code)
	}
	for q, want := range map[string]int{"?limit=0": 400, "?limit=x": 400, "?limit=10001": 400, "?format=xml": 400, "?from=yesterday": 400} {
		if code, _ := f.do("GET", "/api/v1/devices/dev-a/leases"+q, au, nil); code != want {
			t.Errorf("%s: %d, want %d", q, code, want)
		}
	}
	if code, _ := f.do("GET", "/api/v1/devices/nope/leases", au, nil); code != 404 {
		t.Errorf("an unknown device: %d", code)
	}
}

// TestCommandsAPI: locking, unlocking, wiping and cancelling answer with
// the command; the commands list shows each state; only it-security acts.
func TestCommandsAPI(t *testing.T) {
	f := newFixture(t)
	it := f.tokens[store.RoleITSecurity]
	for _, role := range []store.Role{store.RoleDPO, store.RoleAuditor} {
		for _, p := range []string{"lock", "unlock", "wipe", "found", "lease/rotate", "commands/x/cancel"} {
			if code, _ := f.do("POST", "/api/v1/devices/dev-a/"+p, f.tokens[role], nil); code != 403 {
				t.Errorf("%s as %s: %d", p, role, code)
			}
		}
	}
	post := func(path string, want int) api.CommandView {
		t.Helper()
		code, body := f.do("POST", path, it, nil)
		var c api.CommandView
		if code != want || json.Unmarshal(body, &c) != nil {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
		return c
	}
	lock := post("/api/v1/devices/dev-a/lock", 202)
	if lock.Type != "lock" || lock.Status != "requested" || !strings.HasPrefix(lock.ID, "cmd_") || lock.RequestedBy != "user-it-security" ||
		!lock.RequestedAt.Equal(f.now) || !lock.Expires.Equal(f.now.Add(30*24*time.Hour)) {
		t.Errorf("lock %+v", lock)
	}
	wipe := post("/api/v1/devices/dev-a/wipe", 202)
	cancelled := post("/api/v1/devices/dev-a/commands/"+wipe.ID+"/cancel", 200)
	if cancelled.Status != "cancelled" || cancelled.CancelledBy != "user-it-security" || !cancelled.CancelledAt.Equal(f.now) {
		t.Errorf("cancelled %+v", cancelled)
	}
	if code, _ := f.do("POST", "/api/v1/devices/dev-a/commands/"+wipe.ID+"/cancel", it, nil); code != 409 {
		t.Errorf("cancelling twice: %d", code)
	}
	if code, _ := f.do("POST", "/api/v1/devices/dev-b/commands/"+lock.ID+"/cancel", it, nil); code != 404 {
		t.Errorf("cancelling another device's: %d", code)
	}
	if _, err := f.st.DeliverCommands(context.Background(), "dev-a", f.now, 10); err != nil {
		t.Fatal(err)
	}
	code, body := f.do("GET", "/api/v1/devices/dev-a/commands", f.tokens[store.RoleAuditor], nil)
	var cs []api.CommandView
	if code != 200 || json.Unmarshal(body, &cs) != nil || len(cs) != 2 || cs[0].ID != lock.ID || cs[0].Status != "delivered" ||
		!cs[0].DeliveredAt.Equal(f.now) || cs[1].Status != "cancelled" || !cs[1].DeliveredAt.IsZero() {
		t.Errorf("commands %d %+v", code, cs)
	}
	code, body = f.do("GET", "/api/v1/devices/dev-a/commands?format=csv", f.tokens[store.RoleAuditor], nil)
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(recs) != 3 || recs[0][2] != "status" || recs[1][2] != "delivered" {
		t.Errorf("csv %d %v %q", code, err, recs)
	}
	if code, _ := f.do("GET", "/api/v1/devices/nope/commands", it, nil); code != 404 {
		t.Errorf("an unknown device: %d", code)
	}
	// Found: not lost is a conflict; lost and locked, found requests an
	// unlock.
	if code, _ := f.do("POST", "/api/v1/devices/dev-a/found", it, nil); code != 409 {
		t.Errorf("found, not lost: %d", code)
	}
	f.do("POST", "/api/v1/devices/dev-a/lost", it, map[string]any{"lost_at": f.now.Add(-time.Hour)})
	code, body = f.do("POST", "/api/v1/devices/dev-a/found", it, nil)
	var found api.FoundReply
	if code != 200 || json.Unmarshal(body, &found) != nil || found.Closed != 1 || found.Unlock == nil || found.Unlock.Type != "unlock" {
		t.Errorf("found %d %s", code, body)
	}
	// The device detail carries the commands and the lease keys.
	code, body = f.do("GET", "/api/v1/devices/dev-a", it, nil)
	var d api.DeviceDetail
	if code != 200 || json.Unmarshal(body, &d) != nil || len(d.Commands) != 3 || d.LeaseKeys == nil || len(d.Lost) != 1 || d.Lost[0].FoundAt.IsZero() {
		t.Errorf("detail %d %s", code, body)
	}
}

// TestCommandFailureReason: a command the agent acknowledges failed or
// refused shows in the API with its reason and both times, in the device
// detail and the command list, JSON and CSV.
func TestCommandFailureReason(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	act := &actions.Actions{Store: f.st, Now: func() time.Time { return f.now.Add(-time.Hour) }}
	w, err := act.RequestWipe(ctx, "it", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	l, err := act.Lock(ctx, "it", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DeliverCommands(ctx, "dev-a", f.now.Add(-50*time.Minute), 10); err != nil {
		t.Fatal(err)
	}
	agentAt := f.now.Add(-41 * time.Minute)
	body := []byte("hb")
	sum := sha256.Sum256(body)
	h := store.Heartbeat{DeviceID: "dev-a", Seq: 100, Hash: sum[:], Body: body,
		State: store.State{Seq: 100, Hash: sum[:], SentAt: agentAt, ReceivedAt: f.now.Add(-40 * time.Minute)},
		Acks: []store.CommandAck{
			{ID: w.ID, Type: wire.CommandWipe, Result: wire.AckFailed, Reason: "the cache could not be read", At: agentAt},
			{ID: l.ID, Type: wire.CommandLock, Result: wire.AckRefused, Reason: "it expired", At: agentAt},
		}}
	if _, err := f.st.Ingest(ctx, []store.Heartbeat{h}); err != nil {
		t.Fatal(err)
	}
	code, b := f.do("GET", "/api/v1/devices/dev-a", f.tokens[store.RoleAuditor], nil)
	var d api.DeviceDetail
	if code != 200 || json.Unmarshal(b, &d) != nil || len(d.Commands) != 2 {
		t.Fatalf("detail %d %s", code, b)
	}
	for i, want := range []struct{ status, reason string }{{"failed", "the cache could not be read"}, {"refused", "it expired"}} {
		c := d.Commands[i]
		if c.Status != want.status || c.Reason != want.reason || !c.AckedAt.Equal(agentAt) || !c.AckReceivedAt.Equal(f.now.Add(-40*time.Minute)) {
			t.Errorf("command %d: %+v, want %s: %s with both times", i, c, want.status, want.reason)
		}
	}
	_, b = f.do("GET", "/api/v1/devices/dev-a/commands?format=csv", f.tokens[store.RoleAuditor], nil)
	if !strings.Contains(string(b), "the cache could not be read") || !strings.Contains(string(b), agentAt.Format(time.RFC3339)) {
		t.Errorf("the CSV lacks the reason or the agent's time:\n%s", b)
	}
}
