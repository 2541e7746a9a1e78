package actions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

// CommandExpiry is how long a lock or unlock is offered to its device's
// agent: one that has not contacted the server within it is not sent it
// (the server goes on refusing the lease of a device with a lock in
// force all the same). A wipe never expires: a wipe requested while the
// laptop is offline happens at its next contact, however long after.
const CommandExpiry = 30 * 24 * time.Hour

// What each command's audit entry says happens.
var commandEffects = map[string]string{
	wire.CommandWipe:   "the lease is refused from now; sent at the device's next contact, however long after (a wipe never expires); pending until the agent acknowledges",
	wire.CommandLock:   "the lease is refused from now; pending until the agent acknowledges",
	wire.CommandUnlock: "the lease is served again unless the device is lost, wiped or revoked; pending until the agent acknowledges",
}

// request requests a command of typ for who, and audits it.
func (a *Actions) request(ctx context.Context, who, deviceID, typ, action string) (store.Command, error) {
	now := a.now()
	c := store.Command{DeviceID: deviceID, Type: typ, RequestedAt: now, RequestedBy: who}
	if typ != wire.CommandWipe {
		c.Expires = now.Add(CommandExpiry)
	}
	c, err := a.Store.RequestCommand(ctx, c)
	if err != nil {
		return store.Command{}, err
	}
	return c, a.record(ctx, now, who, action, deviceID, "command "+c.ID+": "+commandEffects[typ])
}

// RequestWipe requests a wipe of a device, and returns the command stored.
// From now on the server refuses the device its lease; the agent, at its
// next contact, destroys its wrapped identity, every copy of its lease and
// its sealed files, and when it acknowledges the wipe the server destroys
// the device's lease keys. It can be cancelled until it is delivered.
func (a *Actions) RequestWipe(ctx context.Context, who, deviceID string) (store.Command, error) {
	return a.request(ctx, who, deviceID, wire.CommandWipe, AuditWipeRequest)
}

// Lock locks a device: the server refuses it its lease from now on, and
// tells its agent to drop every copy of its lease, so its vault stays
// sealed until an unlock (or marking it found, which requests one).
func (a *Actions) Lock(ctx context.Context, who, deviceID string) (store.Command, error) {
	return a.request(ctx, who, deviceID, wire.CommandLock, AuditLock)
}

// Unlock lifts a lock: the server serves the device its lease again
// (unless it is marked lost, has a wipe requested or is revoked), and
// tells its agent to ask for it.
func (a *Actions) Unlock(ctx context.Context, who, deviceID string) (store.Command, error) {
	return a.request(ctx, who, deviceID, wire.CommandUnlock, AuditUnlock)
}

var commandIDRule = textRule{field: "command", max: 64, required: "is required: the command's ID", problem: "must be a command's ID"}

// CancelCommand cancels a device's command, which must not yet be
// delivered to its agent (store.ErrConflict if it is, or was acknowledged
// or cancelled already; store.ErrNotFound if the device has no such
// command), and returns it cancelled.
func (a *Actions) CancelCommand(ctx context.Context, who, deviceID, commandID string) (store.Command, error) {
	id, err := commandIDRule.check(commandID)
	if err != nil {
		return store.Command{}, err
	}
	now := a.now()
	c, err := a.Store.CancelCommand(ctx, deviceID, id, now, who)
	if err != nil {
		return store.Command{}, err
	}
	return c, a.record(ctx, now, who, AuditCancel, deviceID, "command "+c.ID+" ("+c.Type+") cancelled before it was delivered")
}

// FoundResult is what MarkFound did, and whether a wipe still stands.
type FoundResult struct {
	store.FoundResult
	// Wipe is the device's latest wipe not cancelled, which marking it
	// found does not undo (the server goes on refusing its lease); nil
	// if there is none.
	Wipe *store.Command
	// WipeStatus is Wipe's status; Note says in a sentence what becomes
	// of it ("" if there is no wipe).
	WipeStatus store.CommandStatus
	Note       string
}

// What marking a device found means for a wipe that stands, by the
// wipe's status: said by MarkFound's Note, the audit log and the console.
const (
	FoundWipePending   = "A wipe is still requested: marking the device found does not cancel it. The server goes on refusing its lease, and its agent carries the wipe out at its next contact, unless the wipe is cancelled first (it is not yet delivered, so it still can be)."
	FoundWipeDelivered = "A wipe was delivered to the device's agent and cannot be recalled: marking the device found does not undo it. The server goes on refusing its lease; the agent deletes the sealed files from the laptop, and copies of them kept elsewhere (as in the case-management system) open with the council's escrow keys."
	FoundWipeDone      = "The device was wiped (its agent acknowledged it): marking it found does not restore it. Its lease keys are destroyed and its sealed files were deleted from the laptop; copies of them kept elsewhere (as in the case-management system) open with the council's escrow keys."
	FoundWipeFailed    = "A wipe was delivered and its agent reported it did not complete: it cannot be recalled, and the server goes on refusing the device its lease."
)

// foundNote is what marking a device found means for its wipe c.
func foundNote(c store.Command, st store.CommandStatus) string {
	var s string
	switch st {
	case store.StatusRequested:
		s = FoundWipePending
	case store.StatusDone:
		s = FoundWipeDone
		if c.Reason != "" {
			s += " (the agent said: " + c.Reason + ")"
		}
	case store.StatusFailed:
		s = FoundWipeFailed + " The server destroyed its lease keys on that acknowledgement all the same, but the laptop was not wiped (" + string(st) + ": " + c.Reason + ")"
	case store.StatusRefused:
		s = FoundWipeFailed + " (" + string(st) + ": " + c.Reason + ")"
	default:
		s = FoundWipeDelivered
	}
	return fmt.Sprintf("%s (wipe %s, requested %s)", s, c.ID, c.RequestedAt.UTC().Format(time.RFC3339))
}

