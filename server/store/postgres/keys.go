package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
	"github.com/casekeep/casekeep/server/store/internal/lease"
)

// What ServeLeases reads and writes for each request.
const (
	lockLeaseDevices = `SELECT id FROM devices WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`
	leaseDevice      = `SELECT d.revoked_at,
		EXISTS (SELECT 1 FROM lease_nonces n WHERE n.device_id = $1 AND n.nonce = $2),
		EXISTS (SELECT 1 FROM lost_reports r WHERE r.device_id = $1 AND r.found_at IS NULL)
		FROM devices d WHERE d.id = $1`
	// liveCommands are a device's commands not cancelled that bear on its
	// lease: what store.Locked and store.WipeRequested read.
	liveCommands = `SELECT seq, type, requested_at FROM commands WHERE device_id = $1 AND cancelled_at IS NULL
		AND type IN ('lock', 'unlock', 'wipe')`
	leaseKeys   = `SELECT id, key_bytes, state, destroyed_at IS NOT NULL FROM lease_keys WHERE device_id = $1 AND state IN ('current', 'next')`
	createKey   = `INSERT INTO lease_keys (id, device_id, key_bytes, state, created_at) VALUES ($1, $2, $3, $4, $5)`
	retireKey   = `UPDATE lease_keys SET state = 'retired', retired_at = $1, destroyed_at = $1, key_bytes = '' WHERE device_id = $2 AND state = 'current'`
	promoteKey  = `UPDATE lease_keys SET state = 'current' WHERE device_id = $1 AND id = $2 AND state = 'next'`
	logLease    = `INSERT INTO lease_log (device_id, at, last_at, requests, source, kind, key_id, next_key_id, valid_until, offline_window, nonce, agent_time, refused) VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`
	logNonce    = `INSERT INTO lease_nonces (device_id, nonce, at) VALUES ($1, $2, $3)`
	latestLease = `SELECT ` + leaseCols + ` FROM lease_log WHERE device_id = $1 ORDER BY id DESC LIMIT 1`
	foldLease   = `UPDATE lease_log SET last_at = $1, requests = requests + 1 WHERE id = $2`
	leaseServed = `UPDATE devices SET lease_served_at = $1, lease_until = $2 WHERE id = $3`
)

// nullText writes a nullable text column: "" is NULL.
func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ServeLeases decides and logs each request in one transaction, with the
// rows of the requests' devices locked (in ID order, as Ingest locks
// them): no other server process changes a device's keys or reads its
// nonces half-way. Each request's writes go in one pipelined batch.
func (s *Store) ServeLeases(ctx context.Context, reqs []store.LeaseRequest) ([]store.LeaseResult, error) {
	out := make([]store.LeaseResult, len(reqs))
	if len(reqs) == 0 {
		return out, nil
	}
	if err := check.LeaseRequests(reqs); err != nil {
		return nil, fmt.Errorf("serve leases: %w", err)
	}
	ids := make([]string, len(reqs))
	for i := range reqs {
		ids[i] = reqs[i].DeviceID
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockLeaseDevices, ids); err != nil {
			return err
		}
		for i, r := range reqs {
			d, err := s.readLeaseDevice(ctx, tx, r)
			if err != nil {
				return err
			}
			dec := lease.Decide(r, d)
			if err := s.writeLease(ctx, tx, &dec); err != nil {
				return err
			}
			out[i] = dec.Result
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("serve leases: %w", err)
	}
	return out, nil
}

func (s *Store) readLeaseDevice(ctx context.Context, tx pgx.Tx, r store.LeaseRequest) (lease.Device, error) {
	var (
		d       lease.Device
		revoked *time.Time
	)
	err := tx.QueryRow(ctx, leaseDevice, r.DeviceID, nullText(r.Nonce)).Scan(&revoked, &d.NonceSeen, &d.Lost)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	d.Known, d.RevokedAt = true, orZero(revoked)
	cmds, err := readLiveCommands(ctx, tx, r.DeviceID)
	if err != nil {
		return d, err
	}
	d.Wipe, d.Locked = store.WipeRequested(cmds), store.Locked(cmds)
	rows, _ := tx.Query(ctx, leaseKeys, r.DeviceID)
	var (
		k     lease.Key
		state string
	)
	_, err = pgx.ForEachRow(rows, []any{&k.ID, &k.Bytes, &state, &k.Destroyed}, func() error {
		kk := k
		if err := lease.Open(s.sealer, r.DeviceID, &kk); lease.Failed(err) {
			d.KeyErr = err // this device's request fails, not the batch
		} else if err != nil {
			return err
		}
		if state == store.KeyCurrent {
			d.Current = &kk
		} else {
			d.Next = &kk
		}
		return nil
	})
	return d, err
}

