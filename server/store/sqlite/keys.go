package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
	"github.com/casekeep/casekeep/server/store/internal/lease"
)

// leaseStmts are ServeLeases' statements, prepared once on the writer.
type leaseStmts struct {
	device, commands, keys, create, retire, promote, log, served, nonce, latest, fold *sql.Stmt
}

func (p *leaseStmts) all() []*sql.Stmt {
	return []*sql.Stmt{p.device, p.commands, p.keys, p.create, p.retire, p.promote, p.log, p.served, p.nonce, p.latest, p.fold}
}

func (p *leaseStmts) prepare(db *sql.DB) error {
	for _, s := range []struct {
		to  **sql.Stmt
		sql string
	}{
		{&p.device, `SELECT d.revoked_at,
			EXISTS (SELECT 1 FROM lease_nonces n WHERE n.device_id = ?1 AND n.nonce = ?2),
			EXISTS (SELECT 1 FROM lost_reports r WHERE r.device_id = ?1 AND r.found_at IS NULL)
			FROM devices d WHERE d.id = ?1`},
		{&p.commands, liveCommands},
		{&p.keys, `SELECT id, key_bytes, state, destroyed_at IS NOT NULL FROM lease_keys
			WHERE device_id = ? AND state IN ('current', 'next')`},
		{&p.create, `INSERT INTO lease_keys (id, device_id, key_bytes, state, created_at) VALUES (?, ?, ?, ?, ?)`},
		{&p.retire, `UPDATE lease_keys SET state = 'retired', retired_at = ?1, destroyed_at = ?1, key_bytes = x''
			WHERE device_id = ?2 AND state = 'current'`},
		{&p.promote, `UPDATE lease_keys SET state = 'current' WHERE device_id = ? AND id = ? AND state = 'next'`},
		{&p.log, `INSERT INTO lease_log (device_id, at, last_at, requests, source, kind, key_id, next_key_id, valid_until,
			offline_window, nonce, agent_time, refused) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`},
		{&p.nonce, `INSERT INTO lease_nonces (device_id, nonce, at) VALUES (?, ?, ?)`},
		{&p.latest, `SELECT ` + leaseCols + ` FROM lease_log WHERE device_id = ? ORDER BY id DESC LIMIT 1`},
		{&p.fold, `UPDATE lease_log SET last_at = ?, requests = requests + 1 WHERE id = ?`},
		{&p.served, `UPDATE devices SET lease_served_at = ?, lease_until = ? WHERE id = ?`},
	} {
		st, err := db.Prepare(s.sql)
		if err != nil {
			return err
		}
		*s.to = st
	}
	return nil
}

// liveCommands are a device's commands not cancelled that bear on its
// lease: what store.Locked and store.WipeRequested read.
const liveCommands = `SELECT seq, type, requested_at FROM commands WHERE device_id = ? AND cancelled_at IS NULL
	AND type IN ('lock', 'unlock', 'wipe')`

