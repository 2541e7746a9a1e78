package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
	"github.com/casekeep/casekeep/server/store/internal/lease"
)

const commandCols = `seq, id, device_id, type, requested_at, requested_by, expires_at, delivered_at, result, reason,
	acked_at, ack_received_at, cancelled_at, cancelled_by`

func scanCommand(sc interface{ Scan(...any) error }) (store.Command, error) {
	var (
		c                                                 store.Command
		requested                                         int64
		expires, delivered, acked, ackReceived, cancelled sql.NullInt64
	)
	if err := sc.Scan(&c.Seq, &c.ID, &c.DeviceID, &c.Type, &requested, &c.RequestedBy, &expires, &delivered, &c.Result,
		&c.Reason, &acked, &ackReceived, &cancelled, &c.CancelledBy); err != nil {
		return c, err
	}
	c.RequestedAt, c.Expires, c.DeliveredAt = fromMicros(requested), fromNull(expires), fromNull(delivered)
	c.AckedAt, c.AckReceivedAt, c.CancelledAt = fromNull(acked), fromNull(ackReceived), fromNull(cancelled)
	return c, nil
}

func collectCommands(rows *sql.Rows, what string) ([]store.Command, error) {
	defer rows.Close()
	out := []store.Command{}
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// insertCommand stores c, which check.Command has passed, with a new ID,
// and returns it as stored.
func insertCommand(ctx context.Context, ex interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, c store.Command) (store.Command, error) {
	c.ID = store.NewCommandID()
	c.RequestedAt = check.UTC(c.RequestedAt)
	if !c.Expires.IsZero() {
		c.Expires = check.UTC(c.Expires)
	}
	err := ex.QueryRowContext(ctx, `INSERT INTO commands (id, device_id, type, requested_at, requested_by, expires_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`, c.ID, c.DeviceID, c.Type, micros(c.RequestedAt), c.RequestedBy,
		nullMicros(c.Expires)).Scan(&c.Seq)
	return c, err
}

// RequestCommand stores a command and returns it as stored: with its Seq
// and ID, and its times in UTC truncated to the microsecond.
func (s *Store) RequestCommand(ctx context.Context, c store.Command) (store.Command, error) {
	if err := check.Command(c); err != nil {
		return store.Command{}, err
	}
	c, err := insertCommand(ctx, s.w, c)
	if isForeignKey(err) {
		return store.Command{}, fmt.Errorf("request %s of device %q: %w", c.Type, c.DeviceID, store.ErrNotFound)
	}
	if err != nil {
		return store.Command{}, fmt.Errorf("request %s of device %q: %w", c.Type, c.DeviceID, err)
	}
	return c, nil
}

// Commands returns a device's commands in the order stored (seq).
func (s *Store) Commands(ctx context.Context, deviceID string) ([]store.Command, error) {
	if check.Text("device ID", deviceID) != nil {
		return []store.Command{}, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+commandCols+` FROM commands WHERE device_id = ?
		ORDER BY seq`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("commands: %w", err)
	}
	return collectCommands(rows, "commands")
}

// CancelCommand cancels a command in one IMMEDIATE transaction: no
// delivery can come between the check and the cancellation.
func (s *Store) CancelCommand(ctx context.Context, deviceID, id string, at time.Time, by string) (store.Command, error) {
	if err := check.Cancel(deviceID, id, at, by); err != nil {
		return store.Command{}, err
	}
	fail := func(err error) (store.Command, error) {
		return store.Command{}, fmt.Errorf("cancel command %q of device %q: %w", id, deviceID, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	c, err := scanCommand(tx.QueryRowContext(ctx, `SELECT `+commandCols+` FROM commands WHERE device_id = ? AND id = ?`, deviceID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return fail(store.ErrNotFound)
	}
	if err != nil {
		return fail(err)
	}
	if err := lease.Cancellable(c); err != nil {
		return fail(err)
	}
	c.CancelledAt, c.CancelledBy = check.UTC(at), by
	if _, err := tx.ExecContext(ctx, `UPDATE commands SET cancelled_at = ?, cancelled_by = ? WHERE seq = ?`,
		micros(c.CancelledAt), by, c.Seq); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return c, nil
}

// MarkFound closes the open lost reports and lifts a lock in force in one
// IMMEDIATE transaction.
func (s *Store) MarkFound(ctx context.Context, f store.Found) (store.FoundResult, error) {
	if err := check.Found(f); err != nil {
		return store.FoundResult{}, err
	}
	fail := func(err error) (store.FoundResult, error) {
		return store.FoundResult{}, fmt.Errorf("mark device %q found: %w", f.DeviceID, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var known bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM devices WHERE id = ?)`, f.DeviceID).Scan(&known); err != nil {
		return fail(err)
	}
	if !known {
		return fail(store.ErrNotFound)
	}
	st, err := tx.PrepareContext(ctx, liveCommands)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	cmds, err := readLiveCommands(ctx, st, f.DeviceID)
	if err != nil {
		return fail(err)
	}
	at := check.UTC(f.At)
	res, err := tx.ExecContext(ctx, `UPDATE lost_reports SET found_at = ?, found_by = ? WHERE device_id = ? AND found_at IS NULL`,
		micros(at), f.By, f.DeviceID)
	if err != nil {
		return fail(err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return fail(fmt.Errorf("%w: the device is not marked lost", store.ErrConflict))
	}
	out := store.FoundResult{Closed: int(n)}
	if store.Locked(cmds) {
		c, err := insertCommand(ctx, tx, store.Command{DeviceID: f.DeviceID, Type: wire.CommandUnlock, RequestedAt: at,
			RequestedBy: f.By, Expires: f.UnlockExpires})
		if err != nil {
			return fail(err)
		}
		out.Unlock = &c
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return out, nil
}
