package storetest

import (
	"crypto/sha256"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

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
		c.state = store.State{AgentVersion: str, PolicyHash: str, Recipient: str, DiskEncryption: str, Lease: str, OfflineCopy: str, PolicyVersion: i}
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
