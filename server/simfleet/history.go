package simfleet

import (
	"container/heap"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

// Slot is how often a device reports. A heartbeat's seq is the slot it was
// sent in (counting from 1 at the start), so that each continues its
// device's hash chain across the slots left out, as a real device's does.
const Slot = 5 * time.Minute

// EventTypes are the event types devices report unless Options.Events
// says otherwise: those about storage outside the vault among them, as a
// lost-device assessment searches.
var EventTypes = []string{
	wire.EventVolumeApproved, wire.EventVolumeUnapproved, wire.EventSyncFolderFound, wire.PrefixSweep + wire.OutsideQuarantined,
	wire.EventVaultSealed, wire.EventVaultPlaintextFound, wire.PostureEvent("disk_encryption"), wire.EventUnannouncedStop,
}

// Options shape a [History]. Devices and End are required.
type Options struct {
	// Devices is how many devices the fleet has.
	Devices int
	// End is when the history ends; it begins Span before.
	End time.Time
	// Span is how long the history runs (default a year).
	Span time.Duration
	// Prefix starts each device's ID, which ends in a five-digit number
	// (default "fleet-").
	Prefix string
	// Events are the types of the events devices report, one chosen at
	// random for each (repeat a type to make it commoner). Default:
	// EventTypes.
	Events []string
	// Last, if not nil, is when device i was last heard from: its last
	// heartbeat is received then, and none after. Default: the last one
	// before End.
	Last func(i int) time.Time
	// Shape, if not nil, changes device i's heartbeat before it is
	// returned (its state, its events, what it says about stopping);
	// last says whether it is the device's last. What it changes is not
	// carried to the device's next heartbeat.
	Shape func(i int, hb *store.Heartbeat, last bool)
}

// History is a fleet's history as the store keeps it. Each device reports
// every Slot, but a heartbeat that changes nothing adds no state change,
// event or holding, so only the heartbeats that do are made: one every 1
// to 7 hours (4 on average) per device, each a state change, carrying the
// events reported since the last (about two a day) and the device's case
// references (3 to 6, from a pool three times the fleet's size, one
// swapped for another every two weeks or so, so that each reference is
// held by about ten devices over a year). Heartbeats come out a day at a
// time, and within a day device by device, each device's in the order
// received: loading a year in the order received across the fleet would
// make every batch touch pages of hundreds of devices (for SQLite, some 26
// KiB of WAL per heartbeat at 10,000 devices, a year's worth being
// hundreds of gigabytes), where a server receiving the same year over a
// year writes a little at a time.
type History struct {
	Start, End time.Time
	opts       Options
	devs       []*device
	queue      queue
	pool       int // case references: LL-000000 to LL-<pool-1>
}

type device struct {
	index   int
	id      string
	start   time.Time // of the history
	rng     *rand.Rand
	slot    int           // the slot of the next heartbeat
	phase   time.Duration // when in each slot it reports
	last    time.Time     // its last heartbeat, if Options.Last says; else zero
	done    bool          // its last heartbeat is made
	prev    []byte
	state   store.State
	refs    []store.CaseCount
	swapAt  time.Time // when it next drops a case reference and takes another
	eventAt time.Time // when it next reports an event
	when    time.Time // when its next heartbeat is received
}

// New returns the history opts describe.
func New(opts Options) *History {
	if opts.Span <= 0 {
		opts.Span = 365 * 24 * time.Hour
	}
	if opts.Prefix == "" {
		opts.Prefix = "fleet-"
	}
	if len(opts.Events) == 0 {
		opts.Events = EventTypes
	}
	h := &History{Start: opts.End.Add(-opts.Span), End: opts.End, opts: opts, pool: 3 * opts.Devices}
	for i := range opts.Devices {
		d := &device{
			index: i,
			id:    fmt.Sprintf("%s%05d", opts.Prefix, i),
			start: h.Start,
			rng:   rand.New(rand.NewPCG(uint64(i), 0x686973746f7279)),
			phase: time.Duration(i*7919) * time.Millisecond % Slot,
			state: firstState(),
		}
		if opts.Last != nil {
			d.last = opts.Last(i)
		}
		for range 3 + d.rng.IntN(4) {
			d.refs = append(d.refs, store.CaseCount{Ref: h.newRef(d), Files: 1 + d.rng.IntN(20)})
		}
		d.state.CaseRefs = len(d.refs)
		d.swapAt = h.Start.Add(time.Duration(d.rng.Int64N(int64(14 * 24 * time.Hour))))
		d.eventAt = h.Start.Add(time.Duration(d.rng.Int64N(int64(12 * time.Hour))))
		d.when = d.next()
		h.devs = append(h.devs, d)
		heap.Push(&h.queue, d)
	}
	return h
}

// firstState is what every device reports first.
func firstState() store.State {
	return store.State{
		AgentVersion: "1.0.0", PolicyVersion: 3, PolicyHash: "sha256:abc", Recipient: "age1qqq",
		SealedFiles: 10, SealedBytes: 1 << 20, PlaintextFiles: 0, CaseRefs: 2, DiskEncryption: "pass",
		Compliant: true, Lease: wire.LeaseUnlocked, OfflineCopy: wire.OfflineTPM,
	}
}

func (h *History) ref(rng *rand.Rand) string { return fmt.Sprintf("LL-%06d", rng.IntN(h.pool)) }

// newRef returns a reference of the pool that d does not hold.
func (h *History) newRef(d *device) string {
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

// Devices returns the devices to create before ingesting, in the order of
// their numbers; a caller may change anything but their IDs.
func (h *History) Devices() []store.Device {
	var ds []store.Device
	for _, d := range h.devs {
		ds = append(ds, store.Device{
			ID: d.id, SigningKey: append([]byte{0, 1, 0xff}, d.id...), Hostname: "host-" + d.id, OS: "windows",
			Arch: "amd64", Serial: "SN-" + d.id, User: "CORP\\" + d.id, AgentVersion: "0.9.0",
			EnrolledAt: h.Start.Add(-24 * time.Hour),
		})
	}
	return ds
}

// DeviceID returns the ID of device i.
func (h *History) DeviceID(i int) string { return h.devs[i].id }

// Ref returns a case reference of the pool, chosen by rng.
func (h *History) Ref(rng *rand.Rand) string { return h.ref(rng) }

// next is when d's next heartbeat is received: at its slot, or at its
// last if that comes first.
func (d *device) next() time.Time {
	at := d.start.Add(time.Duration(d.slot)*Slot + d.phase)
	if !d.last.IsZero() && !at.Before(d.last) {
		return d.last
	}
	return at
}

// over says whether d has no heartbeat left to make.
func (d *device) over(end time.Time) bool {
	if !d.last.IsZero() {
		return d.done
	}
	return d.when.After(end)
}

// Next returns up to n heartbeats, the next received; none at the end.
func (h *History) Next(n int) []store.Heartbeat {
	var out []store.Heartbeat
	for len(out) < n && len(h.queue) > 0 {
		d := h.queue[0]
		if d.over(h.End) {
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
func (h *History) heartbeat(d *device) store.Heartbeat {
	at := d.when
	last := !d.last.IsZero() && at.Equal(d.last)
	seq := uint64(d.slot + 1)
	if last {
		// The slot it falls in, if after the last heartbeat's.
		seq = uint64(max(int(at.Sub(h.Start)/Slot)+1, d.slot+1))
	}
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
			// Unlocked by a lease, or working from the offline copy.
			st.Lease = map[string]string{wire.LeaseUnlocked: wire.LeaseOffline, wire.LeaseOffline: wire.LeaseUnlocked}[st.Lease]
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
		events = append(events, h.event(d, d.eventAt))
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
	if h.opts.Shape != nil {
		h.opts.Shape(d.index, &hb, last)
	}
	d.prev = sum[:]
	d.slot = int(seq-1) + 12 + d.rng.IntN(73) // 1 to 7 hours on
	d.done = last
	if !last {
		d.when = d.next()
	}
	return hb
}

// event makes an event of a type of Options.Events that d reports at at,
// with the case reference and detail an agent gives one of its kind.
func (h *History) event(d *device, at time.Time) store.Event {
	e := store.Event{Time: at, Type: h.opts.Events[d.rng.IntN(len(h.opts.Events))]}
	ref := func() string { return d.refs[d.rng.IntN(len(d.refs))].Ref }
	switch e.Type {
	case wire.EventVaultSealed, wire.EventVaultPlaintextFound:
		e.CaseRef = ref()
	case wire.PrefixSweep + wire.OutsideQuarantined:
		e.CaseRef, e.Detail = ref(), "in Downloads (rule: name)"
	case wire.EventVolumeUnapproved:
		e.Detail = fmt.Sprintf(`usb 0951:1666 serial "SIM%04d" label "KINGSTON" vfat`, d.rng.IntN(10000))
	case wire.EventVolumeApproved:
		e.Detail = `usb 0781:5581 serial "COUNCIL0001" label "COUNCIL" exfat allowed as "council encrypted stick"`
	case wire.EventSyncFolderFound:
		e.Detail = "onedrive personal account unknown"
	case wire.EventUnannouncedStop:
		e.Detail = "the previous run ended without a stopping heartbeat"
	}
	return e
}

// day is the day of the history d's next heartbeat is in (negative
// before the start).
func (d *device) day() int64 {
	t := d.when.Sub(d.start)
	n := int64(t / (24 * time.Hour))
	if t < 0 && t%(24*time.Hour) != 0 {
		n--
	}
	return n
}

// queue is the devices by the day of their next heartbeat, then ID.
type queue []*device

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	a, b := q[i].day(), q[j].day()
	return a < b || a == b && q[i].id < q[j].id
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*device)) }
func (q *queue) Pop() any {
	old := *q
	d := old[len(old)-1]
	*q = old[:len(old)-1]
	return d
}
