package storage

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestMountFlags: a remount passes again the options that are flags, and
// only those.
func TestMountFlags(t *testing.T) {
	for opts, want := range map[string]uintptr{
		"": 0,
		"rw,nosuid,nodev,relatime,errors=remount-ro": unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RELATIME,
		"ro,noexec,noatime,nodiratime,sync,dirsync":  unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC,
		"strictatime,nosymfollow,lazytime,uid=1000":  unix.MS_STRICTATIME | unix.MS_NOSYMFOLLOW | unix.MS_LAZYTIME,
	} {
		if got := mountFlags(opts); got != want {
			t.Errorf("mountFlags(%q) = %#x, want %#x", opts, got, want)
		}
	}
}
