package check

import (
	"strings"
	"time"
)

// TypePrefix reports whether the event type filter typ is a prefix (it ends
// in "."), and if so the range [lo, hi) of the types that start with it, in
// byte order: lo is typ and hi is typ with its final "." replaced by "/",
// the next byte. A range, unlike LIKE, needs no escaping of the filter and
// is what an index on type answers.
func TypePrefix(typ string) (lo, hi string, ok bool) {
	if !strings.HasSuffix(typ, ".") {
		return "", "", false
	}
	return typ, typ[:len(typ)-1] + "/", true
}

// Until returns an exclusive upper bound in stored form, and false if t
// bounds nothing: it is zero, or after every time a store can keep (so that
// a time kept at the very end of the year 9999 is still before it).
func Until(t time.Time) (time.Time, bool) {
	if t.IsZero() || t.After(maxTime) {
		return time.Time{}, false
	}
	return Bound(t), true
}
