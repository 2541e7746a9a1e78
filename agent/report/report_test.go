package report_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

// fakeServer answers heartbeats as the test says, with replies signed by a
// key the test holds, and keeps what it receives.
type fakeServer struct {
	srv *httptest.Server
	key ed25519.PrivateKey
	id  string

	mu       sync.Mutex
	down     bool
	acked    uint64 // what it says it holds of the device
	got      []*wire.Heartbeat
	sizes    []int // request body sizes
	devKey   ed25519.PublicKey
	badSigns int
	commands []wire.Command   // sent in every reply
	badNonce bool             // replies echo another nonce
	nonces   []string         // the batches' nonces
	lease    http.HandlerFunc // answers lease requests (404 if nil)
}

func newFake(t *testing.T) *fakeServer {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	id, _ := wire.NewDeviceID()
	f := &fakeServer{key: key, id: id}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == wire.PathLease {
		f.mu.Lock()
		lease := f.lease
		f.mu.Unlock()
		if lease == nil {
			http.NotFound(w, r)
			return
		}
		lease(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	f.sizes = append(f.sizes, len(body))
	batch, err := wire.DecodeBatch(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	status := http.StatusConflict
	for _, sh := range batch.Heartbeats {
		h, err := wire.DecodeHeartbeat(sh.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if wire.VerifyHeartbeat(f.devKey, sh.Body, sh.Sig) != nil {
			f.badSigns++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if h.Seq > f.acked {
			f.got = append(f.got, h)
			f.acked = h.Seq
			status = http.StatusOK
		}
	}
	f.nonces = append(f.nonces, batch.Nonce)
	nonce := batch.Nonce
	if f.badNonce {
		nonce = wire.NewNonce()
	}
	reply, _ := wire.Marshal(wire.Reply{V: 1, DeviceID: f.id, AckedSeq: f.acked, PolicyVersion: 1, ServerTime: time.Now().UTC(),
		Nonce: nonce, Commands: f.commands})
	w.Header().Set(wire.SignatureHeader, base64.StdEncoding.EncodeToString(wire.SignReply(f.key, reply)))
	w.WriteHeader(status)
	w.Write(reply)
}

func (f *fakeServer) received() []*wire.Heartbeat {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*wire.Heartbeat(nil), f.got...)
}

// reporter makes a reporter enrolled (on paper) with the fake server.
func (f *fakeServer) reporter(t *testing.T, snap func() report.Snapshot, tune func(*report.Config)) (*report.Reporter, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	state.Prepare(dir)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	f.mu.Lock()
	f.devKey = pub
	f.mu.Unlock()
	en := &report.Enrollment{Server: f.srv.URL, DeviceID: f.id, ServerKey: f.key.Public().(ed25519.PublicKey),
		PolicyKey: pub, TLSPin: wire.CertPin(f.srv.Certificate())}
	if snap == nil {
		snap = func() report.Snapshot {
			return report.Snapshot{AgentVersion: "test", Lease: "none", Vault: wire.Vault{CaseRefs: []wire.CaseCount{}}}
		}
	}
	cfg := report.Config{Store: state.OpenStore(dir, 5*time.Second), Enrollment: en, Key: key, Snapshot: snap,
		Interval: time.Hour, DrainEvery: time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	if tune != nil {
		tune(&cfg)
	}
	r, err := report.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

func run(t *testing.T, r *report.Reporter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestSpoolFullCoalesces(t *testing.T) {
	f := newFake(t)
	f.down = true
	r, _ := f.reporter(t, nil, func(c *report.Config) { c.SpoolMax = 3 })
	for i := range 6 {
		r.Event(wire.Event{Time: time.Now().UTC(), Type: "vault.sealed", CaseRef: fmt.Sprint("LL-", i)})
		r.Event(wire.Event{Time: time.Now().UTC(), Type: "vault.refused"})
		r.MakeHeartbeat()
	}
	if st := r.Status(); st.Spooled != 3 {
		t.Fatalf("spooled %d, want the bound 3", st.Spooled)
	}
	f.mu.Lock()
	f.down = false
	f.mu.Unlock()
	run(t, r) // its heartbeat at start finds the spool still full: a fourth skip
	// Wait for the acknowledgement, not the fake's receipt: until the agent
	// has read the reply the spool is still full.
	testenv.Eventually(t, "the three sent and acknowledged", func() bool { return len(f.received()) >= 3 && r.Status().Spooled == 0 })
	r.MakeHeartbeat() // the first that fits
	testenv.Eventually(t, "the fourth sent", func() bool { return len(f.received()) >= 4 })
	got := f.received()
	fourth := got[3]
	if fourth.Skipped != 4 {
		t.Errorf("the next heartbeat says %d skipped, want 4", fourth.Skipped)
	}
	// 6 sealed and 6 refused events: 3+3 went in the spooled heartbeats, the
	// rest was counted while the spool was full.
	listed := 0
	for _, h := range got {
		listed += len(h.Events)
	}
	counted := 0
	for _, h := range got {
		for _, c := range h.Coalesced {
			counted += c.Count
		}
	}
	for _, c := range fourth.Coalesced {
		if c.First.IsZero() || c.Last.Before(c.First) {
			t.Errorf("coalesced %+v", c)
		}
	}
	if listed+counted != 12 {
		t.Errorf("%d events listed and %d counted, want 12 in all: none lost", listed, counted)
	}
}

func TestServerAheadRenumbers(t *testing.T) {
	f := newFake(t)
	f.acked = 100 // the server holds 100 heartbeats of this device; the agent lost its state
	r, _ := f.reporter(t, nil, nil)
	for range 3 {
		r.Event(wire.Event{Time: time.Now().UTC(), Type: "vault.sealed"})
		r.MakeHeartbeat()
	}
	run(t, r) // plus the heartbeat it makes at start
	testenv.Eventually(t, "all delivered", func() bool { return len(f.received()) >= 4 })
	got := f.received()
	if got[0].Seq != 101 || got[3].Seq != 104 || got[0].PrevHash != strings.Repeat("0", 64) {
		t.Errorf("seqs %d..%d, first prev %s", got[0].Seq, got[3].Seq, got[0].PrevHash)
	}
	for i, h := range got[:3] {
		if len(h.Events) != 1 {
			t.Errorf("heartbeat %d lost its events", i)
		}
	}
	if f.badSigns != 0 {
		t.Errorf("%d renumbered heartbeats were not signed again", f.badSigns)
	}
}

func TestCorruptRecordDropped(t *testing.T) {
	f := newFake(t)
	f.down = true
	r, dir := f.reporter(t, nil, nil)
	for range 3 {
		r.MakeHeartbeat()
	}
	// Damage heartbeat 2 in the spool, as a bad disk would.
	st := state.OpenStore(dir, time.Second)
	err := st.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("report.spool"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		v := bytes.Clone(b.Get(k))
		v[len(v)-1] ^= 1
		return b.Put(k, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.down = false
	f.mu.Unlock()
	run(t, r)
	testenv.Eventually(t, "the others delivered", func() bool { return len(f.received()) >= 3 })
	got := f.received()
	if got[0].Seq != 1 || got[1].Seq != 3 || got[2].Seq != 4 {
		t.Errorf("delivered %d and %d, want 1 and 3 (2 was corrupt: a gap, not a forgery)", got[0].Seq, got[1].Seq)
	}
}

func TestBatchesFitTheLimit(t *testing.T) {
	f := newFake(t)
	f.down = true
	refs := make([]wire.CaseCount, 700)
	for i := range refs {
		refs[i] = wire.CaseCount{Ref: fmt.Sprintf("CASE-REFERENCE-%06d", i), Files: i}
	}
	r, _ := f.reporter(t, func() report.Snapshot {
		return report.Snapshot{AgentVersion: "test", Lease: "none", Vault: wire.Vault{CaseRefs: refs}}
	}, nil)
	for range 50 {
		r.MakeHeartbeat()
	}
	f.mu.Lock()
	f.down = false
	f.mu.Unlock()
	run(t, r)
	testenv.Eventually(t, "all 50 delivered", func() bool { return len(f.received()) >= 51 })
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.sizes {
		if n > wire.MaxRequest {
			t.Errorf("a request of %d bytes, over the server's limit", n)
		}
	}
}

// TestNothingRefusedIsSpooled feeds events the server would refuse (control
// characters, overlong details) and a clock before 2000: nothing that would
// block the spool is ever made.
func TestNothingRefusedIsSpooled(t *testing.T) {
	f := newFake(t)
	now := time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC)
	var mu sync.Mutex
	r, _ := f.reporter(t, nil, func(c *report.Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	r.MakeHeartbeat()
	if st := r.Status(); st.Spooled != 0 {
		t.Fatal("a heartbeat was made with the clock at 1970")
	}
	mu.Lock()
	now = time.Now()
	mu.Unlock()
	r.Event(wire.Event{Time: time.Now().UTC(), Type: "vault.seal_failed", Detail: "write:\nno space\x00 " + strings.Repeat("x", 5000)})
	r.Event(wire.Event{Time: time.Now().UTC(), Type: "", CaseRef: "LL-1\t\xff"})
	r.MakeHeartbeat()
	run(t, r)
	testenv.Eventually(t, "delivered", func() bool { return len(f.received()) >= 1 })
	h := f.received()[0]
	if len(h.Events) != 2 || len(h.Events[0].Detail) > 1024 || strings.ContainsAny(h.Events[0].Detail, "\n\x00") {
		t.Errorf("events %+v", h.Events)
	}
}

func TestEnrollRefusesPinlessToken(t *testing.T) {
	f := newFake(t)
	dir := t.TempDir()
	tok, _, _ := wire.NewToken(nil)
	_, _, err := report.Enroll(context.Background(), f.srv.URL, tok, report.HostInfo{Hostname: "h"}, dir)
	if !errors.Is(err, wire.ErrToken) || !strings.Contains(err.Error(), "no certificate pin") {
		t.Errorf("a token without a pin: %v", err)
	}
	if _, _, err := report.Enroll(context.Background(), "http://"+f.srv.Listener.Addr().String(), tok, report.HostInfo{Hostname: "h"}, dir); err == nil {
		t.Error("an http:// server was accepted")
	}
}
