package assess

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

// Window is how far before the loss storage and sweep events are shown.
const Window = 30 * 24 * time.Hour

// Deadline is how long UK GDPR Article 33 allows, from becoming aware of
// a breach, to notify the ICO.
const Deadline = 72 * time.Hour

// Source is what an assessment reads; a store.Store is one.
type Source interface {
	Device(ctx context.Context, id string) (store.DeviceRow, error)
	StateAt(ctx context.Context, deviceID string, t time.Time) (store.StateChange, error)
	HeartbeatsAround(ctx context.Context, deviceID string, t time.Time) (before, after store.HeartbeatMeta, err error)
	Holdings(ctx context.Context, deviceID string) ([]store.Holding, error)
	Gaps(ctx context.Context, deviceID string) ([]store.ChainGap, error)
	SearchEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	LostReports(ctx context.Context, deviceID string) ([]store.LostReport, error)
	Commands(ctx context.Context, deviceID string) ([]store.Command, error)
	Decisions(ctx context.Context, deviceID string) ([]store.Decision, error)
	LeaseEvidence(ctx context.Context, deviceID string, t time.Time) (store.LeaseEvidence, error)
	LeaseKeys(ctx context.Context, deviceID string) ([]store.LeaseKey, error)
}

// Input names the device and the loss.
type Input struct {
	DeviceID string
	// LostAt is when the device was lost. Zero: the latest lost report's.
	LostAt time.Time
	// DiscoveredAt is when the loss was discovered, from which the 72
	// hours run. Zero: the latest lost report's, else LostAt.
	DiscoveredAt time.Time
	// Now is the time of the assessment (default time.Now).
	Now time.Time
}

// ErrNoLossTime means no time of loss was given and none is recorded.
var ErrNoLossTime = errors.New("no time of loss: give one, or mark the device lost first")

// CaseRef is a case reference the device held at the loss.
type CaseRef struct {
	Ref       string    `json:"ref"`
	Files     int       `json:"files"`
	FirstSeen time.Time `json:"first_seen"`
}

// Assessment is the evidence about a lost device and what it supports.
type Assessment struct {
	Device       store.Device `json:"device"`
	LostAt       time.Time    `json:"lost_at"`
	DiscoveredAt time.Time    `json:"discovered_at"`
	Deadline     time.Time    `json:"deadline"`
	MadeAt       time.Time    `json:"made_at"`

	// LastBefore is the last heartbeat received at or before the loss,
	// FirstAfter the first after it (Seq 0: none stored).
	LastBefore store.HeartbeatMeta `json:"last_heartbeat_before"`
	FirstAfter store.HeartbeatMeta `json:"first_heartbeat_after"`
	// State is the device's reported state in force at the loss, and
	// StateSince when it began; HasState is false if it had reported
	// nothing by then.
	HasState   bool        `json:"has_state"`
	State      store.State `json:"state"`
	StateSince time.Time   `json:"state_since"`

	// AgentStopping is why the agent's last heartbeat said it was
	// stopping ("stop", "shutdown" or "uninstall", as the agent sent it),
	// and AgentStoppingAt when the agent made that heartbeat (before or
	// after the loss); "" if its last heartbeat did not say so.
	AgentStopping   string    `json:"agent_stopping,omitempty"`
	AgentStoppingAt time.Time `json:"agent_stopping_at,omitzero"`
	// UnannouncedStops are the agent's reports, up to the loss, of runs
	// that ended without saying so (killed, crashed, the power lost),
	// each at the time that run was last known alive.
	UnannouncedStops []store.Event `json:"unannounced_stops"`

	// LeaseBefore is the last lease served at or before the loss (a zero
	// At: none); Leases what the device's whole lease log says around the
	// loss (LeaseBefore is its Before): how many leases were served after
	// it, the first and the last, and the refusals.
	LeaseBefore store.LeaseRecord   `json:"lease_before"`
	Leases      store.LeaseEvidence `json:"lease_evidence"`
	// LeaseKeys are the device's lease keys (never their bytes), with
	// when each was destroyed.
	LeaseKeys []store.LeaseKey `json:"lease_keys"`
	// OpenableUntil is Until(): the latest the laptop's agent could open
	// its vault without the server (zero: no lease was served).
	OpenableUntil time.Time `json:"openable_until,omitzero"`

	CaseRefs      []CaseRef          `json:"case_refs"`
	StorageEvents []store.Event      `json:"storage_events"`
	Gaps          []store.ChainGap   `json:"gaps"`
	LostReports   []store.LostReport `json:"lost_reports"`
	// Commands are the locks, unlocks and wipes requested for the device,
	// with what became of each.
	Commands   []store.Command  `json:"commands"`
	Decisions  []store.Decision `json:"decisions"`
	Statements []string         `json:"statements"`
}

