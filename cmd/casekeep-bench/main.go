package main

import (
	"os"

	"github.com/casekeep/casekeep/internal/cli"
)

func main() {
	os.Exit(cli.Main(&cli.Command{
		Name: "casekeep-bench",
		Help: `casekeep-bench runs casekeep's benchmarks against their references (the
stock age command, the system's own limits) and prints figures and ratios.`,
		Sub: []*cli.Command{vaultCommand(), ingestCommand()},
	}, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
