package simfleet_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/servertest"
	"github.com/casekeep/casekeep/server/simfleet"
	"github.com/casekeep/casekeep/server/store"
)

var end = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func all(h *simfleet.History) []store.Heartbeat {
	var out []store.Heartbeat
	for hbs := h.Next(37); len(hbs) > 0; hbs = h.Next(37) {
		out = append(out, hbs...)
	}
	return out
}

// TestHistory: each device's heartbeats continue its chain, in order, a
// day at a time across the fleet, each a state change with its case
// references; the same options make the same history.
func TestHistory(t *testing.T) {
	opts := simfleet.Options{Devices: 6, End: end, Span: 20 * 24 * time.Hour}
	h := simfleet.New(opts)
	if !h.Start.Equal(end.Add(-20*24*time.Hour)) || !h.End.Equal(end) {
		t.Errorf("history from %v to %v", h.Start, h.End)
	}
	devs := h.Devices()
	if len(devs) != 6 || devs[4].ID != "fleet-00004" || h.DeviceID(4) != "fleet-00004" || !devs[0].EnrolledAt.Before(h.Start) {
		t.Fatalf("devices %+v", devs)
	}
	hbs := all(h)
	last := map[string]store.Heartbeat{}
	day := time.Duration(-1)
	types := map[string]bool{}
	for _, hb := range hbs {
		at := hb.State.ReceivedAt
		if at.Before(h.Start) || at.After(h.End) {
			t.Fatalf("%s seq %d received at %v, outside the history", hb.DeviceID, hb.Seq, at)
		}
		if d := at.Sub(h.Start) / (24 * time.Hour); d < day {
			t.Fatalf("%s seq %d on day %d, after day %d", hb.DeviceID, hb.Seq, d, day)
		} else {
			day = d
		}
		prev, seen := last[hb.DeviceID]
		switch {
		case !seen && (hb.PrevHash != nil || hb.Seq != uint64(at.Sub(h.Start)/simfleet.Slot)+1):
			t.Errorf("%s's first heartbeat: seq %d, prev %x", hb.DeviceID, hb.Seq, hb.PrevHash)
		case seen && (hb.Seq <= prev.Seq || !bytes.Equal(hb.PrevHash, prev.Hash) || !hb.State.Changed(prev.State) || !at.After(prev.State.ReceivedAt)):
			t.Errorf("%s seq %d does not follow seq %d", hb.DeviceID, hb.Seq, prev.Seq)
		}
		if hb.State.Seq != hb.Seq || !bytes.Equal(hb.State.Hash, hb.Hash) || len(hb.CaseRefs) < 3 || hb.State.CaseRefs != len(hb.CaseRefs) {
			t.Errorf("%s seq %d: state %+v, %d case references", hb.DeviceID, hb.Seq, hb.State, len(hb.CaseRefs))
		}
		for _, e := range hb.Events {
			types[e.Type] = true
			if e.Time.After(at) || (e.Type == wire.EventVaultSealed) != (e.CaseRef != "") && e.Type != wire.EventVaultPlaintextFound && e.Type != wire.PrefixSweep+wire.OutsideQuarantined {
				t.Errorf("%s seq %d: event %+v", hb.DeviceID, hb.Seq, e)
			}
		}
		last[hb.DeviceID] = hb
	}
	if len(last) != 6 || len(hbs) < 6*20*3 {
		t.Errorf("%d heartbeats from %d devices", len(hbs), len(last))
	}
	if len(types) < 6 {
		t.Errorf("event types %v", types)
	}
	if again := all(simfleet.New(opts)); !reflect.DeepEqual(again, hbs) {
		t.Error("the same options made another history")
	}
}

