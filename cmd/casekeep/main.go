package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/internal/cli"
)

func main() {
	os.Exit(cli.Main(rootCommand(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func rootCommand() *cli.Command {
	return &cli.Command{
		Name: "casekeep",
		Help: `casekeep keeps the case files cached on this laptop encrypted, watches for
case files copied to USB drives, personal cloud folders or Downloads, and
reports this laptop's compliance to the council's casekeep server.`,
		Sub: []*cli.Command{runCommand(), enrollCommand(), statusCommand(), doctorCommand(), serviceCommand(), lsCommand(), verifyCommand(), sealCommand(), versionCommand()},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:    "version",
		Summary: "print the agent's version",
		Help:    "Version prints the agent's version and the Go toolchain and platform it was built for.",
		Run: func(e *cli.Env, args []string) error {
			if _, err := e.Parse(args, 0, 0); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "casekeep %s %s %s/%s\n", agent.AgentVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
