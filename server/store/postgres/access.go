package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
)

// foreignKeyViolation is PostgreSQL's SQLSTATE for a row whose user or
// device does not exist.
const foreignKeyViolation = "23503"

func isForeignKey(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == foreignKeyViolation
}

// nullTime returns t in stored form, or nil (NULL) for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := check.UTC(t)
	return &u
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return utc(*t)
}

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := check.User(u); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO users (name, role, created_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, u.Name, string(u.Role), check.UTC(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create user %q: %w", u.Name, store.ErrExists)
	}
	return nil
}

func scanUser(row pgx.Row) (store.User, error) {
	var (
		u    store.User
		role string
	)
	if err := row.Scan(&u.Name, &role, &u.CreatedAt); err != nil {
		return u, err
	}
	u.Role, u.CreatedAt = store.Role(role), utc(u.CreatedAt)
	return u, nil
}

// User returns one user; a name no user can have (see [store.ErrInvalid])
// is not found.
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	if check.Text("user name", name) != nil {
		return store.User{}, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT name, role, created_at FROM users WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("user %q: %w", name, err)
	}
	return u, nil
}

func (s *Store) Users(ctx context.Context) ([]store.User, error) {
	rows, _ := s.pool.Query(ctx, `SELECT name, role, created_at FROM users ORDER BY name`)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.User, error) { return scanUser(row) })
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return out, nil
}

// CreateAPIToken stores a token. A taken ID or hash is found before a
// missing user (ON CONFLICT DO NOTHING inserts nothing to check): such a
// token is refused with ErrExists.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	if err := check.APIToken(t); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO api_tokens (id, hash, username, created_at, revoked_at, note)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		t.ID, t.Hash[:], t.User, check.UTC(t.CreatedAt), nullTime(t.RevokedAt), t.Note)
	if isForeignKey(err) {
		return fmt.Errorf("create API token %q: user %q: %w", t.ID, t.User, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create API token %q: %w", t.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create API token %q: %w", t.ID, store.ErrExists)
	}
	return nil
}

const apiTokenCols = `t.id, t.hash, t.username, t.created_at, t.revoked_at, t.note`

func scanAPIToken(row pgx.Row, more ...any) (store.APIToken, error) {
	var (
		t       store.APIToken
		hash    []byte
		revoked *time.Time
	)
	if err := row.Scan(append([]any{&t.ID, &hash, &t.User, &t.CreatedAt, &revoked, &t.Note}, more...)...); err != nil {
		return t, err
	}
	if len(hash) != len(t.Hash) {
		return t, fmt.Errorf("API token %q: stored hash has %d bytes", t.ID, len(hash))
	}
	copy(t.Hash[:], hash)
	t.CreatedAt, t.RevokedAt = utc(t.CreatedAt), fromNullTime(revoked)
	return t, nil
}

func (s *Store) APIToken(ctx context.Context, hash [32]byte) (store.APIToken, store.User, error) {
	var (
		u    store.User
		role string
	)
	t, err := scanAPIToken(s.pool.QueryRow(ctx, `SELECT `+apiTokenCols+`, u.name, u.role, u.created_at
		FROM api_tokens t JOIN users u ON u.name = t.username WHERE t.hash = $1`, hash[:]), &u.Name, &role, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.APIToken{}, store.User{}, fmt.Errorf("API token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.APIToken{}, store.User{}, fmt.Errorf("API token: %w", err)
	}
	u.Role, u.CreatedAt = store.Role(role), utc(u.CreatedAt)
	return t, u, nil
}

func (s *Store) APITokens(ctx context.Context, user string) ([]store.APIToken, error) {
	if check.Text("user name", user) != nil {
		return []store.APIToken{}, nil
	}
	q, args := `SELECT `+apiTokenCols+` FROM api_tokens t ORDER BY t.id`, []any(nil)
	if user != "" {
		q, args = `SELECT `+apiTokenCols+` FROM api_tokens t WHERE t.username = $1 ORDER BY t.id`, []any{user}
	}
	rows, _ := s.pool.Query(ctx, q, args...)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.APIToken, error) { return scanAPIToken(row) })
	if err != nil {
		return nil, fmt.Errorf("API tokens: %w", err)
	}
	return out, nil
}

