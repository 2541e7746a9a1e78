package report_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/report/reporttest"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

// leaseAnswer makes a lease handler that checks the request as the server
// does and answers with status and the reply change makes of the proper
// one, signed with key.
func leaseAnswer(t *testing.T, f *reporttest.Server, key ed25519.PrivateKey, status int, change func(req *wire.LeaseRequest, rep *wire.LeaseReply)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig, _ := base64.StdEncoding.DecodeString(r.Header.Get(wire.SignatureHeader))
		dev := f.Settings().DeviceKey
		if err := wire.VerifyLease(dev, body, sig); err != nil {
			t.Errorf("the lease request is not signed by the device key: %v", err)
		}
		req, err := wire.DecodeLeaseRequest(body)
		if err != nil {
			t.Errorf("the lease request does not decode: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rep := wire.LeaseReply{V: 1, DeviceID: req.DeviceID, Nonce: req.Nonce, ServerTime: time.Now().UTC(),
			Grant: &wire.LeaseGrant{KeyID: "lk_1", Key: bytes.Repeat([]byte{7}, wire.LeaseKeySize), Until: time.Now().Add(72 * time.Hour).UTC()}}
		if req.Want == wire.WantRenew {
			rep.Grant.Key = nil
		}
		if change != nil {
			change(req, &rep)
		}
		rb, _ := wire.Marshal(rep)
		w.Header().Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignLeaseReply(key, rb)))
		w.WriteHeader(status)
		w.Write(rb)
	}
}

