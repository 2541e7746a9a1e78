package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
	"github.com/casekeep/casekeep/server/store/internal/lease"
)

const commandCols = `seq, id, device_id, type, requested_at, requested_by, expires_at, delivered_at, result, reason,
	acked_at, ack_received_at, cancelled_at, cancelled_by`

func scanCommand(row pgx.Row) (store.Command, error) {
	var (
		c                                                 store.Command
		expires, delivered, acked, ackReceived, cancelled *time.Time
	)
	err := row.Scan(&c.Seq, &c.ID, &c.DeviceID, &c.Type, &c.RequestedAt, &c.RequestedBy, &expires, &delivered, &c.Result,
		&c.Reason, &acked, &ackReceived, &cancelled, &c.CancelledBy)
	c.RequestedAt, c.Expires, c.DeliveredAt = utc(c.RequestedAt), orZero(expires), orZero(delivered)
	c.AckedAt, c.AckReceivedAt, c.CancelledAt = orZero(acked), orZero(ackReceived), orZero(cancelled)
	return c, err
}

func collectCommands(rows pgx.Rows) ([]store.Command, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Command, error) { return scanCommand(row) })
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// insertCommand stores c, which check.Command has passed, with a new ID,
// and returns it as stored.
func insertCommand(ctx context.Context, q querier, c store.Command) (store.Command, error) {
	c.ID = store.NewCommandID()
	c.RequestedAt = check.UTC(c.RequestedAt)
	var expires *time.Time // NULL: a wipe, which never expires
	if !c.Expires.IsZero() {
		c.Expires = check.UTC(c.Expires)
		expires = &c.Expires
	}
	err := q.QueryRow(ctx, `INSERT INTO commands (id, device_id, type, requested_at, requested_by, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`, c.ID, c.DeviceID, c.Type, c.RequestedAt, c.RequestedBy,
		expires).Scan(&c.Seq)
	return c, err
}

// RequestCommand stores a command and returns it as stored: with its Seq
// and ID, and its times in UTC truncated to the microsecond.
func (s *Store) RequestCommand(ctx context.Context, c store.Command) (store.Command, error) {
	if err := check.Command(c); err != nil {
		return store.Command{}, err
	}
	c, err := insertCommand(ctx, s.pool, c)
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
	rows, _ := s.pool.Query(ctx, `SELECT `+commandCols+` FROM commands WHERE device_id = $1 ORDER BY seq`, deviceID)
	out, err := collectCommands(rows)
	if err != nil {
		return nil, fmt.Errorf("commands: %w", err)
	}
	return out, nil
}

// CancelCommand cancels a command with its row locked: a delivery waits,
// and then finds it cancelled; a cancellation that waited for a delivery
// finds it delivered.
func (s *Store) CancelCommand(ctx context.Context, deviceID, id string, at time.Time, by string) (store.Command, error) {
	if err := check.Cancel(deviceID, id, at, by); err != nil {
		return store.Command{}, err
	}
	var c store.Command
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		c, err = scanCommand(tx.QueryRow(ctx, `SELECT `+commandCols+` FROM commands WHERE device_id = $1 AND id = $2 FOR UPDATE`,
			deviceID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := lease.Cancellable(c); err != nil {
			return err
		}
		c.CancelledAt, c.CancelledBy = check.UTC(at), by
		_, err = tx.Exec(ctx, `UPDATE commands SET cancelled_at = $1, cancelled_by = $2 WHERE seq = $3`, c.CancelledAt, by, c.Seq)
		return err
	})
	if err != nil {
		return store.Command{}, fmt.Errorf("cancel command %q of device %q: %w", id, deviceID, err)
	}
	return c, nil
}

// MarkFound closes the open lost reports and lifts a lock in force with
// the device's row locked, so that two people marking it found at once
// request one unlock.
func (s *Store) MarkFound(ctx context.Context, f store.Found) (store.FoundResult, error) {
	if err := check.Found(f); err != nil {
		return store.FoundResult{}, err
	}
	var out store.FoundResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, `SELECT id FROM devices WHERE id = $1 FOR UPDATE`, f.DeviceID).Scan(&id); errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		} else if err != nil {
			return err
		}
		cmds, err := readLiveCommands(ctx, tx, f.DeviceID)
		if err != nil {
			return err
		}
		at := check.UTC(f.At)
		tag, err := tx.Exec(ctx, `UPDATE lost_reports SET found_at = $1, found_by = $2 WHERE device_id = $3 AND found_at IS NULL`,
			at, f.By, f.DeviceID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: the device is not marked lost", store.ErrConflict)
		}
		out.Closed = int(tag.RowsAffected())
		if store.Locked(cmds) {
			c, err := insertCommand(ctx, tx, store.Command{DeviceID: f.DeviceID, Type: wire.CommandUnlock, RequestedAt: at,
				RequestedBy: f.By, Expires: f.UnlockExpires})
			if err != nil {
				return err
			}
			out.Unlock = &c
		}
		return nil
	})
	if err != nil {
		return store.FoundResult{}, fmt.Errorf("mark device %q found: %w", f.DeviceID, err)
	}
	return out, nil
}

// pendingCommands selects the device $1's commands pending at $2, in the
// order requested, at most $3.
const pendingCommands = `SELECT ` + commandCols + ` FROM commands WHERE device_id = $1 AND result = ''
	AND cancelled_at IS NULL AND (expires_at IS NULL OR expires_at > $2) ORDER BY seq LIMIT $3`

// DeliverCommands reads the pending commands; only if one is not yet
// delivered does it mark them delivered, in a transaction that reads them
// again after (a cancellation may have come in between: PostgreSQL checks
// the update's conditions again on a row another transaction changed).
func (s *Store) DeliverCommands(ctx context.Context, deviceID string, at time.Time, limit int) ([]store.Command, error) {
	if err := check.LeaseTime(at); err != nil {
		return nil, err
	}
	if check.Text("device ID", deviceID) != nil || limit <= 0 {
		return []store.Command{}, nil
	}
	at = check.UTC(at)
	rows, _ := s.pool.Query(ctx, pendingCommands, deviceID, at, limit)
	cs, err := collectCommands(rows)
	if err != nil {
		return nil, fmt.Errorf("deliver commands: %w", err)
	}
	if !lease.Undelivered(cs) {
		return cs, nil
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE commands SET delivered_at = $2 WHERE delivered_at IS NULL AND result = ''
			AND cancelled_at IS NULL AND seq IN (SELECT seq FROM commands WHERE device_id = $1 AND result = ''
			AND cancelled_at IS NULL AND (expires_at IS NULL OR expires_at > $2) ORDER BY seq LIMIT $3)`, deviceID, at, limit); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, pendingCommands, deviceID, at, limit)
		cs, err = collectCommands(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deliver commands: %w", err)
	}
	return cs, nil
}
