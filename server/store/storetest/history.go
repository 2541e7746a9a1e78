package storetest

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/simfleet"
	"github.com/casekeep/casekeep/server/store"
)

// BenchQueryDevices is the fleet size of [BenchQuery]: 100 (whose history
// loads in about 25 s), or $CASEKEEP_BENCH_DEVICES (10000 is the size the
// queries are meant for; its history takes most of an hour to load).
func BenchQueryDevices(b *testing.B) int {
	n := 100
	if v := os.Getenv("CASEKEEP_BENCH_DEVICES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("CASEKEEP_BENCH_DEVICES=%q: want a number of devices", v)
		}
	}
	return n
}

// benchQueryEnd is the end of the benchmark's year of history.
var benchQueryEnd = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// BenchQuery loads a year of a fleet's history (see [simfleet.History]) into s,
// unless s already holds it (a database kept from an earlier run), then
// measures each [store.Query] method, and the reads of one lost-device
// assessment together, in sub-benchmarks, each call at another device,
// time or reference. It fails if an answer is not what the history holds.
// idle, if not nil, is called once a simulated day while loading, between
// two Ingest calls (see [simfleet.Load]): SQLite checkpoints its WAL there,
// which a bulk load otherwise leaves it no idle moment to do.
func BenchQuery(b *testing.B, s store.Store, devices int, idle func() error) {
	ctx := b.Context()
	h := simfleet.New(simfleet.Options{Devices: devices, End: benchQueryEnd})
	have, err := s.Devices(ctx)
	if err != nil {
		b.Fatal(err)
	}
	switch len(have) {
	case 0:
		for _, d := range h.Devices() {
			if err := s.CreateDevice(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
		st, err := simfleet.Load(ctx, s, h, 500, idle)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded %d devices' year: %d heartbeats (each a state change), %d events in %v (%.0f heartbeats/s)",
			devices, st.Heartbeats, st.Events, st.Took.Round(time.Second), float64(st.Heartbeats)/st.Took.Seconds())
	case devices:
		b.Logf("using the %d devices' history already stored", devices)
	default:
		b.Fatalf("the store holds %d devices, want none or %d", len(have), devices)
	}

	rng := rand.New(rand.NewPCG(7, 7))
	// A time in the year, after every device's first heartbeat.
	anyTime := func() time.Time {
		from := h.Start.Add(simfleet.Slot)
		return from.Add(time.Duration(rng.Int64N(int64(h.End.Sub(from)))))
	}
	// A time in the last 89 days but the last 8 hours: every device has a
	// heartbeat still stored before it and one after.
	recent := func() time.Time {
		return h.End.Add(-8*time.Hour - time.Duration(rng.Int64N(int64(simfleet.Retention-24*time.Hour-8*time.Hour))))
	}
	anyDevice := func() string { return h.DeviceID(rng.IntN(devices)) }
	fatal := func(b *testing.B, err error) {
		if err != nil {
			b.Fatal(err)
		}
	}

	b.Run("StatesAt", func(b *testing.B) {
		for b.Loop() {
			got, err := s.StatesAt(ctx, anyTime())
			fatal(b, err)
			if len(got) != devices {
				b.Fatalf("StatesAt: %d states, want %d", len(got), devices)
			}
		}
	})
	b.Run("StateAt", func(b *testing.B) {
		for b.Loop() {
			_, err := s.StateAt(ctx, anyDevice(), anyTime())
			fatal(b, err)
		}
	})
	b.Run("CaseHolders", func(b *testing.B) {
		rows := 0
		for b.Loop() {
			got, err := s.CaseHolders(ctx, h.Ref(rng))
			fatal(b, err)
			rows += len(got)
		}
		b.ReportMetric(float64(rows)/float64(b.N), "holders/op")
	})
	b.Run("HeartbeatsAround", func(b *testing.B) {
		for b.Loop() {
			before, after, err := s.HeartbeatsAround(ctx, anyDevice(), recent())
			fatal(b, err)
			if before.Seq == 0 || after.Seq == 0 {
				b.Fatalf("HeartbeatsAround: seqs %d and %d, want both", before.Seq, after.Seq)
			}
		}
	})
	for _, c := range []struct {
		name string
		f    func() store.EventFilter
	}{
		// As an assessment asks: one device, a type prefix, 30 days.
		{"SearchEvents/DeviceTypeMonth", func() store.EventFilter {
			t := anyTime()
			return store.EventFilter{DeviceID: anyDevice(), Type: wire.PrefixStorage, From: t.Add(-30 * 24 * time.Hour), To: t}
		}},
		// Across the fleet: a type prefix over a day.
		{"SearchEvents/TypeDay", func() store.EventFilter {
			t := anyTime()
			return store.EventFilter{Type: wire.PrefixStorage, From: t.Add(-24 * time.Hour), To: t}
		}},
		// Across the fleet: an exact type over a week, the first 100.
		{"SearchEvents/TypeWeek100", func() store.EventFilter {
			t := anyTime()
			return store.EventFilter{Type: wire.PrefixSweep + wire.OutsideQuarantined, From: t.Add(-7 * 24 * time.Hour), To: t, Limit: 100}
		}},
		// Across the fleet: every event of a case reference, all year.
		{"SearchEvents/CaseRef", func() store.EventFilter { return store.EventFilter{CaseRef: h.Ref(rng)} }},
		// Across the fleet: every event in an hour.
		{"SearchEvents/Hour", func() store.EventFilter {
			t := anyTime()
			return store.EventFilter{From: t.Add(-time.Hour), To: t}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			rows := 0
			for b.Loop() {
				got, err := s.SearchEvents(ctx, c.f())
				fatal(b, err)
				rows += len(got)
			}
			b.ReportMetric(float64(rows)/float64(b.N), "events/op")
		})
	}
	// The store reads of one lost-device assessment (package assess).
	b.Run("Assessment", func(b *testing.B) {
		for b.Loop() {
			id, lost := anyDevice(), recent()
			_, err := s.Device(ctx, id)
			fatal(b, err)
			_, err = s.LostReports(ctx, id)
			fatal(b, err)
			_, _, err = s.HeartbeatsAround(ctx, id, lost)
			fatal(b, err)
			_, err = s.StateAt(ctx, id, lost)
			fatal(b, err)
			_, err = s.Holdings(ctx, id)
			fatal(b, err)
			for _, prefix := range wire.OutsidePrefixes {
				_, err := s.SearchEvents(ctx, store.EventFilter{DeviceID: id, Type: prefix,
					From: lost.Add(-30 * 24 * time.Hour), To: lost.Add(time.Microsecond)})
				fatal(b, err)
			}
			_, err = s.Gaps(ctx, id)
			fatal(b, err)
			_, err = s.Commands(ctx, id)
			fatal(b, err)
			_, err = s.LeaseEvidence(ctx, id, lost)
			fatal(b, err)
			_, err = s.Decisions(ctx, id)
			fatal(b, err)
		}
	})
}
