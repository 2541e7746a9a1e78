//go:build !windows

package fileowner

import (
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// ownerID is a user ID.
type ownerID uint32

func of(_ string, fi fs.FileInfo) (Owner, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Owner{}, ErrNoOwner
	}
	return Owner{ownerID(st.Uid), true}, nil
}

func current() (Owner, error) { return Owner{ownerID(os.Geteuid()), true}, nil }

func (id ownerID) String() string           { return "uid " + strconv.FormatUint(uint64(id), 10) }
func (id ownerID) isSystem() bool           { return id == 0 }
func (id ownerID) equal(other ownerID) bool { return id == other }

func (id ownerID) known() bool {
	_, err := user.LookupId(strconv.FormatUint(uint64(id), 10))
	return err == nil
}

func writableByOthers(_ string, fi fs.FileInfo) (string, error) { return modeWriters(fi.Mode()), nil }

func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
