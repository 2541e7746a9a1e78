//go:build !windows

package outside

import (
	"os"
	"syscall"
)

// sameOwner reports whether the files a and b (not followed if links)
// belong to the same user.
func sameOwner(a, b string) bool {
	fa, err := os.Lstat(a)
	if err != nil {
		return false
	}
	fb, err := os.Lstat(b)
	if err != nil {
		return false
	}
	sa, ok1 := fa.Sys().(*syscall.Stat_t)
	sb, ok2 := fb.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Uid == sb.Uid
}
