package local

import (
	"context"
	"net"
	"strconv"
)

// Peer is the account at the other end of a connection, as the kernel
// tells it: the Unix socket's peer credentials, or the token of the
// process that opened the pipe. A request cannot change it.
type Peer struct {
	// ID is the account's stable identifier: the decimal user ID on
	// Unix, the user's SID on Windows. It is what handlers compare.
	ID string
	// UID and GID are the user and group IDs on Unix; -1 on Windows.
	UID, GID int
	// PID is the process at the other end, where the OS says (Linux,
	// Windows, macOS); 0 where it does not. For logs: a process ID can be
	// reused.
	PID int
	// Name is the account's name (DOMAIN\user on Windows) for logs and
	// messages, "" when the OS cannot name it. Never decide on it.
	Name string
	// Admin is true for root on Unix, and for SYSTEM or an elevated
	// administrator on Windows: an account that may see every cache.
	Admin bool
}

// String names p for a log line.
func (p Peer) String() string {
	s := "uid " + p.ID
	if p.UID < 0 {
		s = p.ID
	}
	if p.Name != "" {
		s += " (" + p.Name + ")"
	}
	return s
}

// unixPeer is the Peer of a Unix user ID; name is looked up by the caller.
func unixPeer(uid, gid uint32, pid int32) Peer {
	return Peer{
		ID:    strconv.FormatUint(uint64(uid), 10),
		UID:   int(uid),
		GID:   int(gid),
		PID:   int(pid),
		Admin: uid == 0,
	}
}

// platform is what the channel needs of the operating system, one file
// per OS (listen_unix.go, peer_linux.go, peer_darwin.go, local_windows.go),
// so that the server's logic is tested on any OS with a fake.
type platform interface {
	// listen makes the service's end of the channel at addr.
	listen(addr string) (net.Listener, error)
	// dial connects to the channel at addr.
	dial(ctx context.Context, addr string) (net.Conn, error)
	// peer says who is at the other end of c, which listen's listener
	// accepted: quickly, from the kernel, without its Name.
	peer(c net.Conn) (Peer, error)
	// confirm checks p, which peer gave, once the client has sent its
	// first request, and returns the Peer to serve it as; an error
	// refuses the connection. Only Windows has more to learn by then.
	confirm(c net.Conn, p Peer) (Peer, error)
	// name is p's account name, or "": it may ask a directory service,
	// so it is asked in the connection's own goroutine.
	name(p Peer) string
}