func readLiveCommands(ctx context.Context, st *sql.Stmt, deviceID string) ([]store.Command, error) {
	rows, err := st.QueryContext(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Command
	for rows.Next() {
		var (
			c  store.Command
			at int64
		)
		if err := rows.Scan(&c.Seq, &c.Type, &at); err != nil {
			return nil, err
		}
		c.RequestedAt = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// nullText writes a nullable text column: "" is NULL.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ServeLeases decides and logs each request in one IMMEDIATE transaction
// on the writer: no other writer, in this process or another, changes a
// device's keys, commands or lost reports between the reading and the
// writing. A batch with an invalid value (see [store.ErrInvalid]) serves
// nothing; a device whose stored key does not open fails alone
// ([store.LeaseFailed]).
func (s *Store) ServeLeases(ctx context.Context, reqs []store.LeaseRequest) ([]store.LeaseResult, error) {
	out := make([]store.LeaseResult, len(reqs))
	if len(reqs) == 0 {
		return out, nil
	}
	if err := check.LeaseRequests(reqs); err != nil {
		return nil, fmt.Errorf("serve leases: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("serve leases: %w", err)
	}
	defer tx.Rollback()
	ps := &s.stmts.lease
	retired := false
	for i, r := range reqs {
		d, err := s.leaseDevice(ctx, tx, ps, r)
		if err != nil {
			return nil, fmt.Errorf("serve leases: %w", err)
		}
		dec := lease.Decide(r, d)
		if err := s.writeLease(ctx, tx, ps, &dec); err != nil {
			return nil, fmt.Errorf("serve leases: %w", err)
		}
		out[i], retired = dec.Result, retired || dec.Promote
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("serve leases: %w", err)
	}
	if retired {
		s.shred() // an old key destroyed by a rotation
	}
	return out, nil
}

func (s *Store) leaseDevice(ctx context.Context, tx *sql.Tx, ps *leaseStmts, r store.LeaseRequest) (lease.Device, error) {
	var (
		d       lease.Device
		revoked sql.NullInt64
	)
	err := tx.StmtContext(ctx, ps.device).QueryRowContext(ctx, r.DeviceID, nullText(r.Nonce)).Scan(&revoked, &d.NonceSeen, &d.Lost)
	if errors.Is(err, sql.ErrNoRows) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	d.Known, d.RevokedAt = true, fromNull(revoked)
	cmds, err := readLiveCommands(ctx, tx.StmtContext(ctx, ps.commands), r.DeviceID)
	if err != nil {
		return d, err
	}
	d.Wipe, d.Locked = store.WipeRequested(cmds), store.Locked(cmds)
	rows, err := tx.StmtContext(ctx, ps.keys).QueryContext(ctx, r.DeviceID)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k     lease.Key
			state string
		)
		if err := rows.Scan(&k.ID, &k.Bytes, &state, &k.Destroyed); err != nil {
			return d, err
		}
		if err := lease.Open(s.sealer, r.DeviceID, &k); lease.Failed(err) {
			d.KeyErr = err // this device's request fails, not the batch
		} else if err != nil {
			return d, err
		}
		if state == store.KeyCurrent {
			d.Current = &k
		} else {
			d.Next = &k
		}
	}
	return d, rows.Err()
}

func (s *Store) writeLease(ctx context.Context, tx *sql.Tx, ps *leaseStmts, dec *lease.Decision) error {
	res := &dec.Result
	if res.Outcome != store.LeaseServed && res.Outcome != store.LeaseRefused {
		return nil
	}
	rec := &res.Record
	at := micros(rec.At)
	if rec.Nonce != "" {
		if _, err := tx.StmtContext(ctx, ps.nonce).ExecContext(ctx, rec.DeviceID, rec.Nonce, at); err != nil {
			return err
		}
	}
	if res.Outcome == store.LeaseRefused {
		last, err := scanLease(tx.StmtContext(ctx, ps.latest).QueryRowContext(ctx, rec.DeviceID))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if lease.Folds(last, *rec) {
			*rec = lease.Fold(last, *rec)
			_, err := tx.StmtContext(ctx, ps.fold).ExecContext(ctx, micros(rec.LastAt), rec.ID)
			return err
		}
	}
	if k := dec.Create; k != nil {
		sealed, err := lease.Seal(s.sealer, rec.DeviceID, k.ID, k.Bytes)
		if err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, ps.create).ExecContext(ctx, k.ID, rec.DeviceID, sealed, store.KeyCurrent, at); err != nil {
			return err
		}
	}
	if dec.Promote {
		if _, err := tx.StmtContext(ctx, ps.retire).ExecContext(ctx, at, rec.DeviceID); err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, ps.promote).ExecContext(ctx, rec.DeviceID, rec.KeyID); err != nil {
			return err
		}
	}
	if err := tx.StmtContext(ctx, ps.log).QueryRowContext(ctx, rec.DeviceID, at, at, rec.Requests, rec.Source, rec.Kind, rec.KeyID,
		rec.NextKeyID, nullMicros(rec.Until), rec.Window.Microseconds(), nullText(rec.Nonce), nullMicros(rec.AgentTime),
		rec.Refused).Scan(&rec.ID); err != nil {
		return err
	}
	if res.Outcome == store.LeaseServed {
		if _, err := tx.StmtContext(ctx, ps.served).ExecContext(ctx, at, micros(rec.Until), rec.DeviceID); err != nil {
			return err
		}
	}
	return nil
}

