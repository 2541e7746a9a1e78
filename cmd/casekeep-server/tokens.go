package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/server/store"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:    "token",
		Summary: "create enrollment tokens and people's API tokens",
		Sub: []*cli.Command{{
			Name: "create", Args: "--db DSN [--user NAME | [--data DIR] [--uses N] [--expires DURATION]] [--note TEXT]",
			Summary: "create an enrollment token, or with --user a person's API token",
			Help: `Create makes an enrollment token that enrolls up to --uses devices until it
expires, and prints it once: only its hash is stored. The token carries the pin
of the server's TLS certificate (from the data folder, or --tls-cert), so an
agent checks it is talking to this server from its first connection. Give it to
the installer (casekeep enroll --token, the MSI's ENROLL_TOKEN, or
/etc/casekeep/enroll.env).

With --user, it makes an API token for that person (added with
casekeep-server user add) instead, for the API and the console, with their
role; it is printed once and stored only as a hash.`,
			Run: tokenCreate,
		}, {
			Name: "revoke", Args: "ID --db DSN",
			Summary: "revoke a person's API token (IDs: casekeep-server user list)",
			Run:     tokenRevoke,
		}},
	}
}

func tokenCreate(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	files := addServerFlags(e)
	uses := e.Flags.Int("uses", 1, "how many devices it may enroll (`N`)")
	expires := e.Flags.Duration("expires", 24*time.Hour, "how long it lasts (`DURATION`, such as 24h)")
	note := e.Flags.String("note", "", "a note kept with it, such as who it is for (`TEXT`)")
	user := e.Flags.String("user", "", "make an API token for this person (`NAME`) instead")
	if _, err := e.Parse(args, 0, 0); err != nil {
		return err
	}
	if *user != "" {
		return apiTokenCreate(e, *dsn, *user, *note)
	}
	if *uses < 1 || *uses > 1_000_000 {
		return cli.Usagef("--uses must be between 1 and 1000000")
	}
	if *expires <= 0 || *expires > 365*24*time.Hour {
		return cli.Usagef("--expires must be more than 0 and at most a year")
	}
	_, pin, err := files.tls()
	if err != nil {
		return err
	}
	return withStore(*dsn, func(ctx context.Context, st store.Store) error {
		tok, hash, err := wire.NewToken(pin)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		if err := st.CreateToken(ctx, store.Token{Hash: hash, Uses: *uses, ExpiresAt: now.Add(*expires), CreatedAt: now, Note: *note}); err != nil {
			return err
		}
		fmt.Fprintln(e.Stdout, tok)
		fmt.Fprintf(e.Stderr, "enrolls up to %d device(s) until %s; shown once, stored only as a hash\n", *uses, now.Add(*expires).Format(time.RFC3339))
		return nil
	})
}
