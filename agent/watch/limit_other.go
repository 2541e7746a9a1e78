//go:build !linux && !windows

package watch

import (
	"errors"
	"syscall"
)

// isWatchLimit reports whether err means the process ran out of file
// descriptors: kqueue (macOS, BSD) holds one open per watched file and
// folder.
func isWatchLimit(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// limitAdvice tells an administrator how to raise the limit.
const limitAdvice = "open file limit reached (kqueue needs one descriptor per watched file and folder): " +
	"files beyond it are only seen by the periodic rescan; raise the service's open-file limit " +
	"(launchd SoftResourceLimits/HardResourceLimits NumberOfFiles) and, if needed, " +
	"`sysctl kern.maxfiles` and `sysctl kern.maxfilesperproc`"
