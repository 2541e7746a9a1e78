package actions

import (
	"context"
	"fmt"
	"time"

	"github.com/casekeep/casekeep/server/internal/present"
	"github.com/casekeep/casekeep/server/store"
)

// The longest texts kept with a device's actions, in characters.
const (
	MaxNote    = 4000
	MaxReasons = 8000
)

// slack is how far in the future a time a person gives may be: their
// clock and the server's differ a little.
const slack = time.Minute

// Lost is what a person says when marking a device lost.
type Lost struct {
	// LostAt is when the device was lost: required, not in the future.
	LostAt time.Time
	// DiscoveredAt is when the loss was discovered, from which the 72
	// hours run: zero for now; not before LostAt, not in the future.
	DiscoveredAt time.Time
	// Note is kept with the report (trimmed, at most MaxNote characters).
	Note string
}

var noteRule = textRule{field: "note", max: MaxNote, multiline: true}

// MarkLost records that who reports a device lost, and returns the report
// stored. A device may be reported lost more than once.
func (a *Actions) MarkLost(ctx context.Context, who, deviceID string, in Lost) (store.LostReport, error) {
	now := a.now()
	if in.LostAt.IsZero() {
		return store.LostReport{}, refuse("lost_at", ErrRequired, "is required: when the device was lost")
	}
	if in.DiscoveredAt.IsZero() {
		in.DiscoveredAt = now
	}
	if err := notFuture("lost_at", in.LostAt, now); err != nil {
		return store.LostReport{}, err
	}
	if err := notFuture("discovered_at", in.DiscoveredAt, now); err != nil {
		return store.LostReport{}, err
	}
	if in.DiscoveredAt.Before(in.LostAt) {
		return store.LostReport{}, refuse("discovered_at", ErrOutOfOrder, "must not be before lost_at")
	}
	note, err := noteRule.check(in.Note)
	if err != nil {
		return store.LostReport{}, err
	}
	rep := store.LostReport{DeviceID: deviceID, LostAt: in.LostAt.UTC(), DiscoveredAt: in.DiscoveredAt.UTC(), RecordedAt: now, By: who, Note: note}
	if err := a.Store.MarkLost(ctx, rep); err != nil {
		return store.LostReport{}, err
	}
	return rep, a.record(ctx, now, who, AuditMarkLost, deviceID, "lost at "+present.Time(rep.LostAt)+", discovered at "+present.Time(rep.DiscoveredAt))
}

func notFuture(field string, t, now time.Time) error {
	if t.After(now.Add(slack)) {
		return refuse(field, ErrFuture, "must not be in the future")
	}
	return nil
}

// Decision is a data protection officer's decision on notifying the ICO
// about a lost device.
type Decision struct {
	// Notify says whether the loss is to be reported: required.
	Notify *bool
	// Reasons say why: required (trimmed, at most MaxReasons characters).
	Reasons string
}

var reasonsRule = textRule{field: "reasons", max: MaxReasons, required: "are required: why the ICO is, or is not, to be notified", multiline: true}

// RecordDecision records who's decision on notifying the ICO about a
// device, and returns the decision stored.
func (a *Actions) RecordDecision(ctx context.Context, who, deviceID string, in Decision) (store.Decision, error) {
	now := a.now()
	if in.Notify == nil {
		return store.Decision{}, refuse("notify", ErrRequired, "is required: true or false")
	}
	reasons, err := reasonsRule.check(in.Reasons)
	if err != nil {
		return store.Decision{}, err
	}
	d := store.Decision{DeviceID: deviceID, At: now, By: who, Notify: *in.Notify, Reasons: reasons}
	if err := a.Store.RecordDecision(ctx, d); err != nil {
		return store.Decision{}, err
	}
	return d, a.record(ctx, now, who, AuditDecision, deviceID, fmt.Sprintf("notify the ICO: %v", d.Notify))
}
