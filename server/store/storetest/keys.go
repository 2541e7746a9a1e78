package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/kek"
)

// The cases for [store.Keys], for commands and their acknowledgements, and
// for marking a device found, run by [Run].

// window is the offline window the tests' leases are served with.
const window = 72 * time.Hour

// leaseReq is a request of kind for dev's lease, asking with keyID, made a
// second before at and received from a documentation address.
func leaseReq(dev, kind, keyID string, at time.Time) store.LeaseRequest {
	r := store.LeaseRequest{DeviceID: dev, Kind: kind, KeyID: keyID, At: at, Window: window, Source: "192.0.2.7:50123"}
	if kind != store.LeaseKindEnroll {
		r.Nonce, r.AgentTime = wire.NewNonce(), at.Add(-time.Second)
	}
	return r
}

func serve(t *testing.T, s store.Store, reqs ...store.LeaseRequest) []store.LeaseResult {
	t.Helper()
	return batch(t, "ServeLeases", s.ServeLeases, reqs)
}

// served checks a lease was served for r with the key of ID id (bytes
// given for a key or enroll request), and logged as such.
func served(t *testing.T, what string, got store.LeaseResult, r store.LeaseRequest, id string) {
	t.Helper()
	if got.Outcome != store.LeaseServed {
		t.Fatalf("%s: %v (refused %q), want served", what, got.Outcome, got.Record.Refused)
	}
	rec := got.Record
	if rec.ID == 0 || rec.DeviceID != r.DeviceID || rec.Kind != r.Kind || rec.KeyID != id || rec.Source != r.Source ||
		rec.Nonce != r.Nonce || rec.Refused != "" || rec.Window != r.Window || !rec.Served() {
		t.Errorf("%s: logged %+v for %+v, key %s", what, rec, r, id)
	}
	sameTime(t, what+" at", rec.At, r.At)
	sameTime(t, what+" until", rec.Until, r.At.Add(r.Window))
	if !r.AgentTime.IsZero() || !rec.AgentTime.IsZero() {
		sameTime(t, what+" agent time", rec.AgentTime, r.AgentTime)
	}
	if wantKey := r.Kind != store.LeaseKindRenew; wantKey != (got.Key != nil) || wantKey && len(got.Key) != wire.LeaseKeySize {
		t.Errorf("%s: key %x for a %s request", what, got.Key, r.Kind)
	}
	if !strings.HasPrefix(id, "lk_") || len(id) != 29 {
		t.Errorf("%s: key ID %q", what, id)
	}
}

// refused checks a lease was refused for r with the reason why, and
// logged as such.
func refusedLease(t *testing.T, what string, got store.LeaseResult, r store.LeaseRequest, why string) {
	t.Helper()
	rec := got.Record
	folded := rec.Requests > 1 // into a run of identical refusals: the first request's nonce and time
	if got.Outcome != store.LeaseRefused || rec.Refused != why || got.Key != nil || got.Next != nil || rec.ID == 0 ||
		rec.KeyID != r.KeyID || !rec.Until.IsZero() || rec.NextKeyID != "" || rec.Served() || !folded && rec.Nonce != r.Nonce ||
		rec.Requests < 1 {
		t.Errorf("%s: %v %+v (key %x, next %+v), want refused %q", what, got.Outcome, rec, got.Key, got.Next, why)
	}
	sameTime(t, what+" last at", rec.LastAt, r.At)
	if !folded {
		sameTime(t, what+" at", rec.At, r.At)
	}
}

// keyOf serves dev a first lease at at and returns its key's ID and bytes.
func keyOf(t *testing.T, s store.Store, dev string, at time.Time) (string, []byte) {
	t.Helper()
	r := leaseReq(dev, store.LeaseKindKey, "", at)
	got := serve(t, s, r)[0]
	served(t, "first lease of "+dev, got, r, got.Record.KeyID)
	return got.Record.KeyID, got.Key
}

func leaseKeys(t *testing.T, s store.Store, dev string) []store.LeaseKey {
	t.Helper()
	ks, err := s.LeaseKeys(t.Context(), dev)
	ok(t, err)
	return ks
}

func commandsOf(t *testing.T, s store.Store, dev string) map[string]store.Command {
	t.Helper()
	cs, err := s.Commands(t.Context(), dev)
	ok(t, err)
	m := map[string]store.Command{}
	for _, c := range cs {
		m[c.ID] = c
	}
	return m
}

func testServeLeases(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "e")
	zone := time.FixedZone("UTC+02:00", 2*3600)

	// The first lease makes the key.
	r1 := leaseReq("d", store.LeaseKindKey, "", t0.In(zone))
	r1.Source = hostile[0]
	got := serve(t, s, r1)[0]
	id := got.Record.KeyID
	served(t, "the first lease", got, r1, id)
	key := got.Key
	if got.Next != nil || got.Record.NextKeyID != "" {
		t.Errorf("a next key with the first lease: %+v", got.Next)
	}
	if got.Record.At.Location() != time.UTC || got.Record.Until.Location() != time.UTC {
		t.Errorf("lease times in %v", got.Record.At.Location())
	}
	ks := leaseKeys(t, s, "d")
	if len(ks) != 1 || ks[0].ID != id || ks[0].State != store.KeyCurrent || ks[0].DeviceID != "d" ||
		!ks[0].RetiredAt.IsZero() || !ks[0].DestroyedAt.IsZero() {
		t.Fatalf("lease keys %+v", ks)
	}
	sameTime(t, "key created", ks[0].CreatedAt, t0)
	row, err := s.Device(ctx, "d")
	ok(t, err)
	sameTime(t, "device's lease served", row.Lease.At, t0)
	sameTime(t, "device's lease until", row.Lease.Until, t0.Add(window))

	// The same key again, asked for by its ID or with none; a renewal
	// without the key's bytes; each logged.
	r2 := leaseReq("d", store.LeaseKindKey, id, t0.Add(time.Minute))
	r3 := leaseReq("d", store.LeaseKindRenew, id, t0.Add(2*time.Minute))
	r4 := leaseReq("d", store.LeaseKindKey, "", t0.Add(3*time.Minute))
	r4.Window = time.Hour + 1500*time.Nanosecond // kept to the microsecond
	rs := serve(t, s, r2, r3, r4)
	served(t, "by its ID", rs[0], r2, id)
	served(t, "a renewal", rs[1], r3, id)
	r4.Window = time.Hour + time.Microsecond
	served(t, "with no ID", rs[2], r4, id)
	if !bytes.Equal(rs[0].Key, key) || !bytes.Equal(rs[2].Key, key) {
		t.Errorf("the key changed: %x, %x, want %x", rs[0].Key, rs[2].Key, key)
	}
	if len(leaseKeys(t, s, "d")) != 1 {
		t.Errorf("more keys made: %+v", leaseKeys(t, s, "d"))
	}
	if !(rs[0].Record.ID < rs[1].Record.ID && rs[1].Record.ID < rs[2].Record.ID && got.Record.ID < rs[0].Record.ID) {
		t.Errorf("log IDs %d %d %d %d do not increase", got.Record.ID, rs[0].Record.ID, rs[1].Record.ID, rs[2].Record.ID)
	}
	row, _ = s.Device(ctx, "d")
	sameTime(t, "device's last lease", row.Lease.At, t0.Add(3*time.Minute))
	sameTime(t, "device's lease until, after a shorter window", row.Lease.Until, t0.Add(3*time.Minute+time.Hour+time.Microsecond))

	// An enrollment lease (no nonce, no agent time) for another device:
	// its own key.
	re := leaseReq("e", store.LeaseKindEnroll, "", t0)
	ge := serve(t, s, re)[0]
	served(t, "at enrollment", ge, re, ge.Record.KeyID)
	if ge.Record.KeyID == id || bytes.Equal(ge.Key, key) {
		t.Errorf("two devices share a key")
	}
	// An unknown device, in a batch: neither served nor logged; the
	// others are.
	rg, rd := leaseReq("ghost", store.LeaseKindKey, "", t0), leaseReq("d", store.LeaseKindRenew, id, t0.Add(4*time.Minute))
	rs = serve(t, s, rg, rd)
	if rs[0].Outcome != store.LeaseUnknown || rs[0].Record.ID != 0 || rs[0].Key != nil {
		t.Errorf("an unknown device: %+v", rs[0])
	}
	served(t, "after an unknown device", rs[1], rd, id)

	// Invalid values serve nothing, and log nothing.
	before, err := s.Leases(ctx, "d", time.Time{}, forever, 0)
	ok(t, err)
	bad := func(mod func(*store.LeaseRequest)) store.LeaseRequest {
		r := leaseReq("d", store.LeaseKindKey, id, t0.Add(time.Hour))
		mod(&r)
		return r
	}
	for name, r := range map[string]store.LeaseRequest{
		"an unknown kind":     bad(func(r *store.LeaseRequest) { r.Kind = "steal" }),
		"a negative window":   bad(func(r *store.LeaseRequest) { r.Window = -time.Second }),
		"an expiry past 9999": bad(func(r *store.LeaseRequest) { r.At = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }),
		"no time":             bad(func(r *store.LeaseRequest) { r.At = time.Time{} }),
		"a NUL in the source": bad(func(r *store.LeaseRequest) { r.Source = "192.0.2.7\x00" }),
		"a nonce not UTF-8":   bad(func(r *store.LeaseRequest) { r.Nonce = "\xff" }),
		"a key ID with a NUL": bad(func(r *store.LeaseRequest) { r.KeyID = "lk\x00" }),
		"an agent in year 0":  bad(func(r *store.LeaseRequest) { r.AgentTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) }),
	} {
		_, err := s.ServeLeases(ctx, []store.LeaseRequest{leaseReq("d", store.LeaseKindRenew, id, t0.Add(time.Hour)), r})
		is(t, "ServeLeases with "+name, err, store.ErrInvalid)
	}
	after, err := s.Leases(ctx, "d", time.Time{}, forever, 0)
	ok(t, err)
	if len(after) != len(before) || len(after) != 5 {
		t.Errorf("%d entries logged, then %d after refused batches; want 5", len(before), len(after))
	}
	if res, err := s.ServeLeases(ctx, nil); err != nil || res == nil || len(res) != 0 {
		t.Errorf("ServeLeases(nil) = %#v, %v", res, err)
	}
}

