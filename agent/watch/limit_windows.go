package watch

import (
	"errors"

	"golang.org/x/sys/windows"
)

// isWatchLimit reports whether err means Windows ran out of handles or of
// the kernel resources a folder watch needs.
func isWatchLimit(err error) bool {
	return errors.Is(err, windows.ERROR_TOO_MANY_OPEN_FILES) ||
		errors.Is(err, windows.ERROR_NO_SYSTEM_RESOURCES)
}

// limitAdvice tells an administrator what the limit is.
const limitAdvice = "out of handles or system resources for folder watches: " +
	"folders beyond the limit are only seen by the periodic rescan; " +
	"check for a handle leak, or a cache folder with far more folders than expected"
