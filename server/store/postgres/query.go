package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
)

// CaseHolders returns every holding of ref, by device ID; a reference no
// device can hold (see [store.ErrInvalid]) has none.
func (s *Store) CaseHolders(ctx context.Context, ref string) ([]store.Holding, error) {
	if check.Text("case reference", ref) != nil {
		return []store.Holding{}, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT h.device_id, h.first_seen,
		CASE WHEN h.held THEN d.received_at ELSE h.last_seen END, h.files, h.held
		FROM holdings h JOIN devices d ON d.id = h.device_id
		WHERE h.ref = $1 ORDER BY h.device_id`, ref)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Holding, error) {
		h := store.Holding{Ref: ref}
		err := row.Scan(&h.DeviceID, &h.FirstSeen, &h.LastSeen, &h.Files, &h.Held)
		h.FirstSeen, h.LastSeen = utc(h.FirstSeen), utc(h.LastSeen)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("case holders: %w", err)
	}
	return out, nil
}

const stateCols = `s.device_id, s.at, s.seq, s.hash, s.sent_at, s.agent_version, s.policy_version, s.policy_hash,
	s.recipient, s.sealed_files, s.sealed_bytes, s.plaintext_files, s.case_refs, s.disk_encryption, s.compliant,
	s.lease, s.offline_copy`

func scanStateChange(row pgx.Row) (store.StateChange, error) {
	var (
		c   store.StateChange
		seq int64
	)
	st := &c.State
	err := row.Scan(&c.DeviceID, &c.At, &seq, &st.Hash, &st.SentAt, &st.AgentVersion, &st.PolicyVersion,
		&st.PolicyHash, &st.Recipient, &st.SealedFiles, &st.SealedBytes, &st.PlaintextFiles, &st.CaseRefs,
		&st.DiskEncryption, &st.Compliant, &st.Lease, &st.OfflineCopy)
	c.At = utc(c.At)
	st.Seq, st.Hash, st.SentAt, st.ReceivedAt = uint64(seq), check.Bytes(st.Hash), utc(st.SentAt), c.At
	return c, err
}

// StatesAt returns each device's state at t, by device ID, in one query: for
// each device (LATERAL), one backward seek in the state_changes primary key
// to its latest change at or before t. It reads one row per device however
// long the history, where DISTINCT ON or a window over state_changes would
// read every change before t.
func (s *Store) StatesAt(ctx context.Context, t time.Time) ([]store.StateChange, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+stateCols+` FROM devices d
		CROSS JOIN LATERAL (SELECT * FROM state_changes l WHERE l.device_id = d.id AND l.at <= $1
			ORDER BY l.at DESC, l.seq DESC LIMIT 1) s
		ORDER BY d.id`, check.Bound(t))
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.StateChange, error) { return scanStateChange(row) })
	if err != nil {
		return nil, fmt.Errorf("states at %v: %w", t, err)
	}
	return out, nil
}

func (s *Store) StateAt(ctx context.Context, deviceID string, t time.Time) (store.StateChange, error) {
	if check.Text("device ID", deviceID) != nil {
		return store.StateChange{}, fmt.Errorf("state of device %q at %v: %w", deviceID, t, store.ErrNotFound)
	}
	c, err := scanStateChange(s.pool.QueryRow(ctx, `SELECT `+stateCols+` FROM state_changes s
		WHERE s.device_id = $1 AND s.at <= $2 ORDER BY s.at DESC, s.seq DESC LIMIT 1`, deviceID, check.Bound(t)))
	if errors.Is(err, pgx.ErrNoRows) {
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
// are in the query, so that the planner can pick the index they fit. A
// filter string no event can hold (see [store.ErrInvalid]) selects nothing.
func (s *Store) SearchEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	if check.Text("device ID", f.DeviceID) != nil || check.Text("event type", f.Type) != nil ||
		check.Text("case reference", f.CaseRef) != nil {
		return []store.Event{}, nil
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.DeviceID != "" {
		where = append(where, `device_id = `+arg(f.DeviceID))
	}
	if lo, hi, prefix := check.TypePrefix(f.Type); prefix {
		where = append(where, `type >= `+arg(lo)+` AND type < `+arg(hi))
	} else if f.Type != "" {
		where = append(where, `type = `+arg(f.Type))
	}
	if f.CaseRef != "" {
		where = append(where, `case_ref = `+arg(f.CaseRef))
	}
	where = append(where, `time >= `+arg(check.Bound(f.From)))
	if to, ok := check.Until(f.To); ok {
		where = append(where, `time < `+arg(to))
	}
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = defaultEventLimit
	}
	rows, _ := s.pool.Query(ctx, `SELECT device_id, time, seq, type, case_ref, detail FROM events
		WHERE `+strings.Join(where, ` AND `)+` ORDER BY time, device_id, seq, idx LIMIT `+arg(limit), args...)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Event, error) {
		var (
			e   store.Event
			seq int64
		)
		err := row.Scan(&e.DeviceID, &e.Time, &seq, &e.Type, &e.CaseRef, &e.Detail)
		e.Time, e.Seq = utc(e.Time), uint64(seq)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("search events: %w", err)
	}
	return out, nil
}

// HeartbeatsAround returns the heartbeats of a device stored just before
// (or at) and just after t, in one round trip; of several received at the
// same instant, the one with the highest seq is the last and the lowest the
// first.
func (s *Store) HeartbeatsAround(ctx context.Context, deviceID string, t time.Time) (before, after store.HeartbeatMeta, err error) {
	if check.Text("device ID", deviceID) != nil {
		return before, after, nil
	}
	rows, _ := s.pool.Query(ctx, `(SELECT false, seq, sent_at, received_at FROM heartbeats
			WHERE device_id = $1 AND received_at <= $2 ORDER BY received_at DESC, seq DESC LIMIT 1)
		UNION ALL
		(SELECT true, seq, sent_at, received_at FROM heartbeats
			WHERE device_id = $1 AND received_at > $2 ORDER BY received_at, seq LIMIT 1)`,
		deviceID, check.Bound(t))
	var (
		isAfter bool
		seq     int64
		m       store.HeartbeatMeta
	)
	_, err = pgx.ForEachRow(rows, []any{&isAfter, &seq, &m.SentAt, &m.ReceivedAt}, func() error {
		m.Seq, m.SentAt, m.ReceivedAt = uint64(seq), utc(m.SentAt), utc(m.ReceivedAt)
		if isAfter {
			after = m
		} else {
			before = m
		}
		return nil
	})
	if err != nil {
		return store.HeartbeatMeta{}, store.HeartbeatMeta{},
			fmt.Errorf("heartbeats of device %q around %v: %w", deviceID, t, err)
	}
	return before, after, nil
}
