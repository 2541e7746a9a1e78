package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

// Open opens a store for t. The first call in a test (or subtest) must
// return a store on a fresh, empty database; each later call in the same
// test must return another, independent handle on that same database, as a
// second server process would have. It registers t.Cleanup to close what it
// opens (tests may also close a store themselves: Close twice must be
// harmless) and to remove the database.
type Open func(t *testing.T) store.Store

// PerTest returns an [Open] that calls fresh once per test to make a new
// database (returning its name, path or DSN) and handle for every store it
// opens on it.
func PerTest(fresh func(t *testing.T) string, handle func(t *testing.T, db string) store.Store) Open {
	var (
		mu  sync.Mutex
		dbs = map[*testing.T]string{}
	)
	return func(t *testing.T) store.Store {
		t.Helper()
		mu.Lock()
		db, ok := dbs[t]
		mu.Unlock()
		if !ok {
			db = fresh(t)
			mu.Lock()
			dbs[t] = db
			mu.Unlock()
			t.Cleanup(func() {
				mu.Lock()
				delete(dbs, t)
				mu.Unlock()
			})
		}
		return handle(t, db)
	}
}

// Run runs the suite, each case as a subtest with its own database.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, Open)
	}{
		{"Tokens", testTokens},
		{"TokenConcurrentUses", testTokenConcurrentUses},
		{"Devices", testDevices},
		{"RevokeDevice", testRevokeDevice},
		{"IngestFirstAndAccepted", testIngestFirst},
		{"IngestEmpty", testIngestEmpty},
		{"IngestReplay", testIngestReplay},
		{"IngestGap", testIngestGap},
		{"IngestUnknownAndRevoked", testIngestUnknownRevoked},
		{"IngestBatch", testIngestBatch},
		{"StateChanges", testStateChanges},
		{"Events", testEvents},
		{"Holdings", testHoldings},
		{"HeartbeatAndPrune", testHeartbeatAndPrune},
		{"Policy", testPolicy},
		{"PolicyConcurrent", testPolicyConcurrent},
		{"Metacharacters", testMetacharacters},
		{"Invalid", testInvalid},
		{"Times", testTimes},
		{"Reopen", testReopen},
		{"TwoHandlesOneDevice", testTwoHandles},
		{"ConcurrentBatches", testConcurrentBatches},
		{"Users", testUsers},
		{"APITokens", testAPITokens},
		{"Audit", testAudit},
		{"AuditConcurrent", testAuditConcurrent},
		{"LostReports", testLostReports},
		{"WipeRequests", testWipeRequests},
		{"Decisions", testDecisions},
		{"AccessReopen", testAccessReopen},
		{"AccessTwoHandles", testAccessTwoHandles},
		{"CaseHolders", testCaseHolders},
		{"StatesAt", testStatesAt},
		{"HeartbeatsAround", testHeartbeatsAround},
		{"SearchEvents", testSearchEvents},
		{"SearchEventsLimit", testSearchEventsLimit},
		{"QueryMetacharacters", testQueryMetacharacters},
		{"AckWipe", testAckWipe},
		{"AgentStops", testAgentStops},
		{"AgentStopsFleet", testAgentStopsFleet},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, open) })
	}
}

// t0 has nanoseconds, so that every test also checks the truncation to
// microseconds.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)

func us(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(us(want)) {
		t.Errorf("%s = %v, want %v", what, got, us(want))
	}
	if got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", what, got.Location())
	}
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %x, want %x", what, got, want)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func is(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func device(id string) store.Device {
	return store.Device{
		ID: id, SigningKey: append([]byte{0, 1, 0xff}, id...), Hostname: "host-" + id, OS: "windows",
		Arch: "amd64", Serial: "SN-" + id, User: "CORP\\" + id, AgentVersion: "0.9.0",
		EnrolledAt: t0.Add(-24 * time.Hour),
	}
}

func createDevices(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		ok(t, s.CreateDevice(t.Context(), device(id)))
	}
}

func baseState() store.State {
	return store.State{
		AgentVersion: "1.0.0", PolicyVersion: 3, PolicyHash: "sha256:abc", Recipient: "age1qqq",
		SealedFiles: 10, SealedBytes: 1 << 20, PlaintextFiles: 0, CaseRefs: 2, DiskEncryption: "pass",
		Compliant: true, Lease: "valid",
	}
}

// chain makes a device's heartbeats, each continuing the hash chain.
type chain struct {
	dev   string
	seq   uint64
	prev  []byte
	at    time.Time
	state store.State
}

func newChain(dev string) *chain {
	return &chain{dev: dev, at: t0, state: baseState()}
}

// next returns the next heartbeat, received a minute after the last.
func (c *chain) next() store.Heartbeat {
	c.seq++
	c.at = c.at.Add(time.Minute)
	h := c.make(c.seq, c.prev, c.at)
	c.prev = h.Hash
	return h
}

func (c *chain) make(seq uint64, prev []byte, at time.Time) store.Heartbeat {
	body := fmt.Appendf(nil, `{"device":%q,"seq":%d,"at":%q}`, c.dev, seq, at.Format(time.RFC3339Nano))
	body = append(body, 0, 0xff, '\n') // bytes that are not text must come back too
	sum := sha256.Sum256(body)
	st := c.state
	st.Seq, st.Hash, st.SentAt, st.ReceivedAt = seq, sum[:], at.Add(-time.Second), at
	return store.Heartbeat{
		DeviceID: c.dev, Seq: seq, Hash: sum[:], PrevHash: prev, Body: body, State: st,
		Events: []store.Event{
			{Time: at.Add(-3 * time.Second), Type: "sealed", CaseRef: "LL-1", Detail: fmt.Sprintf("seq %d a", seq)},
			{Time: at.Add(-2 * time.Second), Type: "usb", Detail: fmt.Sprintf("seq %d b", seq)},
		},
		CaseRefs: []store.CaseCount{{Ref: "LL-1", Files: int(seq)}},
	}
}

