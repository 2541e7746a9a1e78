package check

import (
	"fmt"

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

// WipeRequest checks a wipe request's strings and times.
func WipeRequest(w store.WipeRequest) error {
	return first(
		Text("device ID", w.DeviceID),
		Time("wipe request time", w.RequestedAt),
		Text("wipe requested by", w.By),
		Time("wipe acknowledgement time", w.AckedAt),
	)
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
