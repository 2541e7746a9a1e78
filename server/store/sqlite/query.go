package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
)

// CaseHolders returns every holding of ref, by device ID; a reference no
// device can hold (see [store.ErrInvalid]) has none.
func (s *Store) CaseHolders(ctx context.Context, ref string) ([]store.Holding, error) {
	out := []store.Holding{}
	if check.Text("case reference", ref) != nil {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT h.device_id, h.first_seen,
		CASE WHEN h.held = 1 THEN d.received_at ELSE h.last_seen END, h.files, h.held
		FROM holdings h JOIN devices d ON d.id = h.device_id
		WHERE h.ref = ? ORDER BY h.device_id`, ref)
	if err != nil {
		return nil, fmt.Errorf("case holders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		h := store.Holding{Ref: ref}
		var first, last int64
		if err := rows.Scan(&h.DeviceID, &first, &last, &h.Files, &h.Held); err != nil {
			return nil, fmt.Errorf("case holders: %w", err)
		}
		h.FirstSeen, h.LastSeen = fromMicros(first), fromMicros(last)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("case holders: %w", err)
	}
	return out, nil
}

const stateCols = `s.device_id, s.at, s.seq, s.hash, s.sent_at, s.agent_version, s.policy_version, s.policy_hash,
	s.recipient, s.sealed_files, s.sealed_bytes, s.plaintext_files, s.case_refs, s.disk_encryption, s.compliant,
	s.lease, s.offline_copy`

func scanStateChange(sc interface{ Scan(...any) error }) (store.StateChange, error) {
	var (
		c             store.StateChange
		at, seq, sent int64
	)
	st := &c.State
	if err := sc.Scan(&c.DeviceID, &at, &seq, &st.Hash, &sent, &st.AgentVersion, &st.PolicyVersion, &st.PolicyHash,
		&st.Recipient, &st.SealedFiles, &st.SealedBytes, &st.PlaintextFiles, &st.CaseRefs, &st.DiskEncryption,
		&st.Compliant, &st.Lease, &st.OfflineCopy); err != nil {
		return c, err
	}
	c.At = fromMicros(at)
	st.Seq, st.Hash, st.SentAt, st.ReceivedAt = uint64(seq), check.Bytes(st.Hash), fromMicros(sent), c.At
	return c, nil
}

// latestChange is the key of the latest state change at or before ? of the
// device d of the outer query: one backward seek in the primary key.
// Changes at the same instant are told apart by seq.
const latestChange = `(SELECT l.at, l.seq FROM state_changes l WHERE l.device_id = d.id AND l.at <= ?
	ORDER BY l.at DESC, l.seq DESC LIMIT 1)`

// StatesAt returns each device's state at t, by device ID, in one query
// that seeks each device's latest change at or before t in the primary
// key: it reads one row per device however long the history. CROSS JOIN
// makes devices the outer loop, as SQLite's planner otherwise might not
// (it may scan every state change and look each one's device up).
func (s *Store) StatesAt(ctx context.Context, t time.Time) ([]store.StateChange, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+stateCols+` FROM devices d
		CROSS JOIN state_changes s ON s.device_id = d.id AND (s.at, s.seq) = `+latestChange+`
		ORDER BY d.id`, micros(check.Bound(t)))
	if err != nil {
		return nil, fmt.Errorf("states at %v: %w", t, err)
	}
	defer rows.Close()
	out := []store.StateChange{}
	for rows.Next() {
		c, err := scanStateChange(rows)
		if err != nil {
			return nil, fmt.Errorf("states at %v: %w", t, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("states at %v: %w", t, err)
	}
	return out, nil
}

func (s *Store) StateAt(ctx context.Context, deviceID string, t time.Time) (store.StateChange, error) {
	if check.Text("device ID", deviceID) != nil {
		return store.StateChange{}, fmt.Errorf("state of device %q at %v: %w", deviceID, t, store.ErrNotFound)
	}
	c, err := scanStateChange(s.r.QueryRowContext(ctx, `SELECT `+stateCols+` FROM state_changes s
		WHERE s.device_id = ? AND s.at <= ? ORDER BY s.at DESC, s.seq DESC LIMIT 1`,
		deviceID, micros(check.Bound(t))))
	if errors.Is(err, sql.ErrNoRows) {
		return store.StateChange{}, fmt.Errorf("state of device %q at %v: %w", deviceID, t, store.ErrNotFound)
	}
	if err != nil {
		return store.StateChange{}, fmt.Errorf("state of device %q at %v: %w", deviceID, t, err)
	}
	return c, nil
}

// defaultEventLimit is how many events SearchEvents returns at most when
// the filter sets no limit.
const defaultEventLimit = 10000

// SearchEvents returns the events f selects, by time, then device ID, then
// the heartbeat and position that carried them. Only the conditions f sets
// are in the query, so that SQLite can pick the index they fit. A filter
// string no event can hold (see [store.ErrInvalid]) selects nothing.
func (s *Store) SearchEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	out := []store.Event{}
	if check.Text("device ID", f.DeviceID) != nil || check.Text("event type", f.Type) != nil ||
		check.Text("case reference", f.CaseRef) != nil {
		return out, nil
	}
	var (
		where []string
		args  []any
	)
	if f.DeviceID != "" {
		where, args = append(where, `device_id = ?`), append(args, f.DeviceID)
	}
	if lo, hi, prefix := check.TypePrefix(f.Type); prefix {
		where, args = append(where, `type >= ? AND type < ?`), append(args, lo, hi)
	} else if f.Type != "" {
		where, args = append(where, `type = ?`), append(args, f.Type)
	}
	if f.CaseRef != "" {
		where, args = append(where, `case_ref = ?`), append(args, f.CaseRef)
	}
	where, args = append(where, `time >= ?`), append(args, micros(check.Bound(f.From)))
	if to, ok := check.Until(f.To); ok {
		where, args = append(where, `time < ?`), append(args, micros(to))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultEventLimit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT device_id, time, seq, type, case_ref, detail FROM events
		WHERE `+strings.Join(where, ` AND `)+` ORDER BY time, device_id, seq, idx LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("search events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e       store.Event
			at, seq int64
		)
		if err := rows.Scan(&e.DeviceID, &at, &seq, &e.Type, &e.CaseRef, &e.Detail); err != nil {
			return nil, fmt.Errorf("search events: %w", err)
		}
		e.Time, e.Seq = fromMicros(at), uint64(seq)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search events: %w", err)
	}
	return out, nil
}

// HeartbeatsAround returns the heartbeats of a device stored just before
// (or at) and just after t, in one statement (so from one snapshot); of
// several received at the same instant, the one with the highest seq is the
// last and the lowest the first.
func (s *Store) HeartbeatsAround(ctx context.Context, deviceID string, t time.Time) (before, after store.HeartbeatMeta, err error) {
	if check.Text("device ID", deviceID) != nil {
		return before, after, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT * FROM (SELECT 0, seq, sent_at, received_at FROM heartbeats
			WHERE device_id = ?1 AND received_at <= ?2 ORDER BY received_at DESC, seq DESC LIMIT 1)
		UNION ALL
		SELECT * FROM (SELECT 1, seq, sent_at, received_at FROM heartbeats
			WHERE device_id = ?1 AND received_at > ?2 ORDER BY received_at, seq LIMIT 1)`,
		deviceID, micros(check.Bound(t)))
	if err != nil {
		return before, after, fmt.Errorf("heartbeats of device %q around %v: %w", deviceID, t, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			isAfter        bool
			seq, sent, rcv int64
		)
		if err := rows.Scan(&isAfter, &seq, &sent, &rcv); err != nil {
			return store.HeartbeatMeta{}, store.HeartbeatMeta{},
				fmt.Errorf("heartbeats of device %q around %v: %w", deviceID, t, err)
		}
		m := store.HeartbeatMeta{Seq: uint64(seq), SentAt: fromMicros(sent), ReceivedAt: fromMicros(rcv)}
		if isAfter {
			after = m
		} else {
			before = m
		}
	}
	if err := rows.Err(); err != nil {
		return store.HeartbeatMeta{}, store.HeartbeatMeta{},
			fmt.Errorf("heartbeats of device %q around %v: %w", deviceID, t, err)
	}
	return before, after, nil
}