// MarkFound records that a device marked lost was found: its open lost
// reports are closed, so the server serves its lease again unless a wipe
// stands, and if it is locked an unlock is requested with it
// (store.ErrConflict if it is not marked lost). A wipe requested stays
// requested, and one delivered cannot be recalled: the result's Wipe and
// Note say so, and the audit entry too. Cancel a wipe not yet delivered
// to keep the device's files.
func (a *Actions) MarkFound(ctx context.Context, who, deviceID string) (FoundResult, error) {
	now := a.now()
	sr, err := a.Store.MarkFound(ctx, store.Found{DeviceID: deviceID, At: now, By: who, UnlockExpires: now.Add(CommandExpiry)})
	if err != nil {
		return FoundResult{}, err
	}
	res := FoundResult{FoundResult: sr}
	cmds, err := a.Store.Commands(ctx, deviceID)
	if err != nil {
		return res, err
	}
	for i := len(cmds) - 1; i >= 0; i-- {
		if c := cmds[i]; c.Type == wire.CommandWipe && c.CancelledAt.IsZero() {
			res.Wipe, res.WipeStatus = &c, c.Status(now)
			res.Note = foundNote(c, res.WipeStatus)
			break
		}
	}
	detail := plural(res.Closed, "lost report", "lost reports") + " closed"
	if res.Unlock != nil {
		detail += "; it was locked: unlock " + res.Unlock.ID + " requested"
	}
	if res.Note != "" {
		detail += "; " + res.Note
	}
	if err := a.record(ctx, now, who, AuditFound, deviceID, detail); err != nil {
		return res, err
	}
	if res.Unlock != nil {
		return res, a.record(ctx, now, who, AuditUnlock, deviceID, "command "+res.Unlock.ID+": "+commandEffects[wire.CommandUnlock])
	}
	return res, nil
}

// RevokeResult is what RevokeDevice did.
type RevokeResult struct {
	// KeysDestroyed counts the device's lease keys the revocation
	// destroyed (none if it had none, or they were destroyed already).
	KeysDestroyed int
	// Wipe is the device's latest wipe not cancelled if it was still
	// requested or delivered, not acknowledged: the agent can no longer
	// acknowledge it (a revoked device's heartbeats are refused). Nil if
	// there is none.
	Wipe *store.Command
	// Note says in a sentence what the revocation did.
	Note string
}

// RevokeWipeOutstanding is said when a device is revoked with a wipe
// requested or delivered and not acknowledged.
const RevokeWipeOutstanding = "A wipe was outstanding: its agent can no longer report it (a revoked device's heartbeats are refused), so whether the laptop carried it out will not be known."

// RevokeDevice revokes a device's enrollment now: its heartbeats and lease
// requests are refused from then, and its lease keys are destroyed, since
// it could never again be served them nor acknowledge a wipe.
// store.ErrNotFound if there is no such device.
func (a *Actions) RevokeDevice(ctx context.Context, who, deviceID string) (RevokeResult, error) {
	now := a.now()
	deviceID = strings.TrimSpace(deviceID)
	var res RevokeResult
	before, err := a.Store.LeaseKeys(ctx, deviceID)
	if err != nil {
		return res, err
	}
	cmds, err := a.Store.Commands(ctx, deviceID)
	if err != nil {
		return res, err
	}
	if err := a.Store.RevokeDevice(ctx, deviceID, now); err != nil {
		return res, err
	}
	for _, k := range before {
		if k.DestroyedAt.IsZero() {
			res.KeysDestroyed++
		}
	}
	for i := len(cmds) - 1; i >= 0; i-- {
		if c := cmds[i]; c.Type == wire.CommandWipe && c.CancelledAt.IsZero() {
			if st := c.Status(now); st == store.StatusRequested || st == store.StatusDelivered {
				res.Wipe = &c
			}
			break
		}
	}
	res.Note = "Revoked: the server refuses its heartbeats and its lease from now on."
	if res.KeysDestroyed > 0 {
		res.Note += " Its lease keys are destroyed (" + plural(res.KeysDestroyed, "key", "keys") + "): the server can never serve its vault key again."
	}
	if res.Wipe != nil {
		res.Note += " " + RevokeWipeOutstanding + " (wipe " + res.Wipe.ID + ")"
	}
	return res, a.record(ctx, now, who, AuditRevoke, deviceID, res.Note)
}

// RotateLeaseKey makes a new lease key for a device: the server sends it
// with each lease until the agent, having wrapped its identity with it
// too, asks for its lease by its ID; the old key is destroyed then.
// store.ErrConflict if the device has no key to rotate, or a rotation is
// already waiting.
func (a *Actions) RotateLeaseKey(ctx context.Context, who, deviceID string) (store.LeaseKey, error) {
	now := a.now()
	k, err := a.Store.RotateLeaseKey(ctx, strings.TrimSpace(deviceID), now)
	if err != nil {
		return store.LeaseKey{}, err
	}
	return k, a.record(ctx, now, who, AuditLeaseRotate, k.DeviceID, "next key "+k.ID+": the old key is destroyed when the agent takes the new one")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
