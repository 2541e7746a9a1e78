package report

import "time"

// SetAfter makes EnrollWhenAsked wait on after rather than time.After.
func SetAfter(o *EnrollOptions, after func(time.Duration) <-chan time.Time) { o.after = after }
