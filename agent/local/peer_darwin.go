package local

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// peerCred reads the socket's peer credentials, which the kernel recorded
// when the client connected: LOCAL_PEERCRED (the effective user and its
// groups; the first group is the primary one). The Peer's PID is 0
// where LOCAL_PEERPID cannot be read.
func peerCred(fd int) (Peer, error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return Peer{}, fmt.Errorf("LOCAL_PEERCRED: %w", err)
	}
	if x.Version != xucredVersion {
		return Peer{}, fmt.Errorf("LOCAL_PEERCRED: version %d", x.Version)
	}
	gid := uint32(0xffffffff)
	if x.Ngroups > 0 {
		gid = x.Groups[0]
	}
	// The process is for logs only: LOCAL_PEERPID, where it can be read.
	pid, _ := unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID)
	return unixPeer(x.Uid, gid, int32(pid)), nil
}

// xucredVersion is XUCRED_VERSION of <sys/ucred.h>.
const xucredVersion = 0
