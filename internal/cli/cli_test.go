package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// echo is a leaf command that prints its flags and arguments.
func echoCommand() *Command {
	return &Command{
		Name: "echo", Args: "[--n N] [--v] ARG...", Summary: "print", Help: "Echo prints.",
		Run: func(e *Env, args []string) error {
			n := e.Flags.Int("n", 1, "repeat `N` times")
			v := e.Flags.Bool("v", false, "verbose")
			rest, err := e.Parse(args, 1, 3)
			if err != nil {
				return err
			}
			if rest[0] == "fail" {
				return errors.New("it failed")
			}
			fmt.Fprintf(e.Stdout, "%d %v %q", *n, *v, rest)
			return nil
		},
	}
}

func main1(args ...string) (int, string, string) {
	root := &Command{Name: "tool", Sub: []*Command{{Name: "grp", Summary: "a group", Sub: []*Command{echoCommand()}}}}
	var out, errOut bytes.Buffer
	code := Main(root, args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestParse(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"grp", "echo", "a"}, 0, `1 false ["a"]`},
		{[]string{"grp", "echo", "a", "--n", "3", "b", "-v"}, 0, `3 true ["a" "b"]`},
		{[]string{"grp", "echo", "--n=2", "a"}, 0, `2 false ["a"]`},
		{[]string{"grp", "echo", "a", "--", "--n", "-v"}, 0, `1 false ["a" "--n" "-v"]`},
		{[]string{"grp", "echo", "--", "-x"}, 0, `1 false ["-x"]`},
		{[]string{"grp", "echo"}, 2, ""},
		{[]string{"grp", "echo", "a", "b", "c", "d"}, 2, ""},
		{[]string{"grp", "echo", "--n", "x", "a"}, 2, ""},
		{[]string{"grp", "echo", "--bogus", "a"}, 2, ""},
		{[]string{"grp", "echo", "fail"}, 1, ""},
		{[]string{"grp", "nope"}, 2, ""},
		{[]string{"grp"}, 2, ""},
	}
	for _, c := range cases {
		code, out, errOut := main1(c.args...)
		if code != c.code || out != c.out {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d %q", c.args, code, out, errOut, c.code, c.out)
		}
		if code != 0 && !strings.HasPrefix(errOut, "tool: ") && !strings.Contains(errOut, "\ntool: ") {
			t.Errorf("%q: error not prefixed with the program name: %q", c.args, errOut)
		}
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := main1("grp", "echo", "--help")
	if code != 0 || !strings.Contains(out, "Usage: tool grp echo [--n N] [--v] ARG...") ||
		!strings.Contains(out, "--n N  repeat N times (default 1)") || !strings.Contains(out, "Echo prints.") {
		t.Errorf("echo --help: %d %q", code, out)
	}
	code, out, _ = main1("grp", "help", "echo")
	if code != 0 || !strings.Contains(out, "Usage: tool grp echo") {
		t.Errorf("grp help echo: %d %q", code, out)
	}
	code, out, _ = main1("--help")
	if code != 0 || !strings.Contains(out, "grp  a group") {
		t.Errorf("--help: %d %q", code, out)
	}
}