// TestShaped: a device's last heartbeat is at the time Last gives, Shape
// sees each heartbeat once and its last as such, and events are of the
// types asked for.
func TestShaped(t *testing.T) {
	lastAt := map[int]time.Time{
		0: end.Add(-3 * time.Minute),                 // online
		1: end.Add(-26 * time.Hour),                  // offline
		2: end.Add(-40 * 24 * time.Hour),             // missing: before the history begins
		3: end.Add(-10*24*time.Hour + 7*time.Second), // mid-history, between slots
	}
	shaped, lasts := map[string]int{}, map[string]int{}
	h := simfleet.New(simfleet.Options{Devices: 4, End: end, Span: 30 * 24 * time.Hour, Prefix: "demo-",
		Events: []string{wire.EventVolumeUnapproved},
		Last:   func(i int) time.Time { return lastAt[i] },
		Shape: func(i int, hb *store.Heartbeat, last bool) {
			if hb.DeviceID != fmt.Sprintf("demo-%05d", i) {
				t.Errorf("Shape(%d) of %s", i, hb.DeviceID)
			}
			shaped[hb.DeviceID]++
			if last {
				lasts[hb.DeviceID]++
				hb.Stopping = wire.StopShutdown
			}
			hb.State.Lease = "none"
		}})
	hbs := all(h)
	final := map[string]store.Heartbeat{}
	n := map[string]int{}
	for _, hb := range hbs {
		if prev, ok := final[hb.DeviceID]; ok && (hb.Seq <= prev.Seq || !bytes.Equal(hb.PrevHash, prev.Hash)) {
			t.Errorf("%s seq %d after %d", hb.DeviceID, hb.Seq, prev.Seq)
		}
		final[hb.DeviceID] = hb
		n[hb.DeviceID]++
		if hb.State.Lease != "none" {
			t.Errorf("%s seq %d not shaped", hb.DeviceID, hb.Seq)
		}
		for _, e := range hb.Events {
			if e.Type != wire.EventVolumeUnapproved || e.Detail == "" {
				t.Errorf("event %+v", e)
			}
		}
	}
	for i, at := range lastAt {
		id := h.DeviceID(i)
		hb := final[id]
		if !hb.State.ReceivedAt.Equal(at) || hb.Stopping != wire.StopShutdown || lasts[id] != 1 || shaped[id] != n[id] {
			t.Errorf("%s: last heartbeat at %v (stopping %q), want %v; shaped %d of %d, %d as the last",
				id, hb.State.ReceivedAt, hb.Stopping, at, shaped[id], n[id], lasts[id])
		}
	}
	if n[h.DeviceID(2)] != 1 || n[h.DeviceID(0)] < 100 {
		t.Errorf("heartbeats: %v", n)
	}
}

// TestLoad: a history loads into a store, every heartbeat accepted, and
// the store then holds each device's last state.
func TestLoad(t *testing.T) {
	st, _ := servertest.Store(t)
	ctx := context.Background()
	h := simfleet.New(simfleet.Options{Devices: 5, End: end, Span: 100 * 24 * time.Hour})
	for _, d := range h.Devices() {
		if err := st.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	idles := 0
	stats, err := simfleet.Load(ctx, st, h, 10, func() error { idles++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := all(simfleet.New(simfleet.Options{Devices: 5, End: end, Span: 100 * 24 * time.Hour}))
	events := 0
	for _, hb := range want {
		events += len(hb.Events)
	}
	if stats.Heartbeats != len(want) || stats.Events != events || idles < 50 || idles > 100 { // about once a simulated day
		t.Errorf("stats %+v (%d idle calls), want %d heartbeats and %d events", stats, idles, len(want), events)
	}
	rows, err := st.Devices(ctx)
	if err != nil || len(rows) != 5 {
		t.Fatalf("%d devices, %v", len(rows), err)
	}
	for _, r := range rows {
		i := slices.IndexFunc(want, func(hb store.Heartbeat) bool { return hb.DeviceID == r.ID && hb.Seq == r.State.Seq })
		if i < 0 || slices.ContainsFunc(want[i+1:], func(hb store.Heartbeat) bool { return hb.DeviceID == r.ID }) {
			t.Errorf("%s: last stored seq %d is not its last", r.ID, r.State.Seq)
		}
	}
	// The oldest heartbeats' bytes are pruned, as the server prunes them.
	if _, err := st.Heartbeat(ctx, want[0].DeviceID, want[0].Seq); err == nil {
		t.Error("the first heartbeat's bytes are still kept after 100 days")
	}
}
