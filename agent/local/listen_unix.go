//go:build unix

package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/casekeep/casekeep/internal/fileowner"
)

// osPlatform is the channel on Unix: a socket in a folder only the
// service may write.
type osPlatform struct{}

// socketName is the socket's name in its folder.
const socketName = "casekeep.sock"

func (osPlatform) listen(addr string) (net.Listener, error) {
	if !filepath.IsAbs(addr) {
		return nil, fmt.Errorf("local channel: %s is not an absolute path", addr)
	}
	dir := filepath.Dir(addr)
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	if err := clearStale(addr); err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("local channel: %w", err)
	}
	// Every user may connect; the folder, which no one else may write,
	// is what keeps the socket the service's. Chmod follows a link, but
	// no one else can have put one here.
	if err := os.Chmod(addr, 0o666); err != nil {
		l.Close()
		return nil, fmt.Errorf("local channel: %w", err)
	}
	return l, nil
}

// prepareDir makes dir the service's own folder for the socket, or says
// why it is not: a folder (not a link) owned by the user the service runs
// as, mode 0755, in folders that only the system or that user may change
// (a sticky folder such as /tmp counts: no one else can move dir out of
// it). A folder someone else owns is refused, never taken over.
func prepareDir(dir string) error {
	if err := checkAncestors(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("local channel: %w", err)
	}
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		// A link (ELOOP) or not a folder (ENOTDIR) at dir.
		return fmt.Errorf("%w: %s: %v", ErrUnsafeDir, dir, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("local channel: %w", err)
	}
	if err := ownedBySelf(dir, fi); err != nil {
		return err
	}
	// Through the open folder, so it is this folder that changes.
	if fi.Mode().Perm() != 0o755 || fi.Mode()&(fs.ModeSticky|fs.ModeSetgid|fs.ModeSetuid) != 0 {
		if err := f.Chmod(0o755); err != nil {
			return fmt.Errorf("local channel: %w", err)
		}
	}
	return nil
}

// ownedBySelf refuses a file that the user this process runs as does not own.
func ownedBySelf(path string, fi fs.FileInfo) error {
	o, err := fileowner.Of(path, fi)
	if err != nil {
		return fmt.Errorf("local channel: %w", err)
	}
	me, err := fileowner.Current()
	if err != nil {
		return fmt.Errorf("local channel: %w", err)
	}
	if !o.Equal(me) {
		return fmt.Errorf("%w: %s belongs to %s, not %s", ErrUnsafeDir, path, o, me)
	}
	return nil
}

// checkAncestors checks that dir and each folder above it, links resolved,
// belong to the system or this process's user and that no one else may
// rename or replace what is in them (sticky folders excepted).
func checkAncestors(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("local channel: %w", err)
	}
	me, err := fileowner.Current()
	if err != nil {
		return fmt.Errorf("local channel: %w", err)
	}
	for p := real; ; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("local channel: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: %s is not a folder", ErrUnsafeDir, p)
		}
		o, err := fileowner.Of(p, fi)
		if err != nil {
			return fmt.Errorf("local channel: %w", err)
		}
		if !o.IsSystem() && !o.Equal(me) {
			return fmt.Errorf("%w: %s belongs to %s", ErrUnsafeDir, p, o)
		}
		if fi.Mode()&fs.ModeSticky == 0 && !onlySystemGroupWrites(fi) {
			if who, err := fileowner.WritableByOthers(p, fi); err != nil || who != "" {
				return fmt.Errorf("%w: %s is writable by %s", ErrUnsafeDir, p, who)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// onlySystemGroupWrites is true for a folder that others than its owner
// may write only through a group of the system's: wheel, and on macOS
// daemon and admin (whose members may become root anyway), as macOS's
// /private/var/run (root:daemon 0775).
func onlySystemGroupWrites(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || fi.Mode().Perm()&0o002 != 0 {
		return false
	}
	switch st.Gid {
	case 0:
		return true
	case 1, 80:
		return runtime.GOOS == "darwin"
	}
	return false
}

// clearStale removes a socket a previous run left at addr, if no service
// answers on it. Anything else there is refused and left alone: in the
// service's own folder only the service could have made it.
func clearStale(addr string) error {
	fi, err := os.Lstat(addr)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("local channel: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s is a %v, not a socket", ErrUnsafeDir, addr, fi.Mode().Type())
	}
	if err := ownedBySelf(addr, fi); err != nil {
		return err
	}
	if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%w: %s", ErrInUse, addr)
	}
	if err := os.Remove(addr); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local channel: %w", err)
	}
	return nil
}

func (osPlatform) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", addr)
}

func (osPlatform) peer(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("not a Unix socket: %T", c)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var p Peer
	var perr error
	if err := rc.Control(func(fd uintptr) { p, perr = peerCred(int(fd)) }); err != nil {
		return Peer{}, err
	}
	return p, perr
}

// confirm: the socket's credentials are the kernel's from the connect on.
func (osPlatform) confirm(_ net.Conn, p Peer) (Peer, error) { return p, nil }

func (osPlatform) name(p Peer) string {
	if u, err := user.LookupId(strconv.Itoa(p.UID)); err == nil {
		return u.Username
	}
	return ""
}

func defaultAddr() string {
	if runtime.GOOS == "darwin" {
		return "/var/run/casekeep/" + socketName
	}
	return "/run/casekeep/" + socketName
}
