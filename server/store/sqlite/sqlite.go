package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	sqlitedrv "modernc.org/sqlite" // and the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
	"github.com/casekeep/casekeep/server/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// The connection parameters (see the package documentation for why).
const (
	// secure_delete: deleted and overwritten content (a destroyed lease
	// key) is zeroed in the database file, not left in free space.
	common = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=cache_size(-32768)&_pragma=temp_store(MEMORY)&_pragma=secure_delete(1)"
	// The writer never checkpoints itself (wal_autocheckpoint(0)): copying
	// the WAL back into a large database file would stall ingest for
	// hundreds of milliseconds. The checkpointer connection does it, in
	// the background.
	writerParams       = common + "&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(67108864)&_txlock=immediate"
	checkpointerParams = common + "&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	readerParams       = common + "&_query_only=1"
)

// Checkpointing: a passive checkpoint (which never blocks the writer) every
// checkpointEvery; if the WAL still holds more than maxWALFrames frames not
// yet copied back (the checkpointer cannot keep up), a blocking one, so the
// WAL stays bounded.
const (
	checkpointEvery = 250 * time.Millisecond
	maxWALFrames    = 65536 // 256 MiB of 4 KiB pages
)

// Store is a [store.Store] in one SQLite database file.
type Store struct {
	w, r      *sql.DB // one writer connection; a pool of readers
	c         *sql.DB // the checkpointer's connection
	stmts     stmts
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	// sealer seals the lease keys (UseKeySealer); shredded asks the
	// checkpointer for a TRUNCATE checkpoint after a key is destroyed.
	sealer   store.KeySealer
	shredded chan struct{}
	closeErr error
}

var _ store.Store = (*Store)(nil)

// Open opens the database file at path, creating it (mode 0600; an existing
// file keeps its mode) if it does not exist, and applies the schema
// migrations it lacks.
func Open(path string) (*Store, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	f.Close()
	uri, err := fileURI(path)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{}
	if s.w, err = sql.Open("sqlite", uri+"?"+writerParams); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.migrate(context.Background()); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if s.r, err = sql.Open("sqlite", uri+"?"+readerParams); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	if s.c, err = sql.Open("sqlite", uri+"?"+checkpointerParams); err != nil {
		s.w.Close()
		s.r.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.c.SetMaxOpenConns(1)
	s.c.SetMaxIdleConns(1)
	s.c.SetConnMaxLifetime(0)
	s.c.SetConnMaxIdleTime(0)
	s.stop, s.stopped, s.shredded = make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	go s.checkpoint()
	if err := s.stmts.prepare(s.w); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// UseKeySealer makes the store seal the lease keys it holds with k.
func (s *Store) UseKeySealer(k store.KeySealer) { s.sealer = k }

// shred asks the checkpointer for a TRUNCATE checkpoint soon.
func (s *Store) shred() {
	select {
	case s.shredded <- struct{}{}:
	default:
	}
}

// checkpoint copies the WAL back into the database file in the background
// until Close, and then once more in full (truncating the WAL).
func (s *Store) checkpoint() {
	defer close(s.stopped)
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			s.c.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			return
		case <-s.shredded:
			// A lease key was destroyed: secure_delete zeroed it in the
			// pages written, and a full checkpoint with the WAL truncated
			// leaves no old copy of those pages in the WAL file. Readers
			// may hold it off; then the next shred, or the next start, does it.
			s.c.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			continue
		case <-tick.C:
		}
		var busy, log, done int
		if err := s.c.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
			continue // the next tick tries again
		}
		if log-done > maxWALFrames {
			s.c.Exec(`PRAGMA wal_checkpoint(RESTART)`)
		}
	}
}

// fileURI returns a file: URI for path that SQLite and the driver read
// correctly whatever the path holds ('?', '#', '%', spaces, a Windows drive).
func fileURI(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return "file://" + (&url.URL{Path: p}).EscapedPath(), nil
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.List(migrations, "migrations")
	if err != nil {
		return err
	}
	tx, err := s.beginMigration(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return err
	}
	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return tx.Commit()
}