func testLeaseRefusals(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	at := t0.Add(time.Hour)
	lost := func(dev string) {
		ok(t, s.MarkLost(ctx, store.LostReport{DeviceID: dev, LostAt: t0, DiscoveredAt: t0, RecordedAt: t0, By: "alice"}))
	}
	cmd := func(dev, typ string) store.Command { return requestCommand(t, s, command(dev, typ, t0, "alice")) }
	cancel := func(dev string, c store.Command) {
		_, err := s.CancelCommand(ctx, dev, c.ID, t0.Add(time.Minute), "bob")
		ok(t, err)
	}
	for _, c := range []struct {
		name  string
		setup func(dev string)
		want  string // "" served
	}{
		{"nothing", func(string) {}, ""},
		{"revoked", func(dev string) { ok(t, s.RevokeDevice(ctx, dev, at.Add(-time.Second))) }, wire.RefusedRevoked},
		{"revoked at the lease", func(dev string) { ok(t, s.RevokeDevice(ctx, dev, at)) }, wire.RefusedRevoked},
		// Revoking destroys the keys at once, whatever time it names.
		{"revoked after the lease", func(dev string) { ok(t, s.RevokeDevice(ctx, dev, at.Add(time.Second))) }, wire.RefusedRevoked},
		{"a wipe", func(dev string) { cmd(dev, wire.CommandWipe) }, wire.RefusedWiped},
		{"a wipe cancelled", func(dev string) { cancel(dev, cmd(dev, wire.CommandWipe)) }, ""},
		{"a wipe requested a year before", func(dev string) {
			requestCommand(t, s, command(dev, wire.CommandWipe, at.Add(-365*24*time.Hour), "a"))
		}, wire.RefusedWiped},
		{"lost", lost, wire.RefusedLost},
		{"lost and found", func(dev string) {
			lost(dev)
			lost(dev)
			_, err := s.MarkFound(ctx, store.Found{DeviceID: dev, At: t0.Add(time.Minute), By: "bob", UnlockExpires: at.Add(time.Hour)})
			ok(t, err)
		}, ""},
		{"locked", func(dev string) { cmd(dev, wire.CommandLock) }, wire.RefusedLocked},
		{"locked and unlocked", func(dev string) {
			cmd(dev, wire.CommandLock)
			cmd(dev, wire.CommandUnlock)
		}, ""},
		{"locked, unlocked, locked", func(dev string) {
			cmd(dev, wire.CommandLock)
			cmd(dev, wire.CommandUnlock)
			cmd(dev, wire.CommandLock)
		}, wire.RefusedLocked},
		{"a lock cancelled", func(dev string) { cancel(dev, cmd(dev, wire.CommandLock)) }, ""},
		{"an unlock cancelled", func(dev string) {
			cmd(dev, wire.CommandLock)
			cancel(dev, cmd(dev, wire.CommandUnlock))
		}, wire.RefusedLocked},
		{"an unlock stored after the lock, with an earlier clock", func(dev string) {
			requestCommand(t, s, command(dev, wire.CommandLock, t0, "a"))
			requestCommand(t, s, command(dev, wire.CommandUnlock, t0.Add(-time.Minute), "a"))
		}, ""},
		{"a lock stored after the unlock, with an earlier clock", func(dev string) {
			requestCommand(t, s, command(dev, wire.CommandUnlock, t0, "a"))
			requestCommand(t, s, command(dev, wire.CommandLock, t0.Add(-time.Minute), "a"))
		}, wire.RefusedLocked},
		{"lost, wiped, locked and revoked", func(dev string) {
			lost(dev)
			cmd(dev, wire.CommandWipe)
			cmd(dev, wire.CommandLock)
			ok(t, s.RevokeDevice(ctx, dev, t0))
		}, wire.RefusedRevoked},
		{"lost, wiped and locked", func(dev string) {
			lost(dev)
			cmd(dev, wire.CommandLock)
			cmd(dev, wire.CommandWipe)
		}, wire.RefusedWiped},
		{"lost and locked", func(dev string) {
			cmd(dev, wire.CommandLock)
			lost(dev)
		}, wire.RefusedLost},
	} {
		dev := strings.ReplaceAll(c.name, " ", "-")
		createDevices(t, s, dev)
		id, key := keyOf(t, s, dev, t0.Add(-time.Hour))
		c.setup(dev)
		for _, kind := range []string{store.LeaseKindKey, store.LeaseKindRenew, store.LeaseKindEnroll} {
			for _, keyID := range []string{id, ""} {
				r := leaseReq(dev, kind, keyID, at)
				got := serve(t, s, r)[0]
				what := fmt.Sprintf("%s, %s with %q", c.name, kind, keyID)
				if c.want == "" {
					served(t, what, got, r, id)
					if kind != store.LeaseKindRenew && !bytes.Equal(got.Key, key) {
						t.Errorf("%s: another key", what)
					}
				} else {
					refusedLease(t, what, got, r, c.want)
				}
			}
		}
		row, err := s.Device(ctx, dev)
		ok(t, err)
		if c.want != "" && !row.Lease.At.Equal(us(t0.Add(-time.Hour))) {
			t.Errorf("%s: a refusal moved the device's last lease to %v", c.name, row.Lease.At)
		}
	}
}

// testLeaseNeverWhileLost: a device marked lost is never served a lease,
// whatever it asks for, however it asks, until it is marked found.
func testLeaseNeverWhileLost(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	id, _ := keyOf(t, s, "d", t0)
	next, err := s.RotateLeaseKey(ctx, "d", t0.Add(time.Minute))
	ok(t, err)
	keysBefore := leaseKeys(t, s, "d")
	lostAt := t0.Add(time.Hour)
	ok(t, s.MarkLost(ctx, store.LostReport{DeviceID: "d", LostAt: lostAt, DiscoveredAt: lostAt, RecordedAt: lostAt, By: "alice"}))
	var reqs []store.LeaseRequest
	at := lostAt.Add(time.Second)
	for _, kind := range []string{store.LeaseKindKey, store.LeaseKindRenew, store.LeaseKindEnroll} {
		for _, keyID := range []string{id, "", next.ID, "lk_unknown"} {
			at = at.Add(time.Second)
			reqs = append(reqs, leaseReq("d", kind, keyID, at))
		}
	}
	// One at a time, and all in one batch, and from a second handle.
	for i, r := range reqs {
		refusedLease(t, fmt.Sprintf("request %d", i), serve(t, s, r)[0], r, wire.RefusedLost)
	}
	for i := range reqs {
		reqs[i].Nonce = wire.NewNonce()
	}
	for i, got := range serve(t, open(t), reqs...) {
		refusedLease(t, fmt.Sprintf("request %d in a batch", i), got, reqs[i], wire.RefusedLost)
	}
	// Nothing served after the loss, no key promoted, the device's last
	// lease where it was.
	ev, err := s.LeaseEvidence(ctx, "d", lostAt)
	ok(t, err)
	if !ev.Before.Served() || ev.Before.KeyID != id || ev.ServedAfter != 0 || !ev.FirstAfter.At.IsZero() ||
		ev.Refusals() != int64(2*len(reqs)) || ev.RefusedAfter[wire.RefusedLost] != int64(2*len(reqs)) {
		t.Errorf("around the loss: %+v", ev)
	}
	if ks := leaseKeys(t, s, "d"); len(ks) != len(keysBefore) || ks[0] != keysBefore[0] || ks[1] != keysBefore[1] {
		t.Errorf("keys changed while lost: %+v, were %+v", ks, keysBefore)
	}
	row, _ := s.Device(ctx, "d")
	sameTime(t, "last lease", row.Lease.At, t0)
	// Found: served again, and the rotation goes on.
	_, err = s.MarkFound(ctx, store.Found{DeviceID: "d", At: at.Add(time.Minute), By: "bob", UnlockExpires: at.Add(time.Hour)})
	ok(t, err)
	r := leaseReq("d", store.LeaseKindKey, id, at.Add(2*time.Minute))
	got := serve(t, s, r)[0]
	served(t, "found", got, r, id)
	if got.Next == nil || got.Next.ID != next.ID {
		t.Errorf("found: next %+v, want %s", got.Next, next.ID)
	}
}

func testLeaseReplay(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "e", "lost")
	id, _ := keyOf(t, s, "d", t0)
	r := leaseReq("d", store.LeaseKindRenew, id, t0.Add(time.Minute))
	served(t, "the first", serve(t, s, r)[0], r, id)
	again := r
	again.At = t0.Add(2 * time.Minute)
	count := func() int {
		ls, err := s.Leases(ctx, "d", time.Time{}, forever, 0)
		ok(t, err)
		return len(ls)
	}
	n := count()
	for what, h := range map[string]store.Store{"this handle": s, "another handle": open(t)} {
		if got := serve(t, h, again)[0]; got.Outcome != store.LeaseReplay || got.Record.ID != 0 || got.Key != nil {
			t.Errorf("a nonce again, on %s: %+v", what, got)
		}
	}
	// Twice in one batch: the second is the replay.
	r2 := leaseReq("d", store.LeaseKindKey, id, t0.Add(3*time.Minute))
	rs := serve(t, s, r2, r2)
	served(t, "the first of two", rs[0], r2, id)
	if rs[1].Outcome != store.LeaseReplay {
		t.Errorf("the second of two: %v", rs[1].Outcome)
	}
	if got := count(); got != n+1 {
		t.Errorf("%d log entries, want %d", got, n+1)
	}
	// Another device may use the same nonce.
	keyOf(t, s, "e", t0)
	re := leaseReq("e", store.LeaseKindRenew, "", t0.Add(time.Minute))
	re.Nonce = r.Nonce
	if got := serve(t, s, re)[0]; got.Outcome != store.LeaseServed {
		t.Errorf("another device's nonce: %v", got.Outcome)
	}
	// A refusal takes the nonce too.
	ok(t, s.MarkLost(ctx, store.LostReport{DeviceID: "lost", LostAt: t0, DiscoveredAt: t0, RecordedAt: t0}))
	rl := leaseReq("lost", store.LeaseKindKey, "", t0)
	refusedLease(t, "lost", serve(t, s, rl)[0], rl, wire.RefusedLost)
	if got := serve(t, s, rl)[0]; got.Outcome != store.LeaseReplay {
		t.Errorf("a refused nonce again: %v", got.Outcome)
	}
	// Enrollment leases carry no nonce, and never clash.
	for i := range 2 {
		re := leaseReq("e", store.LeaseKindEnroll, "", t0.Add(time.Duration(i)*time.Hour))
		if got := serve(t, s, re)[0]; got.Outcome != store.LeaseServed {
			t.Errorf("enrollment lease %d: %v", i, got.Outcome)
		}
	}
}