// RotateLeaseKey makes a next key in one IMMEDIATE transaction, so that
// no lease served at the same moment sees half of it.
func (s *Store) RotateLeaseKey(ctx context.Context, deviceID string, at time.Time) (store.LeaseKey, error) {
	if err := check.LeaseTime(at); err != nil {
		return store.LeaseKey{}, err
	}
	if check.Text("device ID", deviceID) != nil {
		return store.LeaseKey{}, fmt.Errorf("rotate the lease key of device %q: %w", deviceID, store.ErrNotFound)
	}
	fail := func(err error) (store.LeaseKey, error) {
		return store.LeaseKey{}, fmt.Errorf("rotate the lease key of device %q: %w", deviceID, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var known bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM devices WHERE id = ?)`, deviceID).Scan(&known); err != nil {
		return fail(err)
	}
	if !known {
		return fail(store.ErrNotFound)
	}
	var current, next, destroyed bool
	if err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM lease_keys WHERE device_id = ?1 AND state = 'current'),
		EXISTS (SELECT 1 FROM lease_keys WHERE device_id = ?1 AND state = 'next'),
		EXISTS (SELECT 1 FROM lease_keys WHERE device_id = ?1 AND state = 'current' AND destroyed_at IS NOT NULL)`,
		deviceID).Scan(&current, &next, &destroyed); err != nil {
		return fail(err)
	}
	if err := lease.Rotation(current, next, destroyed); err != nil {
		return fail(err)
	}
	k := store.LeaseKey{ID: store.NewLeaseKeyID(), DeviceID: deviceID, State: store.KeyNext, CreatedAt: check.UTC(at)}
	sealed, err := lease.Seal(s.sealer, deviceID, k.ID, store.NewLeaseKey())
	if err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO lease_keys (id, device_id, key_bytes, state, created_at) VALUES (?, ?, ?, ?, ?)`,
		k.ID, deviceID, sealed, k.State, micros(k.CreatedAt)); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return k, nil
}

func (s *Store) LeaseKeys(ctx context.Context, deviceID string) ([]store.LeaseKey, error) {
	out := []store.LeaseKey{}
	if check.Text("device ID", deviceID) != nil {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, state, created_at, retired_at, destroyed_at FROM lease_keys
		WHERE device_id = ? ORDER BY created_at, id`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("lease keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		k := store.LeaseKey{DeviceID: deviceID}
		var (
			created            int64
			retired, destroyed sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.State, &created, &retired, &destroyed); err != nil {
			return nil, fmt.Errorf("lease keys: %w", err)
		}
		k.CreatedAt, k.RetiredAt, k.DestroyedAt = fromMicros(created), fromNull(retired), fromNull(destroyed)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lease keys: %w", err)
	}
	return out, nil
}

const leaseCols = `id, device_id, at, last_at, requests, source, kind, key_id, next_key_id, valid_until, offline_window, nonce,
	agent_time, refused`

func scanLease(sc interface{ Scan(...any) error }, more ...any) (store.LeaseRecord, error) {
	var (
		r                store.LeaseRecord
		at, last, window int64
		until, agent     sql.NullInt64
		nonce            sql.NullString
	)
	if err := sc.Scan(append(more, &r.ID, &r.DeviceID, &at, &last, &r.Requests, &r.Source, &r.Kind, &r.KeyID, &r.NextKeyID,
		&until, &window, &nonce, &agent, &r.Refused)...); err != nil {
		return r, err
	}
	r.At, r.LastAt, r.Until, r.AgentTime = fromMicros(at), fromMicros(last), fromNull(until), fromNull(agent)
	r.Window, r.Nonce = time.Duration(window)*time.Microsecond, nonce.String
	return r, nil
}

