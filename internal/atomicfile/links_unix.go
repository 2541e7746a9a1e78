//go:build unix

package atomicfile

import (
	"io/fs"
	"syscall"
)

// links returns how many names the file fi describes has (1 if unknown).
func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
