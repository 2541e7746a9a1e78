//go:build !windows

package cloudsync

import (
	"io/fs"
	"syscall"
)

const (
	noFollow = syscall.O_NOFOLLOW // a configuration file that is a link fails to open
	nonBlock = syscall.O_NONBLOCK // a FIFO put in its place must never block the open
)

// dirLink reports junctions, which exist only on Windows.
func dirLink(fs.FileInfo) bool { return false }
