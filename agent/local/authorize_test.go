//go:build unix

package local

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/testenv"
)

// Hostile paths a user could name in a request, against their own cache.
func TestAuthorize(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "files of several owners need root")
	}
	const aliceUID, bobUID = 1000, 1001
	all := filepath.Join(openDir(t), "caches")
	alice := filepath.Join(all, "alice")
	bob := filepath.Join(all, "bob")
	mk := func(path string, uid int) string {
		t.Helper()
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte("sealed "+filepath.Base(path)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, uid, uid); err != nil {
			t.Fatal(err)
		}
		return path
	}
	own := mk(filepath.Join(alice, "LL-1", "report.docx.age"), aliceUID)
	sealed := mk(filepath.Join(alice, "LL-1", "by-the-service.age"), 0)
	bobs := mk(filepath.Join(bob, "LL-2", "bob.docx.age"), bobUID)
	planted := mk(filepath.Join(alice, "LL-1", "planted.age"), bobUID) // bob's file in alice's cache
	mk(filepath.Join(all, "alice2", "f.age"), aliceUID)
	os.Symlink(bobs, filepath.Join(alice, "to-bob.age"))
	os.Symlink("/etc/shadow", filepath.Join(alice, "shadow.age"))
	os.Symlink(own, filepath.Join(alice, "inside-link.age"))
	os.Symlink(filepath.Join(bob, "LL-2"), filepath.Join(alice, "bobdir"))
	os.Symlink(filepath.Join(alice, "LL-1"), filepath.Join(alice, "LL-1-link"))
	if err := syscall.Mkfifo(filepath.Join(alice, "fifo.age"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(alice, "null.age"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	if l, err := net.Listen("unix", filepath.Join(alice, "sock.age")); err == nil {
		defer l.Close()
	}
	os.Link(mk(filepath.Join(alice, "first-name.age"), aliceUID), filepath.Join(alice, "second-name.age"))

	alicePeer := unixPeer(aliceUID, aliceUID, 0)
	root := unixPeer(0, 0, 0)
	for _, tc := range []struct {
		name string
		p    Peer
		path string
		want error
	}{
		{"own file", alicePeer, own, nil},
		{"the service's file in it", alicePeer, sealed, nil},
		{"another user's file planted in it", alicePeer, planted, ErrDenied},
		{"another user's cache", alicePeer, bobs, ErrOutside},
		{"dot-dot out", alicePeer, alice + "/../bob/LL-2/bob.docx.age", ErrOutside},
		{"dot-dot staying in", alicePeer, alice + "/LL-1/../LL-1/report.docx.age", ErrOutside},
		{"a cache named like it", alicePeer, filepath.Join(all, "alice2", "f.age"), ErrOutside},
		{"outside", alicePeer, "/etc/passwd", ErrOutside},
		{"relative", alicePeer, "LL-1/report.docx.age", ErrOutside},
		{"the cache itself", alicePeer, alice, ErrOutside},
		{"a folder", alicePeer, filepath.Join(alice, "LL-1"), ErrNotRegular},
		{"missing", alicePeer, filepath.Join(alice, "LL-1", "none.age"), ErrOutside},
		{"link to another's file", alicePeer, filepath.Join(alice, "to-bob.age"), ErrNotRegular},
		{"link out", alicePeer, filepath.Join(alice, "shadow.age"), ErrNotRegular},
		{"link inside", alicePeer, filepath.Join(alice, "inside-link.age"), ErrNotRegular},
		{"through a linked folder out", alicePeer, filepath.Join(alice, "bobdir", "bob.docx.age"), ErrNotRegular},
		{"through a linked folder inside", alicePeer, filepath.Join(alice, "LL-1-link", "report.docx.age"), ErrNotRegular},
		{"through a file", alicePeer, filepath.Join(own, "x"), ErrNotRegular},
		{"FIFO", alicePeer, filepath.Join(alice, "fifo.age"), ErrNotRegular},
		{"device", alicePeer, filepath.Join(alice, "null.age"), ErrNotRegular},
		{"socket", alicePeer, filepath.Join(alice, "sock.age"), ErrNotRegular},
		{"hard link", alicePeer, filepath.Join(alice, "second-name.age"), ErrNotRegular},
		{"NUL", alicePeer, own + "\x00x", ErrOutside},
		{"root sees another's cache", root, bobs, nil},
		{"root sees a planted file", root, planted, nil},
		{"root: still no links", root, filepath.Join(alice, "to-bob.age"), ErrNotRegular},
		{"root: still not outside", root, "/etc/passwd", ErrOutside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			var tg *Target
			var err error
			go func() { defer close(done); tg, err = Authorize(tc.p, alice, all, tc.path) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Authorize hung")
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want the file", err)
				}
				defer tg.File.Close()
				b, _ := io.ReadAll(tg.File)
				if string(b) != "sealed "+filepath.Base(tc.path) {
					t.Fatalf("read %q", b)
				}
				if filepath.Join(tg.Root, tg.Rel) != tc.path {
					t.Fatalf("target %s + %s", tg.Root, tg.Rel)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tg != nil {
				t.Fatal("a target with the error")
			}
		})
	}
	// Without a folder of all caches, an admin has only its own.
	if _, err := Authorize(root, alice, "", bobs); !errors.Is(err, ErrOutside) {
		t.Fatalf("admin without all: %v", err)
	}
	// The errors say nothing of the path for the person to read back.
	_, err := Authorize(alicePeer, alice, all, filepath.Join(alice, "LL-1", "secret-name.age"))
	if err == nil || containsAny(err.Error(), "secret-name", alice) {
		t.Fatalf("error %q", err)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if x != "" && strings.Contains(s, x) {
			return true
		}
	}
	return false
}