// Assess gathers the evidence for in.
func Assess(ctx context.Context, src Source, in Input) (*Assessment, error) {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	row, err := src.Device(ctx, in.DeviceID)
	if err != nil {
		return nil, err
	}
	a := &Assessment{Device: row.Device, MadeAt: in.Now.UTC()}
	if a.LostReports, err = src.LostReports(ctx, in.DeviceID); err != nil {
		return nil, err
	}
	a.LostAt, a.DiscoveredAt = in.LostAt, in.DiscoveredAt
	if n := len(a.LostReports); n > 0 {
		last := a.LostReports[n-1]
		if a.LostAt.IsZero() {
			a.LostAt = last.LostAt
		}
		if a.DiscoveredAt.IsZero() {
			a.DiscoveredAt = last.DiscoveredAt
		}
	}
	if a.LostAt.IsZero() {
		return nil, ErrNoLossTime
	}
	if a.DiscoveredAt.IsZero() {
		a.DiscoveredAt = a.LostAt
	}
	a.LostAt, a.DiscoveredAt = a.LostAt.UTC(), a.DiscoveredAt.UTC()
	a.Deadline = a.DiscoveredAt.Add(Deadline)

	if a.LastBefore, a.FirstAfter, err = src.HeartbeatsAround(ctx, in.DeviceID, a.LostAt); err != nil {
		return nil, err
	}
	switch sc, err := src.StateAt(ctx, in.DeviceID, a.LostAt); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		a.HasState, a.State, a.StateSince = true, sc.State, sc.At
	}
	holdings, err := src.Holdings(ctx, in.DeviceID)
	if err != nil {
		return nil, err
	}
	// Held at the loss: first seen by then, and still listed at the last
	// heartbeat before it.
	lastSeen := a.LastBefore.ReceivedAt
	if a.LastBefore.Seq == 0 && a.HasState {
		lastSeen = a.StateSince
	}
	for _, h := range holdings {
		if !h.FirstSeen.After(a.LostAt) && !lastSeen.IsZero() && !h.LastSeen.Before(lastSeen) {
			a.CaseRefs = append(a.CaseRefs, CaseRef{Ref: h.Ref, Files: h.Files, FirstSeen: h.FirstSeen})
		}
	}
	sort.Slice(a.CaseRefs, func(i, j int) bool { return a.CaseRefs[i].Ref < a.CaseRefs[j].Ref })
	for _, prefix := range wire.OutsidePrefixes {
		evs, err := src.SearchEvents(ctx, store.EventFilter{DeviceID: in.DeviceID, Type: prefix, From: a.LostAt.Add(-Window), To: a.LostAt.Add(time.Microsecond)}) // stores keep microseconds: an event at the loss counts
		if err != nil {
			return nil, err
		}
		a.StorageEvents = append(a.StorageEvents, evs...)
	}
	sort.SliceStable(a.StorageEvents, func(i, j int) bool { return a.StorageEvents[i].Time.Before(a.StorageEvents[j].Time) })
	// What the agent said about stopping: the device keeps its newest
	// heartbeat's word.
	a.AgentStopping, a.AgentStoppingAt = row.Agent.Stopping, row.Agent.StoppingAt
	if a.UnannouncedStops, err = src.SearchEvents(ctx, store.EventFilter{DeviceID: in.DeviceID, Type: wire.EventUnannouncedStop,
		To: a.LostAt.Add(time.Microsecond)}); err != nil {
		return nil, err
	}
	if a.Gaps, err = src.Gaps(ctx, in.DeviceID); err != nil {
		return nil, err
	}
	if a.Leases, err = src.LeaseEvidence(ctx, in.DeviceID, a.LostAt); err != nil {
		return nil, err
	}
	a.LeaseBefore = a.Leases.Before
	if a.LeaseKeys, err = src.LeaseKeys(ctx, in.DeviceID); err != nil {
		return nil, err
	}
	if a.Commands, err = src.Commands(ctx, in.DeviceID); err != nil {
		return nil, err
	}
	if a.Decisions, err = src.Decisions(ctx, in.DeviceID); err != nil {
		return nil, err
	}
	nonNil(a)
	a.OpenableUntil = a.Until()
	a.Statements = a.statements()
	return a, nil
}

func nonNil(a *Assessment) {
	if a.CaseRefs == nil {
		a.CaseRefs = []CaseRef{}
	}
	if a.StorageEvents == nil {
		a.StorageEvents = []store.Event{}
	}
	if a.UnannouncedStops == nil {
		a.UnannouncedStops = []store.Event{}
	}
	if a.Gaps == nil {
		a.Gaps = []store.ChainGap{}
	}
	if a.LostReports == nil {
		a.LostReports = []store.LostReport{}
	}
	if a.Commands == nil {
		a.Commands = []store.Command{}
	}
	if a.Leases.RefusedAfter == nil {
		a.Leases.RefusedAfter = map[string]int64{}
	}
	if a.LeaseKeys == nil {
		a.LeaseKeys = []store.LeaseKey{}
	}
	if a.Decisions == nil {
		a.Decisions = []store.Decision{}
	}
}