func ingest(t *testing.T, s store.Store, hbs ...store.Heartbeat) []store.Outcome {
	t.Helper()
	out, err := s.Ingest(t.Context(), hbs)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if len(out) != len(hbs) {
		t.Fatalf("Ingest returned %d outcomes for %d heartbeats", len(out), len(hbs))
	}
	return out
}

func outcomes(t *testing.T, got []store.Outcome, want ...store.Outcome) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("outcome %d = {%v %d}, want {%v %d}", i, got[i].Result, got[i].LastSeq, want[i].Result, want[i].LastSeq)
		}
	}
}

func out(r store.Result, last uint64) store.Outcome { return store.Outcome{Result: r, LastSeq: last} }

func sameState(t *testing.T, what string, got, want store.State) {
	t.Helper()
	if got.Seq != want.Seq || got.Changed(want) {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
	sameBytes(t, what+" hash", got.Hash, want.Hash)
	sameTime(t, what+" sent", got.SentAt, want.SentAt)
	sameTime(t, what+" received", got.ReceivedAt, want.ReceivedAt)
}

func lastSeq(t *testing.T, s store.Store, dev string) uint64 {
	t.Helper()
	r, err := s.Device(t.Context(), dev)
	ok(t, err)
	return r.State.Seq
}

func testTokens(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	hash := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	ok(t, s.CreateToken(ctx, store.Token{Hash: hash("a"), Uses: 2, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, Note: "laptops batch 1"}))
	is(t, "CreateToken again", s.CreateToken(ctx, store.Token{Hash: hash("a"), Uses: 5, ExpiresAt: t0.Add(time.Hour)}), store.ErrExists)
	ok(t, s.UseToken(ctx, hash("a"), t0))
	ok(t, s.UseToken(ctx, hash("a"), t0.Add(59*time.Minute)))
	is(t, "third use of a two-use token", s.UseToken(ctx, hash("a"), t0), store.ErrTokenUsedUp)
	is(t, "unknown token", s.UseToken(ctx, hash("nope"), t0), store.ErrTokenUnknown)

	exp := t0.Add(time.Hour)
	ok(t, s.CreateToken(ctx, store.Token{Hash: hash("b"), Uses: 1, ExpiresAt: exp, CreatedAt: t0}))
	is(t, "use at expiry", s.UseToken(ctx, hash("b"), exp), store.ErrTokenExpired)
	is(t, "use after expiry", s.UseToken(ctx, hash("b"), exp.Add(time.Hour)), store.ErrTokenExpired)
	ok(t, s.UseToken(ctx, hash("b"), exp.Add(-time.Microsecond)))
	is(t, "expired and used up", s.UseToken(ctx, hash("b"), exp), store.ErrTokenExpired)
	is(t, "used up", s.UseToken(ctx, hash("b"), t0), store.ErrTokenUsedUp)

	ok(t, s.CreateToken(ctx, store.Token{Hash: hash("c"), Uses: 0, ExpiresAt: exp, CreatedAt: t0}))
	is(t, "token with no uses", s.UseToken(ctx, hash("c"), t0), store.ErrTokenUsedUp)
}

func testTokenConcurrentUses(t *testing.T, open Open) {
	s := open(t)
	h := sha256.Sum256([]byte("shared"))
	const uses, tries = 25, 100
	ok(t, s.CreateToken(t.Context(), store.Token{Hash: h, Uses: uses, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}))
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		spent, refused int
	)
	for range tries {
		wg.Go(func() {
			err := s.UseToken(t.Context(), h, t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				spent++
			case errors.Is(err, store.ErrTokenUsedUp):
				refused++
			default:
				t.Errorf("UseToken: %v", err)
			}
		})
	}
	wg.Wait()
	if spent != uses || refused != tries-uses {
		t.Errorf("%d uses succeeded and %d were refused, want %d and %d", spent, refused, uses, tries-uses)
	}
}

func sameDevice(t *testing.T, got, want store.Device) {
	t.Helper()
	if got.ID != want.ID || got.Hostname != want.Hostname || got.OS != want.OS || got.Arch != want.Arch ||
		got.Serial != want.Serial || got.User != want.User || got.AgentVersion != want.AgentVersion {
		t.Errorf("device = %+v\nwant %+v", got, want)
	}
	sameBytes(t, "signing key", got.SigningKey, want.SigningKey)
	sameTime(t, "enrolled at", got.EnrolledAt, want.EnrolledAt)
	if !want.RevokedAt.IsZero() || !got.RevokedAt.IsZero() {
		sameTime(t, "revoked at", got.RevokedAt, want.RevokedAt)
	}
}

