package servertest

import (
	"context"
	"testing"
	"time"

	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/store"
)

// Person is the name of the rig's person of a role: "user-" and the role.
func Person(r store.Role) string { return "user-" + string(r) }

// People adds to st a [Person] of each role, each with an API token (noted
// "test"), made at now, and returns the tokens by role.
func People(t testing.TB, st store.Access, now time.Time) map[store.Role]string {
	t.Helper()
	ctx := context.Background()
	tokens := map[store.Role]string{}
	for _, r := range store.Roles {
		name := Person(r)
		if err := st.CreateUser(ctx, store.User{Name: name, Role: r, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		tok, rec, err := access.NewToken(name, "test", now)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAPIToken(ctx, rec); err != nil {
			t.Fatal(err)
		}
		tokens[r] = tok
	}
	return tokens
}
