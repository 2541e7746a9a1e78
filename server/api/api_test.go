package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/api"
	"github.com/casekeep/casekeep/server/servertest"
	"github.com/casekeep/casekeep/server/store"
)

// fixture is the API on the server test rig, with a person of each role
// and three devices, at a fixed time; the policy in force is left out
// (liveness "unknown") unless withPolicy.
type fixture struct {
	t      *testing.T
	r      *servertest.Rig
	st     store.Store
	tokens map[store.Role]string
	now    time.Time
	policy bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)}
	f.r = servertest.New(t, servertest.Options{Policy: servertest.PolicyYAML(3), Now: func() time.Time { return f.now },
		Handler: func(r *servertest.Rig) (http.Handler, error) {
			cfg := api.Config{Store: r.Store, Now: r.Now}
			if f.policy {
				cfg.Policy = r.Server.Policy
			}
			a, err := api.New(cfg)
			if err != nil {
				return nil, err
			}
			return a.Handler(), nil
		}})
	f.st, f.tokens = f.r.Store, f.r.Tokens
	ctx := context.Background()
	for i, host := range []string{"laptop-1", "<script>alert(1)</script>", "=cmd|' /C calc'!A0"} {
		d := store.Device{ID: "dev-" + string(rune('a'+i)), SigningKey: make([]byte, 32), Hostname: host, OS: "linux", User: "sam", EnrolledAt: f.now.Add(-24 * time.Hour)}
		if err := f.st.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) do(method, path, token string, body any) (int, []byte) {
	f.t.Helper()
	return f.r.Do(method, path, token, body)
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	lost := map[string]any{"lost_at": "2026-11-22T13:00:00Z", "discovered_at": "2026-11-22T13:30:00Z", "note": "left on a train"}
	decision := map[string]any{"notify": false, "reasons": "sealed, disk encrypted, key not served after the loss"}
	token := map[string]any{"user": "user-auditor", "note": "laptop"}
	cases := []struct {
		method, path string
		body         any
		want         map[store.Role]int
	}{
		{"GET", "/api/v1/devices", nil, map[store.Role]int{store.RoleITSecurity: 200, store.RoleDPO: 200, store.RoleAuditor: 200}},
		{"GET", "/api/v1/devices/dev-a", nil, map[store.Role]int{store.RoleITSecurity: 200, store.RoleDPO: 200, store.RoleAuditor: 200}},
		{"POST", "/api/v1/devices/dev-a/lost", lost, map[store.Role]int{store.RoleITSecurity: 201, store.RoleDPO: 403, store.RoleAuditor: 403}},
		{"POST", "/api/v1/devices/dev-a/wipe", nil, map[store.Role]int{store.RoleITSecurity: 202, store.RoleDPO: 403, store.RoleAuditor: 403}},
		{"POST", "/api/v1/devices/dev-a/decision", decision, map[store.Role]int{store.RoleITSecurity: 201, store.RoleDPO: 201, store.RoleAuditor: 403}},
		{"POST", "/api/v1/tokens", token, map[store.Role]int{store.RoleITSecurity: 201, store.RoleDPO: 403, store.RoleAuditor: 403}},
		{"GET", "/api/v1/audit", nil, map[store.Role]int{store.RoleITSecurity: 200, store.RoleDPO: 200, store.RoleAuditor: 200}},
	}
	for _, c := range cases {
		for _, role := range store.Roles { // in order: the audit log below depends on it
			want := c.want[role]
			if got, body := f.do(c.method, c.path, f.tokens[role], c.body); got != want {
				t.Errorf("%s %s as %s: %d, want %d (%s)", c.method, c.path, role, got, want, body)
			}
		}
		if got, _ := f.do(c.method, c.path, "", c.body); got != 401 {
			t.Errorf("%s %s without a token: %d, want 401", c.method, c.path, got)
		}
		if got, _ := f.do(c.method, c.path, access.TokenPrefix+"forged", c.body); got != 401 {
			t.Errorf("%s %s with a forged token: %d, want 401", c.method, c.path, got)
		}
	}
	// A revoked token is refused.
	toks, err := f.st.APITokens(context.Background(), "user-dpo")
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens %v, %v", toks, err)
	}
	if err := f.st.RevokeAPIToken(context.Background(), toks[0].ID, f.now); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.do("GET", "/api/v1/devices", f.tokens[store.RoleDPO], nil); got != 401 {
		t.Errorf("revoked token: %d, want 401", got)
	}
	// Every action is in the audit log with who did it; refused ones are not.
	_, body := f.do("GET", "/api/v1/audit", f.tokens[store.RoleAuditor], nil)
	var log []store.AuditEntry
	if err := json.Unmarshal(body, &log); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target)
	}
	want := []string{"user-it-security token.create user-auditor", "user-dpo device.decision dev-a", "user-it-security device.decision dev-a",
		"user-it-security device.wipe_request dev-a", "user-it-security device.mark_lost dev-a"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log (newest first):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDeviceAndActions(t *testing.T) {
	f := newFixture(t)
	it := f.tokens[store.RoleITSecurity]
	if code, body := f.do("POST", "/api/v1/devices/dev-a/lost", it, map[string]any{"lost_at": "2026-11-22T15:00:00Z"}); code != 400 {
		t.Errorf("lost in the future: %d %s", code, body)
	}
	if code, body := f.do("POST", "/api/v1/devices/dev-a/lost", it, map[string]any{"lost_at": "2026-11-22T13:00:00Z", "discovered_at": "2026-11-22T12:00:00Z"}); code != 400 {
		t.Errorf("discovered before lost: %d %s", code, body)
	}
	if code, body := f.do("POST", "/api/v1/devices/dev-a/lost", it, map[string]any{"lost_at": "2026-11-22T13:00:00Z", "colour": "red"}); code != 400 {
		t.Errorf("unknown field: %d %s", code, body)
	}
	if code, _ := f.do("POST", "/api/v1/devices/nope/lost", it, map[string]any{"lost_at": "2026-11-22T13:00:00Z"}); code != 404 {
		t.Errorf("unknown device: %d", code)
	}
	if code, _ := f.do("POST", "/api/v1/devices/dev-a/decision", it, map[string]any{"reasons": "x"}); code != 400 {
		t.Errorf("decision without notify: %d", code)
	}
	f.do("POST", "/api/v1/devices/dev-a/lost", it, map[string]any{"lost_at": "2026-11-22T13:00:00Z"})
	f.do("POST", "/api/v1/devices/dev-a/wipe", it, nil)
	code, body := f.do("GET", "/api/v1/devices/dev-a", it, nil)
	var d api.DeviceDetail
	if code != 200 || json.Unmarshal(body, &d) != nil {
		t.Fatalf("%d %s", code, body)
	}
	if len(d.Lost) != 1 || !d.Lost[0].DiscoveredAt.Equal(f.now) || len(d.Commands) != 1 || d.Commands[0].Type != "wipe" ||
		d.Commands[0].Status != "requested" || !d.Commands[0].AckedAt.IsZero() || d.Lost[0].By != "user-it-security" {
		t.Errorf("detail %+v", d)
	}
	if code, _ := f.do("GET", "/api/v1/devices/nope", it, nil); code != 404 {
		t.Errorf("unknown device: %d", code)
	}
}

func TestDevicesCSVAndFilters(t *testing.T) {
	f := newFixture(t)
	code, body := f.do("GET", "/api/v1/devices?format=csv", f.tokens[store.RoleAuditor], nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][0] != "id" {
		t.Fatalf("csv %q, %v", recs, err)
	}
	for _, r := range recs[1:] {
		if strings.HasPrefix(r[1], "=") {
			t.Errorf("a hostname is a spreadsheet formula: %q", r[1])
		}
	}
	var list []api.DeviceView
	_, body = f.do("GET", "/api/v1/devices?user=SAM&liveness=unknown", f.tokens[store.RoleAuditor], nil)
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 3 {
		t.Errorf("filtered %s, %v", body, err)
	}
	_, body = f.do("GET", "/api/v1/devices?plaintext=true", f.tokens[store.RoleAuditor], nil)
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 0 {
		t.Errorf("plaintext filter %s", body)
	}
	for _, q := range []string{"liveness=asleep", "compliant=maybe", "policy_version=x", "format=xml"} {
		if code, _ := f.do("GET", "/api/v1/devices?"+q, f.tokens[store.RoleAuditor], nil); code != 400 {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}
}