func testDevices(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	b, a := device("dev-b"), device("dev-a")
	a.RevokedAt = t0.Add(time.Hour) // enrolled already revoked: kept as given
	ok(t, s.CreateDevice(ctx, b))
	ok(t, s.CreateDevice(ctx, a))
	other := device("dev-b")
	other.Hostname = "impostor"
	is(t, "CreateDevice with a taken ID", s.CreateDevice(ctx, other), store.ErrExists)
	r, err := s.Device(ctx, "dev-b")
	ok(t, err)
	sameDevice(t, r.Device, b)
	if r.State.Seq != 0 || !r.State.ReceivedAt.IsZero() || r.State.Changed(store.State{}) || len(r.State.Hash) != 0 {
		t.Errorf("state of a device that never reported: %+v", r.State)
	}
	_, err = s.Device(ctx, "dev-c")
	is(t, "Device of an unknown ID", err, store.ErrNotFound)
	all, err := s.Devices(ctx)
	ok(t, err)
	if len(all) != 2 || all[0].ID != "dev-a" || all[1].ID != "dev-b" {
		t.Fatalf("Devices = %+v, want dev-a then dev-b", all)
	}
	sameDevice(t, all[0].Device, a)
	sameDevice(t, all[1].Device, b)
}

func testRevokeDevice(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	is(t, "RevokeDevice of an unknown ID", s.RevokeDevice(ctx, "nope", t0), store.ErrNotFound)
	ok(t, s.RevokeDevice(ctx, "d", t0))
	r, err := s.Device(ctx, "d")
	ok(t, err)
	sameTime(t, "revoked at", r.RevokedAt, t0)
	ok(t, s.RevokeDevice(ctx, "d", t0.Add(time.Hour)))
	r, _ = s.Device(ctx, "d")
	sameTime(t, "revoked at after a later revocation", r.RevokedAt, t0)
	ok(t, s.RevokeDevice(ctx, "d", t0.Add(-time.Hour)))
	r, _ = s.Device(ctx, "d")
	sameTime(t, "revoked at after an earlier revocation", r.RevokedAt, t0.Add(-time.Hour))
}

func testIngestEmpty(t *testing.T, open Open) {
	s := open(t)
	got, err := s.Ingest(t.Context(), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("Ingest(nil) = %v, %v", got, err)
	}
}

func testIngestFirst(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	c := newChain("d")
	c.seq = 6
	c.prev = []byte("whatever came before enrollment") // the first heartbeat records no gap
	h7 := c.next()
	outcomes(t, ingest(t, s, h7), out(store.Accepted, 7))
	h8 := c.next()
	outcomes(t, ingest(t, s, h8), out(store.Accepted, 8))
	gaps, err := s.Gaps(ctx, "d")
	ok(t, err)
	if len(gaps) != 0 {
		t.Errorf("gaps after a first heartbeat: %+v", gaps)
	}
	r, err := s.Device(ctx, "d")
	ok(t, err)
	sameState(t, "state", r.State, h8.State)
	for _, h := range []store.Heartbeat{h7, h8} {
		body, err := s.Heartbeat(ctx, "d", h.Seq)
		ok(t, err)
		sameBytes(t, "body", body, h.Body)
	}
}

func testIngestReplay(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	c := newChain("d")
	h1, h2, h3 := c.next(), c.next(), c.next()
	outcomes(t, ingest(t, s, h1, h2, h3), out(store.Accepted, 1), out(store.Accepted, 2), out(store.Accepted, 3))
	other := c.make(3, h2.Hash, t0.Add(time.Hour)) // same seq, different bytes and state
	other.State.SealedFiles = 99
	outcomes(t, ingest(t, s, h3, other, h2, h1), out(store.Replay, 3), out(store.Replay, 3), out(store.Replay, 3), out(store.Replay, 3))
	body, err := s.Heartbeat(ctx, "d", 3)
	ok(t, err)
	sameBytes(t, "body of seq 3 after replays", body, h3.Body)
	r, _ := s.Device(ctx, "d")
	sameState(t, "state after replays", r.State, h3.State)
	evs, err := s.Events(ctx, "d", time.Time{}, t0.Add(24*time.Hour))
	ok(t, err)
	if len(evs) != 6 {
		t.Errorf("%d events after replays, want 6", len(evs))
	}
	changes, _ := s.StateChanges(ctx, "d", time.Time{}, t0.Add(24*time.Hour))
	if len(changes) != 1 {
		t.Errorf("%d state changes after replays, want 1", len(changes))
	}
}

func testIngestGap(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	c := newChain("d")
	h1, h2 := c.next(), c.next()
	ingest(t, s, h1, h2)
	c.prev = []byte("not the hash of seq 2")
	h3 := c.next()
	outcomes(t, ingest(t, s, h3), out(store.Gap, 3))
	h4 := c.next()
	outcomes(t, ingest(t, s, h4), out(store.Accepted, 4))
	c.seq++ // seq 5 never arrives, but 6 continues from 4: the chain is whole
	h6 := c.next()
	outcomes(t, ingest(t, s, h6), out(store.Accepted, 6))
	c.prev = nil // a device that lost its chain sends no previous hash
	h7 := c.next()
	outcomes(t, ingest(t, s, h7), out(store.Gap, 7))

	body, err := s.Heartbeat(ctx, "d", 3)
	ok(t, err)
	sameBytes(t, "body of the gap heartbeat", body, h3.Body)
	gaps, err := s.Gaps(ctx, "d")
	ok(t, err)
	if len(gaps) != 2 {
		t.Fatalf("gaps = %+v, want 2", gaps)
	}
	for i, want := range []store.ChainGap{
		{DeviceID: "d", Seq: 3, Expected: h2.Hash, Got: h3.PrevHash, DetectedAt: h3.State.ReceivedAt},
		{DeviceID: "d", Seq: 7, Expected: h6.Hash, Got: nil, DetectedAt: h7.State.ReceivedAt},
	} {
		g := gaps[i]
		if g.DeviceID != want.DeviceID || g.Seq != want.Seq {
			t.Errorf("gap %d = %+v, want %+v", i, g, want)
		}
		sameBytes(t, "expected", g.Expected, want.Expected)
		sameBytes(t, "got", g.Got, want.Got)
		sameTime(t, "detected at", g.DetectedAt, want.DetectedAt)
	}
	if r, _ := s.Device(ctx, "d"); r.State.Seq != 7 {
		t.Errorf("last seq %d, want 7", r.State.Seq)
	}
}

