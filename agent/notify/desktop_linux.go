package notify

import "context"

type desktop struct {
	run func(ctx context.Context, name string, args ...string) error
}

func (d desktop) Notify(ctx context.Context, title, body string) error {
	// "--" ends the options: a body starting with "-" is text.
	return d.run(ctx, "notify-send", "--app-name=casekeep", "--", clean(title, 80), clean(body, 300))
}
