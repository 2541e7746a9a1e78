package check

import (
	"fmt"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

// User checks a user's name (not empty), role (one of [store.Roles]) and
// creation time.
func User(u store.User) error {
	if u.Name == "" {
		return fmt.Errorf("%w: empty user name", store.ErrInvalid)
	}
	if err := Text("user name", u.Name); err != nil {
		return err
	}
	if !u.Role.Valid() {
		return fmt.Errorf("%w: role %q is not one of %v", store.ErrInvalid, u.Role, store.Roles)
	}
	return Time("user creation time", u.CreatedAt)
}

// APIToken checks an API token's ID (not empty), user name, note and times.
func APIToken(t store.APIToken) error {
	if t.ID == "" {
		return fmt.Errorf("%w: empty API token ID", store.ErrInvalid)
	}
	return first(
		Text("API token ID", t.ID),
		Text("API token user", t.User),
		Text("API token note", t.Note),
		Time("API token creation time", t.CreatedAt),
		Time("API token revocation time", t.RevokedAt),
	)
}

// AuditEntry checks an audit entry's strings and time.
func AuditEntry(e store.AuditEntry) error {
	return first(
		Time("audit time", e.Time),
		Text("audit actor", e.Actor),
		Text("audit action", e.Action),
		Text("audit target", e.Target),
		Text("audit detail", e.Detail),
	)
}

// LostReport checks a lost report's strings and times.
func LostReport(r store.LostReport) error {
	return first(
		Text("device ID", r.DeviceID),
		Time("lost time", r.LostAt),
		Time("discovery time", r.DiscoveredAt),
		Time("recording time", r.RecordedAt),
		Text("reported by", r.By),
		Text("lost report note", r.Note),
	)
}

// Command checks a command to request: its type (lock, unlock or wipe),
// strings and times, an expiry after the request for a lock or unlock and
// none for a wipe (which never expires), and nothing delivered,
// acknowledged or cancelled yet.
func Command(c store.Command) error {
	switch c.Type {
	case wire.CommandLock, wire.CommandUnlock, wire.CommandWipe:
	default:
		return fmt.Errorf("%w: command type %q is not lock, unlock or wipe", store.ErrInvalid, c.Type)
	}
	if err := first(
		Text("device ID", c.DeviceID),
		Time("command request time", c.RequestedAt),
		Text("command requested by", c.RequestedBy),
	); err != nil {
		return err
	}
	switch {
	case c.Type == wire.CommandWipe && !c.Expires.IsZero():
		return fmt.Errorf("%w: a wipe never expires (its expiry must be zero)", store.ErrInvalid)
	case c.Type == wire.CommandWipe:
	case Time("command expiry", c.Expires) != nil:
		return Time("command expiry", c.Expires)
	case !c.Expires.After(c.RequestedAt):
		return fmt.Errorf("%w: a command that expires when it is requested", store.ErrInvalid)
	}
	if !c.DeliveredAt.IsZero() || c.Result != store.NotAcknowledged || !c.CancelledAt.IsZero() {
		return fmt.Errorf("%w: a new command is neither delivered, acknowledged nor cancelled", store.ErrInvalid)
	}
	return nil
}

// Found checks a found report's strings and times.
func Found(f store.Found) error {
	if err := first(
		Text("device ID", f.DeviceID),
		Time("found time", f.At),
		Text("found by", f.By),
		Time("unlock expiry", f.UnlockExpires),
	); err != nil {
		return err
	}
	if f.At.IsZero() || !f.UnlockExpires.After(f.At) {
		return fmt.Errorf("%w: a found time, and an unlock expiry after it, are required", store.ErrInvalid)
	}
	return nil
}

// Cancel checks a cancellation's strings and time.
func Cancel(deviceID, id string, at time.Time, by string) error {
	if err := first(Text("device ID", deviceID), Text("command ID", id), Time("cancellation time", at), Text("cancelled by", by)); err != nil {
		return err
	}
	if at.IsZero() {
		return fmt.Errorf("%w: zero cancellation time", store.ErrInvalid)
	}
	return nil
}

// LeaseRequests checks each lease request's kind, strings, times and
// window, naming the first bad one.
func LeaseRequests(reqs []store.LeaseRequest) error {
	for i := range reqs {
		if err := leaseRequest(&reqs[i]); err != nil {
			return fmt.Errorf("lease request %d (device %q): %w", i, reqs[i].DeviceID, err)
		}
	}
	return nil
}

func leaseRequest(r *store.LeaseRequest) error {
	switch r.Kind {
	case store.LeaseKindEnroll, store.LeaseKindKey, store.LeaseKindRenew:
	default:
		return fmt.Errorf("%w: lease kind %q is not enroll, key or renew", store.ErrInvalid, r.Kind)
	}
	if err := first(
		Text("device ID", r.DeviceID),
		Text("key ID", r.KeyID),
		Time("lease time", r.At),
		Text("source address", r.Source),
		Text("nonce", r.Nonce),
		Time("agent's time", r.AgentTime),
		Time("lease expiry", r.At.Add(r.Window)),
	); err != nil {
		return err
	}
	if r.At.IsZero() || r.Window < 0 {
		return fmt.Errorf("%w: a lease needs a time and a window of zero or more", store.ErrInvalid)
	}
	return nil
}

// LeaseTime checks a time given to a lease key operation.
func LeaseTime(at time.Time) error {
	if err := Time("time", at); err != nil {
		return err
	}
	if at.IsZero() {
		return fmt.Errorf("%w: zero time", store.ErrInvalid)
	}
	return nil
}

// Decision checks a notification decision's strings and time.
func Decision(d store.Decision) error {
	return first(
		Text("device ID", d.DeviceID),
		Time("decision time", d.At),
		Text("decided by", d.By),
		Text("decision reasons", d.Reasons),
	)
}
