package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/server/access"
	"github.com/casekeep/casekeep/server/store"
)

func roleNames() string {
	var names []string
	for _, r := range store.Roles {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

func userCommand() *cli.Command {
	return &cli.Command{
		Name:    "user",
		Summary: "add and list the people who use the API and the console",
		Sub: []*cli.Command{{
			Name: "add", Args: "NAME --role ROLE --db DSN",
			Summary: "add a person with a role",
			Help: `Add adds a person who may use the API and the console with a role:
it-security (everything: mark devices lost, request wipes, users and tokens),
dpo (read everything, run reports, record notification decisions) or auditor
(read only). Give them an API token with: casekeep-server token create --user NAME.`,
			Run: userAdd,
		}, {
			Name: "list", Args: "--db DSN [--json]",
			Summary: "list people, their roles and tokens",
			Run:     userList,
		}},
	}
}

func userAdd(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	role := e.Flags.String("role", "", "the `ROLE`: "+roleNames())
	rest, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	name := rest[0]
	if !store.Role(*role).Valid() {
		return cli.Usagef("--role must be one of %s", roleNames())
	}
	if strings.TrimSpace(name) == "" || len(name) > 100 || strings.ContainsAny(name, "\x00\r\n\t") {
		return cli.Usagef("the name must be 1 to 100 printable characters")
	}
	ctx := context.Background()
	st, _, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	if err := st.CreateUser(ctx, store.User{Name: name, Role: store.Role(*role), CreatedAt: now}); err != nil {
		return fmt.Errorf("adding %s: %w", name, err)
	}
	if _, err := st.Audit(ctx, store.AuditEntry{Time: now, Actor: "casekeep-server (command line)", Action: "user.add", Target: name, Detail: "role " + *role}); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "added %s (%s)\n", name, *role)
	return nil
}

func userList(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	asJSON := e.Flags.Bool("json", false, "print JSON")
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	ctx := context.Background()
	st, _, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := st.Users(ctx)
	if err != nil {
		return err
	}
	tokens, err := st.APITokens(ctx, "")
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"users": users, "tokens": tokens})
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tTOKENS (ID, REVOKED)")
	for _, u := range users {
		var ts []string
		for _, t := range tokens {
			if t.User == u.Name {
				s := t.ID
				if !t.RevokedAt.IsZero() {
					s += " (revoked)"
				}
				ts = append(ts, s)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, strings.Join(ts, ", "))
	}
	return tw.Flush()
}

// apiTokenCreate makes a person's API token (token create --user).
func apiTokenCreate(e *cli.Env, dsn, user, note string) error {
	ctx := context.Background()
	st, _, err := openStore(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	tok, rec, err := access.NewToken(user, note, now)
	if err != nil {
		return err
	}
	if err := st.CreateAPIToken(ctx, rec); err != nil {
		return fmt.Errorf("a token for %s: %w (add the person first: casekeep-server user add)", user, err)
	}
	if _, err := st.Audit(ctx, store.AuditEntry{Time: now, Actor: "casekeep-server (command line)", Action: "token.create", Target: user, Detail: "token " + rec.ID}); err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, tok)
	fmt.Fprintf(e.Stderr, "API token %s for %s; shown once, stored only as a hash (send it as Authorization: Bearer <token>)\n", rec.ID, user)
	return nil
}

func tokenRevoke(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	rest, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, _, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	if err := st.RevokeAPIToken(ctx, rest[0], now); err != nil {
		return fmt.Errorf("revoking %s: %w", rest[0], err)
	}
	if _, err := st.Audit(ctx, store.AuditEntry{Time: now, Actor: "casekeep-server (command line)", Action: "token.revoke", Target: rest[0]}); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "revoked %s\n", rest[0])
	return nil
}
