package notify

import (
	"context"
	"time"
)

// DesktopWith returns the OS notifier running commands through run.
func DesktopWith(run func(ctx context.Context, name string, args ...string) error) Notifier {
	return desktop{run: run}
}

// SetClock replaces a Limited's clock.
func (l *Limited) SetClock(now func() time.Time) { l.now = now }

// SetAfter replaces a Limited's timer.
func (l *Limited) SetAfter(after func(time.Duration, func())) { l.after = after }
