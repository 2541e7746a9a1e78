package actions

import (
	"context"
	"strconv"
	"strings"

	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/store"
)

// MaxName is the longest name a person may have, in characters.
const MaxName = 100

// nameRule is a person's name: whoever adds a person types it, and so
// does whoever makes their token.
func nameRule(field string) textRule {
	return textRule{field: field, max: MaxName, required: "is required", problem: "must be 1 to " + strconv.Itoa(MaxName) + " printable characters"}
}

var tokenNoteRule = textRule{field: "note", max: 200}

// RoleNames lists the roles a person may have, for help and refusals:
// "it-security, dpo, auditor".
func RoleNames() string {
	var names []string
	for _, r := range store.Roles {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

// AddUser adds a person who may use the API and the console with a role,
// and returns them as stored; store.ErrExists if the name is taken.
func (a *Actions) AddUser(ctx context.Context, who, name string, role store.Role) (store.User, error) {
	now := a.now()
	name, err := nameRule("name").check(name)
	if err != nil {
		return store.User{}, err
	}
	if !role.Valid() {
		return store.User{}, refuse("role", ErrChoice, "must be one of "+RoleNames())
	}
	u := store.User{Name: name, Role: role, CreatedAt: now}
	if err := a.Store.CreateUser(ctx, u); err != nil {
		return store.User{}, err
	}
	return u, a.record(ctx, now, who, AuditUserAdd, name, "role "+string(role))
}

// CreateToken makes an API token for a person, and returns it (to show
// once: only its hash is stored) with the record stored; store.ErrNotFound
// if there is no such person.
func (a *Actions) CreateToken(ctx context.Context, who, user, note string) (string, store.APIToken, error) {
	now := a.now()
	user, err := nameRule("user").check(user)
	if err != nil {
		return "", store.APIToken{}, err
	}
	if note, err = tokenNoteRule.check(note); err != nil {
		return "", store.APIToken{}, err
	}
	if _, err := a.Store.User(ctx, user); err != nil {
		return "", store.APIToken{}, err
	}
	tok, rec, err := access.NewToken(user, note, now)
	if err != nil {
		return "", store.APIToken{}, err
	}
	if err := a.Store.CreateAPIToken(ctx, rec); err != nil {
		return "", store.APIToken{}, err
	}
	return tok, rec, a.record(ctx, now, who, AuditTokenCreate, user, "token "+rec.ID)
}

var tokenIDRule = textRule{field: "id", max: 100, required: "is required", problem: "must be a token's ID (casekeep-server user list shows them)"}

// RevokeToken revokes an API token by its ID; store.ErrNotFound if there
// is none. Revoking a revoked token keeps the first time.
func (a *Actions) RevokeToken(ctx context.Context, who, id string) error {
	now := a.now()
	id, err := tokenIDRule.check(id)
	if err != nil {
		return err
	}
	if err := a.Store.RevokeAPIToken(ctx, id, now); err != nil {
		return err
	}
	return a.record(ctx, now, who, AuditTokenRevoke, id, "")
}
