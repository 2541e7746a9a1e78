package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/store"
)

// The actions on a device's commands and lease key, through every front
// end that offers them (see actions_test.go).

// commandsOf returns a device's commands, oldest first.
func commandsOf(t *testing.T, st store.Store, id string) []store.Command {
	t.Helper()
	cs, err := st.Commands(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestActionLockUnlock(t *testing.T) {
	r := newActionsRig(t)
	for _, fe := range frontEnds(r) {
		if fe.lock == nil {
			continue
		}
		id := deviceOf(t, r, fe)
		for name, do := range map[string]func(*testing.T, string) outcome{"lock": fe.lock, "unlock": fe.unlock} {
			if out := do(t, "nope"); out.code != 404 {
				t.Errorf("%s of an unknown device through the %s: %+v", name, fe.name, out)
			}
		}
		before := time.Now()
		out := fe.lock(t, id)
		if want := (outcome{fe.done["lock"], map[string]string{"api": "", "console": "A lock is requested: the server refuses the device its lease from now on, and its agent drops every copy of it at its next contact."}[fe.name]}); out != want {
			t.Errorf("%s, lock: %+v, want %+v", fe.name, out, want)
		}
		cs := commandsOf(t, r.Store, id)
		if len(cs) != 1 || cs[0].Type != wire.CommandLock || !store.Locked(cs) || cs[0].RequestedBy != fe.as(store.RoleITSecurity) {
			t.Fatalf("%s: commands %+v", fe.name, cs)
		}
		lock := cs[0]
		out = fe.unlock(t, id)
		after := time.Now()
		if want := (outcome{fe.done["unlock"], map[string]string{"api": "", "console": "An unlock is requested: the server serves the device its lease again, unless it is lost, wiped or revoked."}[fe.name]}); out != want {
			t.Errorf("%s, unlock: %+v, want %+v", fe.name, out, want)
		}
		cs = commandsOf(t, r.Store, id)
		if len(cs) != 2 || cs[1].Type != wire.CommandUnlock || store.Locked(cs) || !within(cs[1].RequestedAt, before, after) {
			t.Fatalf("%s: commands %+v", fe.name, cs)
		}
		who := fe.as(store.RoleITSecurity)
		sameEntries(t, r, fe.name, id, before, after,
			store.AuditEntry{Actor: who, Action: actions.AuditLock, Target: id, Detail: "command " + lock.ID + ": the lease is refused from now; pending until the agent acknowledges"},
			store.AuditEntry{Actor: who, Action: actions.AuditUnlock, Target: id, Detail: "command " + cs[1].ID + ": the lease is served again unless the device is lost, wiped or revoked; pending until the agent acknowledges"})
	}
}

func TestActionCancel(t *testing.T) {
	r := newActionsRig(t)
	act := &actions.Actions{Store: r.Store}
	ctx := context.Background()
	for _, fe := range frontEnds(r) {
		if fe.cancel == nil {
			continue
		}
		id := deviceOf(t, r, fe)
		w, err := act.RequestWipe(ctx, "someone", id)
		if err != nil {
			t.Fatal(err)
		}
		if out := fe.cancel(t, id, "cmd_nope"); out.code != 404 {
			t.Errorf("cancelling an unknown command through the %s: %+v", fe.name, out)
		}
		if out := fe.cancel(t, "nope", w.ID); out.code != 404 {
			t.Errorf("cancelling another device's command through the %s: %+v", fe.name, out)
		}
		before := time.Now()
		out := fe.cancel(t, id, w.ID)
		after := time.Now()
		if want := (outcome{fe.done["cancel"], map[string]string{"api": "", "console": "The command is cancelled: it will not be delivered."}[fe.name]}); out != want {
			t.Errorf("%s: %+v, want %+v", fe.name, out, want)
		}
		cs := commandsOf(t, r.Store, id)
		if len(cs) != 1 || cs[0].Status(after) != store.StatusCancelled || cs[0].CancelledBy != fe.as(store.RoleITSecurity) || !within(cs[0].CancelledAt, before, after) {
			t.Errorf("%s: %+v", fe.name, cs)
		}
		// Cancelled already, or delivered: 409, and why.
		w2, _ := act.RequestWipe(ctx, "someone", id)
		if _, err := r.Store.DeliverCommands(ctx, id, time.Now(), 10); err != nil {
			t.Fatal(err)
		}
		for what, c := range map[string]struct {
			cid, says string
		}{
			"cancelled already": {w.ID, "the command was cancelled already"},
			"delivered":         {w2.ID, "the command was delivered to the agent"},
		} {
			out := fe.cancel(t, id, c.cid)
			says := map[string]string{"console": "That command can no longer be cancelled: it was delivered to the device, or is acknowledged or cancelled already."}[fe.name]
			if fe.name == "api" {
				says = `cancel command "` + c.cid + `" of device "` + id + `": conflicts with the record: ` + c.says
			}
			if out != (outcome{409, says}) {
				t.Errorf("%s, %s: %+v, want 409 %q", fe.name, what, out, says)
			}
		}
		if st := commandsOf(t, r.Store, id)[1].Status(time.Now()); st != store.StatusDelivered {
			t.Errorf("%s: the delivered wipe is %s", fe.name, st)
		}
		got := auditOf(t, r, id)
		if len(got) != 3 || got[1].Action != actions.AuditCancel || got[1].Actor != fe.as(store.RoleITSecurity) ||
			got[1].Detail != "command "+w.ID+" (wipe) cancelled before it was delivered" {
			t.Errorf("%s: audit %+v", fe.name, got)
		}
	}
}

func TestActionFound(t *testing.T) {
	r := newActionsRig(t)
	act := &actions.Actions{Store: r.Store}
	ctx := context.Background()
	for _, fe := range frontEnds(r) {
		if fe.found == nil {
			continue
		}
		id := deviceOf(t, r, fe)
		if out := fe.found(t, "nope"); out.code != 404 {
			t.Errorf("marking an unknown device found through the %s: %+v", fe.name, out)
		}
		says := map[string]string{"api": `mark device "` + id + `" found: conflicts with the record: the device is not marked lost`, "console": "The device is not marked lost."}[fe.name]
		if out := fe.found(t, id); out != (outcome{409, says}) {
			t.Errorf("%s, not lost: %+v", fe.name, out)
		}
		if _, err := act.MarkLost(ctx, "someone", id, actions.Lost{LostAt: time.Now().Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		lock, err := act.Lock(ctx, "someone", id)
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now()
		out := fe.found(t, id)
		after := time.Now()
		if want := (outcome{fe.done["found"], map[string]string{"api": "", "console": "The device is marked found: the server serves its lease again, and an unlock is requested for its agent."}[fe.name]}); out != want {
			t.Errorf("%s: %+v, want %+v", fe.name, out, want)
		}
		reps, _ := r.Store.LostReports(ctx, id)
		cs := commandsOf(t, r.Store, id)
		if len(reps) != 1 || !within(reps[0].FoundAt, before, after) || reps[0].FoundBy != fe.as(store.RoleITSecurity) ||
			len(cs) != 2 || cs[0].ID != lock.ID || cs[1].Type != wire.CommandUnlock || store.Locked(cs) {
			t.Errorf("%s: reports %+v, commands %+v", fe.name, reps, cs)
		}
		who := fe.as(store.RoleITSecurity)
		got := auditOf(t, r, id)
		if len(got) != 4 {
			t.Fatalf("%s: audit %+v", fe.name, got)
		}
		sameEntries(t, r, fe.name, id, time.Time{}, after, got[0], got[1],
			store.AuditEntry{Actor: who, Action: actions.AuditFound, Target: id, Detail: "1 lost report closed; it was locked: unlock " + cs[1].ID + " requested"},
			store.AuditEntry{Actor: who, Action: actions.AuditUnlock, Target: id, Detail: "command " + cs[1].ID + ": the lease is served again unless the device is lost, wiped or revoked; pending until the agent acknowledges"})
	}
}

// TestActionFoundWithAWipe: marking found while a wipe stands says so,
// through every front end, and the wipe stands: pending, it is still to
// be carried out unless cancelled; delivered, it cannot be recalled.
func TestActionFoundWithAWipe(t *testing.T) {
	ctx := context.Background()
	for _, delivered := range []bool{false, true} {
		r := newActionsRig(t)
		act := &actions.Actions{Store: r.Store}
		for _, fe := range frontEnds(r) {
			if fe.found == nil {
				continue
			}
			id := deviceOf(t, r, fe)
			if _, err := act.MarkLost(ctx, "someone", id, actions.Lost{LostAt: time.Now().Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			w, err := act.RequestWipe(ctx, "someone", id)
			if err != nil {
				t.Fatal(err)
			}
			note := actions.FoundWipePending
			if delivered {
				if _, err := r.Store.DeliverCommands(ctx, id, time.Now(), 10); err != nil {
					t.Fatal(err)
				}
				note = actions.FoundWipeDelivered
			}
			out := fe.found(t, id)
			if want := map[string]string{"api": "", "console": "The device is marked found. " + note}[fe.name]; out.code != fe.done["found"] || out.msg != want {
				t.Errorf("%s, delivered %v: %+v, want %q", fe.name, delivered, out, want)
			}
			cs := commandsOf(t, r.Store, id)
			if len(cs) != 1 || cs[0].ID != w.ID || !store.WipeRequested(cs) {
				t.Errorf("%s: the wipe no longer stands: %+v", fe.name, cs)
			}
			got := auditOf(t, r, id)
			if last := got[len(got)-1]; last.Action != actions.AuditFound || !strings.Contains(last.Detail, note) {
				t.Errorf("%s: the audit entry %+v does not say %q", fe.name, last, note)
			}
		}
	}
}

func TestActionRotate(t *testing.T) {
	r := newActionsRig(t)
	ctx := context.Background()
	for _, fe := range frontEnds(r) {
		if fe.rotate == nil {
			continue
		}
		id := deviceOf(t, r, fe)
		if out := fe.rotate(t, "nope"); out.code != map[string]int{"api": 404, "command line": 1}[fe.name] {
			t.Errorf("rotating an unknown device's key through the %s: %+v", fe.name, out)
		}
		out := fe.rotate(t, id)
		says := map[string]string{
			"api":          `rotate the lease key of device "` + id + `": conflicts with the record: the device has no lease key yet (none was ever served)`,
			"command line": `casekeep-server: rotating the lease key of ` + id + `: rotate the lease key of device "` + id + `": conflicts with the record: the device has no lease key yet (none was ever served)`,
		}[fe.name]
		if out != (outcome{map[string]int{"api": 409, "command line": 1}[fe.name], says}) {
			t.Errorf("%s, no key yet: %+v", fe.name, out)
		}
		res, err := r.Store.ServeLeases(ctx, []store.LeaseRequest{{DeviceID: id, Kind: store.LeaseKindEnroll, At: time.Now(), Window: time.Hour, Source: "test"}})
		if err != nil || res[0].Outcome != store.LeaseServed {
			t.Fatal(res, err)
		}
		before := time.Now()
		out = fe.rotate(t, id)
		after := time.Now()
		ks, _ := r.Store.LeaseKeys(ctx, id)
		if len(ks) != 2 || ks[1].State != store.KeyNext {
			t.Fatalf("%s: keys %+v", fe.name, ks)
		}
		msg := map[string]string{"api": "", "command line": "new lease key " + ks[1].ID + " for " + id + ": sent with its next lease; the old key is destroyed when the agent takes it"}[fe.name]
		if out != (outcome{fe.done["rotate"], msg}) {
			t.Errorf("%s: %+v, want %q", fe.name, out, msg)
		}
		sameEntries(t, r, fe.name, id, before, after, store.AuditEntry{Actor: fe.as(store.RoleITSecurity), Action: actions.AuditLeaseRotate, Target: id,
			Detail: "next key " + ks[1].ID + ": the old key is destroyed when the agent takes the new one"})
	}
}

// TestRevokeDeviceCommand: revoke-device revokes the device, destroys its
// lease keys and says so, and that a wipe outstanding will not be
// reported.
func TestRevokeDeviceCommand(t *testing.T) {
	r := newActionsRig(t)
	ctx := context.Background()
	id := deviceOf(t, r, frontEnd{name: "command line"})
	if res := run(t, "revoke-device", "nope", "--db", r.DB); res.Code != 1 || !strings.Contains(res.Stderr, "no such device") {
		t.Errorf("an unknown device: %+v", res)
	}
	res, err := r.Store.ServeLeases(ctx, []store.LeaseRequest{{DeviceID: id, Kind: store.LeaseKindEnroll, At: time.Now(), Window: time.Hour, Source: "test"}})
	if err != nil || res[0].Outcome != store.LeaseServed {
		t.Fatal(res, err)
	}
	w, err := (&actions.Actions{Store: r.Store}).RequestWipe(ctx, "someone", id)
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, "revoke-device", id, "--db", r.DB)
	if out.Code != 0 || !strings.Contains(out.Stdout, "Its lease keys are destroyed (1 key)") || !strings.Contains(out.Stdout, actions.RevokeWipeOutstanding+" (wipe "+w.ID+")") {
		t.Errorf("revoke-device: %+v", out)
	}
	if ks, _ := r.Store.LeaseKeys(ctx, id); len(ks) != 1 || ks[0].DestroyedAt.IsZero() {
		t.Errorf("the keys after revoke-device: %+v", ks)
	}
	if d, _ := r.Store.Device(ctx, id); d.RevokedAt.IsZero() {
		t.Errorf("not revoked")
	}
	got := auditOf(t, r, id)
	if last := got[len(got)-1]; last.Action != actions.AuditRevoke || last.Actor != actions.CommandLine || !strings.Contains(last.Detail, "lease keys are destroyed") {
		t.Errorf("the audit entry %+v", last)
	}
}
