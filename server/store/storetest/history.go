package storetest

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

// History makes a fleet's year of history as the store keeps it, for the
// query benchmark. Each device reports every 5 minutes, but a heartbeat
// that changes nothing adds no state change, event or holding, so only the
// heartbeats that do are made: one every 1 to 7 hours (4 on average) per
// device, each a state change, carrying the events reported since the last
// (about two a day) and the device's case references (3 to 6, from a pool
// three times the fleet's size, one swapped for another every two weeks or
// so, so that each reference is held by about ten devices over the year).
// Their seqs are the 5-minute slots they were sent in, so each continues
// its device's hash chain across the slots left out, as a real device's
// does. Heartbeats come out a day at a time, and within a day device by
// device, each device's in the order received: loading a year in the order
// received across the fleet would make every batch touch pages of hundreds
// of devices (for SQLite, some 26 KiB of WAL per heartbeat at 10,000
// devices, a year's worth being hundreds of gigabytes), where a server
// receiving the same year over a year writes a little at a time.
type History struct {
	Start, End time.Time
	devs       []*histDevice
	queue      histQueue
	pool       int // case references: LL-000000 to LL-<pool-1>
}

type histDevice struct {
	id      string
	rng     *rand.Rand
	slot    int           // the 5-minute slot of the next heartbeat
	phase   time.Duration // when in each slot it reports
	prev    []byte
	state   store.State
	refs    []store.CaseCount
	swapAt  time.Time // when it next drops a case reference and takes another
	eventAt time.Time // when it next reports an event
}

// historySlot is how often a device reports.
const historySlot = 5 * time.Minute

// histEventTypes are the event types devices report, those about storage
// outside the vault among them, as a lost-device assessment searches.
var histEventTypes = []string{
	wire.EventVolumeApproved, wire.EventVolumeUnapproved, wire.EventSyncFolderFound, wire.PrefixSweep + wire.OutsideQuarantined,
	wire.EventVaultSealed, wire.EventVaultPlaintextFound, wire.PostureEvent("disk_encryption"), wire.EventUnannouncedStop,
}

// NewHistory returns the history of devices devices over the year to end.
func NewHistory(devices int, end time.Time) *History {
	h := &History{Start: end.Add(-365 * 24 * time.Hour), End: end, pool: 3 * devices}
	for i := range devices {
		d := &histDevice{
			id:    fmt.Sprintf("fleet-%05d", i),
			rng:   rand.New(rand.NewPCG(uint64(i), 0x686973746f7279)),
			phase: time.Duration(i*7919) * time.Millisecond % historySlot,
			state: baseState(),
		}
		for range 3 + d.rng.IntN(4) {
			d.refs = append(d.refs, store.CaseCount{Ref: h.newRef(d), Files: 1 + d.rng.IntN(20)})
		}
		d.state.CaseRefs = len(d.refs)
		d.swapAt = h.Start.Add(time.Duration(d.rng.Int64N(int64(14 * 24 * time.Hour))))
		d.eventAt = h.Start.Add(time.Duration(d.rng.Int64N(int64(12 * time.Hour))))
		h.devs = append(h.devs, d)
		heap.Push(&h.queue, d)
	}
	return h
}

func (h *History) ref(rng *rand.Rand) string { return fmt.Sprintf("LL-%06d", rng.IntN(h.pool)) }

// newRef returns a reference of the pool that d does not hold.
func (h *History) newRef(d *histDevice) string {
	for {
		ref := h.ref(d.rng)
		held := false
		for _, c := range d.refs {
			held = held || c.Ref == ref
		}
		if !held {
			return ref
		}
	}
}

// Devices returns the devices to create before ingesting.
func (h *History) Devices() []store.Device {
	var ds []store.Device
	for _, d := range h.devs {
		dev := device(d.id)
		dev.EnrolledAt = h.Start.Add(-24 * time.Hour)
		ds = append(ds, dev)
	}
	return ds
}

