package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
	"github.com/casekeep/casekeep/server"
	"github.com/casekeep/casekeep/server/store"
)

func TestEnrollAndReport(t *testing.T) {
	r := newRig(t)
	d := r.enroll("laptop-1")
	row, err := r.Store.Device(context.Background(), d.en.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Hostname != "laptop-1" || row.User != "ann" || !bytes.Equal(row.SigningKey, d.key.Public().(ed25519.PublicKey)) {
		t.Errorf("device %+v", row.Device)
	}
	// The policy came with the enrollment and verifies with the pinned key.
	p, err := d.en.LoadPolicy(d.dir)
	if err != nil || p.Version != 1 {
		t.Fatalf("policy in force: %v", err)
	}

	rep := d.reporter(t, nil)
	runReporter(t, rep)
	rep.Event(wire.Event{Time: time.Now().UTC(), Type: "vault.sealed", CaseRef: "LL-1"})
	rep.Notable()
	testenv.Eventually(t, "two heartbeats stored", func() bool { return r.LastSeq(d.en.DeviceID) >= 2 })
	row, _ = r.Store.Device(context.Background(), d.en.DeviceID)
	if !row.State.Compliant || row.State.SealedFiles != 2 || row.State.CaseRefs != 1 || row.State.DiskEncryption != "pass" {
		t.Errorf("state %+v", row.State)
	}
	events, _ := r.Store.Events(context.Background(), d.en.DeviceID, time.Time{}, time.Now().Add(time.Hour))
	if len(events) != 1 || events[0].Type != "vault.sealed" || events[0].CaseRef != "LL-1" {
		t.Errorf("events %+v", events)
	}
	if gaps, _ := r.Store.Gaps(context.Background(), d.en.DeviceID); len(gaps) != 0 {
		t.Errorf("gaps %+v", gaps)
	}
	testenv.Eventually(t, "the spool emptied", func() bool { return rep.Status().Spooled == 0 })
	if st := rep.Status(); st.AckedSeq < 2 || st.LastAck.IsZero() || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
	if live := server.LivenessOf(row.State.ReceivedAt, time.Now(), r.Policy); live != server.Online {
		t.Errorf("liveness %s", live)
	}
}

func TestEnrollRefusals(t *testing.T) {
	r := newRig(t)
	info := report.HostInfo{Hostname: "h", OS: "linux"}
	try := func(tok string) error {
		dir := t.TempDir()
		state.Prepare(dir)
		_, _, err := report.Enroll(context.Background(), r.URL, tok, info, dir)
		return err
	}
	unknown, _, _ := wire.NewToken(r.Pin)
	if err := try(unknown); err == nil || !strings.Contains(err.Error(), "enrollment token unknown") {
		t.Errorf("unknown token: %v", err)
	}
	expired := r.EnrollToken(5, -time.Minute)
	if err := try(expired); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: %v", err)
	}
	once := r.EnrollToken(1, time.Hour)
	if err := try(once); err != nil {
		t.Fatal(err)
	}
	if err := try(once); err == nil || !strings.Contains(err.Error(), "used up") {
		t.Errorf("used-up token: %v", err)
	}
	// A token pinning another certificate never reaches this server.
	wrongPin := bytes.Repeat([]byte{1}, 32)
	tok, hash, _ := wire.NewToken(wrongPin)
	r.Store.CreateToken(context.Background(), store.Token{Hash: hash, Uses: 1, ExpiresAt: time.Now().Add(time.Hour)})
	if err := try(tok); err == nil || !strings.Contains(err.Error(), "not the pinned") {
		t.Errorf("wrong pin: %v", err)
	}
	if err := try("not a token"); err == nil {
		t.Error("garbage token accepted")
	}
	// An enrollment request not signed by the key it offers.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	body, _ := wire.Marshal(wire.EnrollRequest{V: 1, Token: r.EnrollToken(1, time.Hour), SigningKey: pub, Hostname: "h", OS: "linux", Arch: "amd64"})
	resp := r.post(wire.PathEnroll, body, map[string]string{wire.SignatureHeader: base64.StdEncoding.EncodeToString(wire.SignEnroll(other, body))})
	if resp.status != http.StatusUnauthorized {
		t.Errorf("enrollment signed by another key: %d %s", resp.status, resp.body)
	}
}

type httpResult struct {
	status int
	body   string
	header http.Header
}

// post sends a raw request to the rig, pinned.
func (r *rig) post(path string, body []byte, headers map[string]string) httpResult {
	r.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.URL+path, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return r.send(req)
}

