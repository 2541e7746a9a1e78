package installer

import (
	"strings"
	"time"
)

// Recovery is what the Windows service manager does when the agent's
// process ends without being asked to: restart it after 5 s, then 30 s,
// then 60 s for every later failure, counting failures afresh after a day
// without one. It applies to non-crash failures too (the agent exiting with
// an error). SetRecovery sets it on an installed service.
var Recovery = struct {
	Delays []time.Duration
	Reset  time.Duration
}{[]time.Duration{5 * time.Second, 30 * time.Second, 60 * time.Second}, 24 * time.Hour}

// WithoutToken returns a command line's arguments without any --token
// (or -token) flag and its value.
func WithoutToken(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "token" {
			if !hasValue {
				i++ // the value is the next argument
			}
			continue
		}
		out = append(out, a)
	}
	return out
}
