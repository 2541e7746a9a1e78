package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/servertest"
	"github.com/casekeep/casekeep/server/store"
)

// TestEnrollFirstLease: enrollment makes the device's lease key and serves
// it in the reply, logged as an enrollment lease, valid for the policy's
// offline window.
func TestEnrollFirstLease(t *testing.T) {
	r := servertest.New(t, servertest.Options{})
	before := time.Now()
	a := r.Agent("laptop-1")
	after := time.Now()
	g := a.Enrolled.Lease
	if g == nil || len(g.Key) != wire.LeaseKeySize || !strings.HasPrefix(g.KeyID, "lk_") || g.Next != nil {
		t.Fatalf("the first lease: %+v", g)
	}
	window := r.Policy.Offline.UnlockWindow
	if window != 72*time.Hour || g.Until.Before(before.Add(window).Truncate(time.Microsecond)) || g.Until.After(after.Add(window)) {
		t.Errorf("until %v, want 72 h from the enrollment", g.Until)
	}
	log, err := r.Store.Leases(context.Background(), a.ID, time.Time{}, time.Now().Add(time.Hour), 0)
	if err != nil || len(log) != 1 {
		t.Fatalf("lease log %+v, %v", log, err)
	}
	l := log[0]
	if l.Kind != store.LeaseKindEnroll || l.KeyID != g.KeyID || !l.Until.Equal(g.Until) || l.Window != window ||
		!strings.HasPrefix(l.Source, "127.0.0.1:") || l.Nonce != "" || !l.Served() {
		t.Errorf("logged %+v", l)
	}
	// The same key, asked for by its ID.
	code, reply := a.Lease(a.LeaseRequest(wire.WantKey, g.KeyID))
	if code != 200 || reply.Grant == nil || !bytes.Equal(reply.Grant.Key, g.Key) || reply.Grant.KeyID != g.KeyID {
		t.Errorf("asking again: %d %+v", code, reply)
	}
}

// TestLeaseEndpoint: what the lease endpoint answers, request by request.
func TestLeaseEndpoint(t *testing.T) {
	r := servertest.New(t, servertest.Options{})
	a, b := r.Agent("laptop-1"), r.Agent("laptop-2")
	id := a.Enrolled.Lease.KeyID

	req := a.LeaseRequest(wire.WantKey, id)
	t0 := time.Now()
	code, reply := a.Lease(req)
	if code != 200 || reply.Refused != "" || reply.Grant == nil || !bytes.Equal(reply.Grant.Key, a.Enrolled.Lease.Key) {
		t.Fatalf("a key request: %d %+v", code, reply)
	}
	if reply.ServerTime.Before(t0.Add(-time.Second)) || !reply.Grant.Until.Equal(reply.ServerTime.Truncate(time.Microsecond).Add(72*time.Hour)) {
		t.Errorf("until %v, server time %v", reply.Grant.Until, reply.ServerTime)
	}
	// The same request again: a replay.
	if code, _ := a.Lease(req); code != http.StatusConflict {
		t.Errorf("a replayed request: %d, want 409", code)
	}
	code, reply = a.Lease(a.LeaseRequest(wire.WantRenew, id))
	if code != 200 || reply.Grant == nil || reply.Grant.Key != nil || reply.Grant.KeyID != id {
		t.Errorf("a renewal: %d %+v", code, reply)
	}

	send := func(body []byte, sig []byte) int {
		code, _, _ := a.Post(wire.PathLease, body, sig)
		return code
	}
	good, _ := wire.Marshal(a.LeaseRequest(wire.WantKey, id))
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	unknown := a.LeaseRequest(wire.WantKey, "")
	unknown.DeviceID = "dev_" + strings.Repeat("a", 26)
	unknownBody, _ := wire.Marshal(unknown)
	bsReq, _ := wire.Marshal(b.LeaseRequest(wire.WantKey, ""))
	for name, c := range map[string]struct {
		body, sig []byte
		want      int
	}{
		"no signature":              {good, nil, http.StatusUnauthorized},
		"another key's signature":   {good, wire.SignLease(other, good), http.StatusUnauthorized},
		"another device's":          {bsReq, wire.SignLease(a.Key, bsReq), http.StatusUnauthorized},
		"a heartbeat's signature":   {good, wire.SignHeartbeat(a.Key, good), http.StatusUnauthorized},
		"an unknown device":         {unknownBody, wire.SignLease(a.Key, unknownBody), http.StatusForbidden},
		"not JSON":                  {[]byte("{"), nil, http.StatusBadRequest},
		"no nonce":                  {[]byte(`{"v":1,"device_id":"` + a.ID + `","time":"2026-01-01T00:00:00Z","want":"key"}`), nil, http.StatusBadRequest},
		"an unknown want":           {bytes.Replace(good, []byte(`"want":"key"`), []byte(`"want":"all"`), 1), nil, http.StatusBadRequest},
		"an unknown field":          {bytes.Replace(good, []byte(`"want"`), []byte(`"x":1,"want"`), 1), nil, http.StatusBadRequest},
		"a body over the lease max": {append(bytes.Repeat([]byte(" "), 17<<10), good...), nil, http.StatusRequestEntityTooLarge},
		"a body over the request":   {bytes.Repeat([]byte(" "), wire.MaxRequest+1), nil, http.StatusRequestEntityTooLarge},
	} {
		if got := send(c.body, c.sig); got != c.want {
			t.Errorf("%s: %d, want %d", name, got, c.want)
		}
	}
	// Only what was answered 200 is in the log: the enrollment, the key
	// and the renewal.
	log, _ := r.Store.Leases(context.Background(), a.ID, time.Time{}, time.Now().Add(time.Hour), 0)
	if len(log) != 3 {
		t.Errorf("%d log entries, want 3: %+v", len(log), log)
	}
	if log[1].Nonce != req.Nonce || !log[1].AgentTime.Equal(req.Time.Truncate(time.Microsecond)) || log[1].Kind != store.LeaseKindKey {
		t.Errorf("logged %+v for %+v", log[1], req)
	}
}

