package check

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/casekeep/casekeep/server/store"
)

var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// Text returns an error wrapping store.ErrInvalid if s holds a NUL byte or
// is not valid UTF-8; field names it in the message.
func Text(field, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %s holds a NUL byte", store.ErrInvalid, field)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", store.ErrInvalid, field)
	}
	return nil
}

// Time returns an error wrapping store.ErrInvalid if t is outside the years
// 1 to 9999 (UTC).
func Time(field string, t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%w: %s %v is outside the years 1 to 9999", store.ErrInvalid, field, t)
	}
	return nil
}

// Seq returns an error wrapping store.ErrInvalid if v does not fit a signed
// 64-bit integer.
func Seq(field string, v uint64) error {
	if v > math.MaxInt64 {
		return fmt.Errorf("%w: %s %d is above 2^63-1", store.ErrInvalid, field, v)
	}
	return nil
}

// UTC returns t in UTC, truncated to the microsecond: the form stored.
func UTC(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Bound returns a query bound in stored form, clamped to the years 1 to
// 9999 so that callers may pass any time as "from the start" or "until the
// end".
func Bound(t time.Time) time.Time {
	if t.Before(minTime) {
		return minTime
	}
	if t.After(maxTime) {
		return maxTime
	}
	return UTC(t)
}

// Token checks a token's note and times.
func Token(t store.Token) error {
	return first(
		Text("token note", t.Note),
		Time("token expiry", t.ExpiresAt),
		Time("token creation time", t.CreatedAt),
	)
}

// Device checks a device's strings and times.
func Device(d store.Device) error {
	if d.ID == "" {
		return fmt.Errorf("%w: empty device ID", store.ErrInvalid)
	}
	return first(
		Text("device ID", d.ID),
		Text("hostname", d.Hostname),
		Text("OS", d.OS),
		Text("arch", d.Arch),
		Text("serial", d.Serial),
		Text("user", d.User),
		Text("agent version", d.AgentVersion),
		Time("enrollment time", d.EnrolledAt),
		Time("revocation time", d.RevokedAt),
	)
}

// Heartbeats checks every string, time and sequence number in hbs, naming
// the first bad one's device and seq.
func Heartbeats(hbs []store.Heartbeat) error {
	for i := range hbs {
		if err := heartbeat(&hbs[i]); err != nil {
			return fmt.Errorf("heartbeat %d (device %q, seq %d): %w", i, hbs[i].DeviceID, hbs[i].Seq, err)
		}
	}
	return nil
}

func heartbeat(h *store.Heartbeat) error {
	s := &h.State
	if err := first(
		Text("device ID", h.DeviceID),
		Seq("seq", h.Seq),
		Time("sent time", s.SentAt),
		Time("received time", s.ReceivedAt),
		Text("agent version", s.AgentVersion),
		Text("policy hash", s.PolicyHash),
		Text("recipient", s.Recipient),
		Text("disk encryption", s.DiskEncryption),
		Text("lease", s.Lease),
		Text("offline copy", s.OfflineCopy),
		Text("stopping", h.Stopping),
	); err != nil {
		return err
	}
	for i := range h.Acks {
		a := &h.Acks[i]
		if err := first(
			Text("acknowledged command ID", a.ID),
			Text("acknowledged command type", a.Type),
			Text("acknowledgement result", a.Result),
			Text("acknowledgement reason", a.Reason),
			Time("acknowledgement time", a.At),
		); err != nil {
			return fmt.Errorf("acknowledgement %d: %w", i, err)
		}
	}
	for i := range h.Events {
		e := &h.Events[i]
		if err := first(
			Time("event time", e.Time),
			Text("event type", e.Type),
			Text("event case reference", e.CaseRef),
			Text("event detail", e.Detail),
		); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
	}
	for i := range h.CaseRefs {
		if err := Text("case reference", h.CaseRefs[i].Ref); err != nil {
			return fmt.Errorf("case count %d: %w", i, err)
		}
	}
	return nil
}

func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Bytes returns b, or an empty non-nil slice for nil, so that a NOT NULL
// column gets an empty value rather than NULL.
func Bytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
