package notify

import "context"

type desktop struct {
	run func(ctx context.Context, name string, args ...string) error
}

// Notify passes the texts as arguments to the script, never inside it, so
// no quoting is needed and none can be broken.
func (d desktop) Notify(ctx context.Context, title, body string) error {
	return d.run(ctx, "osascript",
		"-e", "on run argv",
		"-e", "display notification (item 2 of argv) with title (item 1 of argv)",
		"-e", "end run",
		clean(title, 80), clean(body, 300))
}
