package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
	"github.com/casekeep/casekeep/server/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_xact_lock key that serialises schema
// migrations between servers starting at once ("casekeep" in ASCII).
const migrationLock = 0x636173656b656570

// Store is a [store.Store] in a PostgreSQL database.
type Store struct {
	pool      *pgxpool.Pool
	closeOnce sync.Once
	sealer    store.KeySealer // seals the lease keys (UseKeySealer)
}

// UseKeySealer makes the store seal the lease keys it holds with k.
func (s *Store) UseKeySealer(k store.KeySealer) { s.sealer = k }

var _ store.Store = (*Store)(nil)

// Open connects to the database dsn names (a URL or key=value string, as
// pgx reads it, pool settings such as pool_max_conns included) and applies
// the schema migrations it lacks.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.List(migrations, "migrations")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer NOT NULL PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		applied := map[int]bool{}
		for _, v := range versions {
			applied[int(v)] = true
		}
		for _, m := range ms {
			if applied[m.Version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())`,
				int32(m.Version), m.Name); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// Close closes the pool; later calls do nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

func utc(t time.Time) time.Time { return t.UTC() }

func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	if err := check.Token(t); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO tokens (hash, uses, expires_at, created_at, note)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		t.Hash[:], int64(t.Uses), check.UTC(t.ExpiresAt), check.UTC(t.CreatedAt), t.Note)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create token: %w", store.ErrExists)
	}
	return nil
}

func (s *Store) UseToken(ctx context.Context, hash [32]byte, now time.Time) error {
	if err := check.Time("now", now); err != nil {
		return err
	}
	now = check.UTC(now)
	// One conditional update: PostgreSQL re-checks the condition on the
	// row's latest version after waiting for its lock, so concurrent uses
	// never spend more than there are.
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET uses = uses - 1
		WHERE hash = $1 AND uses > 0 AND expires_at > $2`, hash[:], now)
	if err != nil {
		return fmt.Errorf("use token: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Why not? Uses only go down and expiry never moves, so this answer
	// is as good as one from inside the update.
	var expires time.Time
	err = s.pool.QueryRow(ctx, `SELECT expires_at FROM tokens WHERE hash = $1`, hash[:]).Scan(&expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrTokenUnknown
	case err != nil:
		return fmt.Errorf("use token: %w", err)
	case !expires.After(now):
		return store.ErrTokenExpired
	default:
		return store.ErrTokenUsedUp
	}
}

func (s *Store) CreateDevice(ctx context.Context, d store.Device) error {
	if err := check.Device(d); err != nil {
		return err
	}
	var revoked *time.Time
	if !d.RevokedAt.IsZero() {
		r := check.UTC(d.RevokedAt)
		revoked = &r
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO devices (id, signing_key, hostname, os, arch, serial, username,
		enrolled_agent_version, enrolled_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT DO NOTHING`,
		d.ID, check.Bytes(d.SigningKey), d.Hostname, d.OS, d.Arch, d.Serial, d.User, d.AgentVersion,
		check.UTC(d.EnrolledAt), revoked)
	if err != nil {
		return fmt.Errorf("create device %q: %w", d.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create device %q: %w", d.ID, store.ErrExists)
	}
	return nil
}

const deviceCols = `id, signing_key, hostname, os, arch, serial, username, enrolled_agent_version, enrolled_at,
	revoked_at, last_seq, last_hash, sent_at, received_at, agent_version, policy_version, policy_hash, recipient,
	sealed_files, sealed_bytes, plaintext_files, case_refs, disk_encryption, compliant, lease, offline_copy,
	agent_stopping, agent_stopping_at, unannounced_stops, last_unannounced_stop, lease_served_at, lease_until`

func scanDevice(row pgx.Row) (store.DeviceRow, error) {
	var (
		r                           store.DeviceRow
		revoked                     *time.Time
		seq                         *int64
		stoppingAt, lastUnannounced *time.Time
		leaseAt, leaseUntil         *time.Time
	)
	st, ag := &r.State, &r.Agent
	err := row.Scan(&r.ID, &r.SigningKey, &r.Hostname, &r.OS, &r.Arch, &r.Serial, &r.User, &r.AgentVersion,
		&r.EnrolledAt, &revoked, &seq, &st.Hash, &st.SentAt, &st.ReceivedAt, &st.AgentVersion, &st.PolicyVersion,
		&st.PolicyHash, &st.Recipient, &st.SealedFiles, &st.SealedBytes, &st.PlaintextFiles, &st.CaseRefs,
		&st.DiskEncryption, &st.Compliant, &st.Lease, &st.OfflineCopy, &ag.Stopping, &stoppingAt, &ag.UnannouncedStops,
		&lastUnannounced, &leaseAt, &leaseUntil)
	if err != nil {
		return r, err
	}
	r.Lease = store.ServedLease{At: orZero(leaseAt), Until: orZero(leaseUntil)}
	r.SigningKey = check.Bytes(r.SigningKey)
	r.EnrolledAt = utc(r.EnrolledAt)
	if revoked != nil {
		r.RevokedAt = utc(*revoked)
	}
	ag.StoppingAt, ag.LastUnannouncedStop = orZero(stoppingAt), orZero(lastUnannounced)
	if seq == nil {
		r.State, r.Agent = store.State{}, store.Agent{}
		return r, nil
	}
	st.Seq, st.SentAt, st.ReceivedAt = uint64(*seq), utc(st.SentAt), utc(st.ReceivedAt)
	return r, nil
}

func (s *Store) Device(ctx context.Context, id string) (store.DeviceRow, error) {
	r, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.DeviceRow{}, fmt.Errorf("device %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.DeviceRow{}, fmt.Errorf("device %q: %w", id, err)
	}
	return r, nil
}

func (s *Store) Devices(ctx context.Context) ([]store.DeviceRow, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+deviceCols+` FROM devices ORDER BY id`)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.DeviceRow, error) { return scanDevice(row) })
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return out, nil
}

// RevokeDevice marks a device revoked from at on; revoking it again keeps
// the earlier time, so a revocation is never narrowed.
func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	if err := check.Time("revocation time", at); err != nil {
		return err
	}
	if at.IsZero() {
		return fmt.Errorf("%w: zero revocation time", store.ErrInvalid)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE devices SET revoked_at = LEAST(revoked_at, $2) WHERE id = $1`, id, check.UTC(at))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		_, err = tx.Exec(ctx, `UPDATE lease_keys SET key_bytes = '', destroyed_at = $1 WHERE device_id = $2 AND destroyed_at IS NULL`,
			check.UTC(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke device %q: %w", id, err)
	}
	return nil
}

func (s *Store) Gaps(ctx context.Context, deviceID string) ([]store.ChainGap, error) {
	rows, _ := s.pool.Query(ctx, `SELECT seq, expected, got, detected_at FROM gaps
		WHERE device_id = $1 ORDER BY seq`, deviceID)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.ChainGap, error) {
		g := store.ChainGap{DeviceID: deviceID}
		var seq int64
		err := row.Scan(&seq, &g.Expected, &g.Got, &g.DetectedAt)
		g.Seq, g.DetectedAt = uint64(seq), utc(g.DetectedAt)
		g.Expected, g.Got = check.Bytes(g.Expected), check.Bytes(g.Got)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("gaps: %w", err)
	}
	return out, nil
}

func (s *Store) StateChanges(ctx context.Context, deviceID string, from, to time.Time) ([]store.StateChange, error) {
	rows, _ := s.pool.Query(ctx, `SELECT at, seq, hash, sent_at, agent_version, policy_version, policy_hash,
		recipient, sealed_files, sealed_bytes, plaintext_files, case_refs, disk_encryption, compliant, lease, offline_copy
		FROM state_changes WHERE device_id = $1 AND at >= $2 AND at < $3 ORDER BY at, seq`,
		deviceID, check.Bound(from), check.Bound(to))
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.StateChange, error) {
		c := store.StateChange{DeviceID: deviceID}
		st := &c.State
		var seq int64
		err := row.Scan(&c.At, &seq, &st.Hash, &st.SentAt, &st.AgentVersion, &st.PolicyVersion, &st.PolicyHash,
			&st.Recipient, &st.SealedFiles, &st.SealedBytes, &st.PlaintextFiles, &st.CaseRefs, &st.DiskEncryption,
			&st.Compliant, &st.Lease, &st.OfflineCopy)
		c.At = utc(c.At)
		st.Seq, st.Hash, st.SentAt, st.ReceivedAt = uint64(seq), check.Bytes(st.Hash), utc(st.SentAt), c.At
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("state changes: %w", err)
	}
	return out, nil
}

func (s *Store) Events(ctx context.Context, deviceID string, from, to time.Time) ([]store.Event, error) {
	rows, _ := s.pool.Query(ctx, `SELECT time, seq, type, case_ref, detail FROM events
		WHERE device_id = $1 AND time >= $2 AND time < $3 ORDER BY time, seq, idx`,
		deviceID, check.Bound(from), check.Bound(to))
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Event, error) {
		e := store.Event{DeviceID: deviceID}
		var seq int64
		err := row.Scan(&e.Time, &seq, &e.Type, &e.CaseRef, &e.Detail)
		e.Time, e.Seq = utc(e.Time), uint64(seq)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return out, nil
}

func (s *Store) Holdings(ctx context.Context, deviceID string) ([]store.Holding, error) {
	rows, _ := s.pool.Query(ctx, `SELECT h.ref, h.first_seen,
		CASE WHEN h.held THEN d.received_at ELSE h.last_seen END, h.files, h.held
		FROM holdings h JOIN devices d ON d.id = h.device_id
		WHERE h.device_id = $1 ORDER BY h.ref`, deviceID)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Holding, error) {
		h := store.Holding{DeviceID: deviceID}
		err := row.Scan(&h.Ref, &h.FirstSeen, &h.LastSeen, &h.Files, &h.Held)
		h.FirstSeen, h.LastSeen = utc(h.FirstSeen), utc(h.LastSeen)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("holdings: %w", err)
	}
	return out, nil
}

