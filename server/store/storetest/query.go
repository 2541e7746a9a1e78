package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

// The cases for [store.Query], run by [Run]. Every history is built through
// Ingest, as the server builds it.

func sameHolding(t *testing.T, what string, got, want store.Holding) {
	t.Helper()
	if got.DeviceID != want.DeviceID || got.Ref != want.Ref || got.Files != want.Files || got.Held != want.Held {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
	sameTime(t, what+" first seen", got.FirstSeen, want.FirstSeen)
	sameTime(t, what+" last seen", got.LastSeen, want.LastSeen)
}

func sameHoldings(t *testing.T, what string, got, want []store.Holding) {
	t.Helper()
	if got == nil {
		t.Errorf("%s is nil, want an empty list", what)
	}
	if len(got) != len(want) {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
		return
	}
	for i := range got {
		sameHolding(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

func testCaseHolders(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "b", "a", "Z", "c", "never")
	refs := func(h store.Heartbeat, cs ...store.CaseCount) store.Heartbeat {
		h.CaseRefs = cs
		return h
	}
	a, b, z, c := newChain("a"), newChain("b"), newChain("Z"), newChain("c")
	b.at, z.at, c.at = t0.Add(30*time.Second), t0.Add(40*time.Second), t0.Add(50*time.Second)
	// a held LL-1 once and let it go; b holds it still, its last list a
	// repeat (which writes no holdings); Z held it and then nothing; c
	// holds only references that look like it.
	a1 := refs(a.next(), store.CaseCount{Ref: "LL-1", Files: 3}, store.CaseCount{Ref: "LL-2", Files: 1})
	a2 := refs(a.next(), store.CaseCount{Ref: "LL-2", Files: 2})
	b1 := refs(b.next(), store.CaseCount{Ref: "LL-1", Files: 5})
	b2 := refs(b.next(), store.CaseCount{Ref: "LL-1", Files: 6})
	b3 := refs(b.next(), store.CaseCount{Ref: "LL-1", Files: 6})
	z1 := refs(z.next(), store.CaseCount{Ref: "LL-1", Files: 1})
	z2 := refs(z.next())
	c1 := refs(c.next(), store.CaseCount{Ref: "LL-10", Files: 1}, store.CaseCount{Ref: "LL-1 ", Files: 1},
		store.CaseCount{Ref: "ll-1", Files: 1}, store.CaseCount{Ref: "LL-", Files: 1})
	ingest(t, s, a1, b1, z1, c1)
	ingest(t, s, a2, b2, z2)
	ingest(t, s, b3)
	rcv := func(h store.Heartbeat) time.Time { return h.State.ReceivedAt }

	got, err := s.CaseHolders(ctx, "LL-1")
	ok(t, err)
	// By device ID in byte order: "Z" before "a".
	want := []store.Holding{
		{DeviceID: "Z", Ref: "LL-1", FirstSeen: rcv(z1), LastSeen: rcv(z1), Files: 1},
		{DeviceID: "a", Ref: "LL-1", FirstSeen: rcv(a1), LastSeen: rcv(a1), Files: 3},
		{DeviceID: "b", Ref: "LL-1", FirstSeen: rcv(b1), LastSeen: rcv(b3), Files: 6, Held: true},
	}
	sameHoldings(t, "CaseHolders(LL-1)", got, want)
	got, err = s.CaseHolders(ctx, "LL-2")
	ok(t, err)
	sameHoldings(t, "CaseHolders(LL-2)", got, []store.Holding{
		{DeviceID: "a", Ref: "LL-2", FirstSeen: rcv(a1), LastSeen: rcv(a2), Files: 2, Held: true},
	})
	// Exact match only: no pattern, case or prefix matching.
	for _, ref := range []string{"LL-%", "LL-_", "LL-1%", "ll-1", "LL-1 ", "LL-10", "LL-"} {
		got, err := s.CaseHolders(ctx, ref)
		ok(t, err)
		var want []store.Holding
		if ref == "ll-1" || ref == "LL-1 " || ref == "LL-10" || ref == "LL-" {
			want = []store.Holding{{DeviceID: "c", Ref: ref, FirstSeen: rcv(c1), LastSeen: rcv(c1), Files: 1, Held: true}}
		}
		sameHoldings(t, fmt.Sprintf("CaseHolders(%q)", ref), got, want)
	}
	for _, ref := range []string{"LL-3", "", "LL-1\x00", "\xff"} {
		got, err := s.CaseHolders(ctx, ref)
		ok(t, err)
		sameHoldings(t, fmt.Sprintf("CaseHolders(%q)", ref), got, nil)
	}

	// CaseHolders agrees with each device's Holdings.
	for _, ref := range []string{"LL-1", "LL-2", "LL-10"} {
		var fromDevices []store.Holding
		for _, id := range []string{"Z", "a", "b", "c", "never"} {
			hs, err := s.Holdings(ctx, id)
			ok(t, err)
			for _, h := range hs {
				if h.Ref == ref {
					fromDevices = append(fromDevices, h)
				}
			}
		}
		got, err := s.CaseHolders(ctx, ref)
		ok(t, err)
		sameHoldings(t, fmt.Sprintf("CaseHolders(%q) against Holdings", ref), got, fromDevices)
	}
}

// statesFixture builds state histories for StatesAt and StateAt: device a
// changes at its first, third and fourth heartbeats and twice at one
// instant (seqs 4 and 5); b starts later and changes once more; Z starts
// after both; "never" never reports.
type statesFixture struct {
	a1, a2, a3, a4, a5, b1, b2, z1 store.Heartbeat
}

func newStatesFixture(t *testing.T, s store.Store) *statesFixture {
	createDevices(t, s, "a", "b", "Z", "never")
	var f statesFixture
	a, b, z := newChain("a"), newChain("b"), newChain("Z")
	b.at, z.at = t0.Add(90*time.Second), t0.Add(9*time.Minute)
	f.a1 = a.next()
	f.a2 = a.next() // the same state: no change
	a.state.SealedFiles++
	f.a3 = a.next()
	a.state.Compliant = false
	f.a4 = a.make(4, f.a3.Hash, f.a3.State.ReceivedAt.Add(time.Minute))
	a.state.Lease = "expired"
	f.a5 = a.make(5, f.a4.Hash, f.a4.State.ReceivedAt) // received at the same instant
	f.b1 = b.next()
	b.state.DiskEncryption = "fail"
	f.b2 = b.next()
	f.z1 = z.next()
	outcomes(t, ingest(t, s, f.a1, f.a2, f.b1, f.a3, f.b2, f.a4, f.a5, f.z1),
		out(store.Accepted, 1), out(store.Accepted, 2), out(store.Accepted, 1), out(store.Accepted, 3),
		out(store.Accepted, 2), out(store.Accepted, 4), out(store.Accepted, 5), out(store.Accepted, 1))
	ok(t, s.RevokeDevice(t.Context(), "b", t0.Add(time.Hour))) // a revoked device keeps its history
	return &f
}

func testStatesAt(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	f := newStatesFixture(t, s)
	at := func(h store.Heartbeat) time.Time { return h.State.ReceivedAt }
	for _, c := range []struct {
		name string
		t    time.Time
		want []store.Heartbeat // the change in force, by device ID
	}{
		{"the zero time", time.Time{}, nil},
		{"before any change", t0, nil},
		{"a microsecond before the first change", us(at(f.a1)).Add(-time.Microsecond), nil},
		{"at the first change", at(f.a1), []store.Heartbeat{f.a1}},
		{"at a heartbeat that changed nothing", at(f.a2), []store.Heartbeat{f.a1}},
		{"at b's first change", at(f.b1), []store.Heartbeat{f.a1, f.b1}},
		{"a microsecond before a's second change", us(at(f.a3)).Add(-time.Microsecond), []store.Heartbeat{f.a1, f.b1}},
		{"at a's second change", at(f.a3), []store.Heartbeat{f.a3, f.b1}},
		{"at b's second change", at(f.b2), []store.Heartbeat{f.a3, f.b2}},
		{"at two changes at one instant", at(f.a4), []store.Heartbeat{f.a5, f.b2}},
		{"at Z's first change", at(f.z1), []store.Heartbeat{f.z1, f.a5, f.b2}},
		{"until the end", forever, []store.Heartbeat{f.z1, f.a5, f.b2}},
		{"far in the future", time.Unix(1<<62, 0), []store.Heartbeat{f.z1, f.a5, f.b2}},
		{"far in the past", time.Unix(-1<<62, 0), nil},
	} {
		got, err := s.StatesAt(ctx, c.t)
		ok(t, err)
		if got == nil || len(got) != len(c.want) {
			t.Errorf("StatesAt %s = %#v, want %d states", c.name, got, len(c.want))
			continue
		}
		for i, h := range c.want {
			what := fmt.Sprintf("StatesAt %s [%d]", c.name, i)
			if got[i].DeviceID != h.DeviceID {
				t.Errorf("%s is of device %q, want %q", what, got[i].DeviceID, h.DeviceID)
			}
			sameTime(t, what+" at", got[i].At, at(h))
			sameState(t, what, got[i].State, h.State)
		}
		// StateAt agrees, device by device.
		for _, id := range []string{"Z", "a", "b", "never"} {
			i := slices.IndexFunc(c.want, func(h store.Heartbeat) bool { return h.DeviceID == id })
			sc, err := s.StateAt(ctx, id, c.t)
			what := fmt.Sprintf("StateAt(%q) %s", id, c.name)
			if i < 0 {
				is(t, what, err, store.ErrNotFound)
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			if sc.DeviceID != id {
				t.Errorf("%s is of device %q", what, sc.DeviceID)
			}
			sameTime(t, what+" at", sc.At, at(c.want[i]))
			sameState(t, what, sc.State, c.want[i].State)
		}
	}
	for _, id := range []string{"ghost", "", "A", "a\x00", "\xff"} {
		_, err := s.StateAt(ctx, id, forever)
		is(t, fmt.Sprintf("StateAt(%q)", id), err, store.ErrNotFound)
	}
}

func sameMeta(t *testing.T, what string, got store.HeartbeatMeta, want *store.Heartbeat) {
	t.Helper()
	if want == nil {
		if got.Seq != 0 || !got.SentAt.IsZero() || !got.ReceivedAt.IsZero() {
			t.Errorf("%s = %+v, want none", what, got)
		}
		return
	}
	if got.Seq != want.Seq {
		t.Errorf("%s is seq %d, want %d", what, got.Seq, want.Seq)
	}
	sameTime(t, what+" sent at", got.SentAt, want.State.SentAt)
	sameTime(t, what+" received at", got.ReceivedAt, want.State.ReceivedAt)
}

func testHeartbeatsAround(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	createDevices(t, s, "d", "e")
	c, e := newChain("d"), newChain("e")
	e.at = t0.Add(90 * time.Second) // e's heartbeats fall between d's
	h1, h2, h3, h4, h5 := c.next(), c.next(), c.next(), c.next(), c.next()
	// Two received at one instant, then one received before them and
	// before h4: seq order is not received order.
	t67 := h5.State.ReceivedAt.Add(5 * time.Minute)
	h6 := c.make(6, h5.Hash, t67)
	h7 := c.make(7, h6.Hash, t67)
	t8 := h3.State.ReceivedAt.Add(30 * time.Second)
	h8 := c.make(8, h7.Hash, t8)
	ingest(t, s, h1, e.next(), h2, e.next(), h3, e.next(), h4, h5, h6, h7)
	outcomes(t, ingest(t, s, h8), out(store.Accepted, 8))
	at := func(h store.Heartbeat) time.Time { return h.State.ReceivedAt }
	before := func(x time.Time) time.Time { return us(x).Add(-time.Microsecond) }

	type want struct {
		name          string
		t             time.Time
		before, after *store.Heartbeat
	}
	check := func(dev string, cases []want) {
		t.Helper()
		for _, c := range cases {
			b, a, err := s.HeartbeatsAround(ctx, dev, c.t)
			ok(t, err)
			sameMeta(t, fmt.Sprintf("HeartbeatsAround(%q, %s) before", dev, c.name), b, c.before)
			sameMeta(t, fmt.Sprintf("HeartbeatsAround(%q, %s) after", dev, c.name), a, c.after)
		}
	}
	check("d", []want{
		{"the zero time", time.Time{}, nil, &h1},
		{"far in the past", time.Unix(-1<<62, 0), nil, &h1},
		{"before the first", before(at(h1)), nil, &h1},
		{"at the first", at(h1), &h1, &h2},
		{"at h3", at(h3), &h3, &h8},
		{"before h8", before(t8), &h3, &h8},
		{"at h8", t8, &h8, &h4},
		{"at h5", at(h5), &h5, &h6},
		{"before two at one instant", before(t67), &h5, &h6},
		{"at two at one instant", t67, &h7, nil},
		{"until the end", forever, &h7, nil},
		{"far in the future", time.Unix(1<<62, 0), &h7, nil},
	})
	for _, id := range []string{"ghost", "", "D", "d\x00", "\xff"} {
		check(id, []want{{"until the end", forever, nil, nil}, {"at h3", at(h3), nil, nil}})
	}

	// Pruned heartbeats are gone: h1 and h2, received before h3.
	n, err := s.PruneHeartbeats(ctx, at(h3))
	ok(t, err)
	if n != 3 { // and e's first
		t.Errorf("pruned %d, want 3", n)
	}
	check("d", []want{
		{"the zero time", time.Time{}, nil, &h3},
		{"at the first, pruned", at(h1), nil, &h3},
		{"at h2, pruned", at(h2), nil, &h3},
		{"before h3", before(at(h3)), nil, &h3},
		{"at h3", at(h3), &h3, &h8},
		{"until the end", forever, &h7, nil},
	})
	if _, err := s.PruneHeartbeats(ctx, forever); err != nil {
		t.Fatal(err)
	}
	check("d", []want{{"at h3, all pruned", at(h3), nil, nil}, {"until the end, all pruned", forever, nil, nil}})
}

// eventsFixture is events of devices a, b and Z, each labelled by its
// Detail, whose types sit on both sides of the prefix "media." in byte
// order and whose references look like patterns.
func eventsFixture(t *testing.T, s store.Store) map[string]store.Event {
	createDevices(t, s, "a", "b", "Z")
	ev := func(label string, at time.Time, typ, ref string) store.Event {
		return store.Event{Time: at, Type: typ, CaseRef: ref, Detail: label}
	}
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	a, b, z := newChain("a"), newChain("b"), newChain("Z")
	a1, a2, a3 := a.next(), a.next(), a.next()
	a1.Events = []store.Event{
		ev("e1", sec(0), "media.usb", "LL-1"),
		ev("e17", sec(0), "sealed", "LL-2"), // the same time: by position, not by type
		ev("e4", sec(1), "media", ""),
		ev("e5", sec(2), "media-x", ""), // '-' is the byte before '.'
		ev("e6", sec(3), "media/x", ""), // '/' the byte after
		ev("e7", sec(4), "mediax", ""),
		ev("e14", time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), "media.old", ""),
	}
	a2.Events = []store.Event{
		ev("e16", sec(0), "media.usb2", ""),
		ev("e9", sec(6), "tidy.done", "LL-1"),
	}
	a3.Events = []store.Event{
		ev("e11", sec(7), "a_b.x", "LL-_"),
		ev("e12", sec(7), "a%b.x", "LL-%"),
		ev("e13", sec(7), "axb.x", "LL-x"),
	}
	b1, b2 := b.next(), b.next()
	b1.Events = []store.Event{
		ev("e2", sec(0), "media.cloud.dropbox", "LL-2"),
		ev("e8", sec(5), "Media.usb", "ll-1"),
	}
	b2.Events = []store.Event{
		ev("e10", sec(7), "media.", "LL-1"),
		ev("e15", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), "media.future", ""),
	}
	z1 := z.next()
	z1.Events = []store.Event{ev("e3", sec(0), "cloud.onedrive", "LL-1")}
	ingest(t, s, a1, b1, z1, a2, a3, b2)
	all := map[string]store.Event{}
	for _, h := range []store.Heartbeat{a1, a2, a3, b1, b2, z1} {
		for _, e := range h.Events {
			e.DeviceID, e.Seq = h.DeviceID, h.Seq
			all[e.Detail] = e
		}
	}
	return all
}

func sameEvent(t *testing.T, what string, got, want store.Event) {
	t.Helper()
	if got.DeviceID != want.DeviceID || got.Seq != want.Seq || got.Type != want.Type || got.CaseRef != want.CaseRef ||
		got.Detail != want.Detail {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
	sameTime(t, what+" time", got.Time, want.Time)
}

// searchIs checks SearchEvents(f) returns exactly the events labelled.
func searchIs(t *testing.T, s store.Store, all map[string]store.Event, name string, f store.EventFilter, labels ...string) {
	t.Helper()
	got, err := s.SearchEvents(t.Context(), f)
	ok(t, err)
	var gotLabels []string
	for _, e := range got {
		gotLabels = append(gotLabels, e.Detail)
	}
	if got == nil || !slices.Equal(gotLabels, labels) {
		t.Errorf("SearchEvents %s = %q (nil: %v), want %q", name, gotLabels, got == nil, labels)
		return
	}
	for i, e := range got {
		sameEvent(t, fmt.Sprintf("SearchEvents %s [%d]", name, i), e, all[labels[i]])
	}
}

func testSearchEvents(t *testing.T, open Open) {
	s := open(t)
	all := eventsFixture(t, s)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	// By time, then device ID in byte order ("Z" < "a" < "b"), then the
	// heartbeat's seq, then the position in the heartbeat.
	every := []string{"e14", "e3", "e1", "e17", "e16", "e2", "e4", "e5", "e6", "e7", "e8", "e9", "e11", "e12", "e13", "e10", "e15"}
	if len(every) != len(all) {
		t.Fatalf("the fixture has %d events, the test expects %d", len(all), len(every))
	}
	for _, c := range []struct {
		name   string
		f      store.EventFilter
		labels []string
	}{
		{"with no filter", store.EventFilter{}, every},
		{"with a negative limit", store.EventFilter{Limit: -1}, every},
		{"with a limit of 3", store.EventFilter{Limit: 3}, every[:3]},
		{"with a limit of 1", store.EventFilter{Limit: 1}, every[:1]},
		{"with a limit above the count", store.EventFilter{Limit: 1000}, every},

		{"of a type prefix", store.EventFilter{Type: "media."}, []string{"e14", "e1", "e16", "e2", "e10", "e15"}},
		{"of a type prefix, limit 2", store.EventFilter{Type: "media.", Limit: 2}, []string{"e14", "e1"}},
		{"of a longer type prefix", store.EventFilter{Type: "media.cloud."}, []string{"e2"}},
		{"of an exact type", store.EventFilter{Type: "media.usb"}, []string{"e1"}},
		{"of a type without a dot", store.EventFilter{Type: "media"}, []string{"e4"}},
		{"of a type in another case", store.EventFilter{Type: "Media.usb"}, []string{"e8"}},
		{"of a prefix with '_'", store.EventFilter{Type: "a_b."}, []string{"e11"}},
		{"of a prefix with '%'", store.EventFilter{Type: "a%b."}, []string{"e12"}},
		{"of a type no event has", store.EventFilter{Type: "media.usb."}, nil},
		{"of a type pattern", store.EventFilter{Type: "media.%"}, nil},
		{"of the prefix '.'", store.EventFilter{Type: "."}, nil},

		{"of a case reference", store.EventFilter{CaseRef: "LL-1"}, []string{"e3", "e1", "e9", "e10"}},
		{"of a reference with '_'", store.EventFilter{CaseRef: "LL-_"}, []string{"e11"}},
		{"of a reference with '%'", store.EventFilter{CaseRef: "LL-%"}, []string{"e12"}},
		{"of a reference in another case", store.EventFilter{CaseRef: "ll-1"}, []string{"e8"}},
		{"of a reference prefix", store.EventFilter{CaseRef: "LL-"}, nil},

		{"of a device", store.EventFilter{DeviceID: "a"}, []string{"e14", "e1", "e17", "e16", "e4", "e5", "e6", "e7", "e9", "e11", "e12", "e13"}},
		{"of a device in another case", store.EventFilter{DeviceID: "z"}, nil},
		{"of an unknown device", store.EventFilter{DeviceID: "ghost"}, nil},

		// [From, To): From is included, To is not; a zero To is no bound.
		{"in [1 s, 5 s)", store.EventFilter{From: sec(1), To: sec(5)}, []string{"e4", "e5", "e6", "e7"}},
		{"in (1 s, 5 s]", store.EventFilter{From: us(sec(1)).Add(time.Microsecond), To: us(sec(5)).Add(time.Microsecond)},
			[]string{"e5", "e6", "e7", "e8"}},
		{"in an empty range", store.EventFilter{From: sec(1), To: sec(1)}, nil},
		{"with To before From", store.EventFilter{From: sec(5), To: sec(1)}, nil},
		{"from 7 s on", store.EventFilter{From: sec(7)}, []string{"e11", "e12", "e13", "e10", "e15"}},
		{"until 0 s", store.EventFilter{To: sec(0)}, []string{"e14"}},
		{"until the year 9999", store.EventFilter{From: sec(7), To: forever}, []string{"e11", "e12", "e13", "e10"}},
		{"within far bounds", store.EventFilter{From: time.Unix(-1<<62, 0), To: time.Unix(1<<62, 0)}, every},

		// Filters combine, as a lost-device assessment asks.
		{"of a device, a type prefix and a window", store.EventFilter{DeviceID: "a", Type: "media.", From: sec(0), To: sec(7)},
			[]string{"e1", "e16"}},
		{"of a type prefix and a reference", store.EventFilter{Type: "media.", CaseRef: "LL-1"}, []string{"e1", "e10"}},
		{"of a device and a reference", store.EventFilter{DeviceID: "b", CaseRef: "LL-2"}, []string{"e2"}},
		{"of everything, limited", store.EventFilter{DeviceID: "a", Type: "media.", CaseRef: "LL-1", From: sec(0),
			To: sec(1), Limit: 1}, []string{"e1"}},

		// Strings no event can hold select nothing.
		{"of a type with a NUL", store.EventFilter{Type: "media.\x00"}, nil},
		{"of a device not UTF-8", store.EventFilter{DeviceID: "a\xff"}, nil},
		{"of a reference with a NUL", store.EventFilter{CaseRef: "LL-1\x00"}, nil},
	} {
		searchIs(t, s, all, c.name, c.f, c.labels...)
	}
}

// testSearchEventsLimit checks the default limit: 10,000 events.
func testSearchEventsLimit(t *testing.T, open Open) {
	s := open(t)
	createDevices(t, s, "d")
	c := newChain("d")
	h := c.next()
	const n = 10003
	h.Events = make([]store.Event, n)
	all := map[string]store.Event{}
	labels := make([]string, n)
	for i := range h.Events {
		// Stored in reverse time order: the limit keeps the earliest.
		e := store.Event{DeviceID: "d", Seq: 1, Time: t0.Add(time.Duration(n-i) * time.Millisecond), Type: "bulk.x",
			Detail: fmt.Sprint(i)}
		h.Events[i], all[e.Detail], labels[n-1-i] = e, e, e.Detail
	}
	ingest(t, s, h)
	searchIs(t, s, all, "with no limit", store.EventFilter{Type: "bulk."}, labels[:10000]...)
	searchIs(t, s, all, "with a limit of 0", store.EventFilter{DeviceID: "d", Limit: 0}, labels[:10000]...)
	searchIs(t, s, all, "with a limit of 10,002", store.EventFilter{Limit: 10002}, labels[:10002]...)
	searchIs(t, s, all, "with a limit above the count", store.EventFilter{Limit: 20000}, labels...)
}

// testQueryMetacharacters checks hostile case references and event types
// are matched exactly and come back byte for byte.
func testQueryMetacharacters(t *testing.T, open Open) {
	s, ctx := open(t), t.Context()
	all := map[string]store.Event{}
	ids := make([]string, len(hostile))
	for i, str := range hostile {
		id := str
		if id == "" {
			id = "empty-string-fields"
		}
		ids[i] = id
		createDevices(t, s, id)
		c := newChain(id)
		h := c.next()
		h.Events = []store.Event{
			{Time: t0.Add(time.Duration(i) * time.Second), Type: str, CaseRef: str, Detail: fmt.Sprintf("%d exact", i)},
			{Time: t0.Add(time.Duration(i) * time.Second), Type: str + ".tail", Detail: fmt.Sprintf("%d prefixed", i)},
		}
		h.CaseRefs = []store.CaseCount{{Ref: str, Files: i + 1}}
		ingest(t, s, h)
		for _, e := range h.Events {
			e.DeviceID, e.Seq = id, 1
			all[e.Detail] = e
		}
		got, err := s.CaseHolders(ctx, str)
		ok(t, err)
		sameHoldings(t, fmt.Sprintf("CaseHolders(%q)", str), got, []store.Holding{{DeviceID: id, Ref: str,
			FirstSeen: h.State.ReceivedAt, LastSeen: h.State.ReceivedAt, Files: i + 1, Held: true}})
		sc, err := s.StateAt(ctx, id, forever)
		ok(t, err)
		if sc.DeviceID != id {
			t.Errorf("StateAt(%q) is of device %q", id, sc.DeviceID)
		}
		sameState(t, fmt.Sprintf("StateAt(%q)", id), sc.State, h.State)
		b, a, err := s.HeartbeatsAround(ctx, id, h.State.ReceivedAt)
		ok(t, err)
		sameMeta(t, fmt.Sprintf("HeartbeatsAround(%q) before", id), b, &h)
		sameMeta(t, fmt.Sprintf("HeartbeatsAround(%q) after", id), a, nil)
	}
	for i, str := range hostile {
		exact, prefixed := fmt.Sprintf("%d exact", i), fmt.Sprintf("%d prefixed", i)
		searchIs(t, s, all, fmt.Sprintf("of device %q", ids[i]), store.EventFilter{DeviceID: ids[i]}, exact, prefixed)
		if str == "" { // an empty filter is no filter
			continue
		}
		searchIs(t, s, all, fmt.Sprintf("of type %q", str), store.EventFilter{Type: str}, exact)
		searchIs(t, s, all, fmt.Sprintf("of reference %q", str), store.EventFilter{CaseRef: str}, exact)
		searchIs(t, s, all, fmt.Sprintf("of type prefix %q", str+"."), store.EventFilter{Type: str + "."}, prefixed)
	}
	states, err := s.StatesAt(ctx, forever)
	ok(t, err)
	sorted := slices.Clone(ids)
	slices.Sort(sorted) // by ID means by bytes
	var got []string
	for _, sc := range states {
		got = append(got, sc.DeviceID)
	}
	if !slices.Equal(got, sorted) {
		t.Errorf("StatesAt lists devices %q, want %q", got, sorted)
	}
	// The empty reference and the empty-type prefix ".".
	searchIs(t, s, all, `of type prefix "."`, store.EventFilter{Type: "."}, "8 prefixed")
	holders, err := s.CaseHolders(ctx, "")
	ok(t, err)
	if len(holders) != 1 || holders[0].DeviceID != "empty-string-fields" || holders[0].Ref != "" {
		t.Errorf(`CaseHolders("") = %+v, want empty-string-fields's`, holders)
	}
}
