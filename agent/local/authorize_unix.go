//go:build unix

package local

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// openNoFollow: a link at the last name fails (ELOOP), a FIFO opens
// without waiting for a writer, a terminal is never made ours.
const openNoFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_NOCTTY

// ownerOf is the user ID owning the open file fi describes, and whether
// that is root.
func ownerOf(_ *os.File, fi fs.FileInfo) (string, bool, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false, errors.New("no owner in the file's status")
	}
	return strconv.FormatUint(uint64(st.Uid), 10), st.Uid == 0, nil
}