// TestRequestLease: a grant and a refusal are taken from a reply signed by
// the pinned server key for this device and request; anything else is an
// error, and a server without leases says so.
func TestRequestLease(t *testing.T) {
	f := newFake(t)
	r, _ := reporter(t, f, nil, nil)
	ctx := context.Background()
	ask := func(h http.HandlerFunc, want string) (report.Lease, error) {
		f.Set(func(c *reporttest.Settings) { c.Lease = h })
		return r.RequestLease(ctx, want, "lk_1")
	}

	l, err := ask(leaseAnswer(t, f, f.Key, http.StatusOK, func(req *wire.LeaseRequest, _ *wire.LeaseReply) {
		if req.KeyID != "lk_1" || req.Want != wire.WantKey || req.DeviceID != f.DeviceID {
			t.Errorf("request %+v", req)
		}
	}), wire.WantKey)
	if err != nil || l.Grant == nil || len(l.Grant.Key) != wire.LeaseKeySize || l.Grant.KeyID != "lk_1" || l.Refused != "" || l.ServerTime.IsZero() {
		t.Fatalf("a grant: %+v, %v", l, err)
	}
	if l, err := ask(leaseAnswer(t, f, f.Key, http.StatusOK, nil), wire.WantRenew); err != nil || l.Grant == nil || l.Grant.Key != nil {
		t.Errorf("a renewal: %+v, %v", l, err)
	}
	refuse := func(_ *wire.LeaseRequest, rep *wire.LeaseReply) { rep.Grant, rep.Refused = nil, wire.RefusedLost }
	for _, status := range []int{http.StatusOK, http.StatusForbidden} {
		if l, err := ask(leaseAnswer(t, f, f.Key, status, refuse), wire.WantKey); err != nil || l.Refused != wire.RefusedLost || l.Grant != nil {
			t.Errorf("a refusal with %d: %+v, %v", status, l, err)
		}
	}

	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherDevice, _ := wire.NewDeviceID()
	for name, h := range map[string]http.HandlerFunc{
		"a replay (another nonce)": leaseAnswer(t, f, f.Key, http.StatusOK, func(_ *wire.LeaseRequest, rep *wire.LeaseReply) { rep.Nonce = wire.NewNonce() }),
		"another device's":         leaseAnswer(t, f, f.Key, http.StatusOK, func(_ *wire.LeaseRequest, rep *wire.LeaseReply) { rep.DeviceID = otherDevice }),
		"signed by another key":    leaseAnswer(t, f, other, http.StatusOK, nil),
		"a 403 granting":           leaseAnswer(t, f, f.Key, http.StatusForbidden, nil),
		"409 (nonce seen before)":  leaseAnswer(t, f, f.Key, http.StatusConflict, nil),
		"503":                      func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) },
		"500 with a signed grant":  leaseAnswer(t, f, f.Key, http.StatusInternalServerError, nil),
		"an unsigned 200":          func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"v":1}`)) },
	} {
		if l, err := ask(h, wire.WantKey); err == nil || errors.Is(err, report.ErrNoLeases) {
			t.Errorf("%s: %+v, %v; want an error", name, l, err)
		}
	}
	if _, err := ask(nil, wire.WantKey); !errors.Is(err, report.ErrNoLeases) {
		t.Errorf("a server without leases: %v, want ErrNoLeases", err)
	}
}

// TestCommandsNeedTheNonce: every batch carries a fresh nonce; commands
// are passed on only from a reply that echoes it, after the heartbeats it
// acknowledges have left the spool; a reply echoing another nonce has its
// commands refused, reported, and not passed on.
func TestCommandsNeedTheNonce(t *testing.T) {
	f := newFake(t)
	cmd := f.Command("cmd_1", wire.CommandLock, time.Hour)
	f.Set(func(c *reporttest.Settings) { c.Commands = []wire.Command{cmd} })
	var mu sync.Mutex
	var got []wire.Command
	var then []report.Status // the reporter's status as each command was passed on
	var replies int
	var r *report.Reporter
	r, _ = reporter(t, f, nil, func(c *report.Config) {
		c.OnCommands = func(_ context.Context, serverTime time.Time, cmds []wire.Command) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, cmds...)
			then = append(then, r.Status())
			if serverTime.IsZero() {
				t.Error("no server time")
			}
		}
		c.OnReply = func(context.Context, *wire.Reply) { mu.Lock(); replies++; mu.Unlock() }
		c.NotableMin = 100 * time.Millisecond // the refusal is notable: not 30s later
	})
	r.MakeHeartbeat()
	r.MakeHeartbeat()
	run(t, r)
	testenv.Eventually(t, "the command passed on", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	mu.Lock()
	// Three heartbeats are made in all: the test's two, and Run's own at
	// its start, which may come after the first batch left. The ones the
	// reply acknowledged must have left the spool: what waits is newer.
	if st := then[0]; got[0] != cmd || st.AckedSeq < 2 || uint64(st.Spooled)+st.AckedSeq > 3 {
		t.Errorf("passed on %+v with heartbeats up to %d acknowledged and %d still spooled", got, st.AckedSeq, st.Spooled)
	}
	mu.Unlock()
	seen := map[string]bool{}
	for _, n := range f.Nonces() {
		if n == "" || seen[n] {
			t.Errorf("batch nonce %q: empty or used twice", n)
		}
		seen[n] = true
	}
	f.Set(func(c *reporttest.Settings) { c.BadNonce = true })
	r.MakeHeartbeat()
	testenv.Eventually(t, "a heartbeat reporting the refusal", func() bool {
		for _, h := range f.Received() {
			for _, e := range h.Events {
				if e.Type == wire.EventCommandRefused && strings.Contains(e.Detail, "nonce") {
					return true
				}
			}
		}
		return false
	})
	// Replies are taken one at a time, so every reply with the right nonce
	// has been taken by now; from here each one echoes another nonce.
	mu.Lock()
	before, repliesBefore := len(got), replies
	mu.Unlock()
	r.MakeHeartbeat()
	testenv.Eventually(t, "another reply", func() bool { mu.Lock(); defer mu.Unlock(); return replies > repliesBefore })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != before {
		t.Errorf("commands of a reply with another nonce were passed on: %+v", got[before:])
	}
}

// TestAcksSurviveACrash: an acknowledgement queued is kept in the state
// store until a heartbeat carries it, even if the reporter is made again
// (a restart) before; it goes exactly once.
func TestAcksSurviveACrash(t *testing.T) {
	f := newFake(t)
	f.SetDown(true)
	var cfg report.Config
	r, _ := reporter(t, f, func() report.Snapshot {
		return report.Snapshot{AgentVersion: "test", Lease: wire.LeaseUnlocked, OfflineCopy: wire.OfflineTPM, Vault: wire.Vault{CaseRefs: []wire.CaseCount{}}}
	}, func(c *report.Config) { cfg = *c })
	ack := wire.CommandAck{ID: "cmd_9", Type: wire.CommandWipe, Result: wire.AckDone, Reason: "removed 3 sealed files"}
	if err := r.Ack(ack); err != nil {
		t.Fatal(err)
	}
	// The process dies; a new reporter on the same state.
	r2, err := report.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.SetDown(false)
	run(t, r2)
	testenv.Eventually(t, "the ack delivered", func() bool {
		for _, h := range f.Received() {
			if len(h.Acks) > 0 {
				return true
			}
		}
		return false
	})
	r2.MakeHeartbeat()
	testenv.Eventually(t, "another heartbeat", func() bool { return len(f.Received()) >= 2 })
	n := 0
	for _, h := range f.Received() {
		for _, a := range h.Acks {
			if a.ID != "cmd_9" || a.Result != wire.AckDone || a.Reason != ack.Reason || a.At.IsZero() {
				t.Errorf("ack %+v", a)
			}
			n++
		}
		if h.Lease != wire.LeaseUnlocked || h.OfflineCopy != wire.OfflineTPM {
			t.Errorf("heartbeat lease %q, offline copy %q", h.Lease, h.OfflineCopy)
		}
	}
	if n != 1 {
		t.Errorf("the ack went %d times, want once", n)
	}
}

// TestFinal: the last heartbeat carries the acknowledgements waiting;
// Final returns once the server has acknowledged it, and no heartbeat is
// made after, by the loop or a farewell.
func TestFinal(t *testing.T) {
	f := newFake(t)
	r, dir := reporter(t, f, nil, func(c *report.Config) { c.Interval = 20 * time.Millisecond })
	run(t, r)
	testenv.Eventually(t, "heartbeats", func() bool { return len(f.Received()) >= 2 })
	if err := r.Ack(wire.CommandAck{ID: "cmd_w", Type: wire.CommandWipe, Result: wire.AckDone}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Final(ctx); err != nil {
		t.Fatal(err)
	}
	got := f.Received()
	last := got[len(got)-1]
	if len(last.Acks) != 1 || last.Acks[0].ID != "cmd_w" {
		t.Fatalf("the last heartbeat %+v does not carry the ack", last)
	}
	time.Sleep(200 * time.Millisecond)
	r.MakeHeartbeat()
	if spooled, _ := r.Farewell(ctx, wire.StopService); spooled {
		t.Error("a farewell was made after Final")
	}
	if n := len(f.Received()); n != len(got) {
		t.Errorf("%d heartbeats after the last", n-len(got))
	}
	if err := r.Final(ctx); err != nil {
		t.Errorf("Final again: %v", err)
	}
	if err := r.Forget(); err != nil {
		t.Fatal(err)
	}
	if n, err := report.NextSeq(state.OpenStore(dir, time.Second)); err != nil || n != 1 {
		t.Errorf("after Forget, next seq %d, %v", n, err)
	}
}

// TestHoldForFinal: once held, notable events and the interval make no
// heartbeat, so the acknowledgement queued after the hold goes in the one
// Final makes, and that one is the last.
func TestHoldForFinal(t *testing.T) {
	f := newFake(t)
	r, _ := reporter(t, f, nil, func(c *report.Config) {
		c.Interval, c.NotableMin, c.SettleQuiet = 20*time.Millisecond, time.Millisecond, time.Millisecond
	})
	run(t, r)
	testenv.Eventually(t, "heartbeats", func() bool { return len(f.Received()) >= 2 })
	r.HoldForFinal()
	time.Sleep(100 * time.Millisecond) // a heartbeat being made as the hold came is sent by now
	before := len(f.Received())
	if err := r.Ack(wire.CommandAck{ID: "cmd_w", Type: wire.CommandWipe, Result: wire.AckDone}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		r.Notable()
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(f.Received()); n != before {
		t.Fatalf("%d heartbeats made while held", n-before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Final(ctx); err != nil {
		t.Fatal(err)
	}
	got := f.Received()
	if len(got) != before+1 || len(got[len(got)-1].Acks) != 1 || got[len(got)-1].Acks[0].ID != "cmd_w" {
		t.Fatalf("after the hold %d heartbeats, the last %+v; want one, carrying the ack", len(got)-before, got[len(got)-1])
	}
}

// TestEnrollKeepsFirstLease: the first lease of the enrollment reply is
// returned in memory, never written to the state folder.
func TestEnrollKeepsFirstLease(t *testing.T) {
	key := bytes.Repeat([]byte{9}, wire.LeaseKeySize)
	srv, o := setup(t, func(s *enrollServer) {
		s.lease = &wire.LeaseGrant{KeyID: "lk_first", Key: key, Until: time.Now().Add(time.Hour).UTC()}
	}, nil)
	en, _, err := report.Enroll(context.Background(), srv.srv.URL, srv.token(t), o.Host, o.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if en.Lease == nil || en.Lease.KeyID != "lk_first" || !bytes.Equal(en.Lease.Key, key) {
		t.Fatalf("the first lease: %+v", en.Lease)
	}
	b, err := os.ReadFile(filepath.Join(o.StateDir, report.EnrollmentFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(key))) || bytes.Contains(b, []byte("lk_first")) {
		t.Errorf("the enrollment file holds the lease: %s", b)
	}
	saved, err := report.LoadEnrollment(o.StateDir)
	if err != nil || saved.Lease != nil {
		t.Errorf("loaded enrollment's lease %+v, %v", saved.Lease, err)
	}
	k := en.Lease.Key
	en.ForgetLease()
	if en.Lease != nil || !bytes.Equal(k, make([]byte, wire.LeaseKeySize)) {
		t.Error("ForgetLease left the key")
	}
}

// TestLeaseBuffersZeroed: the buffer the lease reply (holding the lease
// key) was read into is zeroed once RequestLease returns, and Zero clears
// a grant's keys.
func TestLeaseBuffersZeroed(t *testing.T) {
	f := newFake(t)
	r, _ := reporter(t, f, nil, nil)
	var body []byte
	report.SetLeaseBodyHook(func(rb []byte) { body = rb })
	defer report.SetLeaseBodyHook(nil)
	f.Set(func(c *reporttest.Settings) { c.Lease = leaseAnswer(t, f, f.Key, http.StatusOK, nil) })
	l, err := r.RequestLease(context.Background(), wire.WantKey, "lk_1")
	if err != nil || l.Grant == nil || !bytes.Equal(l.Grant.Key, bytes.Repeat([]byte{7}, wire.LeaseKeySize)) {
		t.Fatalf("a grant: %+v, %v", l, err)
	}
	if len(body) == 0 {
		t.Fatal("the hook saw no body")
	}
	if !bytes.Equal(body[:cap(body)], make([]byte, cap(body))) {
		t.Errorf("the lease reply's buffer is not zeroed: %q", bytes.TrimRight(body, "\x00"))
	}
	l.Grant.Next = &wire.NextKey{KeyID: "lk_2", Key: bytes.Repeat([]byte{9}, wire.LeaseKeySize)}
	l.Grant.Zero()
	if !bytes.Equal(l.Grant.Key, make([]byte, wire.LeaseKeySize)) || !bytes.Equal(l.Grant.Next.Key, make([]byte, wire.LeaseKeySize)) {
		t.Errorf("Zero left %x %x", l.Grant.Key, l.Grant.Next.Key)
	}
	var none *wire.LeaseGrant
	none.Zero()
}