// TestLeaseNeverWhileLost: the endpoint refuses a device marked lost its
// lease, whatever it asks, until it is marked found; likewise a locked,
// a wiped and a revoked one, each with its reason.
func TestLeaseNeverWhileLost(t *testing.T) {
	r := servertest.New(t, servertest.Options{})
	act := &actions.Actions{Store: r.Store}
	ctx := context.Background()
	lost, locked, wiped, revoked := r.Agent("lost"), r.Agent("locked"), r.Agent("wiped"), r.Agent("revoked")
	if _, err := act.MarkLost(ctx, "it", lost.ID, actions.Lost{LostAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := act.Lock(ctx, "it", locked.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := act.RequestWipe(ctx, "it", wiped.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Store.RevokeDevice(ctx, revoked.ID, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	for a, why := range map[*servertest.Agent]string{lost: wire.RefusedLost, locked: wire.RefusedLocked, wiped: wire.RefusedWiped, revoked: wire.RefusedRevoked} {
		for _, want := range []string{wire.WantKey, wire.WantRenew} {
			for _, keyID := range []string{a.Enrolled.Lease.KeyID, ""} {
				code, reply := a.Lease(a.LeaseRequest(want, keyID))
				if code != 200 || reply.Grant != nil || reply.Refused != why {
					t.Errorf("%s asking %s with %q: %d %+v, want refused %s", a.Enrolled.DeviceID, want, keyID, code, reply, why)
				}
			}
		}
	}
	// Found: served again.
	if _, err := act.MarkFound(ctx, "it", lost.ID); err != nil {
		t.Fatal(err)
	}
	if code, reply := lost.Lease(lost.LeaseRequest(wire.WantKey, lost.Enrolled.Lease.KeyID)); code != 200 || reply.Grant == nil {
		t.Errorf("found: %d %+v", code, reply)
	}
}

// TestCommandsInReplies: a heartbeats reply echoes the batch's nonce and
// carries the device's pending commands, each bound to the device, which
// are delivered from then on (so no longer cancellable); acknowledgements
// in heartbeats complete them; a wipe done destroys the lease keys.
func TestCommandsInReplies(t *testing.T) {
	r := servertest.New(t, servertest.Options{})
	act := &actions.Actions{Store: r.Store}
	ctx := context.Background()
	a, other := r.Agent("laptop-1"), r.Agent("laptop-2")
	if code, reply := a.Heartbeat("", nil); code != 200 || reply.Nonce != "" || len(reply.Commands) != 0 {
		t.Fatalf("a heartbeat, no nonce, no commands: %d %+v", code, reply)
	}
	lock, err := act.Lock(ctx, "it", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wipe, err := act.RequestWipe(ctx, "it", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := act.Unlock(ctx, "it", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := act.CancelCommand(ctx, "it", a.ID, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := act.Lock(ctx, "it", other.ID); err != nil {
		t.Fatal(err)
	}
	nonce := wire.NewNonce()
	before := time.Now()
	code, reply := a.Heartbeat(nonce, nil)
	if code != 200 || reply.Nonce != nonce || len(reply.Commands) != 2 {
		t.Fatalf("reply %d %+v", code, reply)
	}
	for i, want := range []store.Command{lock, wipe} {
		c := reply.Commands[i]
		wantExpires := want.RequestedAt.Add(actions.CommandExpiry)
		if want.Type == wire.CommandWipe {
			// A wipe never expires: each reply offers it for a day.
			wantExpires = reply.ServerTime.Add(24 * time.Hour)
		}
		if c.ID != want.ID || c.Type != want.Type || c.DeviceID != a.ID || !c.Issued.Equal(want.RequestedAt) ||
			!c.Expires.Equal(wantExpires) {
			t.Errorf("command %d: %+v, want %+v", i, c, want)
		}
	}
	cs, _ := r.Store.Commands(ctx, a.ID)
	for _, c := range cs {
		if c.ID == cancelled.ID {
			continue
		}
		if c.DeliveredAt.Before(before.Add(-time.Second)) || c.Status(time.Now()) != store.StatusDelivered {
			t.Errorf("%s: %+v", c.Type, c)
		}
	}
	if _, err := act.CancelCommand(ctx, "it", a.ID, wipe.ID); err == nil {
		t.Errorf("a delivered wipe was cancelled")
	}
	// Until acknowledged, every reply carries them.
	if code, reply := a.Heartbeat(wire.NewNonce(), nil); code != 200 || len(reply.Commands) != 2 {
		t.Errorf("again: %d %+v", code, reply)
	}
	// The agent acknowledges the lock done and the wipe done.
	ackAt := time.Now().UTC().Add(-time.Second)
	code, reply = a.Heartbeat(wire.NewNonce(), func(h *wire.Heartbeat) {
		h.Lease = wire.LeaseWiped
		h.Acks = []wire.CommandAck{{ID: lock.ID, Type: wire.CommandLock, Result: wire.AckDone, At: ackAt},
			{ID: wipe.ID, Type: wire.CommandWipe, Result: wire.AckDone, At: ackAt}}
	})
	if code != 200 || len(reply.Commands) != 0 {
		t.Errorf("after the acknowledgements: %d %+v", code, reply)
	}
	cs, _ = r.Store.Commands(ctx, a.ID)
	for _, c := range cs {
		if c.ID != cancelled.ID && (c.Status(time.Now()) != store.StatusDone || !c.AckedAt.Equal(ackAt.Truncate(time.Microsecond))) {
			t.Errorf("%s acknowledged: %+v", c.Type, c)
		}
	}
	keys, _ := r.Store.LeaseKeys(ctx, a.ID)
	if len(keys) != 1 || keys[0].DestroyedAt.IsZero() {
		t.Errorf("keys after the wipe: %+v", keys)
	}
	if code, reply := a.Lease(a.LeaseRequest(wire.WantKey, "")); code != 200 || reply.Refused != wire.RefusedWiped {
		t.Errorf("a lease after the wipe: %d %+v", code, reply)
	}
	row, _ := r.Store.Device(ctx, a.ID)
	if row.State.Lease != wire.LeaseWiped || row.State.OfflineCopy != wire.OfflineTPM {
		t.Errorf("state %+v", row.State)
	}
	// The other device's lock went to the other device only.
	if _, reply := other.Heartbeat(wire.NewNonce(), nil); len(reply.Commands) != 1 || reply.Commands[0].DeviceID != other.ID {
		t.Errorf("the other device: %+v", reply)
	}
}

// FuzzLeaseEndpoint: whatever body and signature come in, the lease
// endpoint answers 200 only to a request the device signed, and otherwise
// one of its refusals, never a server error.
func FuzzLeaseEndpoint(f *testing.F) {
	r := servertest.New(f, servertest.Options{})
	a := r.Agent("laptop-1")
	h := r.Server.Handler()
	for _, want := range []string{wire.WantKey, wire.WantRenew} {
		body, _ := wire.Marshal(a.LeaseRequest(want, a.Enrolled.Lease.KeyID))
		f.Add(body, wire.SignLease(a.Key, body))
		f.Add(body, []byte("not a signature"))
	}
	f.Add([]byte(`{"v":1}`), []byte{})
	f.Fuzz(func(t *testing.T, body, sig []byte) {
		req := httptest.NewRequest(http.MethodPost, wire.PathLease, bytes.NewReader(body))
		req.Header.Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(sig))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200:
			if wire.VerifyLease(a.Key.Public().(ed25519.PublicKey), body, sig) != nil {
				t.Fatalf("200 to a request the device did not sign: %q", body)
			}
			if _, err := wire.DecodeLeaseReply(w.Body.Bytes()); err != nil {
				t.Fatalf("a reply that does not decode: %v", err)
			}
		case 400, 401, 403, 409, 413:
		default:
			t.Fatalf("%d %s for %q", w.Code, w.Body, body)
		}
	})
}

// TestCommandsOnlyWithStoredHeartbeats: a reply to a batch that stored
// no heartbeat (every one a replay: 409) carries no commands and marks
// none delivered, so the console never says delivered for a reply the
// agent may discard; the next batch stored delivers them.
func TestCommandsOnlyWithStoredHeartbeats(t *testing.T) {
	r := servertest.New(t, servertest.Options{})
	act := &actions.Actions{Store: r.Store}
	ctx := context.Background()
	a := r.Agent("laptop-1")
	if code, _ := a.Heartbeat("", nil); code != 200 {
		t.Fatalf("the first heartbeat: %d", code)
	}
	w, err := act.RequestWipe(ctx, "it", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	code, reply := a.Heartbeat(wire.NewNonce(), func(h *wire.Heartbeat) { h.Seq, h.PrevHash = 1, "" })
	if code != 409 || reply == nil || len(reply.Commands) != 0 {
		t.Fatalf("a replayed batch: %d %+v, want 409 without commands", code, reply)
	}
	cs, _ := r.Store.Commands(ctx, a.ID)
	if len(cs) != 1 || !cs[0].DeliveredAt.IsZero() || cs[0].Status(time.Now()) != store.StatusRequested {
		t.Fatalf("after a replayed batch the wipe is %+v, want requested", cs)
	}
	code, reply = a.Heartbeat(wire.NewNonce(), func(h *wire.Heartbeat) { h.Seq = 2 })
	if code != 200 || len(reply.Commands) != 1 || reply.Commands[0].ID != w.ID {
		t.Fatalf("a stored batch: %d %+v, want the wipe", code, reply)
	}
	if cs, _ = r.Store.Commands(ctx, a.ID); cs[0].DeliveredAt.IsZero() {
		t.Errorf("the wipe was not marked delivered with a stored batch")
	}
}

// TestLeaseRateLimit: a device asking for its lease faster than its rate
// is answered 429 with Retry-After, neither served nor logged; another
// device is not held back; in time it is served again.
func TestLeaseRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Now().UTC()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	r := servertest.New(t, servertest.Options{Now: clock})
	a, b := r.Agent("laptop-1"), r.Agent("laptop-2")
	key := a.Enrolled.Lease.KeyID
	for i := range 10 {
		if code, reply := a.Lease(a.LeaseRequest(wire.WantRenew, key)); code != 200 || reply.Grant == nil {
			t.Fatalf("request %d: %d %+v", i, code, reply)
		}
	}
	body, err := wire.Marshal(a.LeaseRequest(wire.WantRenew, key))
	if err != nil {
		t.Fatal(err)
	}
	code, _, hdr := a.Post(wire.PathLease, body, wire.SignLease(a.Key, body))
	if code != 429 || hdr.Get("Retry-After") != "30" {
		t.Fatalf("the 11th request: %d, Retry-After %q; want 429, 30", code, hdr.Get("Retry-After"))
	}
	log, _ := r.Store.Leases(context.Background(), a.ID, time.Time{}, now.Add(time.Hour), 0)
	if len(log) != 11 { // the enrollment's and the 10 served
		t.Errorf("%d entries in the log, want 11: the limited one is not logged", len(log))
	}
	if code, _ := b.Lease(b.LeaseRequest(wire.WantRenew, b.Enrolled.Lease.KeyID)); code != 200 {
		t.Errorf("another device: %d", code)
	}
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	if code, _ := a.Lease(a.LeaseRequest(wire.WantRenew, key)); code != 200 {
		t.Errorf("30s on: %d", code)
	}
	if code, _ := a.Lease(a.LeaseRequest(wire.WantRenew, key)); code != 429 {
		t.Errorf("again at once: %d, want 429", code)
	}
}