// DeviceID returns the ID of device i.
func (h *History) DeviceID(i int) string { return h.devs[i].id }

// Ref returns a case reference of the pool, chosen by rng.
func (h *History) Ref(rng *rand.Rand) string { return h.ref(rng) }

// offset is when d's next heartbeat is received, after the start.
func (d *histDevice) offset() time.Duration { return time.Duration(d.slot)*historySlot + d.phase }

func (d *histDevice) at(start time.Time) time.Time { return start.Add(d.offset()) }

// Next returns up to n heartbeats, the next received; none at the end of
// the year.
func (h *History) Next(n int) []store.Heartbeat {
	var out []store.Heartbeat
	for len(out) < n && len(h.queue) > 0 {
		d := h.queue[0]
		if d.at(h.Start).After(h.End) {
			heap.Pop(&h.queue)
			continue
		}
		out = append(out, h.heartbeat(d))
		heap.Fix(&h.queue, 0)
	}
	return out
}

// heartbeat makes device d's next heartbeat, a state change, and moves it
// on to the one after.
func (h *History) heartbeat(d *histDevice) store.Heartbeat {
	at := d.at(h.Start)
	seq := uint64(d.slot + 1)
	if seq > 1 {
		st := &d.state
		switch r := d.rng.IntN(100); {
		case r < 60: // a file sealed
			st.SealedFiles++
			st.SealedBytes += 20000 + d.rng.Int64N(200000)
			d.refs[d.rng.IntN(len(d.refs))].Files++
		case r < 75:
			st.PlaintextFiles = 1 - st.PlaintextFiles
			st.Compliant = st.PlaintextFiles == 0
		case r < 90:
			st.Lease = map[string]string{"valid": "grace", "grace": "valid"}[st.Lease]
		case r < 95:
			st.PolicyVersion++
			st.PolicyHash = fmt.Sprintf("sha256:%x", st.PolicyVersion)
		default:
			st.AgentVersion = fmt.Sprintf("1.%d.%d", seq/10000, seq%10000)
		}
	}
	for !d.swapAt.After(at) {
		d.refs[d.rng.IntN(len(d.refs))] = store.CaseCount{Ref: h.newRef(d), Files: 1}
		d.swapAt = d.swapAt.Add(7*24*time.Hour + time.Duration(d.rng.Int64N(int64(14*24*time.Hour))))
	}
	var events []store.Event
	for !d.eventAt.After(at) {
		e := store.Event{Time: d.eventAt, Type: histEventTypes[d.rng.IntN(len(histEventTypes))]}
		if e.Type == "sealed" || e.Type == "opened" {
			e.CaseRef = d.refs[d.rng.IntN(len(d.refs))].Ref
			e.Detail = fmt.Sprintf(`C:\Users\%s\casekeep\%s\report-%d.docx`, d.id, e.CaseRef, seq)
		}
		events = append(events, e)
		d.eventAt = d.eventAt.Add(6*time.Hour + time.Duration(d.rng.Int64N(int64(12*time.Hour))))
	}
	body := make([]byte, 256)
	copy(body, fmt.Appendf(nil, `{"device":%q,"seq":%d,"at":%q,"pad":"`, d.id, seq, at.Format(time.RFC3339Nano)))
	for i := 96; i < len(body)-2; i++ {
		body[i] = 'a' + byte(d.rng.IntN(26))
	}
	copy(body[len(body)-2:], `"}`)
	sum := sha256.Sum256(body)
	st := d.state
	st.Seq, st.Hash, st.SentAt, st.ReceivedAt = seq, sum[:], at.Add(-2*time.Second), at
	hb := store.Heartbeat{
		DeviceID: d.id, Seq: seq, Hash: sum[:], PrevHash: d.prev, Body: body, State: st, Events: events,
		CaseRefs: append([]store.CaseCount(nil), d.refs...),
	}
	d.prev = sum[:]
	d.slot += 12 + d.rng.IntN(73) // 1 to 7 hours on
	return hb
}