// Span says how long d is in plain words: "3 h", "2 days", "40 min".
func Span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// statements says what the evidence supports, one fact a sentence.
func (a *Assessment) statements() []string {
	var out []string
	switch {
	case a.LastBefore.Seq != 0:
		out = append(out, fmt.Sprintf("The last heartbeat before the loss was received at %s, %s before it.", when(a.LastBefore.ReceivedAt), Span(a.LostAt.Sub(a.LastBefore.ReceivedAt))))
	case a.HasState:
		out = append(out, fmt.Sprintf("No heartbeat from before the loss is still stored (they are kept for the retention period); the device's reported state had been in force since %s.", when(a.StateSince)))
	default:
		out = append(out, "The server holds no heartbeat from this device before the loss: it has no evidence of what the device held.")
	}
	if a.HasState {
		s := a.State
		refs := int64(len(a.CaseRefs))
		if refs == 0 {
			refs = int64(s.CaseRefs)
		}
		if s.PlaintextFiles == 0 {
			out = append(out, fmt.Sprintf("All %s for %s in its vault were sealed (encrypted) at that time; no plaintext file was waiting to be sealed.",
				plural(s.SealedFiles, "cached file", "cached files"), plural(refs, "case reference", "case references")))
		} else {
			out = append(out, fmt.Sprintf("At that time %s for %s were sealed, but %s were waiting to be sealed: they may have been readable on the device.",
				plural(s.SealedFiles, "file", "files"), plural(refs, "case reference", "case references"), plural(s.PlaintextFiles, "plaintext file", "plaintext files")))
		}
		switch s.DiskEncryption {
		case "pass":
			out = append(out, "Full-disk encryption of the system volume was on.")
		case "fail":
			out = append(out, "Full-disk encryption of the system volume was OFF.")
		default:
			out = append(out, "Whether the system volume was encrypted is not known.")
		}
	}
	if a.AgentStopping != "" {
		said := map[string]string{
			wire.StopUninstall: "casekeep was being removed from the device",
			wire.StopShutdown:  "the computer was shutting down",
		}[a.AgentStopping]
		if said == "" {
			said = "the agent's service was being stopped"
		}
		rel := "before"
		if a.AgentStoppingAt.After(a.LostAt) {
			rel = "after"
		}
		out = append(out, fmt.Sprintf("The agent's last heartbeat, made at %s, %s the loss, said %s.", when(a.AgentStoppingAt), rel, said))
	}
	if n := int64(len(a.UnannouncedStops)); n > 0 {
		last := a.UnannouncedStops[n-1].Time
		if n == 1 {
			out = append(out, fmt.Sprintf("Before the loss the agent stopped once without saying so (it was killed, crashed or lost power): that run was last known alive at %s.", when(last)))
		} else {
			out = append(out, fmt.Sprintf("Before the loss the agent stopped %d times without saying so (it was killed, crashed or lost power): the last such run was last known alive at %s.", n, when(last)))
		}
	}
	var unapproved, outside int64
	for _, e := range a.StorageEvents {
		switch {
		case e.Type == wire.EventVolumeUnapproved:
			unapproved++
		case wire.IsCaseFileOutside(e.Type):
			outside++
		}
	}
	if unapproved == 0 {
		out = append(out, "No unapproved removable media was reported in the 30 days before the loss.")
	} else {
		out = append(out, fmt.Sprintf("%s reported in the 30 days before the loss.", plural(unapproved, "unapproved removable volume was", "unapproved removable volumes were")))
	}
	if outside > 0 {
		out = append(out, fmt.Sprintf("%s outside the vault (Downloads, cloud folders or removable media) in those 30 days; see the events below.", plural(outside, "case file was found", "case files were found")))
	}
	if len(a.Gaps) == 0 {
		out = append(out, "The heartbeat hash chain has no gaps: no report from the device is missing or altered.")
	} else {
		out = append(out, fmt.Sprintf("The heartbeat hash chain has %s: some reports from the device are missing or were altered.", plural(int64(len(a.Gaps)), "gap", "gaps")))
	}
	if a.FirstAfter.Seq != 0 {
		out = append(out, fmt.Sprintf("The device reported again after the loss, at %s (%s after it).", when(a.FirstAfter.ReceivedAt), Span(a.FirstAfter.ReceivedAt.Sub(a.LostAt))))
	} else {
		out = append(out, "The device has not reported since the loss.")
	}
	out = append(out, a.leaseStatements()...)
	out = append(out, a.commandStatements()...)
	left := a.Deadline.Sub(a.MadeAt)
	if left > 0 {
		out = append(out, fmt.Sprintf("The 72 hours to notify the ICO, counted from discovery at %s, end at %s (%s left).", when(a.DiscoveredAt), when(a.Deadline), Span(left)))
	} else {
		out = append(out, fmt.Sprintf("The 72 hours to notify the ICO, counted from discovery at %s, ended at %s.", when(a.DiscoveredAt), when(a.Deadline)))
	}
	if n := len(a.Decisions); n > 0 {
		d := a.Decisions[n-1]
		verb := "not to notify"
		if d.Notify {
			verb = "to notify"
		}
		out = append(out, fmt.Sprintf("Decision recorded at %s by %s: %s the ICO, because: %s", when(d.At), d.By, verb, d.Reasons))
	} else {
		out = append(out, "No notification decision has been recorded yet.")
	}
	out = append(out, "This is a statement of the evidence the server holds, not legal advice.")
	return out
}
