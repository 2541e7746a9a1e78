//go:build unix

package local

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/casekeep/casekeep/internal/testenv"
)

// What a user may have put where the socket goes is refused, and left as
// it was; what the service left there itself is replaced.
func TestListenRefusesWhatIsNotTheServices(t *testing.T) {
	h := &whoami{}
	t.Run("link as the folder", func(t *testing.T) {
		base := openDir(t)
		target := filepath.Join(base, "elsewhere")
		os.Mkdir(target, 0o755)
		os.Symlink(target, filepath.Join(base, "run"))
		if _, err := Listen(filepath.Join(base, "run", socketName), h, Options{}); !errors.Is(err, ErrUnsafeDir) {
			t.Fatalf("got %v, want unsafe", err)
		}
		if _, err := os.Lstat(filepath.Join(target, socketName)); err == nil {
			t.Fatal("a socket was made through the link")
		}
	})
	t.Run("file as the folder", func(t *testing.T) {
		base := openDir(t)
		os.WriteFile(filepath.Join(base, "run"), nil, 0o644)
		if _, err := Listen(filepath.Join(base, "run", socketName), h, Options{}); !errors.Is(err, ErrUnsafeDir) {
			t.Fatalf("got %v, want unsafe", err)
		}
	})
	t.Run("file at the socket", func(t *testing.T) {
		base := openDir(t)
		os.Mkdir(filepath.Join(base, "run"), 0o755)
		addr := filepath.Join(base, "run", socketName)
		os.WriteFile(addr, []byte("keep"), 0o644)
		if _, err := Listen(addr, h, Options{}); !errors.Is(err, ErrUnsafeDir) {
			t.Fatalf("got %v, want unsafe", err)
		}
		if b, _ := os.ReadFile(addr); string(b) != "keep" {
			t.Fatal("the file was changed")
		}
	})
	t.Run("link at the socket", func(t *testing.T) {
		base := openDir(t)
		os.Mkdir(filepath.Join(base, "run"), 0o755)
		addr := filepath.Join(base, "run", socketName)
		os.Symlink("/etc/passwd", addr)
		if _, err := Listen(addr, h, Options{}); !errors.Is(err, ErrUnsafeDir) {
			t.Fatalf("got %v, want unsafe", err)
		}
		if fi, err := os.Lstat(addr); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatal("the link was changed")
		}
	})
	t.Run("writable parent", func(t *testing.T) {
		base := openDir(t)
		os.Chmod(base, 0o777) // not sticky: anyone could replace run/
		if _, err := Listen(filepath.Join(base, "run", socketName), h, Options{}); !errors.Is(err, ErrUnsafeDir) {
			t.Fatalf("got %v, want unsafe", err)
		}
	})
	t.Run("a loose folder of its own is made private", func(t *testing.T) {
		base := openDir(t)
		dir := filepath.Join(base, "run")
		os.Mkdir(dir, 0o777)
		os.Chmod(dir, 0o777)
		s, _ := serveOn(t, osPlatform{}, filepath.Join(dir, socketName), h, Options{})
		if fi, _ := os.Lstat(dir); fi.Mode().Perm() != 0o755 {
			t.Fatalf("folder mode %v", fi.Mode())
		}
		_ = s
	})
	t.Run("another user's folder", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testenv.Unavailable(t, "giving a folder to another user needs root")
		}
		base := openDir(t)
		dir := filepath.Join(base, "run")
		os.Mkdir(dir, 0o755)
		os.Chown(dir, nobody, nobody)
		if _, err := Listen(filepath.Join(dir, socketName), h, Options{}); !errors.Is(err, ErrUnsafeDir) {
			t.Fatalf("got %v, want unsafe", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("made %v in another user's folder", entries)
		}
	})
	t.Run("stale socket replaced, live one refused", func(t *testing.T) {
		base := openDir(t)
		os.Mkdir(filepath.Join(base, "run"), 0o755)
		addr := filepath.Join(base, "run", socketName)
		// A socket left by a run that died: nothing listens on it.
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
		s, _ := serveOn(t, osPlatform{}, addr, h, Options{})
		if err := dial(t, s.Addr()).Call(ctxT(t, 5e9), "whoami", nil, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := Listen(addr, h, Options{}); !errors.Is(err, ErrInUse) {
			t.Fatalf("a second service: %v, want in use", err)
		}
		if err := dial(t, s.Addr()).Call(ctxT(t, 5e9), "whoami", nil, nil); err != nil {
			t.Fatalf("the first after a second tried: %v", err)
		}
	})
}

func TestSystemGroupWrites(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "giving a folder to a group needs root")
	}
	base := openDir(t)
	for _, tc := range []struct {
		gid  int
		mode os.FileMode
		want bool
	}{
		{0, 0o775, true},
		{0, 0o777, false},
		{nobody, 0o775, false},
		{nobody, 0o755, false}, // not the question: no group writes
	} {
		d := filepath.Join(base, "d")
		os.Mkdir(d, 0o755)
		os.Chown(d, 0, tc.gid)
		os.Chmod(d, tc.mode)
		fi, _ := os.Lstat(d)
		if got := onlySystemGroupWrites(fi); got != tc.want && tc.mode&0o020 != 0 {
			t.Errorf("gid %d mode %v: %v, want %v", tc.gid, tc.mode, got, tc.want)
		}
		os.Remove(d)
	}
	// Through Listen: a group-writable parent of the system's group is
	// accepted, another group's is not.
	parent := filepath.Join(base, "p")
	os.Mkdir(parent, 0o775)
	os.Chmod(parent, 0o775)
	os.Chown(parent, 0, nobody)
	if _, err := Listen(filepath.Join(parent, "run", socketName), &whoami{}, Options{}); !errors.Is(err, ErrUnsafeDir) {
		t.Fatalf("group %d may write the parent: %v, want unsafe", nobody, err)
	}
	os.Chown(parent, 0, 0)
	serveOn(t, osPlatform{}, filepath.Join(parent, "run", socketName), &whoami{}, Options{})
}
