package actions_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/assess"
	"github.com/casekeep/casekeep/server/servertest"
	"github.com/casekeep/casekeep/server/store"
)

var now = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

// fixture is an Actions over an SQLite store holding one device, dev-a,
// and one person, ann (dpo), at a fixed time.
type fixture struct {
	st  store.Store
	act *actions.Actions
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, _ := servertest.Store(t)
	ctx := context.Background()
	if err := st.CreateDevice(ctx, store.Device{ID: "dev-a", SigningKey: make([]byte, 32), Hostname: "laptop-1", EnrolledAt: now.Add(-24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, store.User{Name: "ann", Role: store.RoleDPO, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, act: &actions.Actions{Store: st, Now: func() time.Time { return now }}}
}

// audit returns the audit log, oldest first, as "actor action target: detail".
func (f *fixture) audit(t *testing.T) []string {
	t.Helper()
	log, err := f.st.AuditLog(context.Background(), time.Time{}, now.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(log) - 1; i >= 0; i-- {
		e := log[i]
		if !e.Time.Equal(now) {
			t.Errorf("audit entry %q at %v, want %v", e.Action, e.Time, now)
		}
		out = append(out, e.Actor+" "+e.Action+" "+e.Target+": "+e.Detail)
	}
	return out
}

func sameAudit(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// refused checks err is a FieldError for field of the kind.
func refused(t *testing.T, what string, err error, field string, kind error) {
	t.Helper()
	var fe *actions.FieldError
	if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, kind) || !errors.Is(err, actions.ErrInvalid) {
		t.Errorf("%s: %v, want a FieldError for %s (%v)", what, err, field, kind)
		return
	}
	if !strings.HasPrefix(err.Error(), field+" ") || fe.Problem == "" {
		t.Errorf("%s: the message %q does not name %s", what, err, field)
	}
}

func TestMarkLost(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	lost := now.Add(-2 * time.Hour)
	for name, c := range map[string]struct {
		in    actions.Lost
		field string
		kind  error
	}{
		"no time of loss":           {actions.Lost{DiscoveredAt: now}, "lost_at", actions.ErrRequired},
		"lost in the future":        {actions.Lost{LostAt: now.Add(61 * time.Second)}, "lost_at", actions.ErrFuture},
		"discovered in the future":  {actions.Lost{LostAt: lost, DiscoveredAt: now.Add(2 * time.Minute)}, "discovered_at", actions.ErrFuture},
		"discovered before lost":    {actions.Lost{LostAt: lost, DiscoveredAt: lost.Add(-time.Second)}, "discovered_at", actions.ErrOutOfOrder},
		"a note too long":           {actions.Lost{LostAt: lost, Note: strings.Repeat("é", actions.MaxNote+1)}, "note", actions.ErrTooLong},
		"a note with a NUL":         {actions.Lost{LostAt: lost, Note: "left\x00on a train"}, "note", actions.ErrNotText},
		"a note with an escape":     {actions.Lost{LostAt: lost, Note: "left \x1b[31mon a train"}, "note", actions.ErrNotText},
		"a note not UTF-8":          {actions.Lost{LostAt: lost, Note: "left \xff on a train"}, "note", actions.ErrNotText},
		"a note too long, trimmed?": {actions.Lost{LostAt: lost, Note: " " + strings.Repeat("x", actions.MaxNote+1) + " "}, "note", actions.ErrTooLong},
	} {
		_, err := f.act.MarkLost(ctx, "ann", "dev-a", c.in)
		refused(t, name, err, c.field, c.kind)
	}
	if reps, _ := f.st.LostReports(ctx, "dev-a"); len(reps) != 0 {
		t.Errorf("refused reports stored: %+v", reps)
	}
	sameAudit(t, f.audit(t))

	// Discovered now, and a note at the limit, trimmed, with its line
	// breaks.
	note := "  " + strings.Repeat("é", actions.MaxNote-20) + "\r\nleft\ton a train \n"
	rep, err := f.act.MarkLost(ctx, "ann", "dev-a", actions.Lost{LostAt: lost.In(time.FixedZone("BST", 3600)), Note: note})
	if err != nil {
		t.Fatal(err)
	}
	want := store.LostReport{DeviceID: "dev-a", LostAt: lost, DiscoveredAt: now, RecordedAt: now, By: "ann", Note: strings.TrimSpace(note)}
	reps, err := f.st.LostReports(ctx, "dev-a")
	if err != nil || len(reps) != 1 {
		t.Fatalf("lost reports %+v, %v", reps, err)
	}
	for what, got := range map[string]store.LostReport{"returned": rep, "stored": reps[0]} {
		if got.DeviceID != want.DeviceID || !got.LostAt.Equal(want.LostAt) || !got.DiscoveredAt.Equal(want.DiscoveredAt) ||
			!got.RecordedAt.Equal(want.RecordedAt) || got.By != want.By || got.Note != want.Note || got.LostAt.Location() != time.UTC {
			t.Errorf("%s report %+v, want %+v", what, got, want)
		}
	}
	if _, err := f.act.MarkLost(ctx, "ann", "dev-a", actions.Lost{LostAt: now.Add(59 * time.Second), DiscoveredAt: now.Add(59 * time.Second)}); err != nil {
		t.Errorf("lost and discovered within the minute's slack: %v", err)
	}
	if _, err := f.act.MarkLost(ctx, "ann", "nope", actions.Lost{LostAt: lost}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown device: %v, want store.ErrNotFound", err)
	}
	sameAudit(t, f.audit(t),
		"ann device.mark_lost dev-a: lost at 2026-11-22T12:00:00Z, discovered at 2026-11-22T14:00:00Z",
		"ann device.mark_lost dev-a: lost at 2026-11-22T14:00:59Z, discovered at 2026-11-22T14:00:59Z")
}

func TestRequestWipe(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	wr, err := f.act.RequestWipe(ctx, "ann", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := f.st.Commands(ctx, "dev-a")
	if err != nil || len(ws) != 1 || ws[0].ID != wr.ID || wr.ID == "" || ws[0].Type != wire.CommandWipe || ws[0].RequestedBy != "ann" ||
		!ws[0].RequestedAt.Equal(now) || !ws[0].Expires.IsZero() || ws[0].Status(now) != store.StatusRequested {
		t.Errorf("wipes %+v (returned %+v), %v", ws, wr, err)
	}
	if _, err := f.act.RequestWipe(ctx, "ann", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown device: %v", err)
	}
	sameAudit(t, f.audit(t), "ann device.wipe_request dev-a: command "+wr.ID+": the lease is refused from now; sent at the device's next contact, however long after (a wipe never expires); pending until the agent acknowledges")
}

func TestRecordDecision(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	yes, no := true, false
	for name, c := range map[string]struct {
		in    actions.Decision
		field string
		kind  error
	}{
		"no notify":         {actions.Decision{Reasons: "sealed"}, "notify", actions.ErrRequired},
		"no reasons":        {actions.Decision{Notify: &no}, "reasons", actions.ErrRequired},
		"blank reasons":     {actions.Decision{Notify: &no, Reasons: " \n\t "}, "reasons", actions.ErrRequired},
		"reasons too long":  {actions.Decision{Notify: &yes, Reasons: strings.Repeat("x", actions.MaxReasons+1)}, "reasons", actions.ErrTooLong},
		"reasons with NULs": {actions.Decision{Notify: &yes, Reasons: "a\x00b"}, "reasons", actions.ErrNotText},
	} {
		_, err := f.act.RecordDecision(ctx, "ann", "dev-a", c.in)
		refused(t, name, err, c.field, c.kind)
	}
	d, err := f.act.RecordDecision(ctx, "ann", "dev-a", actions.Decision{Notify: &yes, Reasons: "  not sealed\nkey served  "})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := f.st.Decisions(ctx, "dev-a")
	if err != nil || len(ds) != 1 || ds[0].Reasons != "not sealed\nkey served" || !ds[0].Notify || ds[0].By != "ann" || !ds[0].At.Equal(now) || d.Reasons != ds[0].Reasons {
		t.Errorf("decisions %+v (returned %+v), %v", ds, d, err)
	}
	if _, err := f.act.RecordDecision(ctx, "ann", "nope", actions.Decision{Notify: &no, Reasons: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown device: %v", err)
	}
	sameAudit(t, f.audit(t), "ann device.decision dev-a: notify the ICO: true")
}

func TestAddUser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for name, c := range map[string]struct {
		name  string
		role  store.Role
		field string
		kind  error
	}{
		"no name":         {"", store.RoleDPO, "name", actions.ErrRequired},
		"a blank name":    {"   ", store.RoleDPO, "name", actions.ErrRequired},
		"a long name":     {strings.Repeat("a", actions.MaxName+1), store.RoleDPO, "name", actions.ErrTooLong},
		"a tab":           {"Ann\tExample", store.RoleDPO, "name", actions.ErrNotText},
		"a line break":    {"Ann\nExample", store.RoleDPO, "name", actions.ErrNotText},
		"a NUL":           {"Ann\x00", store.RoleDPO, "name", actions.ErrNotText},
		"a zero width":    {"Ann\u200bExample", store.RoleDPO, "name", actions.ErrNotText},
		"no role":         {"Bob", "", "role", actions.ErrChoice},
		"an unknown role": {"Bob", "boss", "role", actions.ErrChoice},
		"a role's case":   {"Bob", "DPO", "role", actions.ErrChoice},
	} {
		_, err := f.act.AddUser(ctx, actions.CommandLine, c.name, c.role)
		refused(t, name, err, c.field, c.kind)
	}
	if _, err := f.act.AddUser(ctx, actions.CommandLine, "Bob", "boss"); !strings.Contains(err.Error(), "it-security, dpo, auditor") {
		t.Errorf("an unknown role: %q does not list the roles", err)
	}
	u, err := f.act.AddUser(ctx, actions.CommandLine, "  Ann Example ", store.RoleAuditor)
	if err != nil || u.Name != "Ann Example" {
		t.Fatalf("%+v, %v", u, err)
	}
	if got, err := f.st.User(ctx, "Ann Example"); err != nil || got.Role != store.RoleAuditor || !got.CreatedAt.Equal(now) {
		t.Errorf("stored %+v, %v", got, err)
	}
	if _, err := f.act.AddUser(ctx, actions.CommandLine, strings.Repeat("é", actions.MaxName), store.RoleDPO); err != nil {
		t.Errorf("a name of %d characters: %v", actions.MaxName, err)
	}
	if _, err := f.act.AddUser(ctx, actions.CommandLine, "Ann Example", store.RoleDPO); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second Ann: %v, want store.ErrExists", err)
	}
	sameAudit(t, f.audit(t), "casekeep-server (command line) user.add Ann Example: role auditor",
		"casekeep-server (command line) user.add "+strings.Repeat("é", actions.MaxName)+": role dpo")
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for name, c := range map[string]struct {
		user, note string
		field      string
		kind       error
	}{
		"no user":          {"", "", "user", actions.ErrRequired},
		"a blank user":     {" \n", "", "user", actions.ErrRequired},
		"a long note":      {"ann", strings.Repeat("n", 201), "note", actions.ErrTooLong},
		"a note of lines":  {"ann", "laptop\nphone", "note", actions.ErrNotText},
		"a control in one": {"an\x7fn", "", "user", actions.ErrNotText},
	} {
		_, _, err := f.act.CreateToken(ctx, "it", c.user, c.note)
		refused(t, name, err, c.field, c.kind)
	}
	if _, _, err := f.act.CreateToken(ctx, "it", "nobody", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a token for nobody: %v, want store.ErrNotFound", err)
	}
	if toks, _ := f.st.APITokens(ctx, ""); len(toks) != 0 {
		t.Errorf("refused tokens stored: %+v", toks)
	}
	tok, rec, err := f.act.CreateToken(ctx, "it", " ann ", " laptop ")
	if err != nil {
		t.Fatal(err)
	}
	g := &access.Guard{Store: f.st}
	if p, err := g.Check(ctx, tok); err != nil || p.User.Name != "ann" || p.TokenID != rec.ID || rec.Note != "laptop" || !rec.CreatedAt.Equal(now) {
		t.Errorf("the token: %+v, %v (record %+v)", p, err, rec)
	}
	for name, c := range map[string]struct {
		id   string
		kind error
	}{"no ID": {" ", actions.ErrRequired}, "a line break": {"ab\ncd", actions.ErrNotText}} {
		refused(t, name, f.act.RevokeToken(ctx, "it", c.id), "id", c.kind)
	}
	if err := f.act.RevokeToken(ctx, "it", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking an unknown token: %v", err)
	}
	if err := f.act.RevokeToken(ctx, "it", " "+rec.ID+" "); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Check(ctx, tok); !errors.Is(err, access.ErrRevokedToken) {
		t.Errorf("the revoked token: %v", err)
	}
	sameAudit(t, f.audit(t), "it token.create ann: token "+rec.ID, "it token.revoke "+rec.ID+": ")
}

func TestViewsAndSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.act.ViewAssessment(ctx, "ann", assess.Input{DeviceID: "dev-a"}, ""); !errors.Is(err, assess.ErrNoLossTime) {
		t.Errorf("no time of loss: %v", err)
	}
	if _, err := f.act.ViewAssessment(ctx, "ann", assess.Input{DeviceID: "nope", LostAt: now}, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown device: %v", err)
	}
	a, err := f.act.ViewAssessment(ctx, "ann", assess.Input{DeviceID: "dev-a", LostAt: now.Add(-time.Hour)}, "")
	if err != nil || !a.LostAt.Equal(now.Add(-time.Hour)) || !a.MadeAt.Equal(now) {
		t.Fatalf("%+v, %v", a, err)
	}
	if _, err := f.act.ViewAssessment(ctx, "ann", assess.Input{DeviceID: "dev-a", LostAt: now.Add(-time.Hour)}, "csv"); err != nil {
		t.Fatal(err)
	}
	if err := f.act.SignIn(ctx, "ann", "0123456789ab"); err != nil {
		t.Fatal(err)
	}
	if err := f.act.SignOut(ctx, "ann", "0123456789ab"); err != nil {
		t.Fatal(err)
	}
	sameAudit(t, f.audit(t),
		"ann report.view dev-a: lost-device assessment, lost at 2026-11-22T13:00:00Z",
		"ann report.view dev-a: lost-device assessment, lost at 2026-11-22T13:00:00Z (csv)",
		"ann console.login ann: token 0123456789ab",
		"ann console.logout ann: token 0123456789ab")
}

// noAudit is a store whose audit log cannot be written.
type noAudit struct{ store.Store }

var errAuditDown = errors.New("the audit log is down")

func (noAudit) Audit(context.Context, store.AuditEntry) (store.AuditEntry, error) {
	return store.AuditEntry{}, errAuditDown
}

// TestAuditFailure: an action whose audit entry cannot be written stands,
// and says so.
func TestAuditFailure(t *testing.T) {
	f := newFixture(t)
	act := &actions.Actions{Store: noAudit{f.st}, Now: func() time.Time { return now }}
	if _, err := act.MarkLost(context.Background(), "ann", "dev-a", actions.Lost{LostAt: now}); !errors.Is(err, errAuditDown) {
		t.Errorf("MarkLost: %v, want the audit log's error", err)
	}
	if reps, _ := f.st.LostReports(context.Background(), "dev-a"); len(reps) != 1 {
		t.Errorf("%d lost reports, want the one made", len(reps))
	}
}

func TestFieldError(t *testing.T) {
	_, err := (&actions.Actions{}).MarkLost(context.Background(), "ann", "dev-a", actions.Lost{})
	var fe *actions.FieldError
	if !errors.As(err, &fe) || fe.Kind != actions.ErrRequired || err.Error() != "lost_at is required: when the device was lost" ||
		!errors.Is(err, actions.ErrInvalid) || !errors.Is(err, actions.ErrRequired) || errors.Is(err, actions.ErrTooLong) || errors.Is(err, store.ErrInvalid) {
		t.Errorf("%#v: %q", err, err)
	}
}

func TestLockUnlock(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	lock, err := f.act.Lock(ctx, "ann", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := f.act.Unlock(ctx, "ann", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := f.st.Commands(ctx, "dev-a")
	if err != nil || len(cs) != 2 || cs[0].ID != lock.ID || cs[0].Type != wire.CommandLock || cs[1].ID != unlock.ID || cs[1].Type != wire.CommandUnlock ||
		!cs[1].Expires.Equal(now.Add(actions.CommandExpiry)) || cs[0].RequestedBy != "ann" {
		t.Errorf("commands %+v, %v", cs, err)
	}
	for _, do := range []func(context.Context, string, string) (store.Command, error){f.act.Lock, f.act.Unlock} {
		if _, err := do(ctx, "ann", "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an unknown device: %v", err)
		}
	}
	sameAudit(t, f.audit(t),
		"ann device.lock dev-a: command "+lock.ID+": the lease is refused from now; pending until the agent acknowledges",
		"ann device.unlock dev-a: command "+unlock.ID+": the lease is served again unless the device is lost, wiped or revoked; pending until the agent acknowledges")
}

func TestCancelCommand(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	w, err := f.act.RequestWipe(ctx, "ann", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		id   string
		kind error
	}{"no ID": {" ", actions.ErrRequired}, "a line break": {"cmd\nx", actions.ErrNotText}, "too long": {strings.Repeat("c", 65), actions.ErrTooLong}} {
		_, err := f.act.CancelCommand(ctx, "ann", "dev-a", c.id)
		refused(t, name, err, "command", c.kind)
	}
	if _, err := f.act.CancelCommand(ctx, "ann", "dev-a", "cmd_nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown command: %v", err)
	}
	c, err := f.act.CancelCommand(ctx, "ann", "dev-a", " "+w.ID+" ")
	if err != nil || c.CancelledBy != "ann" || !c.CancelledAt.Equal(now) {
		t.Fatalf("%+v, %v", c, err)
	}
	if _, err := f.act.CancelCommand(ctx, "ann", "dev-a", w.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("cancelling twice: %v", err)
	}
	// Delivered: too late.
	w2, _ := f.act.RequestWipe(ctx, "ann", "dev-a")
	if _, err := f.st.DeliverCommands(ctx, "dev-a", now, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := f.act.CancelCommand(ctx, "ann", "dev-a", w2.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("cancelling a delivered wipe: %v", err)
	}
	sameAudit(t, f.audit(t),
		"ann device.wipe_request dev-a: command "+w.ID+": the lease is refused from now; sent at the device's next contact, however long after (a wipe never expires); pending until the agent acknowledges",
		"ann device.command_cancel dev-a: command "+w.ID+" (wipe) cancelled before it was delivered",
		"ann device.wipe_request dev-a: command "+w2.ID+": the lease is refused from now; sent at the device's next contact, however long after (a wipe never expires); pending until the agent acknowledges")
}

func TestMarkFound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.act.MarkFound(ctx, "ann", "dev-a"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("found, not lost: %v", err)
	}
	if _, err := f.act.MarkFound(ctx, "ann", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown device: %v", err)
	}
	if _, err := f.act.MarkLost(ctx, "ann", "dev-a", actions.Lost{LostAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	res, err := f.act.MarkFound(ctx, "ann", "dev-a")
	if err != nil || res.Closed != 1 || res.Unlock != nil {
		t.Fatalf("found: %+v, %v", res, err)
	}
	// Lost and locked: found unlocks it.
	if _, err := f.act.MarkLost(ctx, "ann", "dev-a", actions.Lost{LostAt: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	lock, _ := f.act.Lock(ctx, "ann", "dev-a")
	res, err = f.act.MarkFound(ctx, "ann", "dev-a")
	if err != nil || res.Closed != 1 || res.Unlock == nil || res.Unlock.Type != wire.CommandUnlock || !res.Unlock.Expires.Equal(now.Add(actions.CommandExpiry)) {
		t.Fatalf("found while locked: %+v, %v", res, err)
	}
	cs, _ := f.st.Commands(ctx, "dev-a")
	if store.Locked(cs) {
		t.Errorf("still locked after found")
	}
	sameAudit(t, f.audit(t),
		"ann device.mark_lost dev-a: lost at 2026-11-22T13:00:00Z, discovered at 2026-11-22T14:00:00Z",
		"ann device.found dev-a: 1 lost report closed",
		"ann device.mark_lost dev-a: lost at 2026-11-22T13:59:00Z, discovered at 2026-11-22T14:00:00Z",
		"ann device.lock dev-a: command "+lock.ID+": the lease is refused from now; pending until the agent acknowledges",
		"ann device.found dev-a: 1 lost report closed; it was locked: unlock "+res.Unlock.ID+" requested",
		"ann device.unlock dev-a: command "+res.Unlock.ID+": the lease is served again unless the device is lost, wiped or revoked; pending until the agent acknowledges")
}

func TestRotateLeaseKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.act.RotateLeaseKey(ctx, actions.CommandLine, "dev-a"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("rotating a key never served: %v", err)
	}
	if _, err := f.act.RotateLeaseKey(ctx, actions.CommandLine, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown device: %v", err)
	}
	res, err := f.st.ServeLeases(ctx, []store.LeaseRequest{{DeviceID: "dev-a", Kind: store.LeaseKindEnroll, At: now, Window: time.Hour, Source: "x"}})
	if err != nil || res[0].Outcome != store.LeaseServed {
		t.Fatal(res, err)
	}
	k, err := f.act.RotateLeaseKey(ctx, actions.CommandLine, " dev-a ")
	if err != nil || k.State != store.KeyNext || k.ID == res[0].Record.KeyID {
		t.Fatalf("%+v, %v", k, err)
	}
	if _, err := f.act.RotateLeaseKey(ctx, actions.CommandLine, "dev-a"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("rotating twice: %v", err)
	}
	sameAudit(t, f.audit(t), "casekeep-server (command line) device.lease_rotate dev-a: next key "+k.ID+": the old key is destroyed when the agent takes the new one")
}

// TestRevokeDevice: revoking a device destroys its lease keys (else a
// wipe outstanding could never be acknowledged, and the key kept for
// ever), and its result and audit entry say so, and that a wipe was
// outstanding.
func TestRevokeDevice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.act.RevokeDevice(ctx, "ann", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown device: %v", err)
	}
	res, err := f.st.ServeLeases(ctx, []store.LeaseRequest{{DeviceID: "dev-a", Kind: store.LeaseKindEnroll, At: now, Window: time.Hour, Source: "x"}})
	if err != nil || res[0].Outcome != store.LeaseServed {
		t.Fatal(res, err)
	}
	w, err := f.act.RequestWipe(ctx, "ann", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DeliverCommands(ctx, "dev-a", now, 10); err != nil {
		t.Fatal(err)
	}
	r, err := f.act.RevokeDevice(ctx, "ann", " dev-a ")
	if err != nil || r.KeysDestroyed != 1 || r.Wipe == nil || r.Wipe.ID != w.ID {
		t.Fatalf("%+v, %v", r, err)
	}
	want := "Revoked: the server refuses its heartbeats and its lease from now on. Its lease keys are destroyed (1 key): the server can never serve its vault key again. " +
		actions.RevokeWipeOutstanding + " (wipe " + w.ID + ")"
	if r.Note != want {
		t.Errorf("the note %q, want %q", r.Note, want)
	}
	ks, err := f.st.LeaseKeys(ctx, "dev-a")
	if err != nil || len(ks) != 1 || ks[0].DestroyedAt.IsZero() {
		t.Errorf("the keys after the revocation: %+v, %v", ks, err)
	}
	audit := f.audit(t)
	if got := audit[len(audit)-1]; got != "ann device.revoke dev-a: "+want {
		t.Errorf("the audit entry %q", got)
	}
	// Revoked again: nothing more to destroy, no wipe left outstanding to
	// speak of twice (it still is, and is said).
	r, err = f.act.RevokeDevice(ctx, "ann", "dev-a")
	if err != nil || r.KeysDestroyed != 0 || strings.Contains(r.Note, "keys are destroyed") {
		t.Errorf("revoked again: %+v, %v", r, err)
	}
}

// TestMarkFoundWithAWipe: marking a device found while a wipe stands says
// so, instead of implying the device is simply back: a wipe pending can
// still be cancelled and is otherwise carried out; one delivered cannot be
// recalled; either way the lease stays refused.
func TestMarkFoundWithAWipe(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	lost := func() {
		t.Helper()
		if _, err := f.act.MarkLost(ctx, "ann", "dev-a", actions.Lost{LostAt: now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	lost()
	w, err := f.act.RequestWipe(ctx, "ann", "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.act.MarkFound(ctx, "ann", "dev-a")
	if err != nil || res.Wipe == nil || res.Wipe.ID != w.ID || res.WipeStatus != store.StatusRequested ||
		!strings.HasPrefix(res.Note, actions.FoundWipePending) {
		t.Fatalf("found with a wipe pending: %+v, %v", res, err)
	}
	if cs, _ := f.st.Commands(ctx, "dev-a"); !store.WipeRequested(cs) {
		t.Errorf("the wipe no longer stands after found")
	}
	// Delivered: beyond recall.
	lost()
	if _, err := f.st.DeliverCommands(ctx, "dev-a", now, 10); err != nil {
		t.Fatal(err)
	}
	res, err = f.act.MarkFound(ctx, "ann", "dev-a")
	if err != nil || res.Wipe == nil || res.WipeStatus != store.StatusDelivered || !strings.HasPrefix(res.Note, actions.FoundWipeDelivered) {
		t.Fatalf("found with a wipe delivered: %+v, %v", res, err)
	}
	audit := f.audit(t)
	if !strings.Contains(audit[len(audit)-1], actions.FoundWipeDelivered) || !strings.Contains(audit[len(audit)-3], actions.FoundWipePending) {
		t.Errorf("the audit log does not say what became of the wipe:\n%s", strings.Join(audit, "\n"))
	}
	// No wipe: no note.
	g := newFixture(t)
	if _, err := g.act.MarkLost(ctx, "ann", "dev-a", actions.Lost{LostAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if res, err := g.act.MarkFound(ctx, "ann", "dev-a"); err != nil || res.Wipe != nil || res.Note != "" {
		t.Errorf("found with no wipe: %+v, %v", res, err)
	}
}
