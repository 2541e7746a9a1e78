package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
	"github.com/casekeep/casekeep/server/store/internal/plan"
)

// stmts are Ingest's statements, prepared once on the writer connection.
type stmts struct {
	device, heartbeat, gap, change, event, unhold, holding, update, ack, destroy *sql.Stmt
	lease                                                                        leaseStmts
}

func (p *stmts) prepare(db *sql.DB) error {
	for _, s := range []struct {
		to  **sql.Stmt
		sql string
	}{
		{&p.device, `SELECT revoked_at, last_seq, last_hash, agent_version, policy_version, policy_hash, recipient,
			sealed_files, sealed_bytes, plaintext_files, case_refs, disk_encryption, compliant, lease, offline_copy,
			received_at, holdings_sig, agent_stopping, agent_stopping_at, unannounced_stops, last_unannounced_stop
			FROM devices WHERE id = ?`},
		{&p.heartbeat, `INSERT INTO heartbeats (device_id, seq, received_at, sent_at, hash, prev_hash, body)
			VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&p.gap, `INSERT INTO gaps (device_id, seq, expected, got, detected_at) VALUES (?, ?, ?, ?, ?)`},
		{&p.change, `INSERT INTO state_changes (device_id, at, seq, hash, sent_at, agent_version, policy_version,
			policy_hash, recipient, sealed_files, sealed_bytes, plaintext_files, case_refs, disk_encryption, compliant,
			lease, offline_copy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&p.event, `INSERT INTO events (device_id, time, seq, idx, type, case_ref, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&p.unhold, `UPDATE holdings SET held = 0, last_seen = ? WHERE device_id = ? AND held = 1`},
		{&p.holding, `INSERT INTO holdings (device_id, ref, first_seen, last_seen, files, held) VALUES (?, ?, ?, ?, ?, 1)
			ON CONFLICT (device_id, ref) DO UPDATE SET last_seen = excluded.last_seen, files = excluded.files, held = 1`},
		{&p.update, `UPDATE devices SET last_seq = ?, last_hash = ?, sent_at = ?, received_at = ?, agent_version = ?,
			policy_version = ?, policy_hash = ?, recipient = ?, sealed_files = ?, sealed_bytes = ?, plaintext_files = ?,
			case_refs = ?, disk_encryption = ?, compliant = ?, lease = ?, offline_copy = ?, holdings_sig = ?,
			agent_stopping = ?, agent_stopping_at = ?, unannounced_stops = ?, last_unannounced_stop = ? WHERE id = ?`},
		{&p.ack, ackCommand},
		{&p.destroy, destroyKeys},
	} {
		st, err := db.Prepare(s.sql)
		if err != nil {
			return err
		}
		*s.to = st
	}
	return p.lease.prepare(db)
}

func (p *stmts) close() {
	for _, s := range append([]*sql.Stmt{p.device, p.heartbeat, p.gap, p.change, p.event, p.unhold, p.holding, p.update,
		p.ack, p.destroy}, p.lease.all()...) {
		if s != nil {
			s.Close()
		}
	}
}

// ackCommand applies an acknowledgement to the device's command of its ID
// and type, unless it is acknowledged or cancelled already.
const ackCommand = `UPDATE commands SET result = ?1, reason = ?2, acked_at = ?3, ack_received_at = ?4,
	delivered_at = coalesce(delivered_at, ?4) WHERE id = ?5 AND device_id = ?6 AND type = ?7 AND result = '' AND cancelled_at IS NULL`

// destroyKeys destroys a device's lease keys if its command of that ID is
// a wipe acknowledged done or failed.
const destroyKeys = `UPDATE lease_keys SET key_bytes = x'', destroyed_at = ?1 WHERE device_id = ?2 AND destroyed_at IS NULL
	AND EXISTS (SELECT 1 FROM commands c WHERE c.id = ?3 AND c.device_id = ?2 AND c.type = 'wipe' AND c.result IN ('done', 'failed'))`

// Ingest stores heartbeats in one IMMEDIATE transaction on the one writer
// connection: it holds the database's write lock from the moment it reads
// the devices, so no other writer, in this process or another, can store a
// heartbeat in between. A batch with an invalid value (see
// [store.ErrInvalid]) stores nothing.
func (s *Store) Ingest(ctx context.Context, hbs []store.Heartbeat) ([]store.Outcome, error) {
	if len(hbs) == 0 {
		return []store.Outcome{}, nil
	}
	if err := check.Heartbeats(hbs); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	defer tx.Rollback()
	p, err := s.plan(ctx, tx, hbs)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if err := write(ctx, tx, &s.stmts, p); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	for i := range p.Acks {
		if p.Acks[i].Destroys() {
			s.shred() // a wipe done: the lease keys' bytes are gone; leave no copy in the WAL
			break
		}
	}
	return p.Outcomes, nil
}

func (s *Store) plan(ctx context.Context, tx *sql.Tx, hbs []store.Heartbeat) (*plan.Plan, error) {
	sel := tx.StmtContext(ctx, s.stmts.device)
	devs := make(map[string]*plan.Device)
	for _, id := range plan.IDs(hbs) {
		var (
			d                           plan.Device
			revoked                     sql.NullInt64
			seq                         sql.NullInt64
			received                    sql.NullInt64
			stoppingAt, lastUnannounced sql.NullInt64
		)
		st := &d.State
		err := sel.QueryRowContext(ctx, id).Scan(&revoked, &seq, &st.Hash, &st.AgentVersion, &st.PolicyVersion,
			&st.PolicyHash, &st.Recipient, &st.SealedFiles, &st.SealedBytes, &st.PlaintextFiles, &st.CaseRefs,
			&st.DiskEncryption, &st.Compliant, &st.Lease, &st.OfflineCopy, &received, &d.HoldingsSig,
			&d.Agent.Stopping, &stoppingAt, &d.Agent.UnannouncedStops, &lastUnannounced)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		d.RevokedAt = fromNull(revoked)
		d.HasSeq, st.Seq = seq.Valid, uint64(seq.Int64)
		st.ReceivedAt = fromNull(received)
		d.Agent.StoppingAt, d.Agent.LastUnannouncedStop = fromNull(stoppingAt), fromNull(lastUnannounced)
		devs[id] = &d
	}
	return plan.Make(hbs, devs), nil
}

func write(ctx context.Context, tx *sql.Tx, ps *stmts, p *plan.Plan) error {
	if len(p.Heartbeats) == 0 {
		return nil
	}
	st := tx.StmtContext(ctx, ps.heartbeat)
	for i := range p.Heartbeats {
		h := &p.Heartbeats[i]
		if _, err := st.ExecContext(ctx, h.DeviceID, int64(h.Seq), micros(h.State.ReceivedAt),
			micros(h.State.SentAt), h.Hash, h.PrevHash, h.Body); err != nil {
			return err
		}
	}
	if len(p.Gaps) > 0 {
		st = tx.StmtContext(ctx, ps.gap)
		for _, g := range p.Gaps {
			if _, err := st.ExecContext(ctx, g.DeviceID, int64(g.Seq), g.Expected, g.Got, micros(g.DetectedAt)); err != nil {
				return err
			}
		}
	}
	if len(p.Changes) > 0 {
		st = tx.StmtContext(ctx, ps.change)
		for i := range p.Changes {
			c := &p.Changes[i]
			s := &c.State
			if _, err := st.ExecContext(ctx, c.DeviceID, micros(c.At), int64(s.Seq), s.Hash, micros(s.SentAt),
				s.AgentVersion, s.PolicyVersion, s.PolicyHash, s.Recipient, s.SealedFiles, s.SealedBytes,
				s.PlaintextFiles, s.CaseRefs, s.DiskEncryption, s.Compliant, s.Lease, s.OfflineCopy); err != nil {
				return err
			}
		}
	}
	if len(p.Events) > 0 {
		st = tx.StmtContext(ctx, ps.event)
		for i := range p.Events {
			e := &p.Events[i]
			if _, err := st.ExecContext(ctx, e.DeviceID, micros(e.Time), int64(e.Seq), e.Idx, e.Type, e.CaseRef,
				e.Detail); err != nil {
				return err
			}
		}
	}
	if len(p.Holdings) > 0 {
		unhold, hold := tx.StmtContext(ctx, ps.unhold), tx.StmtContext(ctx, ps.holding)
		for _, c := range p.Holdings {
			if !c.Prev.IsZero() {
				if _, err := unhold.ExecContext(ctx, micros(c.Prev), c.DeviceID); err != nil {
					return err
				}
			}
			for _, r := range c.Refs {
				if _, err := hold.ExecContext(ctx, c.DeviceID, r.Ref, micros(c.At), micros(c.At), r.Files); err != nil {
					return err
				}
			}
		}
	}
	if len(p.Acks) > 0 {
		ack, destroy := tx.StmtContext(ctx, ps.ack), tx.StmtContext(ctx, ps.destroy)
		for i := range p.Acks {
			a := &p.Acks[i]
			rcv := micros(a.ReceivedAt)
			if _, err := ack.ExecContext(ctx, a.Result, a.Reason, micros(a.At), rcv, a.ID, a.DeviceID, a.Type); err != nil {
				return err
			}
			if a.Destroys() {
				if _, err := destroy.ExecContext(ctx, rcv, a.DeviceID, a.ID); err != nil {
					return err
				}
			}
		}
	}
	st = tx.StmtContext(ctx, ps.update)
	for _, u := range p.Devices {
		s := &u.State
		if _, err := st.ExecContext(ctx, int64(s.Seq), s.Hash, micros(s.SentAt), micros(s.ReceivedAt),
			s.AgentVersion, s.PolicyVersion, s.PolicyHash, s.Recipient, s.SealedFiles, s.SealedBytes,
			s.PlaintextFiles, s.CaseRefs, s.DiskEncryption, s.Compliant, s.Lease, s.OfflineCopy, u.HoldingsSig, u.Agent.Stopping,
			nullMicros(u.Agent.StoppingAt), u.Agent.UnannouncedStops, nullMicros(u.Agent.LastUnannouncedStop), u.ID); err != nil {
			return err
		}
	}
	return nil
}
