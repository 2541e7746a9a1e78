package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

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
