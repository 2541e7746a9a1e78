// Package local is the channel between the person at the laptop and the
// service that runs as root or SYSTEM: a Unix socket on Linux and macOS, a
// named pipe on Windows, that the service owns. It is the foundation that
// `casekeep open`, `seal`, `status` and the session helper use; it knows
// nothing of the vault itself.
//
// Who is asking comes from the kernel, never from the request: the socket's
// peer credentials (SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS) or, on
// Windows, the token of the process at the other end of the pipe, checked
// against the client's own token (impersonating it, at identification
// level) before its first request is served. A [Handler]
// receives that [Peer] with each [Request] and answers as far as that
// account may; [Authorize] is the one check of a path a request names: a
// regular file in the caller's own cache, reached without following a link,
// unless the caller is root, SYSTEM or an elevated administrator.
//
// The wire is a 4-byte big-endian length and a JSON object, in both
// directions, several requests in turn on one connection. The service
// bounds what one client can take: a request's size ([Options.MaxRequest],
// 64 KiB by default, refused unread and the connection closed), the time to
// send a whole request ([Options.ReadTimeout]), a connection's whole life
// ([Options.ConnTimeout]) and how many connections are served at once, in
// all and per account. A client over a limit is answered [ErrBusy] or
// dropped; the others are served. A panic while serving a connection is
// recovered and logged with the operation's name and the account, never a
// request's contents.
//
// The socket's folder (/run/casekeep on Linux, /var/run/casekeep on macOS)
// is the service's own: it must be owned by the user the service runs as
// and writable by no one else, so no user can put a link or a file where
// the socket goes; the socket in it is mode 0666 so that every user can
// connect. The pipe's security descriptor lets SYSTEM (and the account the
// service runs as) create instances and lets interactive users and
// administrators only connect; it is created as the pipe's first instance,
// so a pipe a user made first with that name is refused, never joined.
package local
