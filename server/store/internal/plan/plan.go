package plan

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
)

// Device is what the database holds for a device when the batch begins.
type Device struct {
	RevokedAt time.Time // zero unless revoked
	HasSeq    bool      // it has stored a heartbeat: State.Seq and State.Hash are its last
	State     store.State
	// HoldingsSig is the signature of the case references and counts of
	// its last stored heartbeat (see Sig); nil before its first.
	HoldingsSig []byte
	// Agent is what its agent has said about stopping (see store.Agent).
	Agent store.Agent

	stored bool // in this batch
}

// Event is an event to store and its position in its heartbeat, which
// orders events with equal times.
type Event struct {
	store.Event
	Idx int
}

// Update is a device's state after the batch: State.Seq and State.Hash are
// its last stored seq and hash; HoldingsSig the signature of its last list
// of case references; Agent what its agent has said about stopping, with
// Stopping from its last stored heartbeat.
type Update struct {
	ID          string
	State       store.State
	HoldingsSig []byte
	Agent       store.Agent
}

// HoldingsChange replaces a device's held case references: every one it
// holds is no longer held, with LastSeen Prev (the last heartbeat that
// listed it), and then each of Refs is held, with its count, first seen At
// if it is new. Changes apply in order.
type HoldingsChange struct {
	DeviceID string
	At       time.Time
	Prev     time.Time
	Refs     []store.CaseCount
}

// Sig is the signature of a list of case references and counts, in any
// order: equal lists have equal signatures.
func Sig(refs []store.CaseCount) []byte {
	sorted := slices.Clone(refs)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Ref < sorted[j].Ref })
	h := sha256.New()
	for _, c := range sorted {
		h.Write([]byte(c.Ref))
		h.Write([]byte{0})
		h.Write(strconv.AppendInt(nil, int64(c.Files), 10))
		h.Write([]byte{'\n'})
	}
	return h.Sum(nil)
}

// Ack is a command acknowledgement to apply, from a stored heartbeat
// received at ReceivedAt.
type Ack struct {
	DeviceID   string
	ReceivedAt time.Time
	store.CommandAck
}

// Destroys reports whether the acknowledgement, if it stands, destroys
// the device's lease keys: a wipe done or failed.
func (a *Ack) Destroys() bool {
	return a.Type == wire.CommandWipe && (a.Result == wire.AckDone || a.Result == wire.AckFailed)
}

// Plan is what to write for a batch.
type Plan struct {
	Outcomes   []store.Outcome   // one per heartbeat, in order
	Heartbeats []store.Heartbeat // to store, State.Seq, State.Hash and times normalised
	Gaps       []store.ChainGap
	Changes    []store.StateChange
	Events     []Event
	Holdings   []HoldingsChange // only where a device's list changed
	Acks       []Ack            // in the order of their heartbeats
	Devices    []Update
}

// IDs returns the distinct device IDs of hbs, sorted: the order in which to
// lock them, so that concurrent batches cannot deadlock.
func IDs(hbs []store.Heartbeat) []string {
	seen := make(map[string]struct{}, len(hbs))
	ids := make([]string, 0, len(hbs))
	for i := range hbs {
		id := hbs[i].DeviceID
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Make decides what to do with hbs, given the devices the database holds
// (keyed by ID; a device missing from devs is unknown). It does not change
// devs. Times in the plan are in UTC, truncated to the microsecond; a
// heartbeat's State takes its Seq and Hash from the heartbeat; an event's
// DeviceID and Seq are the heartbeat's; a gap is detected at the
// heartbeat's ReceivedAt.
func Make(hbs []store.Heartbeat, devs map[string]*Device) *Plan {
	p := &Plan{Outcomes: make([]store.Outcome, len(hbs))}
	cur := make(map[string]*Device, len(devs))
	var stored []string // devices that stored a heartbeat, in order of first
	for i := range hbs {
		h := &hbs[i]
		d := cur[h.DeviceID]
		if d == nil {
			orig := devs[h.DeviceID]
			if orig == nil {
				p.Outcomes[i] = store.Outcome{Result: store.Unknown}
				continue
			}
			c := *orig
			d = &c
			cur[h.DeviceID] = d
		}
		last := uint64(0)
		if d.HasSeq {
			last = d.State.Seq
		}
		st := h.State
		st.Seq, st.Hash = h.Seq, check.Bytes(h.Hash)
		st.SentAt, st.ReceivedAt = check.UTC(st.SentAt), check.UTC(st.ReceivedAt)
		switch {
		case !d.RevokedAt.IsZero() && !d.RevokedAt.After(st.ReceivedAt):
			p.Outcomes[i] = store.Outcome{Result: store.Revoked, LastSeq: last}
			continue
		case d.HasSeq && h.Seq <= last:
			p.Outcomes[i] = store.Outcome{Result: store.Replay, LastSeq: last}
			continue
		}
		res := store.Accepted
		if d.HasSeq && !bytes.Equal(h.PrevHash, d.State.Hash) {
			res = store.Gap
			p.Gaps = append(p.Gaps, store.ChainGap{
				DeviceID: h.DeviceID, Seq: h.Seq,
				Expected: check.Bytes(d.State.Hash), Got: check.Bytes(h.PrevHash),
				DetectedAt: st.ReceivedAt,
			})
		}
		p.Outcomes[i] = store.Outcome{Result: res, LastSeq: h.Seq}
		hb := *h
		hb.Hash, hb.PrevHash, hb.Body = st.Hash, check.Bytes(h.PrevHash), check.Bytes(h.Body)
		hb.State = st
		p.Heartbeats = append(p.Heartbeats, hb)
		if !d.HasSeq || st.Changed(d.State) {
			p.Changes = append(p.Changes, store.StateChange{DeviceID: h.DeviceID, At: st.ReceivedAt, State: st})
		}
		for j, e := range h.Events {
			e.DeviceID, e.Seq, e.Time = h.DeviceID, h.Seq, check.UTC(e.Time)
			p.Events = append(p.Events, Event{Event: e, Idx: j})
			if e.Type == wire.EventUnannouncedStop {
				d.Agent.UnannouncedStops++
				if e.Time.After(d.Agent.LastUnannouncedStop) {
					d.Agent.LastUnannouncedStop = e.Time
				}
			}
		}
		for _, a := range h.Acks {
			a.At = check.UTC(a.At)
			p.Acks = append(p.Acks, Ack{DeviceID: h.DeviceID, ReceivedAt: st.ReceivedAt, CommandAck: a})
		}
		// Heartbeats come in seq order: the last one stored says whether
		// the agent was stopping.
		d.Agent.Stopping, d.Agent.StoppingAt = h.Stopping, time.Time{}
		if h.Stopping != "" {
			d.Agent.StoppingAt = st.SentAt
		}
		if sig := Sig(h.CaseRefs); !bytes.Equal(sig, d.HoldingsSig) {
			prev := time.Time{}
			if d.HasSeq {
				prev = d.State.ReceivedAt
			}
			p.Holdings = append(p.Holdings, HoldingsChange{DeviceID: h.DeviceID, At: st.ReceivedAt, Prev: prev, Refs: h.CaseRefs})
			d.HoldingsSig = sig
		}
		if !d.stored {
			d.stored = true
			stored = append(stored, h.DeviceID)
		}
		d.HasSeq, d.State = true, st
	}
	sort.Strings(stored)
	for _, id := range stored {
		d := cur[id]
		p.Devices = append(p.Devices, Update{ID: id, State: d.State, HoldingsSig: d.HoldingsSig, Agent: d.Agent})
	}
	return p
}