// histQueue is the devices by the day of their next heartbeat, then ID.
type histQueue []*histDevice

func (q histQueue) Len() int { return len(q) }
func (q histQueue) Less(i, j int) bool {
	a, b := q[i].offset()/(24*time.Hour), q[j].offset()/(24*time.Hour)
	return a < b || a == b && q[i].id < q[j].id
}
func (q histQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *histQueue) Push(x any)   { *q = append(*q, x.(*histDevice)) }
func (q *histQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	*q = old[:len(old)-1]
	return d
}

// HistoryStats is what LoadHistory stored.
type HistoryStats struct {
	Heartbeats, Events int
	Took               time.Duration
}

// historyRetention is how long the loaded heartbeats are kept, as the
// server keeps them by default: LoadHistory prunes the older ones once a
// simulated day, as the server does hourly.
const historyRetention = 90 * 24 * time.Hour

// LoadHistory creates h's devices in s and ingests h in batches of batch
// heartbeats, failing if one is not accepted. Once a simulated day it
// prunes the heartbeats past the retention period and then, if idle is not
// nil, calls it between two Ingest calls.
func LoadHistory(ctx context.Context, s store.Store, h *History, batch int, idle func() error) (HistoryStats, error) {
	start := time.Now()
	var st HistoryStats
	for _, d := range h.Devices() {
		if err := s.CreateDevice(ctx, d); err != nil {
			return st, err
		}
	}
	pruned := h.Start
	for {
		hbs := h.Next(batch)
		if len(hbs) == 0 {
			break
		}
		outs, err := s.Ingest(ctx, hbs)
		if err != nil {
			return st, err
		}
		for i, o := range outs {
			if o.Result != store.Accepted {
				return st, fmt.Errorf("%s seq %d: %v", hbs[i].DeviceID, hbs[i].Seq, o.Result)
			}
			st.Heartbeats++
			st.Events += len(hbs[i].Events)
		}
		if now := hbs[len(hbs)-1].State.ReceivedAt; now.Sub(pruned) >= 24*time.Hour {
			if _, err := s.PruneHeartbeats(ctx, now.Add(-historyRetention)); err != nil {
				return st, err
			}
			if idle != nil {
				if err := idle(); err != nil {
					return st, err
				}
			}
			pruned = now
		}
	}
	st.Took = time.Since(start)
	return st, nil
}

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

// BenchQuery loads a year of a fleet's history (see [History]) into s,
// unless s already holds it (a database kept from an earlier run), then
// measures each [store.Query] method, and the reads of one lost-device
// assessment together, in sub-benchmarks, each call at another device,
// time or reference. It fails if an answer is not what the history holds.
// idle, if not nil, is called once a simulated day while loading, between
// two Ingest calls (see [LoadHistory]): SQLite checkpoints its WAL there,
// which a bulk load otherwise leaves it no idle moment to do.
func BenchQuery(b *testing.B, s store.Store, devices int, idle func() error) {
	ctx := b.Context()
	h := NewHistory(devices, benchQueryEnd)
	have, err := s.Devices(ctx)
	if err != nil {
		b.Fatal(err)
	}
	switch len(have) {
	case 0:
		st, err := LoadHistory(ctx, s, h, 500, idle)
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
		from := h.Start.Add(historySlot)
		return from.Add(time.Duration(rng.Int64N(int64(h.End.Sub(from)))))
	}
	// A time in the last 89 days but the last 8 hours: every device has a
	// heartbeat still stored before it and one after.
	recent := func() time.Time {
		return h.End.Add(-8*time.Hour - time.Duration(rng.Int64N(int64(historyRetention-24*time.Hour-8*time.Hour))))
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
			_, err = s.WipeRequests(ctx, id)
			fatal(b, err)
			_, err = s.Decisions(ctx, id)
			fatal(b, err)
		}
	})
}