// postStream sends a body of unknown length (chunked), pinned.
func (r *rig) postStream(path string, body io.Reader) httpResult {
	r.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.URL+path, body)
	req.ContentLength = -1
	return r.send(req)
}

func (r *rig) send(req *http.Request) httpResult {
	r.T.Helper()
	resp, err := r.Client().Do(req)
	if err != nil {
		r.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, string(b), resp.Header}
}

// heartbeat makes a signed heartbeat.
func heartbeat(t testing.TB, d *device, seq uint64, prev string, mutate func(*wire.Heartbeat)) wire.SignedHeartbeat {
	h := wire.Heartbeat{V: 1, DeviceID: d.en.DeviceID, Seq: seq, PrevHash: prev, CreatedAt: time.Now().UTC(),
		AgentVersion: "test", Policy: wire.PolicyRef{Version: 1}, Posture: []wire.Check{}, Lease: "none",
		Vault: wire.Vault{CaseRefs: []wire.CaseCount{}}, Events: []wire.Event{}}
	if mutate != nil {
		mutate(&h)
	}
	body, err := wire.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return wire.SignedHeartbeat{Body: body, Sig: wire.SignHeartbeat(d.key, body)}
}

func batch(hbs ...wire.SignedHeartbeat) []byte {
	b, _ := wire.Marshal(wire.Batch{V: 1, Heartbeats: hbs})
	return b
}

func TestIngestRefusals(t *testing.T) {
	r := newRig(t)
	d := r.enroll("a")
	other := r.enroll("b")
	h1 := heartbeat(t, d, 1, "", nil)
	if res := r.post(wire.PathHeartbeats, batch(h1), nil); res.status != http.StatusOK {
		t.Fatalf("first heartbeat: %d %s", res.status, res.body)
	}
	h2 := heartbeat(t, d, 2, wire.Hash(h1.Body), nil)

	forged := h2
	forged.Sig = bytes.Clone(h2.Sig)
	forged.Sig[0] ^= 1
	wrongKey := h2
	wrongKey.Sig = wire.SignHeartbeat(other.key, h2.Body)
	stranger := &device{en: &report.Enrollment{DeviceID: "dev_aaaaaaaaaaaaaaaaaaaaaaaaaa"}, key: d.key}
	mixed := heartbeat(t, other, 1, "", nil)

	cases := []struct {
		name   string
		body   []byte
		status int
		says   string
	}{
		{"forged signature", batch(forged), http.StatusUnauthorized, "does not verify"},
		{"signed by another device", batch(wrongKey), http.StatusUnauthorized, "does not verify"},
		{"replayed seq", batch(h1), http.StatusConflict, ""},
		{"unknown device", batch(heartbeat(t, stranger, 1, "", nil)), http.StatusForbidden, "unknown device"},
		{"two devices in one batch", batch(h2, mixed), http.StatusBadRequest, "another device"},
		{"10 MiB body", bytes.Repeat([]byte("x"), 10<<20), http.StatusRequestEntityTooLarge, "limit"},
		{"random bytes", []byte("\x00\xff\x13garbage"), http.StatusBadRequest, "malformed"},
		{"malformed JSON", []byte(`{"v":1,"heartbeats":[`), http.StatusBadRequest, "malformed"},
		{"future version", []byte(`{"v":99,"heartbeats":[]}`), http.StatusBadRequest, "version"},
	}
	for _, c := range cases {
		res := r.post(wire.PathHeartbeats, c.body, nil)
		if res.status != c.status || !strings.Contains(res.body, c.says) {
			t.Errorf("%s: %d %q; want %d containing %q", c.name, res.status, res.body, c.status, c.says)
		}
	}
	// A body over the limit without a Content-Length is cut off while read.
	res := r.postStream(wire.PathHeartbeats, io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), 3<<20))))
	if res.status != http.StatusRequestEntityTooLarge || !strings.Contains(res.body, "limit") {
		t.Errorf("3 MiB streamed without a length: %d %s", res.status, res.body)
	}
	// The replay's 409 is signed and says how far the device is stored.
	res = r.post(wire.PathHeartbeats, batch(h1), nil)
	sig, _ := base64.StdEncoding.DecodeString(res.header.Get(wire.SignatureHeader))
	if err := wire.VerifyReply(d.en.ServerKey, []byte(res.body), sig); err != nil {
		t.Errorf("409 reply: %v", err)
	}
	if reply, err := wire.DecodeReply([]byte(res.body)); err != nil || reply.AckedSeq != 1 {
		t.Errorf("409 reply: %+v %v", reply, err)
	}
	if got := r.LastSeq(d.en.DeviceID); got != 1 {
		t.Errorf("last seq %d after the refusals, want 1", got)
	}
	// A revoked device is refused (the store's check, not only the cache).
	if err := r.Store.RevokeDevice(context.Background(), d.en.DeviceID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if res := r.post(wire.PathHeartbeats, batch(h2), nil); res.status != http.StatusForbidden || !strings.Contains(res.body, "revoked") {
		t.Errorf("revoked device: %d %s", res.status, res.body)
	}
}

