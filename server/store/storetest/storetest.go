package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/kek"
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
// opens on it, each given the suite's key-encryption key for lease keys
// (as every server process of a fleet shares its data folder's).
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
		s := handle(t, db)
		if sl, ok := s.(store.Sealing); ok {
			sl.UseKeySealer(Sealer)
		}
		return s
	}
}

// Sealer is the suite's key-encryption key for lease keys.
var Sealer = func() *kek.Sealer {
	k := make([]byte, 32)
	rand.Read(k)
	s, err := kek.New(k)
	if err != nil {
		panic(err)
	}
	return s
}()

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
		{"Commands", testCommands},
		{"Decisions", testDecisions},
		{"AccessReopen", testAccessReopen},
		{"AccessTwoHandles", testAccessTwoHandles},
		{"CaseHolders", testCaseHolders},
		{"StatesAt", testStatesAt},
		{"HeartbeatsAround", testHeartbeatsAround},
		{"SearchEvents", testSearchEvents},
		{"SearchEventsLimit", testSearchEventsLimit},
		{"QueryMetacharacters", testQueryMetacharacters},
		{"CommandAcks", testCommandAcks},
		{"CancelCommand", testCancelCommand},
		{"DeliverCommands", testDeliverCommands},
		{"WipeNeverExpires", testWipeNeverExpires},
		{"OrderNotClock", testOrderNotClock},
		{"MarkFound", testMarkFound},
		{"ServeLeases", testServeLeases},
		{"LeaseRefusals", testLeaseRefusals},
		{"LeaseNeverServedWhileLost", testLeaseNeverWhileLost},
		{"LeaseReplay", testLeaseReplay},
		{"LeaseRotation", testLeaseRotation},
		{"LeaseLog", testLeaseLog},
		{"LeaseEvidenceWholeLog", testLeaseEvidenceWholeLog},
		{"LeaseRefusalRuns", testLeaseRefusalRuns},
		{"LeaseKeysSealed", testLeaseKeysSealed},
		{"OneKeyDoesNotOpen", testOneKeyDoesNotOpen},
		{"RevokeDestroysKeys", testRevokeDestroysKeys},
		{"WipeDestroysKeys", testWipeDestroysKeys},
		{"LeasesTwoHandles", testLeasesTwoHandles},
		{"OfflineCopyHistory", testOfflineCopyHistory},
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

// listIs checks that list(ctx, id), one of the store's lists of a
// device's or a person's records, returns want in order, each the same by
// same, and an empty list (not nil) when want is empty.
func listIs[T any](t *testing.T, what string, list func(context.Context, string) ([]T, error), id string, same func(*testing.T, string, T, T), want ...T) {
	t.Helper()
	got, err := list(t.Context(), id)
	ok(t, err)
	name := fmt.Sprintf("%s(%q)", what, id)
	if got == nil || len(got) != len(want) {
		t.Fatalf("%s = %#v, want %+v", name, got, want)
	}
	for i := range got {
		same(t, fmt.Sprintf("%s[%d]", name, i), got[i], want[i])
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
	return batch(t, "Ingest", s.Ingest, hbs)
}

// batch calls do, one of the store's batch methods, with in, and checks
// that it returns one result for each.
func batch[In, Out any](t *testing.T, what string, do func(context.Context, []In) ([]Out, error), in []In) []Out {
	t.Helper()
	out, err := do(t.Context(), in)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(out) != len(in) {
		t.Fatalf("%s returned %d results for %d", what, len(out), len(in))
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
