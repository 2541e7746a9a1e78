package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/store"
)

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
	role := e.Flags.String("role", "", "the `ROLE`: "+actions.RoleNames())
	rest, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	return withStore(*dsn, func(ctx context.Context, st store.Store) error {
		u, err := (&actions.Actions{Store: st}).AddUser(ctx, actions.CommandLine, rest[0], store.Role(*role))
		if err != nil {
			return refusal(err, map[string]string{"name": "the name", "role": "--role"}, "adding "+rest[0])
		}
		fmt.Fprintf(e.Stdout, "added %s (%s)\n", u.Name, u.Role)
		return nil
	})
}

// refusal says what was wrong with a command's input: for a field an
// action refused, a usage error naming the flag or argument it came from
// (names maps the action's field names to those, else --FIELD); else err,
// after what was being done.
func refusal(err error, names map[string]string, doing string) error {
	var fe *actions.FieldError
	if !errors.As(err, &fe) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	name, ok := names[fe.Field]
	if !ok {
		name = "--" + fe.Field
	}
	return cli.Usagef("%s %s", name, fe.Problem)
}

func userList(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	asJSON := e.Flags.Bool("json", false, "print JSON")
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	return withStore(*dsn, func(ctx context.Context, st store.Store) error {
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
	})
}

// apiTokenCreate makes a person's API token (token create --user).
func apiTokenCreate(e *cli.Env, dsn, user, note string) error {
	return withStore(dsn, func(ctx context.Context, st store.Store) error {
		tok, rec, err := (&actions.Actions{Store: st}).CreateToken(ctx, actions.CommandLine, user, note)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("a token for %s: %w (add the person first: casekeep-server user add)", user, err)
		}
		if err != nil {
			return refusal(err, nil, "a token for "+user)
		}
		fmt.Fprintln(e.Stdout, tok)
		fmt.Fprintf(e.Stderr, "API token %s for %s; shown once, stored only as a hash (send it as Authorization: Bearer <token>)\n", rec.ID, rec.User)
		return nil
	})
}

func tokenRevoke(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	rest, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	return withStore(*dsn, func(ctx context.Context, st store.Store) error {
		if err := (&actions.Actions{Store: st}).RevokeToken(ctx, actions.CommandLine, rest[0]); err != nil {
			return refusal(err, map[string]string{"id": "the token ID"}, "revoking "+rest[0])
		}
		fmt.Fprintf(e.Stdout, "revoked %s\n", rest[0])
		return nil
	})
}