func (s *Store) Heartbeat(ctx context.Context, deviceID string, seq uint64) ([]byte, error) {
	if check.Seq("seq", seq) != nil {
		return nil, fmt.Errorf("heartbeat %q %d: %w", deviceID, seq, store.ErrNotFound)
	}
	var body []byte
	err := s.pool.QueryRow(ctx, `SELECT body FROM heartbeats WHERE device_id = $1 AND seq = $2`,
		deviceID, int64(seq)).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("heartbeat %q %d: %w", deviceID, seq, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("heartbeat %q %d: %w", deviceID, seq, err)
	}
	return check.Bytes(body), nil
}

// pruneChunk is how many heartbeats PruneHeartbeats deletes per
// statement, so that no transaction grows large.
const pruneChunk = 10000

func (s *Store) PruneHeartbeats(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM heartbeats WHERE (device_id, seq) IN
			(SELECT device_id, seq FROM heartbeats WHERE received_at < $1 LIMIT $2)`, check.Bound(before), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("prune heartbeats: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneChunk {
			return total, nil
		}
	}
}

func (s *Store) SetPolicy(ctx context.Context, version int, bundle []byte) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// SHARE ROW EXCLUSIVE conflicts with itself and with writes, not
		// with reads: SetPolicy calls take turns, Policy never waits.
		if _, err := tx.Exec(ctx, `LOCK TABLE policies IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var cur *int64
		if err := tx.QueryRow(ctx, `SELECT max(version) FROM policies`).Scan(&cur); err != nil {
			return err
		}
		if cur != nil && int64(version) <= *cur {
			return fmt.Errorf("version %d (stored: %d): %w", version, *cur, store.ErrRollback)
		}
		_, err := tx.Exec(ctx, `INSERT INTO policies (version, bundle, stored_at) VALUES ($1, $2, $3)`,
			int64(version), check.Bytes(bundle), check.UTC(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	return nil
}

func (s *Store) Policy(ctx context.Context) (int, []byte, error) {
	var (
		v      int64
		bundle []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT version, bundle FROM policies ORDER BY version DESC LIMIT 1`).Scan(&v, &bundle)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, fmt.Errorf("policy: %w", store.ErrNotFound)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("policy: %w", err)
	}
	return int(v), check.Bytes(bundle), nil
}