func collectLeases(rows *sql.Rows, what string) ([]store.LeaseRecord, error) {
	defer rows.Close()
	out := []store.LeaseRecord{}
	for rows.Next() {
		r, err := scanLease(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Leases returns a device's lease log in [from, to), newest first (of
// the same time, the last logged first).
func (s *Store) Leases(ctx context.Context, deviceID string, from, to time.Time, limit int) ([]store.LeaseRecord, error) {
	if check.Text("device ID", deviceID) != nil {
		return []store.LeaseRecord{}, nil
	}
	n := int64(limit)
	if limit <= 0 {
		n = -1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+leaseCols+` FROM lease_log WHERE device_id = ? AND last_at >= ? AND at < ?
		ORDER BY at DESC, id DESC LIMIT ?`, deviceID, micros(check.Bound(from)), micros(check.Bound(to)), n)
	if err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	return collectLeases(rows, "leases")
}

// LeaseEvidence reads the device's whole lease log in one read
// transaction, so from one snapshot: each answer is one indexed lookup or
// aggregate, however long the log.
func (s *Store) LeaseEvidence(ctx context.Context, deviceID string, t time.Time) (store.LeaseEvidence, error) {
	ev := store.LeaseEvidence{RefusedAfter: map[string]int64{}}
	if check.Text("device ID", deviceID) != nil {
		return ev, nil
	}
	fail := func(err error) (store.LeaseEvidence, error) {
		return store.LeaseEvidence{}, fmt.Errorf("lease evidence at %v: %w", t, err)
	}
	at := micros(check.Bound(t))
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	one := func(into *store.LeaseRecord, where, order string) error {
		r, err := scanLease(tx.QueryRowContext(ctx, `SELECT `+leaseCols+` FROM lease_log WHERE device_id = ?1 AND `+where+
			` ORDER BY `+order+` LIMIT 1`, deviceID, at))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		*into = r
		return err
	}
	for _, q := range []struct {
		into         *store.LeaseRecord
		where, order string
	}{
		{&ev.Before, `refused = '' AND at <= ?2`, `at DESC, id DESC`},
		{&ev.FirstAfter, `refused = '' AND at > ?2`, `at, id`},
		{&ev.LastAfter, `refused = '' AND at > ?2`, `at DESC, id DESC`},
		{&ev.FirstRefused, `refused <> '' AND last_at > ?2`, `at, id`},
	} {
		if err := one(q.into, q.where, q.order); err != nil {
			return fail(err)
		}
	}
	var until sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(kind <> 'renew'), 0), max(valid_until) FROM lease_log
		WHERE device_id = ? AND refused = '' AND at > ?`, deviceID, at).Scan(&ev.ServedAfter, &ev.KeysAfter, &until); err != nil {
		return fail(err)
	}
	ev.UntilAfter = fromNull(until)
	// A run that began at or before t counts once: its last request was
	// after t.
	rows, err := tx.QueryContext(ctx, `SELECT refused, sum(CASE WHEN at > ?2 THEN requests ELSE 1 END), max(at <= ?2)
		FROM lease_log WHERE device_id = ?1 AND refused <> '' AND last_at > ?2 GROUP BY refused`, deviceID, at)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			why      string
			n        int64
			straddle bool
		)
		if err := rows.Scan(&why, &n, &straddle); err != nil {
			return fail(err)
		}
		ev.RefusedAfter[why], ev.RefusedAtLeast = n, ev.RefusedAtLeast || straddle
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return ev, nil
}

// pendingCommands selects the device ?1's commands pending at ?2, in the
// order requested, at most ?3.
const pendingCommands = `SELECT ` + commandCols + ` FROM commands WHERE device_id = ?1 AND result = ''
	AND cancelled_at IS NULL AND (expires_at IS NULL OR expires_at > ?2) ORDER BY seq LIMIT ?3`

// DeliverCommands reads the pending commands on a reader; only if one is
// not yet delivered does it take the writer, to mark them delivered and
// read them again in one transaction (a cancellation may have come in
// between).
func (s *Store) DeliverCommands(ctx context.Context, deviceID string, at time.Time, limit int) ([]store.Command, error) {
	if err := check.LeaseTime(at); err != nil {
		return nil, err
	}
	if check.Text("device ID", deviceID) != nil || limit <= 0 {
		return []store.Command{}, nil
	}
	at = check.UTC(at)
	rows, err := s.r.QueryContext(ctx, pendingCommands, deviceID, micros(at), limit)
	if err != nil {
		return nil, fmt.Errorf("deliver commands: %w", err)
	}
	cs, err := collectCommands(rows, "deliver commands")
	if err != nil {
		return nil, err
	}
	if !lease.Undelivered(cs) {
		return cs, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("deliver commands: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE commands SET delivered_at = ?2 WHERE delivered_at IS NULL AND seq IN
		(SELECT seq FROM commands WHERE device_id = ?1 AND result = '' AND cancelled_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)
		ORDER BY seq LIMIT ?3)`, deviceID, micros(at), limit); err != nil {
		return nil, fmt.Errorf("deliver commands: %w", err)
	}
	if rows, err = tx.QueryContext(ctx, pendingCommands, deviceID, micros(at), limit); err != nil {
		return nil, fmt.Errorf("deliver commands: %w", err)
	}
	if cs, err = collectCommands(rows, "deliver commands"); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("deliver commands: %w", err)
	}
	return cs, nil
}