func readLiveCommands(ctx context.Context, tx pgx.Tx, deviceID string) ([]store.Command, error) {
	rows, _ := tx.Query(ctx, liveCommands, deviceID)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Command, error) {
		var c store.Command
		err := row.Scan(&c.Seq, &c.Type, &c.RequestedAt)
		return c, err
	})
}

func (s *Store) writeLease(ctx context.Context, tx pgx.Tx, dec *lease.Decision) error {
	res := &dec.Result
	if res.Outcome != store.LeaseServed && res.Outcome != store.LeaseRefused {
		return nil
	}
	rec := &res.Record
	if rec.Nonce != "" {
		if _, err := tx.Exec(ctx, logNonce, rec.DeviceID, rec.Nonce, rec.At); err != nil {
			return err
		}
	}
	if res.Outcome == store.LeaseRefused {
		last, err := scanLease(tx.QueryRow(ctx, latestLease, rec.DeviceID))
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if lease.Folds(last, *rec) {
			*rec = lease.Fold(last, *rec)
			_, err := tx.Exec(ctx, foldLease, rec.LastAt, rec.ID)
			return err
		}
	}
	b := &pgx.Batch{}
	if k := dec.Create; k != nil {
		sealed, err := lease.Seal(s.sealer, rec.DeviceID, k.ID, k.Bytes)
		if err != nil {
			return err
		}
		b.Queue(createKey, k.ID, rec.DeviceID, sealed, store.KeyCurrent, rec.At)
	}
	if dec.Promote {
		b.Queue(retireKey, rec.At, rec.DeviceID)
		b.Queue(promoteKey, rec.DeviceID, rec.KeyID)
	}
	b.Queue(logLease, rec.DeviceID, rec.At, rec.Requests, rec.Source, rec.Kind, rec.KeyID, rec.NextKeyID, orNull(rec.Until),
		rec.Window.Microseconds(), nullText(rec.Nonce), orNull(rec.AgentTime), rec.Refused).QueryRow(func(row pgx.Row) error {
		return row.Scan(&rec.ID)
	})
	if res.Outcome == store.LeaseServed {
		b.Queue(leaseServed, rec.At, rec.Until, rec.DeviceID)
	}
	return tx.SendBatch(ctx, b).Close()
}

// RotateLeaseKey makes a next key with the device's row locked, so that
// no lease served at the same moment sees half of it.
func (s *Store) RotateLeaseKey(ctx context.Context, deviceID string, at time.Time) (store.LeaseKey, error) {
	if err := check.LeaseTime(at); err != nil {
		return store.LeaseKey{}, err
	}
	if check.Text("device ID", deviceID) != nil {
		return store.LeaseKey{}, fmt.Errorf("rotate the lease key of device %q: %w", deviceID, store.ErrNotFound)
	}
	k := store.LeaseKey{ID: store.NewLeaseKeyID(), DeviceID: deviceID, State: store.KeyNext, CreatedAt: check.UTC(at)}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, `SELECT id FROM devices WHERE id = $1 FOR UPDATE`, deviceID).Scan(&id); errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		} else if err != nil {
			return err
		}
		var current, next, destroyed bool
		if err := tx.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM lease_keys WHERE device_id = $1 AND state = 'current'),
			EXISTS (SELECT 1 FROM lease_keys WHERE device_id = $1 AND state = 'next'),
			EXISTS (SELECT 1 FROM lease_keys WHERE device_id = $1 AND state = 'current' AND destroyed_at IS NOT NULL)`,
			deviceID).Scan(&current, &next, &destroyed); err != nil {
			return err
		}
		if err := lease.Rotation(current, next, destroyed); err != nil {
			return err
		}
		sealed, err := lease.Seal(s.sealer, deviceID, k.ID, store.NewLeaseKey())
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, createKey, k.ID, deviceID, sealed, k.State, k.CreatedAt)
		return err
	})
	if err != nil {
		return store.LeaseKey{}, fmt.Errorf("rotate the lease key of device %q: %w", deviceID, err)
	}
	return k, nil
}

func (s *Store) LeaseKeys(ctx context.Context, deviceID string) ([]store.LeaseKey, error) {
	if check.Text("device ID", deviceID) != nil {
		return []store.LeaseKey{}, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, state, created_at, retired_at, destroyed_at FROM lease_keys
		WHERE device_id = $1 ORDER BY created_at, id`, deviceID)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.LeaseKey, error) {
		k := store.LeaseKey{DeviceID: deviceID}
		var retired, destroyed *time.Time
		err := row.Scan(&k.ID, &k.State, &k.CreatedAt, &retired, &destroyed)
		k.CreatedAt, k.RetiredAt, k.DestroyedAt = utc(k.CreatedAt), orZero(retired), orZero(destroyed)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("lease keys: %w", err)
	}
	return out, nil
}

