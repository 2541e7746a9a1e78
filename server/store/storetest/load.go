package storetest

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/store"
)

// Load makes the benchmark workload: heartbeats from many devices in turn,
// each of realistic size: a 2 KiB body, 3 events, 5 case references, and a
// state that changes on about one heartbeat in ten.
type Load struct {
	rng   *rand.Rand
	devs  []loadDevice
	next  int       // the device that sends next
	clock time.Time // received time of the last heartbeat
}

type loadDevice struct {
	id    string
	seq   uint64
	prev  []byte
	state store.State
	refs  []store.CaseCount
}

// NewLoad returns a workload over devices devices.
func NewLoad(devices int) *Load {
	l := &Load{rng: rand.New(rand.NewPCG(1, 2)), clock: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)}
	for i := range devices {
		d := loadDevice{id: fmt.Sprintf("bench-%05d", i), state: baseState()}
		for j := range 5 {
			d.refs = append(d.refs, store.CaseCount{Ref: fmt.Sprintf("LL-%06d", i*5+j), Files: 1 + j})
		}
		l.devs = append(l.devs, d)
	}
	return l
}

// Devices returns the devices to create before ingesting.
func (l *Load) Devices() []store.Device {
	var ds []store.Device
	for _, d := range l.devs {
		ds = append(ds, device(d.id))
	}
	return ds
}

// Batch is heartbeats and, for each, whether its state differs from the
// device's previous one (always, for a device's first).
type Batch struct {
	Heartbeats []store.Heartbeat
	Changed    []bool
}

// Next returns the next n heartbeats.
func (l *Load) Next(n int) Batch {
	b := Batch{Heartbeats: make([]store.Heartbeat, n), Changed: make([]bool, n)}
	for i := range n {
		d := &l.devs[l.next]
		l.next = (l.next + 1) % len(l.devs)
		l.clock = l.clock.Add(173 * time.Microsecond)
		d.seq++
		b.Changed[i] = d.seq == 1
		if d.seq > 1 && l.rng.IntN(10) == 0 {
			d.state.SealedFiles++
			d.state.SealedBytes += 40000
			r := &d.refs[l.rng.IntN(len(d.refs))]
			r.Files++
			b.Changed[i] = true
		}
		body := make([]byte, 2048)
		copy(body, fmt.Appendf(nil, `{"device":%q,"seq":%d,"sent":%q,"pad":"`, d.id, d.seq, l.clock.Format(time.RFC3339Nano)))
		for j := 120; j < len(body)-2; j++ {
			body[j] = 'a' + byte(l.rng.IntN(26))
		}
		copy(body[len(body)-2:], `"}`)
		sum := sha256.Sum256(body)
		st := d.state
		st.Seq, st.Hash, st.SentAt, st.ReceivedAt = d.seq, sum[:], l.clock.Add(-40*time.Millisecond), l.clock
		h := store.Heartbeat{
			DeviceID: d.id, Seq: d.seq, Hash: sum[:], PrevHash: d.prev, Body: body, State: st,
			CaseRefs: append([]store.CaseCount(nil), d.refs...),
		}
		for j, typ := range []string{"sealed", "opened", "usb_audit"} {
			h.Events = append(h.Events, store.Event{
				Time: l.clock.Add(-time.Duration(3-j) * time.Second), Type: typ, CaseRef: d.refs[j].Ref,
				Detail: fmt.Sprintf(`C:\Users\sw\casekeep\cache\%s\report-%d.docx`, d.refs[j].Ref, d.seq),
			})
		}
		d.prev = sum[:]
		b.Heartbeats[i] = h
	}
	return b
}

// BenchIngest ingests the workload through s in batches of batch
// heartbeats, after a first heartbeat from every device, and reports
// heartbeats/s. It fails if a heartbeat is not accepted.
func BenchIngest(b *testing.B, s store.Store, devices, batch int) {
	BenchWrite(b, s, devices, batch, func(bt Batch) {
		outs, err := s.Ingest(b.Context(), bt.Heartbeats)
		if err != nil {
			b.Fatal(err)
		}
		for i, o := range outs {
			if o.Result != store.Accepted {
				b.Fatalf("%s seq %d: %v", bt.Heartbeats[i].DeviceID, bt.Heartbeats[i].Seq, o.Result)
			}
		}
	})
}

// BenchWrite benchmarks write, which stores a batch of the workload over
// devices devices: it creates the devices in s, writes a first heartbeat
// from every device in batches of batch, then times b.N heartbeats written
// in batches of batch (the making of each batch is not timed), and reports
// heartbeats/s.
func BenchWrite(b *testing.B, s store.Store, devices, batch int, write func(Batch)) {
	l := NewLoad(devices)
	for _, d := range l.Devices() {
		if err := s.CreateDevice(b.Context(), d); err != nil {
			b.Fatal(err)
		}
	}
	for range (devices + batch - 1) / batch {
		write(l.Next(min(batch, devices)))
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		bt := l.Next(min(batch, b.N-done))
		b.StartTimer()
		write(bt)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "heartbeats/s")
}