func testIngestUnknownRevoked(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	ghost := newChain("ghost")
	outcomes(t, ingest(t, s, ghost.next()), out(store.Unknown, 0))
	if _, err := s.Device(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown device's heartbeat created it: %v", err)
	}
	if evs, _ := s.Events(ctx, "ghost", time.Time{}, t0.Add(time.Hour)); len(evs) != 0 {
		t.Errorf("an unknown device's events were stored: %+v", evs)
	}

	c := newChain("d")
	ingest(t, s, c.next(), c.next())
	revoked := t0.Add(10 * time.Minute)
	ok(t, s.RevokeDevice(ctx, "d", revoked))
	h3 := c.make(3, c.prev, revoked.Add(-time.Microsecond))
	h4 := c.make(4, h3.Hash, revoked)
	h5 := c.make(5, h4.Hash, revoked.Add(time.Hour))
	outcomes(t, ingest(t, s, h3, h4, h5), out(store.Accepted, 3), out(store.Revoked, 3), out(store.Revoked, 3))
	if _, err := s.Heartbeat(ctx, "d", 4); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a revoked device's heartbeat was stored: %v", err)
	}
	r, _ := s.Device(ctx, "d")
	sameState(t, "state after revocation", r.State, h3.State)
	evs, _ := s.Events(ctx, "d", time.Time{}, t0.Add(24*time.Hour))
	for _, e := range evs {
		if e.Seq > 3 {
			t.Errorf("a revoked device's event was stored: %+v", e)
		}
	}

	pre := device("pre")
	pre.RevokedAt = t0
	ok(t, s.CreateDevice(ctx, pre))
	outcomes(t, ingest(t, s, newChain("pre").next()), out(store.Revoked, 0))
}

func testIngestBatch(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "a", "b")
	a, b, ghost := newChain("a"), newChain("b"), newChain("ghost")
	a1, b1, g1, a2, b2 := a.next(), b.next(), ghost.next(), a.next(), b.next()
	dup := a2
	dup.Body = []byte("a different body with the same seq")
	a.prev = []byte("broken")
	a3 := a.next()
	got := ingest(t, s, a1, b1, g1, a2, b2, dup, b1, a3)
	outcomes(t, got, out(store.Accepted, 1), out(store.Accepted, 1), out(store.Unknown, 0), out(store.Accepted, 2),
		out(store.Accepted, 2), out(store.Replay, 2), out(store.Replay, 2), out(store.Gap, 3))
	body, err := s.Heartbeat(ctx, "a", 2)
	ok(t, err)
	sameBytes(t, "body of a's seq 2", body, a2.Body)
	ra, _ := s.Device(ctx, "a")
	rb, _ := s.Device(ctx, "b")
	sameState(t, "a", ra.State, a3.State)
	sameState(t, "b", rb.State, b2.State)
	gaps, _ := s.Gaps(ctx, "a")
	if len(gaps) != 1 || gaps[0].Seq != 3 || !bytes.Equal(gaps[0].Expected, a2.Hash) {
		t.Errorf("gaps of a = %+v", gaps)
	}
	if gaps, _ := s.Gaps(ctx, "b"); len(gaps) != 0 {
		t.Errorf("gaps of b = %+v", gaps)
	}
}

