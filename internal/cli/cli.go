package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // bad input, or the operation failed
	ExitUsage   = 2 // the command line itself is wrong
)

// UsageError reports a wrong command line; it exits with [ExitUsage].
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a [*UsageError].
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// errHelpShown means --help was asked for and answered.
var errHelpShown = errors.New("help shown")

// Command is a command or a group of subcommands.
type Command struct {
	Name    string
	Args    string // synopsis of flags and arguments, such as "--key FILE POLICY.yaml"
	Summary string // one line, for the parent's list
	Help    string // what the command does, in full sentences
	// Run does the work of a leaf command. It defines its flags on e.Flags
	// and calls e.Parse.
	Run func(e *Env, args []string) error
	Sub []*Command
}

// Env is what a running command gets: its output streams and flag set.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	// Flags is a flag set for the command, already named and with its help.
	Flags *flag.FlagSet
	path  string
	cmd   *Command
}

// Main runs the command named by args under root and returns the exit code.
// Errors are printed to stderr, prefixed with the program name.
func Main(root *Command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(root, root.Name, args, &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr})
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %s\n", root.Name, ue.Msg)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "%s: %v\n", root.Name, err)
		return ExitFailure
	}
}

func dispatch(c *Command, path string, args []string, e *Env) error {
	if c.Run != nil {
		e.path, e.cmd = path, c
		e.Flags = flag.NewFlagSet(path, flag.ContinueOnError)
		e.Flags.SetOutput(io.Discard)
		return c.Run(e, args)
	}
	if len(args) == 0 {
		writeGroupHelp(e.Stderr, c, path)
		return Usagef("missing a command (try %s --help)", path)
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			// "help sign" is "sign --help".
			return dispatch(c, path, append(args[1:2], "--help"), e)
		}
		writeGroupHelp(e.Stdout, c, path)
		return errHelpShown
	}
	for _, sub := range c.Sub {
		if sub.Name == name {
			return dispatch(sub, path+" "+name, args[1:], e)
		}
	}
	return Usagef("%s: unknown command %q (try %s --help)", path, name, path)
}

func writeGroupHelp(w io.Writer, c *Command, path string) {
	fmt.Fprintf(w, "Usage: %s COMMAND [flags] [args]\n\n", path)
	if c.Help != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(c.Help))
	}
	fmt.Fprintf(w, "Commands:\n")
	width := 0
	for _, s := range c.Sub {
		width = max(width, len(s.Name))
	}
	for _, s := range c.Sub {
		fmt.Fprintf(w, "  %-*s  %s\n", width, s.Name, s.Summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for more about a command.\n", path)
}

// Parse parses e.Flags from args, allowing flags before and after the
// arguments ("--" ends the flags), and checks that between minArgs and
// maxArgs arguments remain (maxArgs < 0 means no limit). On --help it prints the
// command's help to stdout and returns an error that makes [Main] exit 0.
func (e *Env) Parse(args []string, minArgs, maxArgs int) ([]string, error) {
	var positional []string
	for {
		if err := e.Flags.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				e.writeHelp(e.Stdout)
				return nil, errHelpShown
			}
			return nil, Usagef("%s: %v (see --help)", e.path, err)
		}
		rest := e.Flags.Args()
		if len(rest) == 0 {
			break
		}
		// Parse stops at the first argument, or after "--".
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	switch {
	case len(positional) < minArgs:
		return nil, Usagef("%s: missing arguments: %s %s (see --help)", e.path, e.path, e.cmd.Args)
	case maxArgs >= 0 && len(positional) > maxArgs:
		return nil, Usagef("%s: too many arguments: %q (see --help)", e.path, positional[maxArgs:])
	}
	return positional, nil
}

func (e *Env) writeHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s %s\n\n%s\n", e.path, e.cmd.Args, strings.TrimSpace(e.cmd.Help))
	var lines [][2]string
	width := 0
	e.Flags.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if name != "" {
			left += " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		width = max(width, len(left))
		lines = append(lines, [2]string{left, usage})
	})
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		for _, l := range lines {
			fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
		}
	}
}
