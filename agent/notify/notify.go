package notify

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/casekeep/casekeep/internal/printable"
)

// ErrUnavailable means this OS or session offers no way to notify.
var ErrUnavailable = errors.New("notify: no desktop notification is available here")

// Notifier shows a desktop notification.
type Notifier interface {
	Notify(ctx context.Context, title, body string) error
}

// Desktop returns the notifier this OS offers, or one that always fails
// with ErrUnavailable.
func Desktop() Notifier { return desktop{run: runCommand} }

// runCommand runs a program with arguments (never through a shell), with a
// deadline.
func runCommand(ctx context.Context, name string, args ...string) error {
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("%w (%s not found)", ErrUnavailable, name)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(clean(string(out), 200)))
	}
	return nil
}

// clean makes s safe to put in a notification: what may not be shown
// (control and format characters, line breaks, bidirectional overrides)
// becomes a space, and a text longer than n characters is cut to n, the
// last an ellipsis (see [printable.Text]).
func clean(s string, n int) string {
	return printable.Text(s, printable.Options{Replacement: ' ', MaxRunes: n})
}

// Limited passes at most one notification per interval to n. Those that
// arrive meanwhile are held: the latest is shown when the interval is up,
// saying how many more there were.
type Limited struct {
	n        Notifier
	interval time.Duration
	now      func() time.Time
	after    func(time.Duration, func()) // time.AfterFunc, for tests

	mu        sync.Mutex
	last      time.Time
	held      int // notifications held since the last one shown
	heldTitle string
	heldBody  string
	flushing  bool // a flush is scheduled
}

// NewLimited wraps n.
func NewLimited(n Notifier, interval time.Duration) *Limited {
	return &Limited{n: n, interval: interval, now: time.Now,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// Notify shows title and body now if the last notification was at least
// the interval ago; otherwise it holds it for when the interval is up.
func (l *Limited) Notify(ctx context.Context, title, body string) error {
	l.mu.Lock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.held++
		l.heldTitle, l.heldBody = title, body
		if !l.flushing {
			l.flushing = true
			l.after(l.last.Add(l.interval).Sub(now), l.flush)
		}
		l.mu.Unlock()
		return nil
	}
	l.last = now
	l.mu.Unlock()
	return l.n.Notify(ctx, clean(title, 80), clean(body, 300))
}

// flush shows the latest held notification.
func (l *Limited) flush() {
	l.mu.Lock()
	l.flushing = false
	if l.held == 0 {
		l.mu.Unlock()
		return
	}
	title, body := l.heldTitle, l.heldBody
	if l.held > 1 {
		body = fmt.Sprintf("%s (and %d more: see casekeep status)", body, l.held-1)
	}
	l.held, l.heldTitle, l.heldBody = 0, "", ""
	l.last = l.now()
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	l.n.Notify(ctx, clean(title, 80), clean(body, 300))
}
