package lease

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
)

// Key is a lease key the store holds.
type Key struct {
	ID        string
	Bytes     []byte
	Destroyed bool
}

// Device is what the store holds for a request's device, read in the
// transaction that serves it.
type Device struct {
	Known     bool
	RevokedAt time.Time // zero unless revoked
	NonceSeen bool      // the request's nonce is in the device's lease log
	Wipe      bool      // a wipe is requested, and not cancelled
	Lost      bool      // a lost report is open
	Locked    bool      // the latest lock or unlock not cancelled is a lock
	Current   *Key      // nil if it has none
	Next      *Key      // a replacement waiting; nil if none
	// KeyErr is why a stored key of the device could not be opened (its
	// Bytes are then still sealed): a lease it would be served fails, for
	// this device alone.
	KeyErr error
}

// Decision is what to do with a request.
type Decision struct {
	Result store.LeaseResult
	// Create is a new current key to store, if the device had none.
	Create *Key
	// Promote: the next key becomes current, and the current one is
	// retired and destroyed (its bytes gone).
	Promote bool
}

// Decide decides what to do with r for d. The times in the record are in
// stored form (UTC, to the microsecond).
func Decide(r store.LeaseRequest, d Device) Decision {
	if !d.Known {
		return Decision{Result: store.LeaseResult{Outcome: store.LeaseUnknown}}
	}
	if d.NonceSeen {
		return Decision{Result: store.LeaseResult{Outcome: store.LeaseReplay}}
	}
	at := check.UTC(r.At)
	rec := store.LeaseRecord{DeviceID: r.DeviceID, At: at, LastAt: at, Requests: 1, Source: r.Source, Kind: r.Kind, KeyID: r.KeyID,
		Window: r.Window.Truncate(time.Microsecond), Nonce: r.Nonce}
	if !r.AgentTime.IsZero() {
		rec.AgentTime = check.UTC(r.AgentTime)
	}
	refuse := func(why string) Decision {
		rec.Refused = why
		return Decision{Result: store.LeaseResult{Outcome: store.LeaseRefused, Record: rec}}
	}
	switch {
	// RevokeDevice destroys the keys at once, whatever time it names.
	case !d.RevokedAt.IsZero() && (!d.RevokedAt.After(at) || d.Current != nil && d.Current.Destroyed):
		return refuse(wire.RefusedRevoked)
	case d.Wipe || d.Current != nil && d.Current.Destroyed:
		return refuse(wire.RefusedWiped)
	case d.Lost:
		return refuse(wire.RefusedLost)
	case d.Locked:
		return refuse(wire.RefusedLocked)
	case d.KeyErr != nil:
		return Decision{Result: store.LeaseResult{Outcome: store.LeaseFailed, Err: d.KeyErr}}
	}
	var dec Decision
	cur, next := d.Current, d.Next
	switch {
	case next != nil && r.KeyID == next.ID:
		dec.Promote, cur, next = true, next, nil
	case cur == nil:
		cur = &Key{ID: store.NewLeaseKeyID(), Bytes: store.NewLeaseKey()}
		dec.Create = cur
	}
	rec.KeyID, rec.Until = cur.ID, at.Add(rec.Window)
	res := store.LeaseResult{Outcome: store.LeaseServed}
	if r.Kind != store.LeaseKindRenew {
		res.Key = cur.Bytes
	}
	if next != nil {
		rec.NextKeyID = next.ID
		res.Next = &store.NextKey{ID: next.ID, Key: next.Bytes}
	}
	res.Record = rec
	dec.Result = res
	return dec
}

// Seal seals a new key's bytes for the store, with sealer (nil:
// store.ErrNoKeySealer).
func Seal(sealer store.KeySealer, deviceID, keyID string, key []byte) ([]byte, error) {
	if sealer == nil {
		return nil, store.ErrNoKeySealer
	}
	return sealer.Seal(deviceID, keyID, key)
}

// Open opens the stored bytes of k, a key of deviceID, in place; a
// destroyed key (no bytes) stays as it is. An error but
// store.ErrNoKeySealer is this device's alone: the caller puts it in
// Device.KeyErr (see [Failed]).
func Open(sealer store.KeySealer, deviceID string, k *Key) error {
	if k.Destroyed || len(k.Bytes) == 0 {
		return nil
	}
	if sealer == nil {
		return store.ErrNoKeySealer
	}
	b, err := sealer.Open(deviceID, k.ID, k.Bytes)
	if err != nil {
		return fmt.Errorf("lease key %s of device %q: %w", k.ID, deviceID, err)
	}
	k.Bytes = b
	return nil
}

// Failed reports whether err, from Open, is the device's alone (a key
// that does not open) rather than the store's (no key sealer).
func Failed(err error) bool {
	return err != nil && !errors.Is(err, store.ErrNoKeySealer)
}

// Folds reports whether rec, a refusal, repeats last, the device's latest
// log entry, and so is folded into it: last is a refusal for the same
// reason, of the same kind of request, asking for the same key, from the
// same host (the port of a new connection differs).
func Folds(last, rec store.LeaseRecord) bool {
	return rec.Refused != "" && last.ID != 0 && last.Refused == rec.Refused && last.Kind == rec.Kind &&
		last.KeyID == rec.KeyID && host(last.Source) == host(rec.Source)
}

// Fold is last with rec folded into it.
func Fold(last, rec store.LeaseRecord) store.LeaseRecord {
	last.LastAt, last.Requests = rec.At, last.Requests+1
	return last
}

func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Rotation returns why a device's lease key cannot be rotated (an error
// wrapping store.ErrConflict), or nil if it can: it has a current key,
// not destroyed, and no next key waiting.
func Rotation(current, next, destroyed bool) error {
	switch {
	case !current:
		return fmt.Errorf("%w: the device has no lease key yet (none was ever served)", store.ErrConflict)
	case destroyed:
		return fmt.Errorf("%w: the device's lease key was destroyed by a wipe", store.ErrConflict)
	case next:
		return fmt.Errorf("%w: a rotation is already waiting for the device's agent to take its new key", store.ErrConflict)
	}
	return nil
}

// Cancellable returns why a command cannot be cancelled (an error
// wrapping store.ErrConflict), or nil if it can: it was neither
// delivered, acknowledged nor cancelled.
func Cancellable(c store.Command) error {
	switch {
	case !c.CancelledAt.IsZero():
		return fmt.Errorf("%w: the command was cancelled already", store.ErrConflict)
	case c.Result != store.NotAcknowledged:
		return fmt.Errorf("%w: the agent has acknowledged the command (%s)", store.ErrConflict, c.Result)
	case !c.DeliveredAt.IsZero():
		return fmt.Errorf("%w: the command was delivered to the agent", store.ErrConflict)
	}
	return nil
}

// Undelivered reports whether any of cs is not yet delivered:
// DeliverCommands then has something to mark.
func Undelivered(cs []store.Command) bool {
	for _, c := range cs {
		if c.DeliveredAt.IsZero() {
			return true
		}
	}
	return false
}