// beginMigration begins the migrations' transaction (BEGIN IMMEDIATE:
// other processes wait). Opening a new database while another process
// turns it to WAL can fail at once with SQLITE_BUSY, the busy timeout
// notwithstanding: that is tried again, for as long as the timeout.
func (s *Store) beginMigration(ctx context.Context) (*sql.Tx, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		tx, err := s.w.BeginTx(ctx, nil)
		var e *sqlitedrv.Error
		if err == nil || !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return tx, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close closes the database; later calls do nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stmts.close()
		var errR, errC error
		if s.r != nil {
			errR = s.r.Close()
		}
		if s.c != nil {
			close(s.stop)
			<-s.stopped
			errC = s.c.Close()
		}
		s.closeErr = errors.Join(s.w.Close(), errR, errC)
	})
	return s.closeErr
}

// Times are stored as microseconds since the Unix epoch, UTC.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNull(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	if err := check.Token(t); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO tokens (hash, uses, expires_at, created_at, note)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.Hash[:], t.Uses, micros(t.ExpiresAt), micros(t.CreatedAt), t.Note)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("create token: %w", store.ErrExists)
	}
	return nil
}

func (s *Store) UseToken(ctx context.Context, hash [32]byte, now time.Time) error {
	if err := check.Time("now", now); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE tokens SET uses = uses - 1
		WHERE hash = ? AND uses > 0 AND expires_at > ?`, hash[:], micros(now))
	if err != nil {
		return fmt.Errorf("use token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	// Why not? Uses only go down and expiry never moves, so this answer
	// is as good as one from inside the update.
	var uses, expires int64
	err = s.w.QueryRowContext(ctx, `SELECT uses, expires_at FROM tokens WHERE hash = ?`, hash[:]).Scan(&uses, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrTokenUnknown
	case err != nil:
		return fmt.Errorf("use token: %w", err)
	case expires <= micros(now):
		return store.ErrTokenExpired
	default:
		return store.ErrTokenUsedUp
	}
}

func (s *Store) CreateDevice(ctx context.Context, d store.Device) error {
	if err := check.Device(d); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO devices (id, signing_key, hostname, os, arch, serial, username,
		enrolled_agent_version, enrolled_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		d.ID, check.Bytes(d.SigningKey), d.Hostname, d.OS, d.Arch, d.Serial, d.User, d.AgentVersion,
		micros(d.EnrolledAt), nullMicros(d.RevokedAt))
	if err != nil {
		return fmt.Errorf("create device %q: %w", d.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("create device %q: %w", d.ID, store.ErrExists)
	}
	return nil
}

const deviceCols = `id, signing_key, hostname, os, arch, serial, username, enrolled_agent_version, enrolled_at,
	revoked_at, last_seq, last_hash, sent_at, received_at, agent_version, policy_version, policy_hash, recipient,
	sealed_files, sealed_bytes, plaintext_files, case_refs, disk_encryption, compliant, lease, offline_copy,
	agent_stopping, agent_stopping_at, unannounced_stops, last_unannounced_stop, lease_served_at, lease_until`

func scanDevice(sc interface{ Scan(...any) error }) (store.DeviceRow, error) {
	var (
		r                           store.DeviceRow
		enrolled                    int64
		revoked, sent, rcv          sql.NullInt64
		seq                         sql.NullInt64
		stoppingAt, lastUnannounced sql.NullInt64
		leaseAt, leaseUntil         sql.NullInt64
	)
	st, ag := &r.State, &r.Agent
	err := sc.Scan(&r.ID, &r.SigningKey, &r.Hostname, &r.OS, &r.Arch, &r.Serial, &r.User, &r.AgentVersion, &enrolled,
		&revoked, &seq, &st.Hash, &sent, &rcv, &st.AgentVersion, &st.PolicyVersion, &st.PolicyHash, &st.Recipient,
		&st.SealedFiles, &st.SealedBytes, &st.PlaintextFiles, &st.CaseRefs, &st.DiskEncryption, &st.Compliant, &st.Lease,
		&st.OfflineCopy, &ag.Stopping, &stoppingAt, &ag.UnannouncedStops, &lastUnannounced, &leaseAt, &leaseUntil)
	if err != nil {
		return r, err
	}
	r.SigningKey = check.Bytes(r.SigningKey)
	r.EnrolledAt, r.RevokedAt = fromMicros(enrolled), fromNull(revoked)
	ag.StoppingAt, ag.LastUnannouncedStop = fromNull(stoppingAt), fromNull(lastUnannounced)
	r.Lease = store.ServedLease{At: fromNull(leaseAt), Until: fromNull(leaseUntil)}
	if !seq.Valid {
		r.State, r.Agent = store.State{}, store.Agent{}
		return r, nil
	}
	st.Seq, st.SentAt, st.ReceivedAt = uint64(seq.Int64), fromNull(sent), fromNull(rcv)
	return r, nil
}

func (s *Store) Device(ctx context.Context, id string) (store.DeviceRow, error) {
	r, err := scanDevice(s.r.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.DeviceRow{}, fmt.Errorf("device %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.DeviceRow{}, fmt.Errorf("device %q: %w", id, err)
	}
	return r, nil
}

func (s *Store) Devices(ctx context.Context) ([]store.DeviceRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+deviceCols+` FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	defer rows.Close()
	out := []store.DeviceRow{}
	for rows.Next() {
		r, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("devices: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
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
	fail := func(err error) error { return fmt.Errorf("revoke device %q: %w", id, err) }
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE devices SET revoked_at = min(coalesce(revoked_at, ?2), ?2) WHERE id = ?1`,
		id, micros(at))
	if err != nil {
		return fail(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail(store.ErrNotFound)
	}
	res, err = tx.ExecContext(ctx, `UPDATE lease_keys SET key_bytes = x'', destroyed_at = ?1 WHERE device_id = ?2 AND destroyed_at IS NULL`,
		micros(at), id)
	if err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.shred() // the keys' bytes are gone; leave no copy in the WAL
	}
	return nil
}

func (s *Store) Gaps(ctx context.Context, deviceID string) ([]store.ChainGap, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, expected, got, detected_at FROM gaps
		WHERE device_id = ? ORDER BY seq`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("gaps: %w", err)
	}
	defer rows.Close()
	out := []store.ChainGap{}
	for rows.Next() {
		g := store.ChainGap{DeviceID: deviceID}
		var seq, at int64
		if err := rows.Scan(&seq, &g.Expected, &g.Got, &at); err != nil {
			return nil, fmt.Errorf("gaps: %w", err)
		}
		g.Seq, g.DetectedAt = uint64(seq), fromMicros(at)
		g.Expected, g.Got = check.Bytes(g.Expected), check.Bytes(g.Got)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gaps: %w", err)
	}
	return out, nil
}

func (s *Store) StateChanges(ctx context.Context, deviceID string, from, to time.Time) ([]store.StateChange, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT at, seq, hash, sent_at, agent_version, policy_version, policy_hash,
		recipient, sealed_files, sealed_bytes, plaintext_files, case_refs, disk_encryption, compliant, lease, offline_copy
		FROM state_changes WHERE device_id = ? AND at >= ? AND at < ? ORDER BY at, seq`,
		deviceID, micros(check.Bound(from)), micros(check.Bound(to)))
	if err != nil {
		return nil, fmt.Errorf("state changes: %w", err)
	}
	defer rows.Close()
	out := []store.StateChange{}
	for rows.Next() {
		c := store.StateChange{DeviceID: deviceID}
		st := &c.State
		var at, seq, sent int64
		if err := rows.Scan(&at, &seq, &st.Hash, &sent, &st.AgentVersion, &st.PolicyVersion, &st.PolicyHash,
			&st.Recipient, &st.SealedFiles, &st.SealedBytes, &st.PlaintextFiles, &st.CaseRefs, &st.DiskEncryption,
			&st.Compliant, &st.Lease, &st.OfflineCopy); err != nil {
			return nil, fmt.Errorf("state changes: %w", err)
		}
		c.At = fromMicros(at)
		st.Seq, st.Hash, st.SentAt, st.ReceivedAt = uint64(seq), check.Bytes(st.Hash), fromMicros(sent), c.At
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state changes: %w", err)
	}
	return out, nil
}

func (s *Store) Events(ctx context.Context, deviceID string, from, to time.Time) ([]store.Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT time, seq, type, case_ref, detail FROM events
		WHERE device_id = ? AND time >= ? AND time < ? ORDER BY time, seq, idx`,
		deviceID, micros(check.Bound(from)), micros(check.Bound(to)))
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	out := []store.Event{}
	for rows.Next() {
		e := store.Event{DeviceID: deviceID}
		var at, seq int64
		if err := rows.Scan(&at, &seq, &e.Type, &e.CaseRef, &e.Detail); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		e.Time, e.Seq = fromMicros(at), uint64(seq)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return out, nil
}

func (s *Store) Holdings(ctx context.Context, deviceID string) ([]store.Holding, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT h.ref, h.first_seen,
		CASE WHEN h.held = 1 THEN d.received_at ELSE h.last_seen END, h.files, h.held
		FROM holdings h JOIN devices d ON d.id = h.device_id
		WHERE h.device_id = ? ORDER BY h.ref`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("holdings: %w", err)
	}
	defer rows.Close()
	out := []store.Holding{}
	for rows.Next() {
		h := store.Holding{DeviceID: deviceID}
		var first, last int64
		if err := rows.Scan(&h.Ref, &first, &last, &h.Files, &h.Held); err != nil {
			return nil, fmt.Errorf("holdings: %w", err)
		}
		h.FirstSeen, h.LastSeen = fromMicros(first), fromMicros(last)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("holdings: %w", err)
	}
	return out, nil
}

func (s *Store) Heartbeat(ctx context.Context, deviceID string, seq uint64) ([]byte, error) {
	if check.Seq("seq", seq) != nil {
		return nil, fmt.Errorf("heartbeat %q %d: %w", deviceID, seq, store.ErrNotFound)
	}
	var body []byte
	err := s.r.QueryRowContext(ctx, `SELECT body FROM heartbeats WHERE device_id = ? AND seq = ?`,
		deviceID, int64(seq)).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("heartbeat %q %d: %w", deviceID, seq, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("heartbeat %q %d: %w", deviceID, seq, err)
	}
	return check.Bytes(body), nil
}

// pruneChunk is how many heartbeats PruneHeartbeats deletes per
// transaction, so that ingest never waits long behind it.
const pruneChunk = 5000

func (s *Store) PruneHeartbeats(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.w.ExecContext(ctx, `DELETE FROM heartbeats WHERE rowid IN
			(SELECT rowid FROM heartbeats WHERE received_at < ? LIMIT ?)`, micros(check.Bound(before)), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("prune heartbeats: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}

func (s *Store) SetPolicy(ctx context.Context, version int, bundle []byte) error {
	tx, err := s.w.BeginTx(ctx, nil) // immediate: serialised with every other writer
	if err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	defer tx.Rollback()
	var cur sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(version) FROM policies`).Scan(&cur); err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	if cur.Valid && int64(version) <= cur.Int64 {
		return fmt.Errorf("set policy version %d (stored: %d): %w", version, cur.Int64, store.ErrRollback)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO policies (version, bundle, stored_at) VALUES (?, ?, ?)`,
		version, check.Bytes(bundle), time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	return nil
}

func (s *Store) Policy(ctx context.Context) (int, []byte, error) {
	var (
		v      int
		bundle []byte
	)
	err := s.r.QueryRowContext(ctx, `SELECT version, bundle FROM policies ORDER BY version DESC LIMIT 1`).Scan(&v, &bundle)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, fmt.Errorf("policy: %w", store.ErrNotFound)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("policy: %w", err)
	}
	return v, check.Bytes(bundle), nil
}