func testStateChanges(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other")
	c := newChain("d")
	var want []store.State
	step := func(change func(*store.State)) {
		t.Helper()
		if change != nil {
			change(&c.state)
		}
		h := c.next()
		ingest(t, s, h)
		if change != nil || len(want) == 0 {
			want = append(want, h.State)
		}
		// The same state again, later, is no change: this also checks
		// that the store read back every field it compares.
		ingest(t, s, c.next())
	}
	step(nil)
	for _, change := range []func(*store.State){
		func(s *store.State) { s.AgentVersion = "1.1.0" },
		func(s *store.State) { s.PolicyVersion++ },
		func(s *store.State) { s.PolicyHash = "sha256:def" },
		func(s *store.State) { s.Recipient = "age1zzz" },
		func(s *store.State) { s.SealedFiles++ },
		func(s *store.State) { s.SealedBytes += 4096 },
		func(s *store.State) { s.PlaintextFiles = 1 },
		func(s *store.State) { s.CaseRefs = 3 },
		func(s *store.State) { s.DiskEncryption = "fail" },
		func(s *store.State) { s.Compliant = false },
		func(s *store.State) { s.Lease = "expired" },
	} {
		step(change)
	}
	ingest(t, s, newChain("other").next())

	all, err := s.StateChanges(ctx, "d", time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	ok(t, err)
	if len(all) != len(want) {
		t.Fatalf("%d state changes, want %d", len(all), len(want))
	}
	for i, ch := range all {
		if ch.DeviceID != "d" {
			t.Errorf("change %d of device %q", i, ch.DeviceID)
		}
		sameTime(t, "change at", ch.At, want[i].ReceivedAt)
		sameState(t, fmt.Sprintf("change %d", i), ch.State, want[i])
	}
	// [from, to): from is included, to is not.
	k := 4
	got, err := s.StateChanges(ctx, "d", all[k].At, all[k+1].At)
	ok(t, err)
	if len(got) != 1 || got[0].State.Seq != all[k].State.Seq {
		t.Errorf("StateChanges [change %d, change %d) = %+v", k, k+1, got)
	}
	got, _ = s.StateChanges(ctx, "d", all[k].At.Add(time.Microsecond), all[k+1].At.Add(time.Microsecond))
	if len(got) != 1 || got[0].State.Seq != all[k+1].State.Seq {
		t.Errorf("StateChanges (change %d, change %d] = %+v", k, k+1, got)
	}
	got, _ = s.StateChanges(ctx, "d", all[k].At, all[k].At)
	if len(got) != 0 {
		t.Errorf("empty range: %+v", got)
	}
}

func testEvents(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "other")
	c := newChain("d")
	h1 := c.next()
	h2 := c.next()
	same := h2.State.ReceivedAt.Add(-time.Second)
	h2.Events = []store.Event{
		{Time: same, Type: "z-first", DeviceID: "ignored", Seq: 12345}, // DeviceID and Seq come from the heartbeat
		{Time: same, Type: "a-second"},
		{Time: h1.State.ReceivedAt.Add(-10 * time.Second), Type: "late-reported"},
	}
	ingest(t, s, h1, h2)
	o := newChain("other")
	ingest(t, s, o.next())
	all, err := s.Events(ctx, "d", time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	ok(t, err)
	want := []store.Event{h2.Events[2], h1.Events[0], h1.Events[1], h2.Events[0], h2.Events[1]}
	seqs := []uint64{2, 1, 1, 2, 2}
	if len(all) != len(want) {
		t.Fatalf("events = %+v, want %d", all, len(want))
	}
	for i, e := range all {
		if e.DeviceID != "d" || e.Seq != seqs[i] || e.Type != want[i].Type || e.CaseRef != want[i].CaseRef || e.Detail != want[i].Detail {
			t.Errorf("event %d = %+v, want %+v (seq %d)", i, e, want[i], seqs[i])
		}
		sameTime(t, "event time", e.Time, want[i].Time)
	}
	got, err := s.Events(ctx, "d", all[1].Time, all[3].Time)
	ok(t, err)
	if len(got) != 2 || got[0].Type != "sealed" || got[1].Type != "usb" {
		t.Errorf("Events [1, 3) = %+v", got)
	}
	got, _ = s.Events(ctx, "d", all[3].Time, all[3].Time.Add(time.Microsecond))
	if len(got) != 2 {
		t.Errorf("events at one instant = %+v, want 2", got)
	}
}

func testHoldings(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	c := newChain("d")
	h1 := c.next()
	h1.CaseRefs = []store.CaseCount{{Ref: "LL-A", Files: 3}, {Ref: "LL-B", Files: 1}}
	h2 := c.next()
	h2.CaseRefs = []store.CaseCount{{Ref: "LL-A", Files: 4}, {Ref: "LL-C", Files: 2}}
	h3 := c.next()
	h3.CaseRefs = nil
	ingest(t, s, h1)
	ingest(t, s, h2, h3)
	h4, h5 := c.next(), c.next()
	h4.CaseRefs = []store.CaseCount{{Ref: "LL-D", Files: 1}, {Ref: "LL-A", Files: 5}}
	h5.CaseRefs = []store.CaseCount{{Ref: "LL-A", Files: 6}, {Ref: "LL-D", Files: 7}}
	ingest(t, s, h4, h5)
	ingest(t, s, h5) // a replay refreshes nothing

	t1, t2, t4, t5 := h1.State.ReceivedAt, h2.State.ReceivedAt, h4.State.ReceivedAt, h5.State.ReceivedAt
	want := []store.Holding{
		{Ref: "LL-A", FirstSeen: t1, LastSeen: t5, Files: 6, Held: true},
		{Ref: "LL-B", FirstSeen: t1, LastSeen: t1, Files: 1},
		{Ref: "LL-C", FirstSeen: t2, LastSeen: t2, Files: 2},
		{Ref: "LL-D", FirstSeen: t4, LastSeen: t5, Files: 7, Held: true},
	}
	got, err := s.Holdings(ctx, "d")
	ok(t, err)
	if len(got) != len(want) {
		t.Fatalf("holdings = %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].DeviceID != "d" || got[i].Ref != want[i].Ref || got[i].Files != want[i].Files || got[i].Held != want[i].Held {
			t.Errorf("holding %d = %+v, want %+v", i, got[i], want[i])
		}
		sameTime(t, want[i].Ref+" first seen", got[i].FirstSeen, want[i].FirstSeen)
		sameTime(t, want[i].Ref+" last seen", got[i].LastSeen, want[i].LastSeen)
	}
	if got, _ := s.Holdings(ctx, "nobody"); len(got) != 0 {
		t.Errorf("holdings of an unknown device: %+v", got)
	}

	// A repeat of the same list writes nothing, and keeps the held
	// references' last seen time the device's.
	h6 := c.next()
	h6.CaseRefs = []store.CaseCount{{Ref: "LL-D", Files: 7}, {Ref: "LL-A", Files: 6}}
	ingest(t, s, h6)
	got, err = s.Holdings(ctx, "d")
	ok(t, err)
	for _, h := range got {
		want := map[string]time.Time{"LL-A": h6.State.ReceivedAt, "LL-B": t1, "LL-C": t2, "LL-D": h6.State.ReceivedAt}[h.Ref]
		sameTime(t, h.Ref+" last seen after a repeat", h.LastSeen, want)
	}
}

func testHeartbeatAndPrune(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d")
	c := newChain("d")
	var hbs []store.Heartbeat
	for range 5 {
		hbs = append(hbs, c.next())
	}
	c.prev = []byte("gap")
	hbs = append(hbs, c.next())
	ingest(t, s, hbs...)
	for _, h := range hbs {
		body, err := s.Heartbeat(ctx, "d", h.Seq)
		ok(t, err)
		sameBytes(t, "body", body, h.Body)
	}
	_, err := s.Heartbeat(ctx, "d", 99)
	is(t, "Heartbeat of a seq never sent", err, store.ErrNotFound)
	_, err = s.Heartbeat(ctx, "d", math.MaxUint64)
	is(t, "Heartbeat of seq 2^64-1", err, store.ErrNotFound)
	_, err = s.Heartbeat(ctx, "nobody", 1)
	is(t, "Heartbeat of an unknown device", err, store.ErrNotFound)

	n, err := s.PruneHeartbeats(ctx, hbs[2].State.ReceivedAt) // before, not at
	ok(t, err)
	if n != 2 {
		t.Errorf("pruned %d, want 2", n)
	}
	for _, h := range hbs[:2] {
		_, err := s.Heartbeat(ctx, "d", h.Seq)
		is(t, "Heartbeat after pruning", err, store.ErrNotFound)
	}
	if _, err := s.Heartbeat(ctx, "d", 3); err != nil {
		t.Errorf("seq 3, received at the cut-off, was pruned: %v", err)
	}
	if n, _ := s.PruneHeartbeats(ctx, hbs[2].State.ReceivedAt); n != 0 {
		t.Errorf("pruning again removed %d", n)
	}
	n, err = s.PruneHeartbeats(ctx, t0.Add(24*time.Hour))
	ok(t, err)
	if n != 4 {
		t.Errorf("pruned %d, want 4", n)
	}
	// The compact data stays, and the chain continues from the pruned
	// heartbeat's hash.
	r, _ := s.Device(ctx, "d")
	sameState(t, "state after pruning", r.State, hbs[5].State)
	if evs, _ := s.Events(ctx, "d", time.Time{}, t0.Add(24*time.Hour)); len(evs) != 12 {
		t.Errorf("%d events after pruning, want 12", len(evs))
	}
	if ch, _ := s.StateChanges(ctx, "d", time.Time{}, t0.Add(24*time.Hour)); len(ch) != 1 {
		t.Errorf("%d state changes after pruning, want 1", len(ch))
	}
	if hs, _ := s.Holdings(ctx, "d"); len(hs) != 1 || hs[0].Files != 6 {
		t.Errorf("holdings after pruning: %+v", hs)
	}
	if gaps, _ := s.Gaps(ctx, "d"); len(gaps) != 1 {
		t.Errorf("gaps after pruning: %+v", gaps)
	}
	outcomes(t, ingest(t, s, c.next()), out(store.Accepted, 7))
}

func testPolicy(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	_, _, err := s.Policy(ctx)
	is(t, "Policy before any", err, store.ErrNotFound)
	b3 := []byte("format: casekeep-policy-v1\x00\xff\n{\"version\":3}")
	ok(t, s.SetPolicy(ctx, 3, b3))
	v, b, err := s.Policy(ctx)
	ok(t, err)
	if v != 3 {
		t.Errorf("version %d, want 3", v)
	}
	sameBytes(t, "bundle", b, b3)
	is(t, "SetPolicy of the same version", s.SetPolicy(ctx, 3, []byte("other")), store.ErrRollback)
	is(t, "SetPolicy of an older version", s.SetPolicy(ctx, 2, []byte("older")), store.ErrRollback)
	ok(t, s.SetPolicy(ctx, 4, []byte("v4")))
	v, b, _ = s.Policy(ctx)
	if v != 4 || string(b) != "v4" {
		t.Errorf("Policy = %d %q, want 4 v4", v, b)
	}
}

func testPolicyConcurrent(t *testing.T, open Open) {
	s := open(t)
	const workers, versions = 8, 30
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins = map[int]int{}
	)
	for w := range workers {
		wg.Go(func() {
			for v := 1; v <= versions; v++ {
				err := s.SetPolicy(t.Context(), v, fmt.Appendf(nil, "v%d by %d", v, w))
				switch {
				case err == nil:
					mu.Lock()
					wins[v]++
					mu.Unlock()
				case !errors.Is(err, store.ErrRollback):
					t.Errorf("SetPolicy(%d): %v", v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for v := 1; v <= versions; v++ {
		if wins[v] != 1 {
			t.Errorf("version %d was stored %d times", v, wins[v])
		}
	}
	v, b, err := s.Policy(t.Context())
	ok(t, err)
	if v != versions || !strings.HasPrefix(string(b), fmt.Sprintf("v%d by ", versions)) {
		t.Errorf("Policy = %d %q", v, b)
	}
}

// hostile are strings a careless store would execute, render or mangle.
var hostile = []string{
	`'; DROP TABLE devices; --`,
	`" OR "1"="1`,
	`<script>alert('x')</script>`,
	`&lt;b&gt; &amp; </textarea>`,
	`%_\%\_ LIKE '%'`,
	`back\slash\\ $1 ? :name @p`,
	"tab\tnewline\nreturn\r bell\a esc\x1b[31m del\x7f",
	"Ünïcödé 日本語 🔐 עברית \u202eRTL\u202c e\u0301 \ufeff",
	"",
	" leading and trailing spaces ",
}

func testMetacharacters(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	var ids []string
	for i, str := range hostile {
		id := str
		if id == "" {
			id = "empty-string-fields"
		}
		ids = append(ids, id)
		d := store.Device{ID: id, SigningKey: []byte(str), Hostname: str, OS: str, Arch: str, Serial: str, User: str,
			AgentVersion: str, EnrolledAt: t0}
		ok(t, s.CreateDevice(ctx, d))
		r, err := s.Device(ctx, id)
		ok(t, err)
		sameDevice(t, r.Device, d)

		hash := sha256.Sum256([]byte(str))
		ok(t, s.CreateToken(ctx, store.Token{Hash: hash, Uses: 1, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, Note: str}))
		ok(t, s.UseToken(ctx, hash, t0))

		c := newChain(id)
		c.state = store.State{AgentVersion: str, PolicyHash: str, Recipient: str, DiskEncryption: str, Lease: str, PolicyVersion: i}
		h := c.next()
		h.Events = []store.Event{{Time: t0, Type: str, CaseRef: str, Detail: str}}
		h.CaseRefs = []store.CaseCount{{Ref: str, Files: i}}
		outcomes(t, ingest(t, s, h), out(store.Accepted, 1))
		r, _ = s.Device(ctx, id)
		sameState(t, "state", r.State, h.State)
		evs, err := s.Events(ctx, id, time.Time{}, t0.Add(time.Hour))
		ok(t, err)
		if len(evs) != 1 || evs[0].Type != str || evs[0].CaseRef != str || evs[0].Detail != str {
			t.Errorf("events = %+v, want fields %q", evs, str)
		}
		hs, _ := s.Holdings(ctx, id)
		if len(hs) != 1 || hs[0].Ref != str {
			t.Errorf("holdings = %+v, want ref %q", hs, str)
		}
		ch, _ := s.StateChanges(ctx, id, time.Time{}, t0.Add(time.Hour))
		if len(ch) != 1 {
			t.Fatalf("state changes = %+v", ch)
		}
		sameState(t, "state change", ch[0].State, h.State)
	}
	all, err := s.Devices(ctx)
	ok(t, err)
	sort.Strings(ids) // by ID means by bytes, whatever the database's collation
	if len(all) != len(ids) {
		t.Fatalf("%d devices, want %d", len(all), len(ids))
	}
	for i := range all {
		if all[i].ID != ids[i] {
			t.Errorf("device %d is %q, want %q", i, all[i].ID, ids[i])
		}
	}
}

func testInvalid(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	bad := device("d")
	bad.Hostname = "nul\x00byte"
	is(t, "CreateDevice with a NUL", s.CreateDevice(ctx, bad), store.ErrInvalid)
	bad = device("d")
	bad.User = "\xff\xfe not UTF-8"
	is(t, "CreateDevice with invalid UTF-8", s.CreateDevice(ctx, bad), store.ErrInvalid)
	is(t, "CreateDevice with no ID", s.CreateDevice(ctx, device("")), store.ErrInvalid)
	if _, err := s.Device(ctx, "d"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an invalid device was stored: %v", err)
	}
	is(t, "CreateToken with a NUL", s.CreateToken(ctx, store.Token{Note: "\x00", ExpiresAt: t0, CreatedAt: t0}), store.ErrInvalid)
	is(t, "CreateToken in year 10000", s.CreateToken(ctx, store.Token{ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), CreatedAt: t0}), store.ErrInvalid)

	createDevices(t, s, "d")
	c := newChain("d")
	good := c.next()
	for name, spoil := range map[string]func(*store.Heartbeat){
		"NUL in an event":         func(h *store.Heartbeat) { h.Events[1].Detail = "a\x00b" },
		"NUL in a case reference": func(h *store.Heartbeat) { h.CaseRefs[0].Ref = "\x00" },
		"invalid UTF-8 in state":  func(h *store.Heartbeat) { h.State.Lease = "\xc3\x28" },
		"NUL in stopping":         func(h *store.Heartbeat) { h.Stopping = "stop\x00" },
		"seq above 2^63-1":        func(h *store.Heartbeat) { h.Seq = 1 << 63 },
		"time in year 0":          func(h *store.Heartbeat) { h.State.ReceivedAt = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		h := c.make(2, good.Hash, t0.Add(time.Hour))
		spoil(&h)
		_, err := s.Ingest(ctx, []store.Heartbeat{good, h})
		is(t, "Ingest with "+name, err, store.ErrInvalid)
	}
	if _, err := s.Heartbeat(ctx, "d", 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a batch with an invalid heartbeat stored its valid one: %v", err)
	}
	outcomes(t, ingest(t, s, good), out(store.Accepted, 1))
}

func testTimes(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	zone := time.FixedZone("UTC+05:45", 5*3600+45*60)
	at := time.Date(2031, 12, 31, 23, 59, 59, 999999999, zone)
	d := device("d")
	d.EnrolledAt = at
	ok(t, s.CreateDevice(ctx, d))
	r, err := s.Device(ctx, "d")
	ok(t, err)
	sameTime(t, "enrolled at", r.EnrolledAt, at)

	c := newChain("d")
	c.at = at
	h := c.next()
	h.Events[0].Time = time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC) // before the epoch
	ingest(t, s, h)
	r, _ = s.Device(ctx, "d")
	sameState(t, "state", r.State, h.State)
	evs, err := s.Events(ctx, "d", time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	ok(t, err)
	if len(evs) != 2 {
		t.Fatalf("events %+v", evs)
	}
	sameTime(t, "event before the epoch", evs[0].Time, h.Events[0].Time)
	// Far bounds are accepted.
	if evs, err := s.Events(ctx, "d", time.Unix(-1<<62, 0), time.Unix(1<<62, 0)); err != nil || len(evs) != 2 {
		t.Errorf("Events with far bounds = %v, %v", evs, err)
	}
}

func testReopen(t *testing.T, open Open) {
	s := open(t)
	createDevices(t, s, "d")
	c := newChain("d")
	ingest(t, s, c.next())
	ok(t, s.Close())
	for range 2 { // migrations already applied are not applied again
		s = open(t)
		r, err := s.Device(t.Context(), "d")
		ok(t, err)
		if r.State.Seq != 1 {
			t.Errorf("last seq %d after reopening, want 1", r.State.Seq)
		}
		ok(t, s.Close())
	}
	s = open(t)
	outcomes(t, ingest(t, s, c.next()), out(store.Accepted, 2))
}

// testTwoHandles is two server processes on one database, both receiving
// every heartbeat of one device (a load balancer retrying, say).
func testTwoHandles(t *testing.T, open Open) {
	a, b := open(t), open(t)
	createDevices(t, a, "d")
	const n = 500
	c := newChain("d")
	hbs := make([]store.Heartbeat, n)
	for i := range hbs {
		hbs[i] = c.next()
	}
	results := [2][]store.Outcome{make([]store.Outcome, n), make([]store.Outcome, n)}
	// Both handles start each seq together, so each one's is a race.
	start := make([]sync.WaitGroup, n)
	for i := range start {
		start[i].Add(2)
	}
	var wg sync.WaitGroup
	for k, s := range []store.Store{a, b} {
		wg.Go(func() {
			for i := range hbs {
				start[i].Done()
				start[i].Wait()
				out, err := s.Ingest(t.Context(), hbs[i:i+1])
				if err != nil {
					t.Errorf("handle %d, seq %d: %v", k, i+1, err)
					for j := i + 1; j < n; j++ {
						start[j].Done()
					}
					return
				}
				results[k][i] = out[0]
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	stored := 0
	for i := range hbs {
		x, y := results[0][i].Result, results[1][i].Result
		if x == store.Gap || y == store.Gap {
			t.Errorf("seq %d: a gap was invented (%v, %v)", i+1, x, y)
		}
		if (x == store.Accepted) == (y == store.Accepted) || (x != store.Replay && y != store.Replay) {
			t.Errorf("seq %d: outcomes %v and %v, want one accepted and one replay", i+1, x, y)
		}
		if x == store.Accepted {
			stored++
		}
	}
	t.Logf("handle a stored %d, handle b %d", stored, n-stored)
	for _, s := range []store.Store{a, b} {
		if got := lastSeq(t, s, "d"); got != n {
			t.Errorf("last seq %d, want %d", got, n)
		}
		gaps, err := s.Gaps(t.Context(), "d")
		ok(t, err)
		if len(gaps) != 0 {
			t.Errorf("%d gaps, want none: %+v", len(gaps), gaps[0])
		}
	}
	for _, h := range hbs {
		body, err := b.Heartbeat(t.Context(), "d", h.Seq)
		ok(t, err)
		sameBytes(t, "body", body, h.Body)
	}
	evs, err := a.Events(t.Context(), "d", time.Time{}, t0.Add(30*24*time.Hour))
	ok(t, err)
	if len(evs) != 2*n {
		t.Errorf("%d events, want %d", len(evs), 2*n)
	}
}

// testConcurrentBatches has several goroutines on one handle send the same
// heartbeats of many devices, in batches whose device order differs, which
// would deadlock a store that locks devices in the order given.
func testConcurrentBatches(t *testing.T, open Open) {
	s := open(t)
	const devices, seqs, workers = 12, 20, 4
	chains := make([]*chain, devices)
	hbs := make([][]store.Heartbeat, devices) // [device][seq-1]
	for d := range chains {
		chains[d] = newChain(fmt.Sprintf("dev-%02d", d))
		createDevices(t, s, chains[d].dev)
		for range seqs {
			hbs[d] = append(hbs[d], chains[d].next())
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted = map[[2]uint64]int{}
	)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for seq := range seqs {
				batch := make([]store.Heartbeat, 0, devices)
				for _, d := range rng.Perm(devices) {
					batch = append(batch, hbs[d][seq])
				}
				outs, err := s.Ingest(t.Context(), batch)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				mu.Lock()
				for i, o := range outs {
					switch o.Result {
					case store.Accepted:
						var d uint64
						fmt.Sscanf(batch[i].DeviceID, "dev-%d", &d)
						accepted[[2]uint64{d, batch[i].Seq}]++
					case store.Replay:
					default:
						t.Errorf("worker %d: %s seq %d: %v", w, batch[i].DeviceID, batch[i].Seq, o.Result)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for d := range devices {
		for seq := 1; seq <= seqs; seq++ {
			if n := accepted[[2]uint64{uint64(d), uint64(seq)}]; n != 1 {
				t.Errorf("dev-%02d seq %d accepted %d times", d, seq, n)
			}
		}
		if got := lastSeq(t, s, chains[d].dev); got != seqs {
			t.Errorf("%s last seq %d, want %d", chains[d].dev, got, seqs)
		}
	}
}
