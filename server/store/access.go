package store

import (
	"context"
	"time"
)

// Role is what a person may do through the API and the console.
type Role string

// The roles.
const (
	// RoleITSecurity may do everything: read, mark devices lost, request
	// wipes, manage users and tokens.
	RoleITSecurity Role = "it-security"
	// RoleDPO may read everything, run reports and record notification
	// decisions.
	RoleDPO Role = "dpo"
	// RoleAuditor may only read.
	RoleAuditor Role = "auditor"
)

// Roles lists the roles, most powerful first.
var Roles = []Role{RoleITSecurity, RoleDPO, RoleAuditor}

// Valid reports whether r is one of [Roles].
func (r Role) Valid() bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// User is a person with access to the API and the console.
type User struct {
	Name      string
	Role      Role
	CreatedAt time.Time
}

// APIToken is a person's API token. Only the SHA-256 of its secret is
// stored; ID is a short public name for it (for listing and revoking).
type APIToken struct {
	ID        string
	Hash      [32]byte
	User      string
	CreatedAt time.Time
	RevokedAt time.Time // zero unless revoked
	Note      string
}

// AuditEntry is one human action: who did what, to what, when.
type AuditEntry struct {
	ID     int64 // assigned by the store, increasing
	Time   time.Time
	Actor  string // the user's name
	Action string // such as "device.mark_lost", "token.create", "report.view"
	Target string // what it was done to, such as a device id or a user name
	Detail string
}

// LostReport records that a device was reported lost. It is open until
// the device is marked found.
type LostReport struct {
	DeviceID     string
	LostAt       time.Time // when it was lost, as reported
	DiscoveredAt time.Time // when the loss was discovered: the 72 hours run from here
	RecordedAt   time.Time
	By           string
	Note         string
	// FoundAt and FoundBy say when, and by whom, the device was marked
	// found (MarkFound); zero and "" while the report is open.
	FoundAt time.Time
	FoundBy string
}

// Decision is a DPO's decision on notifying the ICO about a lost device.
type Decision struct {
	DeviceID string
	At       time.Time
	By       string
	Notify   bool   // the breach is to be reported to the ICO
	Reasons  string // why, in the DPO's words
}

// Access keeps people, their tokens, the audit log of human actions, and
// the actions taken on devices. It is part of [Store].
type Access interface {
	// CreateUser stores a user; ErrExists if the name is taken.
	CreateUser(ctx context.Context, u User) error
	// User returns one user; ErrNotFound if there is none.
	User(ctx context.Context, name string) (User, error)
	// Users returns every user, by name.
	Users(ctx context.Context) ([]User, error)

	// CreateAPIToken stores a token; ErrNotFound if its user does not
	// exist, ErrExists if its ID or hash is taken.
	CreateAPIToken(ctx context.Context, t APIToken) error
	// APIToken returns the token with this hash and its user; ErrNotFound
	// if there is none. A revoked token is returned with RevokedAt set.
	APIToken(ctx context.Context, hash [32]byte) (APIToken, User, error)
	// APITokens returns a user's tokens ("" for everyone's), by ID.
	APITokens(ctx context.Context, user string) ([]APIToken, error)
	// RevokeAPIToken revokes a token from at on; ErrNotFound if there is
	// none. Revoking a revoked token keeps the first time.
	RevokeAPIToken(ctx context.Context, id string, at time.Time) error

	// Audit appends an entry to the audit log and returns it with its ID.
	Audit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// AuditLog returns entries with Time in [from, to), newest first, at
	// most limit of them (limit <= 0: all).
	AuditLog(ctx context.Context, from, to time.Time, limit int) ([]AuditEntry, error)

	// MarkLost records a lost report; ErrNotFound if the device does not
	// exist. A device may be reported lost more than once.
	MarkLost(ctx context.Context, r LostReport) error
	// LostReports returns a device's lost reports ("" for every device's),
	// oldest first.
	LostReports(ctx context.Context, deviceID string) ([]LostReport, error)
	// MarkFound closes a device's open lost reports (FoundAt f.At, FoundBy
	// f.By) and, if a lock is in force (its latest lock or unlock not
	// cancelled is a lock), requests an unlock by f.By at f.At, expiring
	// at f.UnlockExpires, in one transaction. ErrNotFound if the device
	// does not exist, ErrConflict if it has no open lost report.
	MarkFound(ctx context.Context, f Found) (FoundResult, error)

	// RequestCommand stores a command for a device's agent (RequestedAt,
	// RequestedBy, Type and Expires given, nothing delivered,
	// acknowledged or cancelled) and returns it with its Seq and ID;
	// ErrNotFound if the device does not exist. A lock takes effect at
	// once (see ServeLeases), as does an unlock, and a wipe.
	RequestCommand(ctx context.Context, c Command) (Command, error)
	// Commands returns a device's commands in the order the store took
	// them (Seq), whatever their RequestedAt.
	Commands(ctx context.Context, deviceID string) ([]Command, error)
	// CancelCommand cancels a device's command, at at by by, and returns
	// it cancelled; ErrNotFound if the device has no command of that ID,
	// ErrConflict if it was delivered, acknowledged or cancelled already.
	CancelCommand(ctx context.Context, deviceID, id string, at time.Time, by string) (Command, error)
	// RecordDecision records a notification decision; ErrNotFound if the
	// device does not exist.
	RecordDecision(ctx context.Context, d Decision) error
	// Decisions returns a device's decisions, oldest first.
	Decisions(ctx context.Context, deviceID string) ([]Decision, error)
}
