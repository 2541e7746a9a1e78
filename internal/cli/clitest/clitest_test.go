package clitest_test

import (
	"fmt"
	"testing"

	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/cli/clitest"
)

func TestRun(t *testing.T) {
	root := &cli.Command{Name: "tool", Sub: []*cli.Command{{
		Name: "hello", Summary: "say hello",
		Run: func(e *cli.Env, args []string) error {
			rest, err := e.Parse(args, 1, 1)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.Stdout, "hello", rest[0])
			return nil
		},
	}}}
	if r := clitest.Run(root, "hello", "ann").Want(t, 0); r.Stdout != "hello ann\n" || r.Stderr != "" {
		t.Errorf("hello ann: %+v", r)
	}
	if r := clitest.Run(root, "hello").Want(t, 2); r.Stderr == "" {
		t.Errorf("hello without a name: %+v, want a usage message", r)
	}
}
