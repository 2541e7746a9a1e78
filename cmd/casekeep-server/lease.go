package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/store"
)

func leaseCommand() *cli.Command {
	return &cli.Command{
		Name:    "lease",
		Summary: "see a device's lease log and rotate its lease key",
		Sub: []*cli.Command{{
			Name: "rotate", Args: "DEVICE-ID --db DSN [--data DIR | --kek FILE]",
			Summary: "give a device a new lease key (an it-security action)",
			Help: `Rotate makes a new lease key for the device. The server sends it with each
lease the device is served from then on; its agent wraps its vault identity
with it and asks for its lease by the new key's ID, and from that moment the
server serves only the new key and destroys the old one. The laptop never loses
access. It is recorded in the audit log. It needs the lease keys'
key-encryption key (lease-kek in the server's data folder, --data, or --kek
FILE), which must exist: it makes none.`,
			Run: leaseRotate,
		}, {
			Name: "log", Args: "DEVICE-ID --db DSN [--limit N] [--json]",
			Summary: "print a device's lease log, newest first: every lease served or refused",
			Help: `Log prints the device's lease log, newest first: each lease served, and each
run of identical refusals in a row as one entry (how many, the first and the
last). FROM is the server's TCP peer: when the server is behind a reverse
proxy it is the proxy's address, not the laptop's.`,
			Run: leaseLog,
		}},
	}
}

func leaseRotate(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	data := e.Flags.String("data", "", dataHelp)
	kekPath := e.Flags.String("kek", "", kekHelp)
	rest, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	return withKeyStore(*dsn, *data, *kekPath, false, func(ctx context.Context, st store.Store) error {
		k, err := (&actions.Actions{Store: st}).RotateLeaseKey(ctx, actions.CommandLine, rest[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("rotating the lease key of %s: no such device (casekeep-server devices lists them)", rest[0])
		}
		if err != nil {
			return fmt.Errorf("rotating the lease key of %s: %w", rest[0], err)
		}
		fmt.Fprintf(e.Stdout, "new lease key %s for %s: sent with its next lease; the old key is destroyed when the agent takes it\n", k.ID, k.DeviceID)
		return nil
	})
}

func leaseLog(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	limit := e.Flags.Int("limit", 100, "print at most `N` entries")
	asJSON := e.Flags.Bool("json", false, "print JSON, one array of objects")
	rest, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *limit < 1 {
		return cli.Usagef("--limit must be at least 1")
	}
	return withStore(*dsn, func(ctx context.Context, st store.Store) error {
		if _, err := st.Device(ctx, rest[0]); err != nil {
			return fmt.Errorf("the lease log of %s: %w", rest[0], err)
		}
		recs, err := st.Leases(ctx, rest[0], time.Time{}, time.Now().Add(time.Hour), *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(e.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(recs)
		}
		tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tFROM\tASKED\tANSWER\tKEY")
		for _, r := range recs {
			answer := "served until " + r.Until.Local().Format("2006-01-02 15:04:05")
			if !r.Served() {
				answer = "REFUSED: " + r.Refused
				if r.Requests > 1 {
					answer += fmt.Sprintf(" (%d requests in a row, the last %s)", r.Requests, r.LastAt.Local().Format("2006-01-02 15:04:05"))
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.At.Local().Format("2006-01-02 15:04:05"), r.Source, r.Kind, answer, r.KeyID)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%d entries\n", len(recs))
		return nil
	})
}