const leaseCols = `id, device_id, at, last_at, requests, source, kind, key_id, next_key_id, valid_until, offline_window, nonce, agent_time, refused`

func scanLease(row pgx.Row, more ...any) (store.LeaseRecord, error) {
	var (
		r            store.LeaseRecord
		window       int64
		until, agent *time.Time
		nonce        *string
	)
	err := row.Scan(append(more, &r.ID, &r.DeviceID, &r.At, &r.LastAt, &r.Requests, &r.Source, &r.Kind, &r.KeyID, &r.NextKeyID,
		&until, &window, &nonce, &agent, &r.Refused)...)
	r.At, r.LastAt, r.Until, r.AgentTime = utc(r.At), utc(r.LastAt), orZero(until), orZero(agent)
	r.Window = time.Duration(window) * time.Microsecond
	if nonce != nil {
		r.Nonce = *nonce
	}
	return r, err
}

// Leases returns a device's lease log in [from, to), newest first (of
// the same time, the last logged first).
func (s *Store) Leases(ctx context.Context, deviceID string, from, to time.Time, limit int) ([]store.LeaseRecord, error) {
	if check.Text("device ID", deviceID) != nil {
		return []store.LeaseRecord{}, nil
	}
	var n *int64
	if limit > 0 {
		l := int64(limit)
		n = &l
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+leaseCols+` FROM lease_log WHERE device_id = $1 AND last_at >= $2 AND at < $3
		ORDER BY at DESC, id DESC LIMIT $4`, deviceID, check.Bound(from), check.Bound(to), n)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.LeaseRecord, error) { return scanLease(row) })
	if err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	return out, nil
}

// LeaseEvidence reads the device's whole lease log in one read-only
// REPEATABLE READ transaction, so from one snapshot: each answer is one
// indexed lookup or aggregate, however long the log.
func (s *Store) LeaseEvidence(ctx context.Context, deviceID string, t time.Time) (store.LeaseEvidence, error) {
	ev := store.LeaseEvidence{RefusedAfter: map[string]int64{}}
	if check.Text("device ID", deviceID) != nil {
		return ev, nil
	}
	at := check.Bound(t)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		for _, q := range []struct {
			into         *store.LeaseRecord
			where, order string
		}{
			{&ev.Before, `refused = '' AND at <= $2`, `at DESC, id DESC`},
			{&ev.FirstAfter, `refused = '' AND at > $2`, `at, id`},
			{&ev.LastAfter, `refused = '' AND at > $2`, `at DESC, id DESC`},
			{&ev.FirstRefused, `refused <> '' AND last_at > $2`, `at, id`},
		} {
			r, err := scanLease(tx.QueryRow(ctx, `SELECT `+leaseCols+` FROM lease_log WHERE device_id = $1 AND `+q.where+
				` ORDER BY `+q.order+` LIMIT 1`, deviceID, at))
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			*q.into = r
		}
		var until *time.Time
		if err := tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE kind <> 'renew'), max(valid_until) FROM lease_log
			WHERE device_id = $1 AND refused = '' AND at > $2`, deviceID, at).Scan(&ev.ServedAfter, &ev.KeysAfter, &until); err != nil {
			return err
		}
		ev.UntilAfter = orZero(until)
		// A run that began at or before t counts once: its last
		// request was after t.
		rows, _ := tx.Query(ctx, `SELECT refused, sum(CASE WHEN at > $2 THEN requests ELSE 1 END), bool_or(at <= $2)
			FROM lease_log WHERE device_id = $1 AND refused <> '' AND last_at > $2 GROUP BY refused`, deviceID, at)
		var (
			why      string
			n        int64
			straddle bool
		)
		_, err := pgx.ForEachRow(rows, []any{&why, &n, &straddle}, func() error {
			ev.RefusedAfter[why], ev.RefusedAtLeast = n, ev.RefusedAtLeast || straddle
			return nil
		})
		return err
	})
	if err != nil {
		return store.LeaseEvidence{}, fmt.Errorf("lease evidence at %v: %w", t, err)
	}
	return ev, nil
}