func testLeaseRotation(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "fresh")
	_, err := s.RotateLeaseKey(ctx, "ghost", t0)
	is(t, "rotating an unknown device's key", err, store.ErrNotFound)
	_, err = s.RotateLeaseKey(ctx, "fresh", t0)
	is(t, "rotating a key never served", err, store.ErrConflict)
	_, err = s.RotateLeaseKey(ctx, "d", time.Time{})
	is(t, "rotating at no time", err, store.ErrInvalid)
	k1, key1 := keyOf(t, s, "d", t0)
	rot := t0.Add(time.Hour).In(time.FixedZone("UTC-03:00", -3*3600))
	k2, err := s.RotateLeaseKey(ctx, "d", rot)
	ok(t, err)
	if !strings.HasPrefix(k2.ID, "lk_") || k2.ID == k1 || k2.State != store.KeyNext || k2.DeviceID != "d" {
		t.Errorf("next key %+v", k2)
	}
	sameTime(t, "next key created", k2.CreatedAt, rot)
	_, err = s.RotateLeaseKey(ctx, "d", rot.Add(time.Minute))
	is(t, "rotating while a rotation waits", err, store.ErrConflict)
	if ks := leaseKeys(t, s, "d"); len(ks) != 2 || ks[0].ID != k1 || ks[0].State != store.KeyCurrent || ks[1].ID != k2.ID || ks[1].State != store.KeyNext {
		t.Fatalf("keys during the rotation %+v", ks)
	}

	// Until the agent asks with it, the next key goes with every lease.
	var key2 []byte
	for i, kind := range []string{store.LeaseKindKey, store.LeaseKindRenew} {
		r := leaseReq("d", kind, k1, rot.Add(time.Duration(i+1)*time.Minute))
		got := serve(t, s, r)[0]
		served(t, "during the rotation, "+kind, got, r, k1)
		if kind == store.LeaseKindKey && !bytes.Equal(got.Key, key1) {
			t.Errorf("the current key changed")
		}
		if got.Next == nil || got.Next.ID != k2.ID || len(got.Next.Key) != wire.LeaseKeySize || got.Record.NextKeyID != k2.ID ||
			bytes.Equal(got.Next.Key, key1) || key2 != nil && !bytes.Equal(got.Next.Key, key2) {
			t.Errorf("during the rotation, %s: next %+v, logged %q", kind, got.Next, got.Record.NextKeyID)
		}
		if got.Next != nil {
			key2 = got.Next.Key
		}
	}
	// The agent asks with it: it is the key from then on, and the old
	// one is retired and destroyed.
	promoted := rot.Add(10 * time.Minute)
	r := leaseReq("d", store.LeaseKindKey, k2.ID, promoted)
	got := serve(t, s, r)[0]
	served(t, "asking with the next key", got, r, k2.ID)
	if !bytes.Equal(got.Key, key2) || got.Next != nil || got.Record.NextKeyID != "" {
		t.Errorf("after the rotation: key %x (want %x), next %+v", got.Key, key2, got.Next)
	}
	ks := leaseKeys(t, s, "d")
	if len(ks) != 2 || ks[0].ID != k1 || ks[0].State != store.KeyRetired || ks[1].ID != k2.ID || ks[1].State != store.KeyCurrent ||
		!ks[1].DestroyedAt.IsZero() {
		t.Fatalf("keys after the rotation %+v", ks)
	}
	sameTime(t, "old key retired", ks[0].RetiredAt, promoted)
	sameTime(t, "old key destroyed", ks[0].DestroyedAt, promoted)
	// An agent still asking with the old key gets the current one.
	r = leaseReq("d", store.LeaseKindKey, k1, promoted.Add(time.Minute))
	got = serve(t, s, r)[0]
	served(t, "asking with the old key", got, r, k2.ID)
	if !bytes.Equal(got.Key, key2) {
		t.Errorf("asking with the old key: another key")
	}
	// And it can rotate again.
	k3, err := s.RotateLeaseKey(ctx, "d", promoted.Add(time.Hour))
	ok(t, err)
	if k3.ID == k1 || k3.ID == k2.ID {
		t.Errorf("a key ID given twice: %s", k3.ID)
	}
	for _, id := range []string{"ghost", "\x00"} {
		if ks, err := s.LeaseKeys(ctx, id); err != nil || ks == nil || len(ks) != 0 {
			t.Errorf("LeaseKeys(%q) = %#v, %v", id, ks, err)
		}
	}
}

func testLeaseLog(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other")
	id, _ := keyOf(t, s, "d", t0)
	keyOf(t, s, "other", t0.Add(30*time.Minute))
	// Served every 10 minutes for an hour; lost at +35 min, so the last
	// three are refused.
	lostAt := t0.Add(35 * time.Minute)
	var reqs []store.LeaseRequest
	for i := 1; i <= 6; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Minute)
		if at.After(lostAt) && len(reqs) > 0 && !reqs[len(reqs)-1].At.After(lostAt) {
			ok(t, s.MarkLost(ctx, store.LostReport{DeviceID: "d", LostAt: lostAt, DiscoveredAt: lostAt, RecordedAt: lostAt}))
		}
		r := leaseReq("d", store.LeaseKindRenew, id, at)
		r.Source = fmt.Sprintf("198.51.100.%d:443", i)
		serve(t, s, r)
		reqs = append(reqs, r)
	}
	all, err := s.Leases(ctx, "d", time.Time{}, forever, 0)
	ok(t, err)
	if len(all) != 7 {
		t.Fatalf("%d log entries, want 7", len(all))
	}
	for i := 1; i < len(all); i++ {
		if !all[i].At.Before(all[i-1].At) {
			t.Errorf("log not newest first: %v after %v", all[i].At, all[i-1].At)
		}
	}
	if all[0].Source != reqs[5].Source || all[0].Refused != wire.RefusedLost || !all[3].Served() || all[6].Kind != store.LeaseKindKey {
		t.Errorf("log %+v", all)
	}
	// A range, and a limit.
	got, err := s.Leases(ctx, "d", t0.Add(20*time.Minute), t0.Add(40*time.Minute), 0)
	ok(t, err)
	if len(got) != 2 || !got[0].At.Equal(us(t0.Add(30*time.Minute))) || !got[1].At.Equal(us(t0.Add(20*time.Minute))) {
		t.Errorf("leases in [20, 40) min: %+v", got)
	}
	got, err = s.Leases(ctx, "d", time.Time{}, forever, 2)
	ok(t, err)
	if len(got) != 2 || got[0].ID != all[0].ID || got[1].ID != all[1].ID {
		t.Errorf("the 2 newest: %+v", got)
	}
	// Around the loss: the last served before it, the refusals after.
	ev, err := s.LeaseEvidence(ctx, "d", lostAt)
	ok(t, err)
	if ev.Before.Source != reqs[2].Source || !ev.Before.Served() {
		t.Errorf("before the loss: %+v", ev.Before)
	}
	sameTime(t, "before the loss", ev.Before.At, t0.Add(30*time.Minute))
	sameTime(t, "before the loss, until", ev.Before.Until, t0.Add(30*time.Minute+window))
	if ev.ServedAfter != 0 || ev.Refusals() != 3 || ev.FirstRefused.Source != reqs[3].Source {
		t.Errorf("after the loss: %+v", ev)
	}
	// At an entry's own time it is before.
	ev, err = s.LeaseEvidence(ctx, "d", t0.Add(20*time.Minute))
	ok(t, err)
	if ev.Before.Source != reqs[1].Source || ev.ServedAfter != 1 || ev.FirstAfter.Source != reqs[2].Source ||
		ev.LastAfter.Source != reqs[2].Source || ev.KeysAfter != 0 || ev.Refusals() != 3 {
		t.Errorf("around 20 min: %+v", ev)
	}
	sameTime(t, "until, after 20 min", ev.UntilAfter, t0.Add(30*time.Minute+window))
	// Before anything: none before; the refusals are not "served".
	ev, err = s.LeaseEvidence(ctx, "d", t0.Add(-time.Hour))
	ok(t, err)
	if !ev.Before.At.IsZero() || ev.Before.Served() || ev.ServedAfter != 4 || ev.KeysAfter != 1 || ev.Refusals() != 3 {
		t.Errorf("around an hour before: %+v", ev)
	}
	ev, err = s.LeaseEvidence(ctx, "d", forever)
	ok(t, err)
	if ev.Before.Source != reqs[2].Source {
		t.Errorf("the last served of all: %+v", ev.Before)
	}
	for _, id := range []string{"ghost", "d\x00"} {
		ev, err := s.LeaseEvidence(ctx, id, t0)
		if err != nil || !ev.Before.At.IsZero() || ev.ServedAfter != 0 || ev.Refusals() != 0 {
			t.Errorf("LeaseEvidence(%q) = %+v, %v", id, ev, err)
		}
		if ls, err := s.Leases(ctx, id, time.Time{}, forever, 0); err != nil || ls == nil || len(ls) != 0 {
			t.Errorf("Leases(%q) = %#v, %v", id, ls, err)
		}
	}
}

