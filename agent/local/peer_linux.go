package local

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// peerCred reads the socket's peer credentials, which the kernel recorded
// when the client connected: SO_PEERCRED.
func peerCred(fd int) (Peer, error) {
	u, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return Peer{}, fmt.Errorf("SO_PEERCRED: %w", err)
	}
	return unixPeer(u.Uid, u.Gid, u.Pid), nil
}
