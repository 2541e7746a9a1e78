package main

import (
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
		Sub: []*cli.Command{devCommand(), serveCommand(), userCommand(), tokenCommand(), devicesCommand(), revokeDeviceCommand(), leaseCommand(), demoFleetCommand(), policyCommand()},
	}
}