func testCommandAcks(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other")
	l := requestCommand(t, s, command("d", wire.CommandLock, t0, "alice"))
	w := requestCommand(t, s, command("d", wire.CommandWipe, t0, "alice"))
	o := requestCommand(t, s, command("other", wire.CommandLock, t0, "alice"))
	x := requestCommand(t, s, command("d", wire.CommandUnlock, t0, "alice"))
	x, err := s.CancelCommand(ctx, "d", x.ID, t0, "bob")
	ok(t, err)
	zone := time.FixedZone("UTC+10:00", 10*3600)
	acked := t0.Add(10 * time.Minute).In(zone)
	c := newChain("d")
	h1 := c.next()
	h1.Acks = []store.CommandAck{
		{ID: l.ID, Type: wire.CommandLock, Result: wire.AckDone, At: acked},
		{ID: o.ID, Type: wire.CommandLock, Result: wire.AckDone, At: acked},          // another device's
		{ID: "cmd_unknown", Type: wire.CommandLock, Result: wire.AckDone, At: acked}, // no such command
		{ID: w.ID, Type: wire.CommandLock, Result: wire.AckDone, At: acked},          // of another type
		{ID: x.ID, Type: wire.CommandUnlock, Result: wire.AckDone, At: acked},        // cancelled
	}
	outcomes(t, ingest(t, s, h1), out(store.Accepted, 1))
	l.Result, l.AckedAt, l.AckReceivedAt, l.DeliveredAt = wire.AckDone, acked, h1.State.ReceivedAt, h1.State.ReceivedAt
	cs := commandsOf(t, s, "d")
	sameCommand(t, "the lock acknowledged", cs[l.ID], l)
	sameCommand(t, "the wipe acknowledged as another type", cs[w.ID], w)
	sameCommand(t, "the unlock cancelled", cs[x.ID], x)
	sameCommand(t, "another device's", commandsOf(t, s, "other")[o.ID], o)
	if got := cs[l.ID]; got.AckedAt.Location() != time.UTC || got.Status(t0) != store.StatusDone {
		t.Errorf("acknowledged: %v, in %v", got.Status(t0), got.AckedAt.Location())
	}

	// The first acknowledgement stands; a wipe failed, with the reason.
	h2 := c.next()
	h2.Acks = []store.CommandAck{
		{ID: l.ID, Type: wire.CommandLock, Result: wire.AckFailed, Reason: "later", At: acked.Add(time.Hour)},
		{ID: w.ID, Type: wire.CommandWipe, Result: wire.AckFailed, Reason: hostile[6], At: acked.Add(time.Minute)},
	}
	outcomes(t, ingest(t, s, h2), out(store.Accepted, 2))
	w.Result, w.Reason, w.AckedAt, w.AckReceivedAt, w.DeliveredAt = wire.AckFailed, hostile[6], acked.Add(time.Minute), h2.State.ReceivedAt, h2.State.ReceivedAt
	cs = commandsOf(t, s, "d")
	sameCommand(t, "the lock acknowledged again", cs[l.ID], l)
	sameCommand(t, "the wipe failed", cs[w.ID], w)
	if cs[w.ID].Status(t0) != store.StatusFailed {
		t.Errorf("the wipe is %s", cs[w.ID].Status(t0))
	}
	// A replayed heartbeat's acknowledgements are not applied; a refused
	// one is recorded as such, and a delivered command keeps when it was
	// delivered.
	u := requestCommand(t, s, command("d", wire.CommandUnlock, t0.Add(time.Minute), "alice"))
	delivered, err := s.DeliverCommands(ctx, "d", t0.Add(20*time.Minute), 10)
	ok(t, err)
	if len(delivered) != 1 || delivered[0].ID != u.ID {
		t.Fatalf("delivered %+v", delivered)
	}
	replay := c.make(2, h1.Hash, c.at.Add(time.Minute))
	replay.Acks = []store.CommandAck{{ID: u.ID, Type: wire.CommandUnlock, Result: wire.AckDone, At: acked}}
	outcomes(t, ingest(t, s, replay), out(store.Replay, 2))
	u.DeliveredAt = t0.Add(20 * time.Minute)
	sameCommand(t, "after a replay", commandsOf(t, s, "d")[u.ID], u)
	h3 := c.next()
	h3.Acks = []store.CommandAck{{ID: u.ID, Type: wire.CommandUnlock, Result: wire.AckRefused, Reason: "expired", At: acked}}
	outcomes(t, ingest(t, s, h3), out(store.Accepted, 3))
	u.Result, u.Reason, u.AckedAt, u.AckReceivedAt = wire.AckRefused, "expired", acked, h3.State.ReceivedAt
	got := commandsOf(t, s, "d")[u.ID]
	sameCommand(t, "refused", got, u)
	if got.Status(t0) != store.StatusRefused {
		t.Errorf("refused: %s", got.Status(t0))
	}

	// Invalid acknowledgements store nothing.
	for name, a := range map[string]store.CommandAck{
		"a time in year 10000": {ID: "x", Type: wire.CommandLock, Result: wire.AckDone, At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"a reason with a NUL":  {ID: "x", Type: wire.CommandLock, Result: wire.AckFailed, Reason: "\x00", At: t0},
		"an ID not UTF-8":      {ID: "\xff", Type: wire.CommandLock, Result: wire.AckDone, At: t0},
	} {
		h := c.make(4, h3.Hash, c.at.Add(time.Minute))
		h.Acks = []store.CommandAck{a}
		_, err := s.Ingest(ctx, []store.Heartbeat{h})
		is(t, "Ingest with "+name, err, store.ErrInvalid)
	}
	if got := lastSeq(t, s, "d"); got != 3 {
		t.Errorf("last seq %d after refused acknowledgements", got)
	}

	// Acknowledgements racing on two handles, each in heartbeats of the
	// same seqs: one handle's stands, read the same by both.
	createDevices(t, s, "race")
	r := requestCommand(t, s, command("race", wire.CommandLock, t0, "alice"))
	a, b := s, open(t)
	const each = 10
	chains := []*chain{newChain("race"), newChain("race")}
	var wg sync.WaitGroup
	for k, h := range []store.Store{a, b} {
		wg.Go(func() {
			for i := range each {
				hb := chains[k].next()
				hb.Acks = []store.CommandAck{{ID: r.ID, Type: wire.CommandLock, Result: wire.AckDone, At: t0.Add(time.Duration(k*each+i+1) * time.Second)}}
				if _, err := h.Ingest(ctx, []store.Heartbeat{hb}); err != nil {
					t.Errorf("handle %d: %v", k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	var kept time.Time
	for k, h := range []store.Store{a, b} {
		got := commandsOf(t, h, "race")[r.ID]
		if off := got.AckedAt.Sub(us(t0)); got.Result != wire.AckDone || off != time.Second && off != (each+1)*time.Second {
			t.Errorf("handle %d: %s at %v is not the first acknowledgement stored", k, got.Result, got.AckedAt)
		}
		if k == 1 && !got.AckedAt.Equal(kept) {
			t.Errorf("handle 1 reads AckedAt %v, handle 0 %v", got.AckedAt, kept)
		}
		kept = got.AckedAt
	}
}

func testCancelCommand(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other")
	c := requestCommand(t, s, command("d", wire.CommandWipe, t0, "alice"))
	o := requestCommand(t, s, command("other", wire.CommandWipe, t0, "alice"))
	for name, id := range map[string]string{"an unknown command": "cmd_unknown", "another device's": o.ID, "no ID": ""} {
		_, err := s.CancelCommand(ctx, "d", id, t0, "bob")
		is(t, "cancelling "+name, err, store.ErrNotFound)
	}
	_, err := s.CancelCommand(ctx, "ghost", c.ID, t0, "bob")
	is(t, "cancelling an unknown device's", err, store.ErrNotFound)
	_, err = s.CancelCommand(ctx, "d", c.ID, time.Time{}, "bob")
	is(t, "cancelling at no time", err, store.ErrInvalid)
	_, err = s.CancelCommand(ctx, "d", c.ID, t0, "b\x00b")
	is(t, "cancelling by a name with a NUL", err, store.ErrInvalid)
	at := t0.Add(time.Minute).In(time.FixedZone("UTC+01:00", 3600))
	got, err := s.CancelCommand(ctx, "d", c.ID, at, hostile[2])
	ok(t, err)
	c.CancelledAt, c.CancelledBy = at, hostile[2]
	sameCommand(t, "cancelled", got, c)
	sameCommand(t, "cancelled, stored", commandsOf(t, s, "d")[c.ID], c)
	if got.Status(t0) != store.StatusCancelled || got.Pending(t0) {
		t.Errorf("cancelled: %s", got.Status(t0))
	}
	_, err = s.CancelCommand(ctx, "d", c.ID, at.Add(time.Minute), "bob")
	is(t, "cancelling twice", err, store.ErrConflict)
	sameCommand(t, "cancelled twice", commandsOf(t, s, "d")[c.ID], c)
	// Delivered or acknowledged: too late.
	d := requestCommand(t, s, command("d", wire.CommandLock, t0, "alice"))
	if _, err := s.DeliverCommands(ctx, "d", t0.Add(time.Hour), 10); err != nil {
		t.Fatal(err)
	}
	_, err = s.CancelCommand(ctx, "d", d.ID, t0.Add(2*time.Hour), "bob")
	is(t, "cancelling a delivered command", err, store.ErrConflict)
	if got := commandsOf(t, s, "d")[d.ID]; !got.CancelledAt.IsZero() || got.Status(t0.Add(2*time.Hour)) != store.StatusDelivered {
		t.Errorf("a delivered command: %+v", got)
	}
	if _, err := s.CancelCommand(ctx, "other", o.ID, t0, "bob"); err != nil { // by its own device
		t.Errorf("cancelling another device's command by its device: %v", err)
	}

	// A delivery racing cancellations on two handles: each command ends
	// delivered or cancelled, never both, and one cancelled is never in
	// a delivery.
	createDevices(t, s, "race")
	const n = 20
	var cmds []store.Command
	for i := range n {
		cmds = append(cmds, requestCommand(t, s, command("race", wire.CommandLock, t0.Add(time.Duration(i)*time.Second), "alice")))
	}
	a, b := s, open(t)
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		inDelivery  = map[string]bool{}
		cancelledOK = map[string]bool{}
	)
	wg.Go(func() {
		for i := range n {
			cs, err := a.DeliverCommands(ctx, "race", t0.Add(time.Hour+time.Duration(i)*time.Second), n)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, c := range cs {
				inDelivery[c.ID] = true
			}
			mu.Unlock()
		}
	})
	wg.Go(func() {
		for _, c := range cmds {
			_, err := b.CancelCommand(ctx, "race", c.ID, t0.Add(time.Hour), "bob")
			switch {
			case err == nil:
				mu.Lock()
				cancelledOK[c.ID] = true
				mu.Unlock()
			case !errors.Is(err, store.ErrConflict):
				t.Error(err)
			}
		}
	})
	wg.Wait()
	for _, c := range commandsOf(t, s, "race") {
		delivered, cancelled := !c.DeliveredAt.IsZero(), !c.CancelledAt.IsZero()
		if delivered == cancelled || cancelled != cancelledOK[c.ID] || cancelled && inDelivery[c.ID] {
			t.Errorf("command %d: delivered %v, cancelled %v (cancel said %v), in a delivery %v", c.Seq, delivered, cancelled,
				cancelledOK[c.ID], inDelivery[c.ID])
		}
	}
}

func testDeliverCommands(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other")
	c1 := requestCommand(t, s, command("d", wire.CommandLock, t0, "alice"))
	c2 := requestCommand(t, s, command("d", wire.CommandUnlock, t0.Add(time.Minute), "alice"))
	c3 := requestCommand(t, s, store.Command{DeviceID: "d", Type: wire.CommandLock, RequestedAt: t0.Add(-time.Minute), RequestedBy: "bob", Expires: t0.Add(time.Hour)})
	c4 := requestCommand(t, s, command("d", wire.CommandWipe, t0, "alice"))
	_, err := s.CancelCommand(ctx, "d", c4.ID, t0, "bob")
	ok(t, err)
	c5 := requestCommand(t, s, command("d", wire.CommandLock, t0, "alice"))
	h := newChain("d").next()
	h.Acks = []store.CommandAck{{ID: c5.ID, Type: wire.CommandLock, Result: wire.AckDone, At: t0}}
	ingest(t, s, h)
	requestCommand(t, s, command("other", wire.CommandWipe, t0, "alice"))

	ids := func(cs []store.Command) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	deliver := func(what string, at time.Time, limit int, want ...store.Command) []store.Command {
		t.Helper()
		got, err := s.DeliverCommands(ctx, "d", at, limit)
		ok(t, err)
		if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
			t.Errorf("%s: delivered %v, want %v", what, ids(got), ids(want))
		}
		return got
	}
	first := t0.Add(10 * time.Minute)
	// In the order stored (Seq), though c3 was requested first by the clock.
	got := deliver("the first delivery", first, 64, c1, c2, c3)
	for _, c := range got {
		sameTime(t, "delivered at", c.DeliveredAt, first)
	}
	stored := commandsOf(t, s, "d")
	for _, c := range []store.Command{c1, c2, c3} {
		sameTime(t, "stored delivered at", stored[c.ID].DeliveredAt, first)
		if st := stored[c.ID].Status(first); st != store.StatusDelivered {
			t.Errorf("%s is %s", c.ID, st)
		}
	}
	if !stored[c4.ID].DeliveredAt.IsZero() || !stored[c5.ID].DeliveredAt.Equal(us(h.State.ReceivedAt)) {
		t.Errorf("the cancelled or acknowledged one: %+v %+v", stored[c4.ID], stored[c5.ID])
	}
	// Again: the same, delivered when first delivered.
	for _, c := range deliver("again", first.Add(time.Minute), 64, c1, c2, c3) {
		sameTime(t, "delivered again at", c.DeliveredAt, first)
	}
	// Expired: no longer sent.
	deliver("after the lock expired", t0.Add(time.Hour), 64, c1, c2)
	if st := commandsOf(t, s, "d")[c3.ID].Status(t0.Add(time.Hour)); st != store.StatusExpired {
		t.Errorf("expired: %s", st)
	}
	// A limit, and a new command.
	c6 := requestCommand(t, s, command("d", wire.CommandWipe, t0.Add(2*time.Minute), "alice"))
	deliver("one", t0.Add(2*time.Hour), 1, c1)
	if !commandsOf(t, s, "d")[c6.ID].DeliveredAt.IsZero() {
		t.Errorf("a command past the limit was delivered")
	}
	got = deliver("all", t0.Add(3*time.Hour), 10, c1, c2, c6)
	sameTime(t, "the new one delivered at", got[2].DeliveredAt, t0.Add(3*time.Hour))
	for name, id := range map[string]string{"an unknown device": "ghost", "a NUL": "\x00"} {
		if got, err := s.DeliverCommands(ctx, id, t0, 10); err != nil || got == nil || len(got) != 0 {
			t.Errorf("%s: %#v, %v", name, got, err)
		}
	}
	if got, err := s.DeliverCommands(ctx, "d", t0, 0); err != nil || len(got) != 0 {
		t.Errorf("limit 0: %v, %v", got, err)
	}
	_, err = s.DeliverCommands(ctx, "d", time.Time{}, 10)
	is(t, "delivering at no time", err, store.ErrInvalid)
}

func testMarkFound(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "locked", "cancelled", "unlocked")
	found := func(dev string, at time.Time) (store.FoundResult, error) {
		return s.MarkFound(ctx, store.Found{DeviceID: dev, At: at, By: "bob", UnlockExpires: at.Add(30 * 24 * time.Hour)})
	}
	lost := func(dev string, at time.Time) store.LostReport {
		r := store.LostReport{DeviceID: dev, LostAt: at, DiscoveredAt: at, RecordedAt: at, By: "alice"}
		ok(t, s.MarkLost(ctx, r))
		return r
	}
	_, err := found("ghost", t0)
	is(t, "MarkFound of an unknown device", err, store.ErrNotFound)
	_, err = found("d", t0)
	is(t, "MarkFound of a device not lost", err, store.ErrConflict)
	for name, f := range map[string]store.Found{
		"no time":               {DeviceID: "d", By: "bob", UnlockExpires: t0},
		"an expiry before":      {DeviceID: "d", At: t0, By: "bob", UnlockExpires: t0.Add(-time.Second)},
		"a NUL in the finder":   {DeviceID: "d", At: t0, By: "\x00", UnlockExpires: t0.Add(time.Hour)},
		"an expiry in year 1e4": {DeviceID: "d", At: t0, UnlockExpires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		_, err := s.MarkFound(ctx, f)
		is(t, "MarkFound with "+name, err, store.ErrInvalid)
	}
	r1, r2 := lost("d", t0), lost("d", t0.Add(time.Hour))
	at := t0.Add(2 * time.Hour).In(time.FixedZone("UTC+01:00", 3600))
	res, err := found("d", at)
	ok(t, err)
	if res.Closed != 2 || res.Unlock != nil {
		t.Errorf("found: %+v", res)
	}
	reps, err := s.LostReports(ctx, "d")
	ok(t, err)
	for i, want := range []store.LostReport{r1, r2} {
		sameLost(t, fmt.Sprintf("report %d", i), reps[i], want)
		sameTime(t, fmt.Sprintf("report %d found at", i), reps[i].FoundAt, at)
		if reps[i].FoundBy != "bob" {
			t.Errorf("report %d found by %q", i, reps[i].FoundBy)
		}
	}
	_, err = found("d", at.Add(time.Minute))
	is(t, "MarkFound twice", err, store.ErrConflict)
	// Lost again: a new open report; the closed ones stay closed.
	lost("d", at.Add(time.Hour))
	reps, _ = s.LostReports(ctx, "d")
	if len(reps) != 3 || reps[0].FoundAt.IsZero() || !reps[2].FoundAt.IsZero() || reps[2].FoundBy != "" {
		t.Errorf("lost again: %+v", reps)
	}

	// A lock in force is lifted by an unlock, requested with the finding.
	lost("locked", t0)
	requestCommand(t, s, command("locked", wire.CommandLock, t0, "alice"))
	res, err = found("locked", at)
	ok(t, err)
	u := res.Unlock
	if res.Closed != 1 || u == nil || u.Type != wire.CommandUnlock || u.DeviceID != "locked" || u.RequestedBy != "bob" ||
		!strings.HasPrefix(u.ID, "cmd_") || u.Seq == 0 {
		t.Fatalf("found while locked: %+v, unlock %+v", res, u)
	}
	sameTime(t, "unlock requested", u.RequestedAt, at)
	sameTime(t, "unlock expires", u.Expires, at.Add(30*24*time.Hour))
	sameCommand(t, "the unlock stored", commandsOf(t, s, "locked")[u.ID], *u)
	r := leaseReq("locked", store.LeaseKindKey, "", at.Add(time.Minute))
	if got := serve(t, s, r)[0]; got.Outcome != store.LeaseServed {
		t.Errorf("after found: %v %q", got.Outcome, got.Record.Refused)
	}
	// No lock in force: none requested.
	for dev, cmds := range map[string][]string{"cancelled": {wire.CommandLock}, "unlocked": {wire.CommandLock, wire.CommandUnlock}} {
		lost(dev, t0)
		for i, typ := range cmds {
			c := requestCommand(t, s, command(dev, typ, t0.Add(time.Duration(i)*time.Minute), "alice"))
			if dev == "cancelled" {
				_, err := s.CancelCommand(ctx, dev, c.ID, t0.Add(time.Minute), "alice")
				ok(t, err)
			}
		}
		res, err := found(dev, at)
		ok(t, err)
		if res.Unlock != nil || len(commandsOf(t, s, dev)) != len(cmds) {
			t.Errorf("%s: an unlock requested: %+v", dev, res.Unlock)
		}
	}
}

func testWipeDestroysKeys(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "done", "failed", "refused", "locked", "other")
	for _, dev := range []string{"done", "failed", "refused", "locked", "other"} {
		keyOf(t, s, dev, t0)
		_, err := s.RotateLeaseKey(ctx, dev, t0.Add(time.Minute))
		ok(t, err)
	}
	for dev, ack := range map[string]store.CommandAck{
		"done":    {Type: wire.CommandWipe, Result: wire.AckDone},
		"failed":  {Type: wire.CommandWipe, Result: wire.AckFailed, Reason: "the cache could not be read"},
		"refused": {Type: wire.CommandWipe, Result: wire.AckRefused, Reason: "expired"},
		"locked":  {Type: wire.CommandLock, Result: wire.AckDone},
	} {
		c := requestCommand(t, s, command(dev, ack.Type, t0.Add(time.Hour), "alice"))
		if _, err := s.DeliverCommands(ctx, dev, t0.Add(2*time.Hour), 10); err != nil {
			t.Fatal(err)
		}
		ack.ID, ack.At = c.ID, t0.Add(3*time.Hour)
		ch := newChain(dev)
		ch.at = t0.Add(3 * time.Hour)
		h := ch.next()
		h.Acks = []store.CommandAck{ack}
		ingest(t, s, h)
		destroyed := dev == "done" || dev == "failed"
		ks := leaseKeys(t, s, dev)
		if len(ks) != 2 {
			t.Fatalf("%s: keys %+v", dev, ks)
		}
		for _, k := range ks {
			if destroyed {
				sameTime(t, dev+": key destroyed", k.DestroyedAt, h.State.ReceivedAt)
			} else if !k.DestroyedAt.IsZero() {
				t.Errorf("%s: key %s destroyed", dev, k.ID)
			}
		}
		r := leaseReq(dev, store.LeaseKindKey, "", t0.Add(4*time.Hour))
		got := serve(t, s, r)[0]
		switch dev {
		case "locked":
			refusedLease(t, dev, got, r, wire.RefusedLocked)
		default: // a wipe refused by the agent still stands on the server
			refusedLease(t, dev, got, r, wire.RefusedWiped)
		}
		if destroyed {
			_, err := s.RotateLeaseKey(ctx, dev, t0.Add(5*time.Hour))
			is(t, dev+": rotating a destroyed key", err, store.ErrConflict)
		}
	}
	// A wipe of a device whose keys were destroyed, cancelled: still
	// refused, for its key is gone.
	c := requestCommand(t, s, command("done", wire.CommandWipe, t0.Add(5*time.Hour), "alice"))
	_, err := s.CancelCommand(ctx, "done", c.ID, t0.Add(5*time.Hour), "alice")
	ok(t, err)
	r := leaseReq("done", store.LeaseKindKey, "", t0.Add(6*time.Hour))
	refusedLease(t, "done, a second wipe cancelled", serve(t, s, r)[0], r, wire.RefusedWiped)
	for _, k := range leaseKeys(t, s, "other") {
		if !k.DestroyedAt.IsZero() {
			t.Errorf("another device's key destroyed: %+v", k)
		}
	}
	r = leaseReq("other", store.LeaseKindKey, "", t0.Add(4*time.Hour))
	if got := serve(t, s, r)[0]; got.Outcome != store.LeaseServed || got.Next == nil {
		t.Errorf("another device: %v, next %+v", got.Outcome, got.Next)
	}
}

// testLeasesTwoHandles is two server processes serving one device's
// leases at once: every nonce is taken once, and a rotation completes once.
func testLeasesTwoHandles(t *testing.T, open Open) {
	a, b := open(t), open(t)
	ctx := t.Context()
	createDevices(t, a, "d")
	k1, _ := keyOf(t, a, "d", t0.Add(-time.Hour))
	k2, err := a.RotateLeaseKey(ctx, "d", t0.Add(-time.Minute))
	ok(t, err)
	const each = 15
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		outcomes = map[store.LeaseOutcome]int{}
		keys     = map[string]bool{}
	)
	shared := make([]store.LeaseRequest, each) // sent by both handles
	for i := range shared {
		shared[i] = leaseReq("d", store.LeaseKindRenew, k1, t0.Add(time.Duration(i)*time.Second))
	}
	for k, h := range []store.Store{a, b} {
		wg.Go(func() {
			for i := range each {
				own := leaseReq("d", store.LeaseKindKey, k2.ID, t0.Add(time.Duration(i)*time.Second+time.Millisecond))
				if k == 1 {
					own.KeyID = k1
				}
				res, err := h.ServeLeases(ctx, []store.LeaseRequest{shared[i], own})
				if err != nil {
					t.Errorf("handle %d: %v", k, err)
					return
				}
				mu.Lock()
				outcomes[res[0].Outcome]++
				if res[1].Outcome != store.LeaseServed {
					t.Errorf("handle %d: its own request %v", k, res[1].Outcome)
				}
				keys[res[1].Record.KeyID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if outcomes[store.LeaseReplay] != each || outcomes[store.LeaseServed] != each {
		t.Errorf("shared nonces: %v, want %d served and %d replays", outcomes, each, each)
	}
	ks := leaseKeys(t, b, "d")
	if len(ks) != 2 || ks[0].ID != k1 || ks[0].State != store.KeyRetired || ks[1].ID != k2.ID || ks[1].State != store.KeyCurrent {
		t.Errorf("keys after racing the rotation: %+v", ks)
	}
	for _, h := range []store.Store{a, b} {
		ls, err := h.Leases(ctx, "d", time.Time{}, forever, 0)
		ok(t, err)
		if len(ls) != 1+3*each {
			t.Errorf("%d log entries, want %d", len(ls), 1+3*each)
		}
	}
}

func testOfflineCopyHistory(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	c := newChain("d")
	c.state.Lease, c.state.OfflineCopy = wire.LeaseUnlocked, wire.OfflineTPM
	h1 := c.next()
	h2 := c.next() // no change
	c.state.OfflineCopy = wire.OfflineOS
	h3 := c.next()
	c.state.Lease = wire.LeaseOffline
	h4 := c.next()
	ingest(t, s, h1, h2, h3, h4)
	changes, err := s.StateChanges(ctx, "d", time.Time{}, forever)
	ok(t, err)
	if len(changes) != 3 || changes[0].State.OfflineCopy != wire.OfflineTPM || changes[1].State.OfflineCopy != wire.OfflineOS ||
		changes[2].State.Lease != wire.LeaseOffline || changes[2].State.OfflineCopy != wire.OfflineOS {
		t.Errorf("state changes %+v", changes)
	}
	for at, want := range map[time.Time]store.State{h2.State.ReceivedAt: h1.State, h3.State.ReceivedAt: h3.State} {
		sc, err := s.StateAt(ctx, "d", at)
		ok(t, err)
		if sc.State.OfflineCopy != want.OfflineCopy || sc.State.Lease != want.Lease {
			t.Errorf("state at %v: %+v, want %+v", at, sc.State, want)
		}
	}
	all, err := s.StatesAt(ctx, h3.State.ReceivedAt)
	ok(t, err)
	if len(all) != 1 || all[0].State.OfflineCopy != wire.OfflineOS {
		t.Errorf("states at: %+v", all)
	}
	row, err := s.Device(ctx, "d")
	ok(t, err)
	sameState(t, "latest state", row.State, h4.State)
}

// LegacyWipe is a row of the wipe_requests table that migration 0006
// turns into a command.
type LegacyWipe struct {
	ID          int64
	RequestedAt time.Time
	By          string
	AckedAt     time.Time // zero while pending
}

// CommandsMigration checks a backend's migration 0006, which replaced wipe
// requests with commands: legacy builds a database as migration 0005 left
// it, with a device "d" (enrolled at t0) and the wipe requests given, and
// open opens a handle on it (applying 0006). Each wipe request is a wipe
// command from then on: its Seq the request's ID, pending or done (when
// acknowledged: delivered and done then), expiring 30 days after it was
// requested; new commands come after it; and the device is refused its
// lease while a wipe is pending.
func CommandsMigration(t *testing.T, open func(t *testing.T) store.Store, legacy func(t *testing.T, wipes []LegacyWipe)) {
	wipes := []LegacyWipe{
		{ID: 1, RequestedAt: t0, By: "alice", AckedAt: t0.Add(time.Hour)},
		{ID: 7, RequestedAt: t0.Add(-time.Hour), By: hostile[0]},
	}
	legacy(t, wipes)
	s := open(t)
	cs, err := s.Commands(t.Context(), "d")
	ok(t, err)
	want := []store.Command{
		{Seq: 1, ID: "cmd_wipe_1", DeviceID: "d", Type: wire.CommandWipe, RequestedAt: t0, RequestedBy: "alice",
			DeliveredAt: wipes[0].AckedAt, Result: wire.AckDone, AckedAt: wipes[0].AckedAt, AckReceivedAt: wipes[0].AckedAt},
		{Seq: 7, ID: "cmd_wipe_7", DeviceID: "d", Type: wire.CommandWipe, RequestedAt: wipes[1].RequestedAt, RequestedBy: wipes[1].By},
	}
	if len(cs) != len(want) {
		t.Fatalf("commands after the migration: %+v", cs)
	}
	for i := range cs {
		sameCommand(t, fmt.Sprintf("command %d after the migration", i), cs[i], want[i])
	}
	if st := cs[1].Status(t0); st != store.StatusRequested {
		t.Errorf("the pending wipe is %s", st)
	}
	c := requestCommand(t, s, command("d", wire.CommandLock, t0, "bob"))
	if c.Seq <= 7 {
		t.Errorf("a new command has Seq %d, after 7", c.Seq)
	}
	r := leaseReq("d", store.LeaseKindKey, "", t0.Add(2*time.Hour))
	refusedLease(t, "with a wipe pending", serve(t, s, r)[0], r, wire.RefusedWiped)
	// A year on the migrated wipe is still sent: a wipe never expires.
	delivered, err := s.DeliverCommands(t.Context(), "d", t0.Add(365*24*time.Hour), 10)
	ok(t, err)
	if len(delivered) != 1 || delivered[0].ID != "cmd_wipe_7" {
		t.Errorf("delivered %+v", delivered)
	}
}

// testWipeNeverExpires: a wipe requested while the laptop is offline is
// sent at its next contact, however long after; a lock expires.
func testWipeNeverExpires(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	w := requestCommand(t, s, command("d", wire.CommandWipe, t0, "alice"))
	l := requestCommand(t, s, command("d", wire.CommandLock, t0, "alice"))
	if !w.Expires.IsZero() {
		t.Errorf("a wipe stored with an expiry %v", w.Expires)
	}
	later := t0.Add(3 * 365 * 24 * time.Hour)
	if st := commandsOf(t, s, "d")[w.ID].Status(later); st != store.StatusRequested {
		t.Errorf("a wipe three years on is %s, want requested", st)
	}
	got, err := s.DeliverCommands(ctx, "d", later, 10)
	ok(t, err)
	if len(got) != 1 || got[0].ID != w.ID {
		t.Fatalf("three years on delivered %+v, want only the wipe", got)
	}
	sameTime(t, "the wipe delivered at", got[0].DeliveredAt, later)
	stored := commandsOf(t, s, "d")
	if st := stored[w.ID].Status(later.Add(100 * 365 * 24 * time.Hour)); st != store.StatusDelivered {
		t.Errorf("a delivered wipe, unacknowledged, is %s a century on", st)
	}
	if st := stored[l.ID].Status(later); st != store.StatusExpired {
		t.Errorf("the lock three years on is %s", st)
	}
	r := leaseReq("d", store.LeaseKindKey, "", later)
	refusedLease(t, "three years after the wipe", serve(t, s, r)[0], r, wire.RefusedWiped)
}

// testOrderNotClock: whether a device is locked, and so whether its lease
// is served, goes by the order the store took its lock, unlock and found
// records in, never by their times: a step back of the server's clock, or
// two requests in one microsecond, must not reorder them.
func testOrderNotClock(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "back", "same", "found", "relock")
	later := t0.Add(time.Hour)
	lease := func(what, dev string, at time.Time, why string) {
		t.Helper()
		r := leaseReq(dev, store.LeaseKindKey, "", at)
		got := serve(t, s, r)[0]
		if why == "" && got.Outcome != store.LeaseServed || why != "" && got.Record.Refused != why {
			t.Errorf("%s: %v %q, want refused %q", what, got.Outcome, got.Record.Refused, why)
		}
	}
	// Locked at the later time, then unlocked with the clock stepped back
	// an hour: the unlock is the latest.
	l := requestCommand(t, s, command("back", wire.CommandLock, later, "alice"))
	u := requestCommand(t, s, command("back", wire.CommandUnlock, t0, "alice"))
	cmds, err := s.Commands(ctx, "back")
	ok(t, err)
	if store.Locked(cmds) {
		t.Errorf("locked after an unlock stored after the lock, with an earlier clock")
	}
	if len(cmds) != 2 || cmds[0].ID != l.ID || cmds[1].ID != u.ID {
		t.Errorf("Commands not in the order stored: %+v", cmds)
	}
	if got, err := s.DeliverCommands(ctx, "back", later, 10); err != nil || len(got) != 2 || got[0].ID != l.ID || got[1].ID != u.ID {
		t.Errorf("delivered %+v, %v: want the lock, then the unlock", got, err)
	}
	lease("unlocked with the clock stepped back", "back", later, "")
	// An unlock, then a lock in the same microsecond: locked.
	requestCommand(t, s, command("same", wire.CommandUnlock, t0, "alice"))
	requestCommand(t, s, command("same", wire.CommandLock, t0, "alice"))
	lease("locked in the microsecond of an unlock", "same", t0, wire.RefusedLocked)
	// Lost and locked at the later time, found with the clock stepped
	// back: the unlock the finding requests lifts the lock.
	ok(t, s.MarkLost(ctx, store.LostReport{DeviceID: "found", LostAt: later, DiscoveredAt: later, RecordedAt: later, By: "alice"}))
	requestCommand(t, s, command("found", wire.CommandLock, later, "alice"))
	res, err := s.MarkFound(ctx, store.Found{DeviceID: "found", At: t0, By: "bob", UnlockExpires: t0.Add(30 * 24 * time.Hour)})
	ok(t, err)
	if res.Unlock == nil {
		t.Fatalf("found while locked, with the clock stepped back: no unlock requested")
	}
	lease("found with the clock stepped back", "found", later, "")
	// Unlocked at the later time, locked again with the clock stepped
	// back: locked.
	requestCommand(t, s, command("relock", wire.CommandUnlock, later, "alice"))
	requestCommand(t, s, command("relock", wire.CommandLock, t0, "alice"))
	lease("locked again with the clock stepped back", "relock", later, wire.RefusedLocked)
}

// testLeaseEvidenceWholeLog: the evidence is of the whole log, however
// long: a lease served long after the loss, past more entries than any
// page of the log, is counted, with its time and source, and so are the
// refusals before it.
func testLeaseEvidenceWholeLog(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other")
	id, _ := keyOf(t, s, "d", t0)
	keyOf(t, s, "other", t0.Add(2*time.Hour))
	lostAt := t0.Add(time.Hour)
	last := leaseReq("d", store.LeaseKindRenew, id, lostAt.Add(-time.Minute))
	serve(t, s, last)
	ok(t, s.MarkLost(ctx, store.LostReport{DeviceID: "d", LostAt: lostAt, DiscoveredAt: lostAt, RecordedAt: lostAt, By: "alice"}))
	at := lostAt
	batchOf := func(n int, kind string, source func(i int) string) {
		for b := 0; b < n; b += 200 {
			var reqs []store.LeaseRequest
			for i := b; i < min(n, b+200); i++ {
				at = at.Add(time.Second)
				r := leaseReq("d", kind, id, at)
				r.Source = source(i)
				reqs = append(reqs, r)
			}
			serve(t, s, reqs...)
		}
	}
	// 1500 refusals while lost.
	batchOf(1500, store.LeaseKindKey, func(i int) string { return fmt.Sprintf("203.0.113.%d:4000", i%250) })
	// Found a month later; 1200 leases served, the key in the first, from
	// another address than before the loss.
	at = lostAt.Add(30 * 24 * time.Hour)
	_, err := s.MarkFound(ctx, store.Found{DeviceID: "d", At: at, By: "bob", UnlockExpires: at.Add(time.Hour)})
	ok(t, err)
	first := leaseReq("d", store.LeaseKindKey, id, at.Add(time.Second))
	first.Source = "198.51.100.1:443"
	serve(t, s, first)
	at = at.Add(time.Second)
	batchOf(1198, store.LeaseKindRenew, func(int) string { return "198.51.100.2:443" })
	// A year on, one more, then lost again and refused.
	lastAfter := leaseReq("d", store.LeaseKindKey, id, lostAt.Add(365*24*time.Hour))
	lastAfter.Source = "198.51.100.3:443"
	serve(t, s, lastAfter)
	at = lastAfter.At
	ok(t, s.MarkLost(ctx, store.LostReport{DeviceID: "d", LostAt: at, DiscoveredAt: at, RecordedAt: at, By: "alice"}))
	batchOf(5, store.LeaseKindKey, func(int) string { return "203.0.113.9:4000" })
	ok(t, s.RevokeDevice(ctx, "d", at.Add(time.Minute)))
	at = at.Add(time.Minute)
	batchOf(2, store.LeaseKindKey, func(int) string { return "203.0.113.9:4000" })

	ev, err := s.LeaseEvidence(ctx, "d", lostAt)
	ok(t, err)
	if ev.Before.Nonce != last.Nonce || !ev.Before.Served() {
		t.Errorf("the last before the loss: %+v", ev.Before)
	}
	sameTime(t, "the last before, until", ev.Before.Until, last.At.Add(window))
	if ev.ServedAfter != 1200 || ev.KeysAfter != 2 {
		t.Errorf("served after the loss: %d (the key %d), want 1200 (2)", ev.ServedAfter, ev.KeysAfter)
	}
	if ev.FirstAfter.Nonce != first.Nonce || ev.FirstAfter.Source != first.Source {
		t.Errorf("the first after: %+v", ev.FirstAfter)
	}
	sameTime(t, "the first after", ev.FirstAfter.At, first.At)
	if ev.LastAfter.Nonce != lastAfter.Nonce || ev.LastAfter.Source != lastAfter.Source {
		t.Errorf("the last after: %+v", ev.LastAfter)
	}
	sameTime(t, "the last after", ev.LastAfter.At, lastAfter.At)
	sameTime(t, "until, after", ev.UntilAfter, lastAfter.At.Add(window))
	if ev.Refusals() != 1507 || ev.RefusedAfter[wire.RefusedLost] != 1505 || ev.RefusedAfter[wire.RefusedRevoked] != 2 {
		t.Errorf("refused after: %v", ev.RefusedAfter)
	}
	sameTime(t, "the first refused", ev.FirstRefused.At, lostAt.Add(time.Second))
	if ev.FirstRefused.Source != "203.0.113.0:4000" || ev.FirstRefused.Refused != wire.RefusedLost {
		t.Errorf("the first refused: %+v", ev.FirstRefused)
	}
	// Past the last lease: nothing served after, the last before is it.
	ev, err = s.LeaseEvidence(ctx, "d", lastAfter.At)
	ok(t, err)
	if ev.Before.Nonce != lastAfter.Nonce || ev.ServedAfter != 0 || ev.Refusals() != 7 {
		t.Errorf("after the last lease: %+v", ev)
	}
}

// testLeaseRefusalRuns: identical refusals in a row are one entry of the
// log (how many, the first and the last), each lease served its own; the
// nonces of folded requests are still each taken once; the evidence
// counts every request, and whether any lease was served after a time.
func testLeaseRefusalRuns(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	id, _ := keyOf(t, s, "d", t0)
	lostAt := t0.Add(time.Hour)
	ok(t, s.MarkLost(ctx, store.LostReport{DeviceID: "d", LostAt: lostAt, DiscoveredAt: lostAt, RecordedAt: lostAt, By: "alice"}))
	at := lostAt
	var nonces []string
	ask := func(n int, kind, source string) []store.LeaseResult {
		var reqs []store.LeaseRequest
		for i := range n {
			at = at.Add(time.Second)
			r := leaseReq("d", kind, id, at)
			r.Source = fmt.Sprintf("%s:%d", source, 40000+i) // a new connection, a new port
			reqs = append(reqs, r)
			nonces = append(nonces, r.Nonce)
		}
		return serve(t, s, reqs...)
	}
	// 300 in one batch and 200 one at a time: one run.
	first := at.Add(time.Second)
	ask(300, store.LeaseKindKey, "203.0.113.9")
	for range 200 {
		got := ask(1, store.LeaseKindKey, "203.0.113.9")[0]
		if got.Outcome != store.LeaseRefused || got.Record.Refused != wire.RefusedLost {
			t.Fatalf("refused one at a time: %+v", got)
		}
	}
	runEnd := at
	log, err := s.Leases(ctx, "d", time.Time{}, forever, 0)
	ok(t, err)
	if len(log) != 2 || log[0].Requests != 500 || log[0].Refused != wire.RefusedLost || log[1].Requests != 1 || !log[1].Served() {
		t.Fatalf("the log after 500 identical refusals: %+v", log)
	}
	sameTime(t, "the run's first", log[0].At, first)
	sameTime(t, "the run's last", log[0].LastAt, runEnd)
	sameTime(t, "a lease served's last", log[1].LastAt, log[1].At)
	// Each nonce is still taken once, folded or not.
	for _, n := range []string{nonces[0], nonces[299], nonces[499]} {
		r := leaseReq("d", store.LeaseKindKey, id, at.Add(time.Second))
		r.Nonce = n
		if got := serve(t, s, r)[0]; got.Outcome != store.LeaseReplay {
			t.Errorf("nonce %s again: %v", n, got.Outcome)
		}
	}
	// Another kind, then the first kind again: two more entries (a run
	// continues only while nothing else is logged in between); another
	// host too.
	ask(3, store.LeaseKindRenew, "203.0.113.9")
	ask(2, store.LeaseKindKey, "203.0.113.9")
	ask(1, store.LeaseKindKey, "198.51.100.4")
	// Found: three leases served in a row, each its own entry.
	_, err = s.MarkFound(ctx, store.Found{DeviceID: "d", At: at.Add(time.Second), By: "bob", UnlockExpires: at.Add(time.Hour)})
	ok(t, err)
	at = at.Add(time.Second)
	for _, got := range ask(3, store.LeaseKindRenew, "203.0.113.9") {
		if got.Outcome != store.LeaseServed || got.Record.Requests != 1 {
			t.Errorf("served after found: %+v", got)
		}
	}
	servedAt := at
	// Lost again: a new run, not folded into the old one.
	ok(t, s.MarkLost(ctx, store.LostReport{DeviceID: "d", LostAt: at, DiscoveredAt: at, RecordedAt: at, By: "alice"}))
	ask(4, store.LeaseKindKey, "203.0.113.9")
	log, err = s.Leases(ctx, "d", time.Time{}, forever, 0)
	ok(t, err)
	var sizes []int64
	for _, l := range log {
		sizes = append(sizes, l.Requests)
	}
	if fmt.Sprint(sizes) != "[4 1 1 1 1 2 3 500 1]" {
		t.Errorf("the log's entries are of %v requests, newest first; want [4 1 1 1 1 2 3 500 1]", sizes)
	}
	ev, err := s.LeaseEvidence(ctx, "d", lostAt)
	ok(t, err)
	if ev.ServedAfter != 3 || ev.Refusals() != 510 || ev.RefusedAfter[wire.RefusedLost] != 510 || ev.RefusedAtLeast {
		t.Errorf("evidence after the loss: %+v", ev)
	}
	sameTime(t, "the first refused", ev.FirstRefused.At, first)
	sameTime(t, "the last served", ev.LastAfter.At, servedAt)
	// In the middle of the run: it counts once, and the counts are "at
	// least".
	ev, err = s.LeaseEvidence(ctx, "d", first.Add(100*time.Second))
	ok(t, err)
	if ev.Refusals() != 11 || !ev.RefusedAtLeast || ev.ServedAfter != 3 {
		t.Errorf("evidence in the run: %+v", ev)
	}
	sameTime(t, "the first run going on", ev.FirstRefused.At, first)
	// After the last lease served: none served, the last run only.
	ev, err = s.LeaseEvidence(ctx, "d", servedAt)
	ok(t, err)
	if ev.ServedAfter != 0 || ev.Refusals() != 4 || ev.RefusedAtLeast {
		t.Errorf("evidence after the last lease: %+v", ev)
	}
}

// testLeaseKeysSealed: the store holds lease keys sealed with its
// key-encryption key: a handle with another key cannot serve them (nor
// can one with none), and one with the right key serves the same bytes.
func testLeaseKeysSealed(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	id, key := keyOf(t, s, "d", t0)
	other, err := kek.New(bytes.Repeat([]byte{7}, 32))
	ok(t, err)
	wrong := open(t)
	wrong.(store.Sealing).UseKeySealer(other)
	if res, err := wrong.ServeLeases(ctx, []store.LeaseRequest{leaseReq("d", store.LeaseKindKey, id, t0.Add(time.Minute))}); err != nil ||
		res[0].Outcome != store.LeaseFailed || !errors.Is(res[0].Err, kek.ErrOpen) || res[0].Key != nil {
		t.Errorf("serving with another key-encryption key: %+v, %v, want LeaseFailed with kek.ErrOpen", res, err)
	}
	none := open(t)
	none.(store.Sealing).UseKeySealer(nil)
	if _, err := none.ServeLeases(ctx, []store.LeaseRequest{leaseReq("d", store.LeaseKindKey, id, t0.Add(time.Minute))}); !errors.Is(err, store.ErrNoKeySealer) {
		t.Errorf("serving with no key-encryption key: %v", err)
	}
	if _, err := none.RotateLeaseKey(ctx, "d", t0.Add(time.Minute)); !errors.Is(err, store.ErrNoKeySealer) {
		t.Errorf("rotating with no key-encryption key: %v", err)
	}
	r := leaseReq("d", store.LeaseKindKey, id, t0.Add(2*time.Minute))
	got := serve(t, open(t), r)[0]
	served(t, "with the key-encryption key", got, r, id)
	sameBytes(t, "the key served again", got.Key, key)
}

// failsFor is a key sealer whose Open fails for one device's keys, as a
// damaged row would.
type failsFor struct {
	store.KeySealer
	device string
}

func (f failsFor) Open(deviceID, keyID string, sealed []byte) ([]byte, error) {
	if deviceID == f.device {
		return nil, kek.ErrOpen
	}
	return f.KeySealer.Open(deviceID, keyID, sealed)
}

// testOneKeyDoesNotOpen: a device whose stored key does not open fails
// alone: the other requests in its batch are served and logged, and its
// own request is neither logged nor its nonce kept, so the agent may ask
// again.
func testOneKeyDoesNotOpen(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "good", "bad")
	goodID, goodKey := keyOf(t, s, "good", t0)
	badID, badKey := keyOf(t, s, "bad", t0)
	h := open(t)
	h.(store.Sealing).UseKeySealer(failsFor{Sealer, "bad"})
	g, b := leaseReq("good", store.LeaseKindKey, goodID, t0.Add(time.Minute)), leaseReq("bad", store.LeaseKindKey, badID, t0.Add(time.Minute))
	res, err := h.ServeLeases(ctx, []store.LeaseRequest{g, b})
	if err != nil {
		t.Fatalf("a batch with one key that does not open: %v", err)
	}
	served(t, "the good device beside the bad", res[0], g, goodID)
	sameBytes(t, "the good device's key", res[0].Key, goodKey)
	if res[1].Outcome != store.LeaseFailed || !errors.Is(res[1].Err, kek.ErrOpen) || res[1].Key != nil || res[1].Record.ID != 0 {
		t.Errorf("the bad device: %+v, want LeaseFailed with kek.ErrOpen and nothing logged", res[1])
	}
	// The same request again with a sealer that opens it: served, not a
	// replay.
	res = serve(t, open(t), b)
	served(t, "the bad device's request again", res[0], b, badID)
	sameBytes(t, "the bad device's key", res[0].Key, badKey)
	// Refusals need no key: a lost device whose key does not open is
	// refused (and logged) as any other.
	ok(t, h.MarkLost(ctx, store.LostReport{DeviceID: "bad", LostAt: t0, DiscoveredAt: t0.Add(2 * time.Minute), RecordedAt: t0.Add(2 * time.Minute), By: "it"}))
	if res := serve(t, h, leaseReq("bad", store.LeaseKindKey, badID, t0.Add(3*time.Minute)))[0]; res.Outcome != store.LeaseRefused || res.Record.Refused != wire.RefusedLost {
		t.Errorf("the bad device, lost: %+v", res)
	}
}

// testRevokeDestroysKeys: revoking a device destroys its lease keys at
// once (a revoked device's heartbeats are refused, so a wipe outstanding
// could never be acknowledged and its key would be kept); a device
// revoked again keeps its keys' first destruction time, and one with no
// key is revoked as before.
func testRevokeDestroysKeys(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other", "keyless")
	id, _ := keyOf(t, s, "d", t0)
	otherID, otherKey := keyOf(t, s, "other", t0)
	_, err := s.RotateLeaseKey(ctx, "d", t0.Add(time.Minute))
	ok(t, err)
	requestCommand(t, s, command("d", wire.CommandWipe, t0.Add(2*time.Minute), "alice"))
	_, err = s.DeliverCommands(ctx, "d", t0.Add(3*time.Minute), 10)
	ok(t, err)
	ok(t, s.RevokeDevice(ctx, "d", t0.Add(4*time.Minute)))
	ks := leaseKeys(t, s, "d")
	if len(ks) != 2 {
		t.Fatalf("keys after the revocation: %+v", ks)
	}
	for _, k := range ks {
		sameTime(t, "key "+k.ID+" destroyed at", k.DestroyedAt, t0.Add(4*time.Minute))
	}
	ok(t, s.RevokeDevice(ctx, "d", t0.Add(-time.Hour)))
	for _, k := range leaseKeys(t, s, "d") {
		sameTime(t, "key "+k.ID+" destroyed at, revoked again", k.DestroyedAt, t0.Add(4*time.Minute))
	}
	r := leaseReq("d", store.LeaseKindKey, id, t0.Add(5*time.Minute))
	refusedLease(t, "the revoked device", serve(t, s, r)[0], r, wire.RefusedRevoked)
	// Another device's key is untouched.
	r = leaseReq("other", store.LeaseKindKey, otherID, t0.Add(5*time.Minute))
	got := serve(t, s, r)[0]
	served(t, "another device", got, r, otherID)
	sameBytes(t, "another device's key", got.Key, otherKey)
	ok(t, s.RevokeDevice(ctx, "keyless", t0))
	if ks := leaseKeys(t, s, "keyless"); len(ks) != 0 {
		t.Errorf("a device never served a key has keys after its revocation: %+v", ks)
	}
}