// TestMetacharactersStoredInert sends fields full of SQL and HTML
// metacharacters: they are stored as data and come back exactly.
func TestMetacharactersStoredInert(t *testing.T) {
	r := newRig(t)
	d := r.enroll("x")
	nasty := `LL-1'); DROP TABLE devices;-- <script>alert(1)</script> "quoted" \back ünï`
	h := heartbeat(t, d, 1, "", func(h *wire.Heartbeat) {
		h.AgentVersion = nasty[:60]
		h.Events = []wire.Event{{Time: time.Now().UTC(), Type: "vault.refused", CaseRef: nasty, Detail: nasty}}
		h.Vault.CaseRefs = []wire.CaseCount{{Ref: nasty, Files: 1}}
	})
	if res := r.post(wire.PathHeartbeats, batch(h), nil); res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
	events, _ := r.Store.Events(context.Background(), d.en.DeviceID, time.Time{}, time.Now().Add(time.Hour))
	holdings, _ := r.Store.Holdings(context.Background(), d.en.DeviceID)
	if len(events) != 1 || events[0].Detail != nasty || len(holdings) != 1 || holdings[0].Ref != nasty {
		t.Errorf("events %+v holdings %+v", events, holdings)
	}
	if rows, err := r.Store.Devices(context.Background()); err != nil || len(rows) != 1 {
		t.Errorf("devices after: %d, %v", len(rows), err)
	}
	body, _ := r.Store.Heartbeat(context.Background(), d.en.DeviceID, 1)
	if !bytes.Equal(body, h.Body) {
		t.Error("the stored bytes are not the bytes received")
	}
}

// TestGapRecorded: a heartbeat whose prev hash is not the last stored one
// is kept, and the break recorded with both hashes.
func TestGapRecorded(t *testing.T) {
	r := newRig(t)
	d := r.enroll("g")
	h1 := heartbeat(t, d, 1, "", nil)
	h2 := heartbeat(t, d, 2, wire.Hash(h1.Body), nil)
	h3 := heartbeat(t, d, 3, wire.Hash(h2.Body), nil)
	r.post(wire.PathHeartbeats, batch(h1), nil)
	if res := r.post(wire.PathHeartbeats, batch(h3), nil); res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.body)
	}
	gaps, err := r.Store.Gaps(context.Background(), d.en.DeviceID)
	if err != nil || len(gaps) != 1 {
		t.Fatalf("gaps %+v %v", gaps, err)
	}
	g := gaps[0]
	if g.Seq != 3 || wire.Hash(h1.Body) != hex.EncodeToString(g.Expected) || wire.Hash(h2.Body) != hex.EncodeToString(g.Got) {
		t.Errorf("gap %+v", g)
	}
	if r.LastSeq(d.en.DeviceID) != 3 {
		t.Error("the heartbeat after the gap was not kept")
	}
}

func TestNewPolicyReachesAgent(t *testing.T) {
	r := newRig(t)
	d := r.enroll("p")
	got := make(chan int, 4)
	rep := d.reporter(t, func(c *report.Config) {
		c.OnPolicy = func(ctx context.Context, v int) { got <- v }
	})
	runReporter(t, rep)
	testenv.Eventually(t, "the first reply", func() bool { return len(got) > 0 })
	if v := <-got; v != 1 {
		t.Errorf("policy version %d", v)
	}
	p2 := *r.Policy
	p2.Version = 2
	bundle, err := policy.Sign(&p2, r.PolicyKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Store.SetPolicy(context.Background(), 2, bundle); err != nil {
		t.Fatal(err)
	}
	// The server caches its policy for half a minute; a fresh server does not.
	r.Stop()
	r.Start()
	rep.Notable()
	testenv.Eventually(t, "version 2 announced", func() bool {
		for len(got) > 0 {
			if <-got == 2 {
				return true
			}
		}
		rep.Notable()
		return false
	})
	fetched, err := rep.FetchPolicy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p, err := d.en.SavePolicy(d.dir, fetched, 1); err != nil || p.Version != 2 {
		t.Errorf("saving version 2: %v", err)
	}
	if _, err := d.en.SavePolicy(d.dir, bundle, 2); err == nil {
		t.Error("the same version again was taken")
	}
}
