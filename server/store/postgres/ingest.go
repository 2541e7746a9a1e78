package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
	"github.com/casekeep/casekeep/server/store/internal/plan"
)

// lockDevices reads and locks the batch's devices, in ID order, so that
// two transactions locking overlapping sets cannot deadlock. A transaction
// that waited reads the row as the other left it.
const lockDevices = `SELECT id, revoked_at, last_seq, last_hash, agent_version, policy_version, policy_hash,
	recipient, sealed_files, sealed_bytes, plaintext_files, case_refs, disk_encryption, compliant, lease, offline_copy,
	received_at, holdings_sig, agent_stopping, agent_stopping_at, unannounced_stops, last_unannounced_stop
	FROM devices WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`

// The writes that are not plain appends, each taking its rows as arrays.
const (
	insertGaps = `INSERT INTO gaps (device_id, seq, expected, got, detected_at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[], $5::timestamptz[])`
	unholdHoldings = `UPDATE holdings SET held = false, last_seen = $2 WHERE device_id = $1 AND held`
	upsertHoldings = `INSERT INTO holdings (device_id, ref, first_seen, last_seen, files, held)
		SELECT d, r, t, t, f, true FROM unnest($2::text[], $3::bigint[]) AS u (r, f), (SELECT $1::text AS d, $4::timestamptz AS t) AS c
		ON CONFLICT (device_id, ref) DO UPDATE SET last_seen = excluded.last_seen, files = excluded.files, held = true`
	updateDevices = `UPDATE devices AS d SET last_seq = u.seq, last_hash = u.hash, sent_at = u.sent_at,
			received_at = u.received_at, agent_version = u.agent_version, policy_version = u.policy_version,
			policy_hash = u.policy_hash, recipient = u.recipient, sealed_files = u.sealed_files,
			sealed_bytes = u.sealed_bytes, plaintext_files = u.plaintext_files, case_refs = u.case_refs,
			disk_encryption = u.disk_encryption, compliant = u.compliant, lease = u.lease, holdings_sig = u.sig,
			agent_stopping = u.stopping, agent_stopping_at = u.stopping_at, unannounced_stops = u.unannounced,
			last_unannounced_stop = u.last_unannounced, offline_copy = u.offline_copy
		FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::timestamptz[], $5::timestamptz[], $6::text[],
			$7::bigint[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
			$14::text[], $15::boolean[], $16::text[], $17::bytea[], $18::text[], $19::timestamptz[], $20::bigint[],
			$21::timestamptz[], $22::text[])
			AS u (id, seq, hash, sent_at, received_at, agent_version, policy_version, policy_hash, recipient,
				sealed_files, sealed_bytes, plaintext_files, case_refs, disk_encryption, compliant, lease, sig,
				stopping, stopping_at, unannounced, last_unannounced, offline_copy)
		WHERE d.id = u.id`
	// ackCommand applies an acknowledgement to the device's command of
	// its ID and type, unless it is acknowledged or cancelled already.
	ackCommand = `UPDATE commands SET result = $1, reason = $2, acked_at = $3, ack_received_at = $4,
		delivered_at = coalesce(delivered_at, $4) WHERE id = $5 AND device_id = $6 AND type = $7 AND result = ''
		AND cancelled_at IS NULL`
	// destroyKeys destroys a device's lease keys if its command of that
	// ID is a wipe acknowledged done or failed.
	destroyKeys = `UPDATE lease_keys SET key_bytes = '', destroyed_at = $1 WHERE device_id = $2 AND destroyed_at IS NULL
		AND EXISTS (SELECT 1 FROM commands c WHERE c.id = $3 AND c.device_id = $2 AND c.type = 'wipe'
			AND c.result IN ('done', 'failed'))`
)

