package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/casekeep/casekeep/server/store"
	"github.com/casekeep/casekeep/server/store/internal/check"
)

// isForeignKey reports whether err is SQLite refusing a row whose user or
// device does not exist.
func isForeignKey(err error) bool {
	var e *sqlitedrv.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := check.User(u); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, u.Name, string(u.Role), micros(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("create user %q: %w", u.Name, store.ErrExists)
	}
	return nil
}

func scanUser(sc interface{ Scan(...any) error }) (store.User, error) {
	var (
		u       store.User
		role    string
		created int64
	)
	if err := sc.Scan(&u.Name, &role, &created); err != nil {
		return u, err
	}
	u.Role, u.CreatedAt = store.Role(role), fromMicros(created)
	return u, nil
}

// User returns one user; a name no user can have (see [store.ErrInvalid])
// is not found.
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	if check.Text("user name", name) != nil {
		return store.User{}, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT name, role, created_at FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("user %q: %w", name, err)
	}
	return u, nil
}

func (s *Store) Users(ctx context.Context) ([]store.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer rows.Close()
	out := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return out, nil
}

// CreateAPIToken stores a token. A taken ID or hash is found before a
// missing user: such a token is refused with ErrExists.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	if err := check.APIToken(t); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO api_tokens (id, hash, username, created_at, revoked_at, note)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.ID, t.Hash[:], t.User, micros(t.CreatedAt), nullMicros(t.RevokedAt), t.Note)
	if isForeignKey(err) {
		return fmt.Errorf("create API token %q: user %q: %w", t.ID, t.User, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create API token %q: %w", t.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("create API token %q: %w", t.ID, store.ErrExists)
	}
	return nil
}

const apiTokenCols = `t.id, t.hash, t.username, t.created_at, t.revoked_at, t.note`

func scanAPIToken(sc interface{ Scan(...any) error }, more ...any) (store.APIToken, error) {
	var (
		t       store.APIToken
		hash    []byte
		created int64
		revoked sql.NullInt64
	)
	if err := sc.Scan(append([]any{&t.ID, &hash, &t.User, &created, &revoked, &t.Note}, more...)...); err != nil {
		return t, err
	}
	if len(hash) != len(t.Hash) {
		return t, fmt.Errorf("API token %q: stored hash has %d bytes", t.ID, len(hash))
	}
	copy(t.Hash[:], hash)
	t.CreatedAt, t.RevokedAt = fromMicros(created), fromNull(revoked)
	return t, nil
}

func (s *Store) APIToken(ctx context.Context, hash [32]byte) (store.APIToken, store.User, error) {
	var (
		u       store.User
		role    string
		created int64
	)
	t, err := scanAPIToken(s.r.QueryRowContext(ctx, `SELECT `+apiTokenCols+`, u.name, u.role, u.created_at
		FROM api_tokens t JOIN users u ON u.name = t.username WHERE t.hash = ?`, hash[:]), &u.Name, &role, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.APIToken{}, store.User{}, fmt.Errorf("API token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.APIToken{}, store.User{}, fmt.Errorf("API token: %w", err)
	}
	u.Role, u.CreatedAt = store.Role(role), fromMicros(created)
	return t, u, nil
}

func (s *Store) APITokens(ctx context.Context, user string) ([]store.APIToken, error) {
	out := []store.APIToken{}
	if check.Text("user name", user) != nil {
		return out, nil
	}
	q, args := `SELECT `+apiTokenCols+` FROM api_tokens t ORDER BY t.id`, []any(nil)
	if user != "" {
		q, args = `SELECT `+apiTokenCols+` FROM api_tokens t WHERE t.username = ? ORDER BY t.id`, []any{user}
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("API tokens: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, fmt.Errorf("API tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
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
	res, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1`,
		id, micros(at))
	if err != nil {
		return fmt.Errorf("revoke API token %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
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
	if err := s.w.QueryRowContext(ctx, `INSERT INTO audit_log (time, actor, action, target, detail)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, micros(e.Time), e.Actor, e.Action, e.Target, e.Detail).Scan(&e.ID); err != nil {
		return store.AuditEntry{}, fmt.Errorf("audit: %w", err)
	}
	return e, nil
}

// AuditLog returns entries with Time in [from, to), newest first (entries
// of the same time by ID, highest first), at most limit of them.
func (s *Store) AuditLog(ctx context.Context, from, to time.Time, limit int) ([]store.AuditEntry, error) {
	n := int64(limit)
	if limit <= 0 {
		n = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, time, actor, action, target, detail FROM audit_log
		WHERE time >= ? AND time < ? ORDER BY time DESC, id DESC LIMIT ?`,
		micros(check.Bound(from)), micros(check.Bound(to)), n)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	out := []store.AuditEntry{}
	for rows.Next() {
		var (
			e  store.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		e.Time = fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return out, nil
}

func (s *Store) MarkLost(ctx context.Context, r store.LostReport) error {
	if err := check.LostReport(r); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO lost_reports (device_id, lost_at, discovered_at, recorded_at,
		recorded_by, note) VALUES (?, ?, ?, ?, ?, ?)`,
		r.DeviceID, micros(r.LostAt), micros(r.DiscoveredAt), micros(r.RecordedAt), r.By, r.Note)
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
	out := []store.LostReport{}
	if deviceID != "" && check.Text("device ID", deviceID) != nil {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT device_id, lost_at, discovered_at, recorded_at, recorded_by, note,
		found_at, found_by FROM lost_reports WHERE device_id = ? OR ? = '' ORDER BY recorded_at, id`, deviceID, deviceID)
	if err != nil {
		return nil, fmt.Errorf("lost reports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r store.LostReport
		var lost, discovered, recorded int64
		var found sql.NullInt64
		if err := rows.Scan(&r.DeviceID, &lost, &discovered, &recorded, &r.By, &r.Note, &found, &r.FoundBy); err != nil {
			return nil, fmt.Errorf("lost reports: %w", err)
		}
		r.LostAt, r.DiscoveredAt, r.RecordedAt = fromMicros(lost), fromMicros(discovered), fromMicros(recorded)
		r.FoundAt = fromNull(found)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lost reports: %w", err)
	}
	return out, nil
}

func (s *Store) RecordDecision(ctx context.Context, d store.Decision) error {
	if err := check.Decision(d); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO decisions (device_id, at, decided_by, notify, reasons)
		VALUES (?, ?, ?, ?, ?)`, d.DeviceID, micros(d.At), d.By, d.Notify, d.Reasons)
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
	out := []store.Decision{}
	if check.Text("device ID", deviceID) != nil {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT at, decided_by, notify, reasons
		FROM decisions WHERE device_id = ? ORDER BY at, id`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d := store.Decision{DeviceID: deviceID}
		var at int64
		if err := rows.Scan(&at, &d.By, &d.Notify, &d.Reasons); err != nil {
			return nil, fmt.Errorf("decisions: %w", err)
		}
		d.At = fromMicros(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	return out, nil
}
