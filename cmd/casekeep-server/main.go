// Command casekeep-server is casekeep's central endpoint and its admin tool:
// it signs policy now, and will enroll devices, store heartbeats and answer
// IT security and the DPO.
package main

import (
	"errors"
	"os"

	"github.com/casekeep/casekeep/internal/cli"
)

func main() {
	os.Exit(cli.Main(rootCommand(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func rootCommand() *cli.Command {
	return &cli.Command{
		Name: "casekeep-server",
		Help: `casekeep-server is the central endpoint of casekeep: it enrolls laptops,
serves them signed policy and keeps what they report. It is also the tool IT
security uses to write and sign that policy.`,
		Sub: []*cli.Command{devCommand(), policyCommand()},
	}
}

func devCommand() *cli.Command {
	return &cli.Command{
		Name:    "dev",
		Summary: "run a server and an agent on this machine (not built yet)",
		Help: `Dev mode will start the server on 127.0.0.1 with an SQLite store under
./casekeep-dev/, create a policy key, a dev escrow key and a signed dev
policy, enroll one agent on this machine whose cache is ./casekeep-dev/cache,
and print where to drop a file to see it sealed and reported.

It is not built yet: it arrives with enrollment and heartbeats. Until then
this command says so and exits with status 1.`,
		Run: func(e *cli.Env, args []string) error {
			if _, err := e.Parse(args, 0, 0); err != nil {
				return err
			}
			return errDevNotBuilt
		},
	}
}

var errDevNotBuilt = errors.New(`dev mode is not built yet.
It will start the server on 127.0.0.1 with SQLite under ./casekeep-dev/, sign a dev
policy, enroll one agent on this machine and print where to drop a file.
Today you can write and sign policy: casekeep-server policy --help`)
