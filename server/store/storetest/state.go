package storetest

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

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