// Ingest stores heartbeats in one transaction: it reads and locks the
// batch's devices (SELECT ... FOR UPDATE, in ID order), appends the
// heartbeats, events and state changes with COPY, and sends the gaps,
// holdings and device states as one pipelined batch of array statements:
// six or seven round trips for the whole batch. A server process that
// ingests the same device at the same moment waits for the lock and then
// sees what this one stored. A batch with an invalid value (see
// [store.ErrInvalid]) stores nothing.
func (s *Store) Ingest(ctx context.Context, hbs []store.Heartbeat) ([]store.Outcome, error) {
	if len(hbs) == 0 {
		return []store.Outcome{}, nil
	}
	if err := check.Heartbeats(hbs); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	var p *plan.Plan
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		devs, err := lock(ctx, tx, plan.IDs(hbs))
		if err != nil {
			return err
		}
		p = plan.Make(hbs, devs)
		if len(p.Heartbeats) == 0 {
			return nil
		}
		if err := copies(ctx, tx, p); err != nil {
			return err
		}
		b := writes(p)
		br := tx.SendBatch(ctx, b)
		for range b.Len() {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return p.Outcomes, nil
}

func lock(ctx context.Context, tx pgx.Tx, ids []string) (map[string]*plan.Device, error) {
	rows, err := tx.Query(ctx, lockDevices, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	devs := make(map[string]*plan.Device, len(ids))
	for rows.Next() {
		var (
			id                          string
			d                           plan.Device
			revoked                     *time.Time
			seq                         *int64
			received                    *time.Time
			stoppingAt, lastUnannounced *time.Time
		)
		st := &d.State
		if err := rows.Scan(&id, &revoked, &seq, &st.Hash, &st.AgentVersion, &st.PolicyVersion, &st.PolicyHash,
			&st.Recipient, &st.SealedFiles, &st.SealedBytes, &st.PlaintextFiles, &st.CaseRefs, &st.DiskEncryption,
			&st.Compliant, &st.Lease, &st.OfflineCopy, &received, &d.HoldingsSig,
			&d.Agent.Stopping, &stoppingAt, &d.Agent.UnannouncedStops, &lastUnannounced); err != nil {
			return nil, err
		}
		d.Agent.StoppingAt, d.Agent.LastUnannouncedStop = orZero(stoppingAt), orZero(lastUnannounced)
		if received != nil {
			st.ReceivedAt = utc(*received)
		}
		if revoked != nil {
			d.RevokedAt = *revoked
		}
		if seq != nil {
			d.HasSeq, st.Seq = true, uint64(*seq)
		}
		devs[id] = &d
	}
	return devs, rows.Err()
}

func writes(p *plan.Plan) *pgx.Batch {
	b := &pgx.Batch{}
	if n := len(p.Gaps); n > 0 {
		dev, seq, exp, got, at := make([]string, n), make([]int64, n), make([][]byte, n), make([][]byte, n), make([]time.Time, n)
		for i, g := range p.Gaps {
			dev[i], seq[i], exp[i], got[i], at[i] = g.DeviceID, int64(g.Seq), g.Expected, g.Got, g.DetectedAt
		}
		b.Queue(insertGaps, dev, seq, exp, got, at)
	}
	// Holdings change only when a device's list does: in order, each change
	// releases what the device held, then holds its new list.
	for _, c := range p.Holdings {
		if !c.Prev.IsZero() {
			b.Queue(unholdHoldings, c.DeviceID, c.Prev)
		}
		if n := len(c.Refs); n > 0 {
			ref, files := make([]string, n), make([]int64, n)
			for i, r := range c.Refs {
				ref[i], files[i] = r.Ref, int64(r.Files)
			}
			b.Queue(upsertHoldings, c.DeviceID, ref, files, c.At)
		}
	}
	// Acknowledgements, in order, each after the writes above: a wipe's
	// destroys the keys only if it stood.
	for i := range p.Acks {
		a := &p.Acks[i]
		b.Queue(ackCommand, a.Result, a.Reason, a.At, a.ReceivedAt, a.ID, a.DeviceID, a.Type)
		if a.Destroys() {
			b.Queue(destroyKeys, a.ReceivedAt, a.DeviceID, a.ID)
		}
	}
	{
		n := len(p.Devices)
		id, rcv, sig := make([]string, n), make([]time.Time, n), make([][]byte, n)
		stopping, unannounced := make([]string, n), make([]int64, n)
		stoppingAt, lastUnannounced := make([]*time.Time, n), make([]*time.Time, n)
		c := newStates(n)
		for i := range p.Devices {
			u := &p.Devices[i]
			id[i], rcv[i], sig[i] = u.ID, u.State.ReceivedAt, u.HoldingsSig
			c.set(i, &u.State)
			stopping[i], stoppingAt[i] = u.Agent.Stopping, orNull(u.Agent.StoppingAt)
			unannounced[i], lastUnannounced[i] = u.Agent.UnannouncedStops, orNull(u.Agent.LastUnannouncedStop)
		}
		b.Queue(updateDevices, id, c.seq, c.hash, c.sent, rcv, c.agent, c.pver, c.phash, c.recipient, c.sealed,
			c.bytes, c.plain, c.refs, c.disk, c.compliant, c.lease, sig, stopping, stoppingAt, unannounced, lastUnannounced,
			c.offline)
	}
	return b
}

// states is store.State fields as column arrays.
type states struct {
	seq, pver, sealed, bytes, plain, refs []int64
	hash                                  [][]byte
	sent                                  []time.Time
	agent, phash, recipient, disk, lease  []string
	offline                               []string
	compliant                             []bool
}

func newStates(n int) *states {
	return &states{
		seq: make([]int64, n), pver: make([]int64, n), sealed: make([]int64, n), bytes: make([]int64, n),
		plain: make([]int64, n), refs: make([]int64, n), hash: make([][]byte, n), sent: make([]time.Time, n),
		agent: make([]string, n), phash: make([]string, n), recipient: make([]string, n), disk: make([]string, n),
		lease: make([]string, n), offline: make([]string, n), compliant: make([]bool, n),
	}
}

func (c *states) set(i int, s *store.State) {
	c.seq[i], c.pver[i], c.sealed[i], c.bytes[i] = int64(s.Seq), int64(s.PolicyVersion), s.SealedFiles, s.SealedBytes
	c.plain[i], c.refs[i], c.hash[i], c.sent[i] = s.PlaintextFiles, int64(s.CaseRefs), s.Hash, s.SentAt
	c.agent[i], c.phash[i], c.recipient[i], c.disk[i] = s.AgentVersion, s.PolicyHash, s.Recipient, s.DiskEncryption
	c.lease[i], c.compliant[i], c.offline[i] = s.Lease, s.Compliant, s.OfflineCopy
}

func copies(ctx context.Context, tx pgx.Tx, p *plan.Plan) error {
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"heartbeats"},
		[]string{"device_id", "seq", "received_at", "sent_at", "hash", "prev_hash", "body"},
		pgx.CopyFromSlice(len(p.Heartbeats), func(i int) ([]any, error) {
			h := &p.Heartbeats[i]
			return []any{h.DeviceID, int64(h.Seq), h.State.ReceivedAt, h.State.SentAt, h.Hash, h.PrevHash, h.Body}, nil
		})); err != nil {
		return err
	}
	if len(p.Events) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"},
			[]string{"device_id", "time", "seq", "idx", "type", "case_ref", "detail"},
			pgx.CopyFromSlice(len(p.Events), func(i int) ([]any, error) {
				e := &p.Events[i]
				return []any{e.DeviceID, e.Time, int64(e.Seq), int32(e.Idx), e.Type, e.CaseRef, e.Detail}, nil
			})); err != nil {
			return err
		}
	}
	if len(p.Changes) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"state_changes"},
			[]string{"device_id", "at", "seq", "hash", "sent_at", "agent_version", "policy_version", "policy_hash",
				"recipient", "sealed_files", "sealed_bytes", "plaintext_files", "case_refs", "disk_encryption",
				"compliant", "lease", "offline_copy"},
			pgx.CopyFromSlice(len(p.Changes), func(i int) ([]any, error) {
				c := &p.Changes[i]
				s := &c.State
				return []any{c.DeviceID, c.At, int64(s.Seq), s.Hash, s.SentAt, s.AgentVersion, int64(s.PolicyVersion),
					s.PolicyHash, s.Recipient, s.SealedFiles, s.SealedBytes, s.PlaintextFiles, int64(s.CaseRefs),
					s.DiskEncryption, s.Compliant, s.Lease, s.OfflineCopy}, nil
			})); err != nil {
			return err
		}
	}
	return nil
}

// orZero reads a nullable time column: NULL is the zero time.
func orZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return utc(*t)
}

// orNull writes a nullable time column: the zero time is NULL.
func orNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
