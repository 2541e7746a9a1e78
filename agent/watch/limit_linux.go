package watch

import (
	"errors"
	"syscall"
)

// isWatchLimit reports whether err means inotify ran out of watches
// (ENOSPC, fs.inotify.max_user_watches) or instances (EMFILE,
// fs.inotify.max_user_instances).
func isWatchLimit(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE)
}

// limitAdvice tells an administrator how to raise the limit.
const limitAdvice = "inotify limit reached: folders beyond it are only seen by the periodic rescan; " +
	"raise the limit with `sysctl fs.inotify.max_user_watches=524288` " +
	"(and `sysctl fs.inotify.max_user_instances=1024` for \"too many open files\"), " +
	"and keep it across reboots in /etc/sysctl.d/"
