package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// osPlatform is the channel on Windows: a named pipe that SYSTEM (and the
// account the service runs as) may create and interactive users connect to.
type osPlatform struct{}

func defaultAddr() string { return `\\.\pipe\casekeep` }

// Access rights a client of the pipe needs and no more: FILE_GENERIC_READ
// and FILE_WRITE_DATA. Not FILE_APPEND_DATA, which on a pipe is
// FILE_CREATE_PIPE_INSTANCE: whoever holds it could serve the pipe's next
// client.
const clientAccess = windows.STANDARD_RIGHTS_READ | windows.FILE_READ_DATA |
	windows.FILE_READ_ATTRIBUTES | windows.FILE_READ_EA | windows.SYNCHRONIZE |
	windows.FILE_WRITE_DATA

// pipeSDDL is the pipe's security descriptor: full control for SYSTEM
// and for self (the service's account, SYSTEM when installed; another
// in dev mode), connect only for administrators and interactive users
// (which takes in Remote Desktop sessions, and leaves out service accounts
// and network logons; the pipe refuses remote clients besides).
func pipeSDDL(self string) string {
	return fmt.Sprintf("D:P(A;;GA;;;SY)(A;;GA;;;%s)(A;;0x%x;;;BA)(A;;0x%x;;;IU)", self, clientAccess, clientAccess)
}

func (osPlatform) listen(addr string) (net.Listener, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("local channel: %w", err)
	}
	// ListenPipe creates the pipe's first instance (FILE_CREATE): if a
	// pipe of that name exists, made by a user to pose as the service,
	// it fails rather than join it.
	l, err := winio.ListenPipe(addr, &winio.PipeConfig{
		SecurityDescriptor: pipeSDDL(u.User.Sid.String()),
		InputBufferSize:    DefaultMaxRequest,
		OutputBufferSize:   DefaultMaxRequest,
	})
	if err != nil {
		if isExist(err) {
			return nil, fmt.Errorf("%w: %s: %v", ErrInUse, addr, err)
		}
		return nil, fmt.Errorf("local channel: %w", err)
	}
	return l, nil
}

// isExist is true for the errors of a pipe that exists already: its
// name taken, or its access list (someone else's) shutting us out.
func isExist(err error) bool {
	var e windows.Errno
	return errors.As(err, &e) &&
		(e == windows.ERROR_ALREADY_EXISTS || e == windows.ERROR_PIPE_BUSY || e == windows.ERROR_ACCESS_DENIED)
}

func (osPlatform) dial(ctx context.Context, addr string) (net.Conn, error) {
	// Identification: the service may learn who the client is, not act
	// as it.
	return winio.DialPipeAccessImpLevel(ctx, addr, clientAccess, winio.PipeImpLevelIdentification)
}

// peer reads the token of the process at the client's end of the pipe.
//
// The process ID comes from the pipe (GetNamedPipeClientProcessId), so
// that the caps can count the account before it has sent anything; if
// that process has exited and its ID been given to another by the time
// its token is opened, the token is the other's. confirm closes that gap
// before any request is served.
func (osPlatform) peer(c net.Conn) (Peer, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return Peer{}, fmt.Errorf("not a pipe: %T", c)
	}
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(windows.Handle(f.Fd()), &pid); err != nil {
		return Peer{}, fmt.Errorf("GetNamedPipeClientProcessId: %w", err)
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return Peer{}, fmt.Errorf("OpenProcess %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return Peer{}, fmt.Errorf("OpenProcessToken %d: %w", pid, err)
	}
	defer tok.Close()
	return tokenPeer(tok, int(pid))
}

// tokenPeer is the account of tok: its user's SID, and whether it is
// SYSTEM or holds the Administrators group enabled (an elevated token; a
// filtered one has it for deny only).
func tokenPeer(tok windows.Token, pid int) (Peer, error) {
	u, err := tok.GetTokenUser()
	if err != nil {
		return Peer{}, fmt.Errorf("the token's user: %w", err)
	}
	sid := u.User.Sid
	p := Peer{ID: sid.String(), UID: -1, GID: -1, PID: pid}
	if sid.IsWellKnown(windows.WinLocalSystemSid) {
		p.Admin = true
	} else {
		groups, err := tok.GetTokenGroups()
		if err != nil {
			return Peer{}, fmt.Errorf("the token's groups: %w", err)
		}
		for _, g := range groups.AllGroups() {
			if g.Sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) &&
				g.Attributes&windows.SE_GROUP_ENABLED != 0 &&
				g.Attributes&windows.SE_GROUP_USE_FOR_DENY_ONLY == 0 {
				p.Admin = true
			}
		}
	}
	return p, nil
}

var procImpersonateNamedPipeClient = windows.NewLazySystemDLL("advapi32.dll").NewProc("ImpersonateNamedPipeClient")

// confirm reads the client's token again, now through the pipe itself:
// impersonating the client (possible once it has written, at the
// identification level the Client dials with), which no reuse of its
// process ID can change. The account must be the one peer found, and
// the Peer served is this token's (an elevated process given the same
// ID by then would otherwise be served as admin).
func (osPlatform) confirm(c net.Conn, p Peer) (Peer, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return Peer{}, fmt.Errorf("not a pipe: %T", c)
	}
	q, err := impersonatedPeer(windows.Handle(f.Fd()), p.PID)
	if err != nil {
		return Peer{}, err
	}
	if q.ID != p.ID {
		return Peer{}, fmt.Errorf("the pipe's client is %s, the token of process %d %s", q.ID, p.PID, p.ID)
	}
	return q, nil
}

// impersonatedPeer is the Peer of the pipe's client's token, read while
// this thread impersonates it.
func impersonatedPeer(h windows.Handle, pid int) (Peer, error) {
	runtime.LockOSThread()
	if r, _, err := procImpersonateNamedPipeClient.Call(uintptr(h)); r == 0 {
		runtime.UnlockOSThread()
		return Peer{}, fmt.Errorf("ImpersonateNamedPipeClient: %w", err)
	}
	var tok windows.Token
	// As self: an identification-level token cannot open its own thread.
	err := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &tok)
	if rerr := windows.RevertToSelf(); rerr != nil {
		// This thread still acts as the client: it is never handed
		// back, and ends with this goroutine, the connection's.
		if err == nil {
			tok.Close()
		}
		return Peer{}, fmt.Errorf("RevertToSelf: %w", rerr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return Peer{}, fmt.Errorf("OpenThreadToken: %w", err)
	}
	defer tok.Close()
	return tokenPeer(tok, pid)
}

func (osPlatform) name(p Peer) string {
	sid, err := windows.StringToSid(p.ID)
	if err != nil {
		return ""
	}
	acct, dom, _, err := sid.LookupAccount("")
	if err != nil {
		return ""
	}
	if dom != "" {
		return dom + `\` + acct
	}
	return acct
}
