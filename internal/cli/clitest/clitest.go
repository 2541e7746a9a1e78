package clitest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/internal/cli"
)

// Result is what a run of a command did.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Want fails the test unless r exited with code, showing what it printed,
// and returns r.
func (r Result) Want(t testing.TB, code int) Result {
	t.Helper()
	if r.Code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.Code, code, r.Stdout, r.Stderr)
	}
	return r
}

// Run runs root with args, with nothing on its standard input, as
// cli.Main does, and returns what it did.
func Run(root *cli.Command, args ...string) Result {
	var out, errOut bytes.Buffer
	code := cli.Main(root, args, strings.NewReader(""), &out, &errOut)
	return Result{code, out.String(), errOut.String()}
}
