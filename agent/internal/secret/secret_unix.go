//go:build !windows

package secret

import (
	"os"

	"golang.org/x/sys/unix"
)

// alloc maps n bytes (rounded up to pages) of private anonymous memory and
// tries to lock it. A mapping that cannot be locked is still used: it is
// page-aligned and never moved by the garbage collector, so Destroy zeroes
// the only copy.
func alloc(n int) (mem []byte, locked bool, err error) {
	page := os.Getpagesize()
	size := (n + page - 1) / page * page
	mem, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, false, err
	}
	dontDump(mem)
	locked = unix.Mlock(mem) == nil
	return mem, locked, nil
}

func free(mem []byte, locked bool) {
	if locked {
		unix.Munlock(mem)
	}
	unix.Munmap(mem)
}
