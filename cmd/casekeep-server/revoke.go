package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/server/actions"
	"github.com/casekeep/casekeep/server/store"
)

func revokeDeviceCommand() *cli.Command {
	return &cli.Command{
		Name: "revoke-device", Args: "DEVICE-ID --db DSN",
		Summary: "revoke a device's enrollment and destroy its lease keys (an it-security action)",
		Help: `Revoke-device revokes the device's enrollment now: the server refuses its
heartbeats and its lease requests from then on, and destroys its lease keys at
once, since it can never be served them again nor acknowledge a wipe. Its
vault then opens only with an offline copy the laptop still holds (see the
lost-device assessment), and copies of its files kept elsewhere with the
council's escrow keys. If a wipe was requested or delivered and not yet
acknowledged, it says so: the agent can no longer report it, so whether the
laptop carried it out will not be known; wait for the acknowledgement first if
that matters. It is recorded in the audit log.`,
		Run: revokeDevice,
	}
}

func revokeDevice(e *cli.Env, args []string) error {
	dsn := e.Flags.String("db", "", dbHelp)
	rest, err := e.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	return withStore(*dsn, func(ctx context.Context, st store.Store) error {
		res, err := (&actions.Actions{Store: st}).RevokeDevice(ctx, actions.CommandLine, rest[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("revoking %s: no such device (casekeep-server devices lists them)", rest[0])
		}
		if err != nil {
			return fmt.Errorf("revoking %s: %w", rest[0], err)
		}
		fmt.Fprintf(e.Stdout, "%s: %s\n", rest[0], res.Note)
		return nil
	})
}