// RevokeAPIToken revokes a token from at on. A token already revoked keeps
// its revocation time, earlier or later than at: the time it was first
// revoked is a fact of the record.
func (s *Store) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	if err := check.Time("revocation time", at); err != nil {
		return err
	}
	if at.IsZero() {
		return fmt.Errorf("%w: zero revocation time", store.ErrInvalid)
	}
	if check.Text("API token ID", id) != nil {
		return fmt.Errorf("revoke API token %q: %w", id, store.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`,
		id, check.UTC(at))
	if err != nil {
		return fmt.Errorf("revoke API token %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke API token %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// Audit appends an entry and returns it as stored: with its ID, and its
// time in UTC truncated to the microsecond.
func (s *Store) Audit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	if err := check.AuditEntry(e); err != nil {
		return store.AuditEntry{}, err
	}
	e.Time = check.UTC(e.Time)
	if err := s.pool.QueryRow(ctx, `INSERT INTO audit_log (time, actor, action, target, detail)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, e.Time, e.Actor, e.Action, e.Target, e.Detail).Scan(&e.ID); err != nil {
		return store.AuditEntry{}, fmt.Errorf("audit: %w", err)
	}
	return e, nil
}

// AuditLog returns entries with Time in [from, to), newest first (entries
// of the same time by ID, highest first), at most limit of them.
func (s *Store) AuditLog(ctx context.Context, from, to time.Time, limit int) ([]store.AuditEntry, error) {
	var n *int64 // LIMIT NULL: no limit
	if limit > 0 {
		l := int64(limit)
		n = &l
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, time, actor, action, target, detail FROM audit_log
		WHERE time >= $1 AND time < $2 ORDER BY time DESC, id DESC LIMIT $3`,
		check.Bound(from), check.Bound(to), n)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.AuditEntry, error) {
		var e store.AuditEntry
		err := row.Scan(&e.ID, &e.Time, &e.Actor, &e.Action, &e.Target, &e.Detail)
		e.Time = utc(e.Time)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return out, nil
}

func (s *Store) MarkLost(ctx context.Context, r store.LostReport) error {
	if err := check.LostReport(r); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO lost_reports (device_id, lost_at, discovered_at, recorded_at,
		recorded_by, note) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.DeviceID, check.UTC(r.LostAt), check.UTC(r.DiscoveredAt), check.UTC(r.RecordedAt), r.By, r.Note)
	if isForeignKey(err) {
		return fmt.Errorf("mark device %q lost: %w", r.DeviceID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mark device %q lost: %w", r.DeviceID, err)
	}
	return nil
}

// LostReports returns a device's lost reports, oldest first: by the time
// they were recorded, then in the order stored.
func (s *Store) LostReports(ctx context.Context, deviceID string) ([]store.LostReport, error) {
	if deviceID != "" && check.Text("device ID", deviceID) != nil {
		return []store.LostReport{}, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT device_id, lost_at, discovered_at, recorded_at, recorded_by, note,
		found_at, found_by FROM lost_reports WHERE device_id = $1 OR $1 = '' ORDER BY recorded_at, id`, deviceID)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.LostReport, error) {
		var r store.LostReport
		var found *time.Time
		err := row.Scan(&r.DeviceID, &r.LostAt, &r.DiscoveredAt, &r.RecordedAt, &r.By, &r.Note, &found, &r.FoundBy)
		r.LostAt, r.DiscoveredAt, r.RecordedAt = utc(r.LostAt), utc(r.DiscoveredAt), utc(r.RecordedAt)
		r.FoundAt = fromNullTime(found)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("lost reports: %w", err)
	}
	return out, nil
}

func (s *Store) RecordDecision(ctx context.Context, d store.Decision) error {
	if err := check.Decision(d); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO decisions (device_id, at, decided_by, notify, reasons)
		VALUES ($1, $2, $3, $4, $5)`, d.DeviceID, check.UTC(d.At), d.By, d.Notify, d.Reasons)
	if isForeignKey(err) {
		return fmt.Errorf("record decision on device %q: %w", d.DeviceID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("record decision on device %q: %w", d.DeviceID, err)
	}
	return nil
}

// Decisions returns a device's decisions, oldest first: by their time,
// then in the order stored.
func (s *Store) Decisions(ctx context.Context, deviceID string) ([]store.Decision, error) {
	if check.Text("device ID", deviceID) != nil {
		return []store.Decision{}, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT at, decided_by, notify, reasons
		FROM decisions WHERE device_id = $1 ORDER BY at, id`, deviceID)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Decision, error) {
		d := store.Decision{DeviceID: deviceID}
		err := row.Scan(&d.At, &d.By, &d.Notify, &d.Reasons)
		d.At = utc(d.At)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	return out, nil
}
