package server_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/store"
)

func TestDeviceOf(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	p := &policy.Policy{Heartbeat: policy.Heartbeat{Interval: 15 * time.Minute}, Offline: policy.Offline{MissingAfterDays: 7}}
	r := store.DeviceRow{Device: store.Device{ID: "dev-a"}, State: store.State{ReceivedAt: now.Add(-time.Hour)}}
	if d := server.DeviceOf(r, p, now); d.Liveness != server.Offline || !d.Status.Silent || !d.Reported() || d.Revoked() || d.Then {
		t.Errorf("an hour overdue: %+v", d)
	}
	if d := server.DeviceOf(r, nil, now); d.Liveness != server.Unknown || d.Status.Silent {
		t.Errorf("without a policy: %+v", d)
	}
	r.RevokedAt = now
	if d := server.DeviceOf(store.DeviceRow{}, p, now); d.Liveness != server.Never || d.Reported() || d.Status.State != server.AgentNever {
		t.Errorf("never reported: %+v", d)
	}
	if !server.DeviceOf(r, p, now).Revoked() {
		t.Error("revoked")
	}
	then := server.DeviceThen(r, store.State{ReceivedAt: now.Add(-48 * time.Hour), PolicyVersion: 3})
	if !then.Then || then.Liveness != server.Unknown || then.State.PolicyVersion != 3 || then.ID != "dev-a" {
		t.Errorf("then: %+v", then)
	}
}

func TestInForce(t *testing.T) {
	p := &policy.Policy{Version: 4}
	if got := server.PolicyFunc(func(context.Context) (*policy.Policy, error) { return p, nil }).InForce(context.Background()); got != p {
		t.Errorf("InForce = %v", got)
	}
	if got := server.PolicyFunc(func(context.Context) (*policy.Policy, error) { return p, errors.New("down") }).InForce(context.Background()); got != nil {
		t.Errorf("failing: %v", got)
	}
	if got := server.PolicyFunc(nil).InForce(context.Background()); got != nil {
		t.Errorf("nil: %v", got)
	}
}

func TestDeviceFilter(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	p := &policy.Policy{Heartbeat: policy.Heartbeat{Interval: 15 * time.Minute}, Offline: policy.Offline{MissingAfterDays: 7}}
	rows := []store.DeviceRow{
		{Device: store.Device{ID: "online", User: "Alice"}, State: store.State{ReceivedAt: now, Compliant: true, PolicyVersion: 3}},
		{Device: store.Device{ID: "plaintext", User: "bob"}, State: store.State{ReceivedAt: now, PlaintextFiles: 2, PolicyVersion: 2}},
		{Device: store.Device{ID: "removed", User: "bob"}, State: store.State{ReceivedAt: now.Add(-30 * 24 * time.Hour)},
			Agent: store.Agent{Stopping: wire.StopUninstall, UnannouncedStops: 1}},
		{Device: store.Device{ID: "never", User: "carol"}},
	}
	for _, c := range []struct {
		f    server.DeviceFilter
		want []string
	}{
		{server.DeviceFilter{}, []string{"online", "plaintext", "removed", "never"}},
		{server.DeviceFilter{Liveness: "missing"}, []string{"removed"}},
		{server.DeviceFilter{Liveness: "never"}, []string{"never"}},
		{server.DeviceFilter{Compliant: "true"}, []string{"online"}},
		{server.DeviceFilter{Compliant: "false"}, []string{"plaintext", "removed", "never"}},
		{server.DeviceFilter{Plaintext: "true"}, []string{"plaintext"}},
		{server.DeviceFilter{Plaintext: "false", User: "BOB"}, []string{"removed"}},
		{server.DeviceFilter{PolicyVersion: "3"}, []string{"online"}},
		{server.DeviceFilter{User: "alice"}, []string{"online"}},
		{server.DeviceFilter{Agent: "removed"}, []string{"removed"}},
		{server.DeviceFilter{Agent: "unannounced"}, []string{"removed"}},
		{server.DeviceFilter{Agent: "running", Compliant: "false"}, []string{"plaintext"}},
	} {
		keep, err := c.f.Match()
		if err != nil {
			t.Errorf("%+v: %v", c.f, err)
			continue
		}
		var got []string
		for _, r := range rows {
			if d := server.DeviceOf(r, p, now); keep(d) {
				got = append(got, d.ID)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v kept %v, want %v", c.f, got, c.want)
		}
	}
	for _, c := range []struct {
		f     server.DeviceFilter
		field string
	}{
		{server.DeviceFilter{Liveness: "asleep"}, "liveness"},
		{server.DeviceFilter{Compliant: "maybe"}, "compliant"},
		{server.DeviceFilter{Plaintext: "some"}, "plaintext"},
		{server.DeviceFilter{PolicyVersion: "x"}, "policy_version"},
		{server.DeviceFilter{Agent: "asleep"}, "agent"},
	} {
		var fe *server.FilterError
		if _, err := c.f.Match(); !errors.As(err, &fe) || fe.Field != c.field || fe.Error() != fe.Field+" "+fe.Problem {
			t.Errorf("%+v: %v, want a FilterError for %s", c.f, err, c.field)
		}
	}
}

func TestDeviceCells(t *testing.T) {
	at := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	r := store.DeviceRow{Device: store.Device{ID: "dev-a", Hostname: "=cmd"}, State: store.State{ReceivedAt: at, Lease: "offline", SealedFiles: 9},
		Agent: store.Agent{Stopping: wire.StopService, StoppingAt: at, UnannouncedStops: 2}, Lease: store.ServedLease{At: at, Until: at.Add(time.Hour)}}
	col := func(cells []string, name string) string { return cells[slices.Index(server.DeviceColumns, name)] }
	now := server.DeviceOf(r, nil, at).Cells()
	if len(now) != len(server.DeviceColumns) {
		t.Fatalf("%d cells for %d columns", len(now), len(server.DeviceColumns))
	}
	for name, want := range map[string]string{"id": "dev-a", "hostname": "=cmd", "liveness": "unknown", "sealed_files": "9", "agent_state": "stopped",
		"agent_since": "2026-03-02T12:00:00Z", "unannounced_stops": "2", "silent": "false", "lease": "offline", "lease_until": "2026-03-02T13:00:00Z"} {
		if got := col(now, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	then := server.DeviceThen(r, store.State{ReceivedAt: at, Lease: "unlocked"}).Cells()
	for name, want := range map[string]string{"agent_state": "", "agent_since": "", "unannounced_stops": "", "last_unannounced_stop": "",
		"silent": "false", "lease": "unlocked", "lease_served_at": "", "lease_until": ""} {
		if got := col(then, name); got != want {
			t.Errorf("then: %s = %q, want %q", name, got, want)
		}
	}
}
