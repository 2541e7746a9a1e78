//go:build !windows

package main

import (
	"fmt"
	"io/fs"
	"os/user"
	"strconv"
	"syscall"
)

// cacheWritableByOthers says what is wrong with who can write the cache
// folder dir: others or its group able to write it, or no known owner.
func cacheWritableByOthers(dir string, fi fs.FileInfo) string {
	perm := fi.Mode().Perm()
	if perm&0o002 != 0 {
		return fmt.Sprintf("anyone can write it (mode %04o): chmod o-w", perm)
	}
	if perm&0o020 != 0 {
		return fmt.Sprintf("its group can write it (mode %04o): chmod g-w", perm)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	if _, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10)); err != nil {
		return fmt.Sprintf("its owner, uid %d, is no user of this computer", st.Uid)
	}
	return ""
}
