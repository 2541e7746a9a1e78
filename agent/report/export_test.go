package report

import "time"

// SetAfter makes EnrollWhenAsked wait on after rather than time.After.
func SetAfter(o *EnrollOptions, after func(time.Duration) <-chan time.Time) { o.after = after }

// SetLeaseBodyHook sets the function given the buffer a lease reply was
// read into; nil removes it.
func SetLeaseBodyHook(f func(rb []byte)) { leaseBodyHook = f }
