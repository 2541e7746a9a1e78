//go:build !windows

package fileowner_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/casekeep/casekeep/internal/fileowner"
	"github.com/casekeep/casekeep/internal/testenv"
)

const (
	nobody  = 65534 // a user of most systems
	noSuch  = 12345 // a user ID no account has
	sticky  = fs.ModeSticky
	anyone  = "anyone"
	ourGrp  = "its group"
	noOther = ""
)

// asRoot skips a test that must give files to other users.
func asRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root to give files to other users (run the tests as root)")
	}
}

func lstat(t *testing.T, path string) fs.FileInfo {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func owner(t *testing.T, path string) fileowner.Owner {
	t.Helper()
	o, err := fileowner.Of(path, lstat(t, path))
	if err != nil {
		t.Fatalf("Of(%s): %v", path, err)
	}
	return o
}

func file(t *testing.T, dir, name string, uid int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Lchown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestOwners(t *testing.T) {
	dir := t.TempDir()
	me, err := fileowner.Current()
	if err != nil {
		t.Fatal(err)
	}
	mine := owner(t, file(t, dir, "mine", -1))
	if !mine.Equal(me) || mine.String() != me.String() || !mine.Known() {
		t.Errorf("a file this process made: owner %v, current %v, known %v", mine, me, mine.Known())
	}
	if mine.IsSystem() != (os.Geteuid() == 0) {
		t.Errorf("%v: IsSystem = %v", mine, mine.IsSystem())
	}

	asRoot(t)
	if me.String() != "uid 0" || !me.IsSystem() {
		t.Errorf("root is %v, IsSystem %v", me, me.IsSystem())
	}
	for _, tc := range []struct {
		uid   int
		name  string
		known bool
	}{{nobody, "uid 65534", true}, {noSuch, "uid 12345", false}} {
		o := owner(t, file(t, dir, tc.name, tc.uid))
		if o.String() != tc.name || o.IsSystem() || o.Equal(me) || o.Known() != tc.known {
			t.Errorf("%s: got %v, system %v, current %v, known %v", tc.name, o, o.IsSystem(), o.Equal(me), o.Known())
		}
		if !o.Equal(owner(t, file(t, dir, tc.name+" too", tc.uid))) {
			t.Errorf("%s: two files of the same user have different owners", tc.name)
		}
	}
}

// A link is its own file: its owner is the one who made it, whatever it
// leads to.
func TestLinksNotFollowed(t *testing.T) {
	asRoot(t)
	dir := t.TempDir()
	rootFile := file(t, dir, "root", 0)
	userFile := file(t, dir, "user", noSuch)
	userLink := filepath.Join(dir, "user-link")
	if err := os.Symlink(rootFile, userLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(userLink, noSuch, noSuch); err != nil {
		t.Fatal(err)
	}
	rootLink := filepath.Join(dir, "root-link")
	if err := os.Symlink(userFile, rootLink); err != nil {
		t.Fatal(err)
	}
	if o := owner(t, userLink); o.String() != "uid 12345" || o.IsSystem() {
		t.Errorf("a user's link to root's file: owner %v, system %v", o, o.IsSystem())
	}
	if o := owner(t, rootLink); !o.IsSystem() {
		t.Errorf("root's link to a user's file: owner %v", o)
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{rootFile, rootLink, true},
		{userFile, userLink, true},
		{rootFile, userLink, false},
		{userFile, rootLink, false},
		{rootFile, filepath.Join(dir, "missing"), false},
		{filepath.Join(dir, "missing"), filepath.Join(dir, "missing"), false},
	} {
		if got := fileowner.SameOwner(tc.a, tc.b); got != tc.want {
			t.Errorf("SameOwner(%s, %s) = %v, want %v", filepath.Base(tc.a), filepath.Base(tc.b), got, tc.want)
		}
	}
	// A dangling link has an owner too.
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "missing"), dangling); err != nil {
		t.Fatal(err)
	}
	if o := owner(t, dangling); !o.IsSystem() {
		t.Errorf("a dangling link: owner %v", o)
	}
}

func TestWritableByOthers(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		dir  bool
		mode fs.FileMode
		want string
	}{
		{false, 0o600, noOther},
		{false, 0o644, noOther},
		{false, 0o400, noOther},
		{false, 0o640, noOther},
		{false, 0o620, ourGrp},
		{false, 0o660, ourGrp},
		{false, 0o664, ourGrp},
		{false, 0o666, anyone},
		{false, 0o602, anyone},
		{false, 0o777, anyone},
		{true, 0o700, noOther},
		{true, 0o755, noOther},
		{true, 0o775, ourGrp},
		{true, 0o777, anyone},
		{true, 0o733, anyone},
		// Sticky: others may not remove what is not theirs, but may add.
		{true, 0o1777, anyone},
		{true, 0o1770, ourGrp},
		{true, 0o1755, noOther},
	} {
		p := filepath.Join(dir, fmt.Sprintf("%04o", uint32(tc.mode)))
		var err error
		if tc.dir {
			err = os.Mkdir(p+"d", 0o700)
			p += "d"
		} else {
			err = os.WriteFile(p, nil, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		mode := tc.mode.Perm()
		if tc.mode&0o1000 != 0 {
			mode |= sticky
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		fi := lstat(t, p)
		if tc.mode&0o1000 != 0 && fi.Mode()&sticky == 0 {
			t.Fatalf("%s is not sticky: %v", p, fi.Mode())
		}
		got, err := fileowner.WritableByOthers(p, fi)
		if err != nil || got != tc.want {
			t.Errorf("WritableByOthers of a %v (dir %v) = %q, %v; want %q", fi.Mode(), tc.dir, got, err, tc.want)
		}
	}
	// A link is judged as itself (0777 on Linux), not as the private file
	// it leads to.
	private := file(t, dir, "private", -1)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(private, link); err != nil {
		t.Fatal(err)
	}
	fi := lstat(t, link)
	got, err := fileowner.WritableByOthers(link, fi)
	if err != nil || runtime.GOOS == "linux" && got != anyone {
		t.Errorf("a link of mode %v to a private file: %q, %v", fi.Mode(), got, err)
	}
}

func TestLinkCount(t *testing.T) {
	dir := t.TempDir()
	a := file(t, dir, "a", -1)
	if n := fileowner.Links(lstat(t, a)); n != 1 {
		t.Errorf("a new file has %d links", n)
	}
	for i, name := range []string{"b", "c"} {
		if err := os.Link(a, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		if n := fileowner.Links(lstat(t, a)); n != uint64(i+2) {
			t.Errorf("after %d more names: %d links", i+1, n)
		}
	}
	// A link to it is a file of its own, with one name.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	if n := fileowner.Links(lstat(t, link)); n != 1 {
		t.Errorf("a symlink to a file of 3 names: %d links", n)
	}
}

// fakeInfo is a FileInfo of no file system.
type fakeInfo struct{}

func (fakeInfo) Name() string       { return "fake" }
func (fakeInfo) Size() int64        { return 0 }
func (fakeInfo) Mode() fs.FileMode  { return 0o600 }
func (fakeInfo) ModTime() time.Time { return time.Time{} }
func (fakeInfo) IsDir() bool        { return false }
func (fakeInfo) Sys() any           { return nil }

// What cannot be read is no one: not the system, equal to no one, not
// even another unknown owner.
func TestNoOwner(t *testing.T) {
	o, err := fileowner.Of("fake", fakeInfo{})
	if !errors.Is(err, fileowner.ErrNoOwner) {
		t.Fatalf("Of a fake FileInfo: %v, %v", o, err)
	}
	me, _ := fileowner.Current()
	var zero fileowner.Owner
	for _, o := range []fileowner.Owner{o, zero} {
		if o.IsSystem() || o.Equal(me) || me.Equal(o) || o.Equal(zero) || o.Known() || o.String() != "no owner" {
			t.Errorf("%v: system %v, current %v, known %v", o, o.IsSystem(), o.Equal(me), o.Known())
		}
	}
	if n := fileowner.Links(fakeInfo{}); n != 1 {
		t.Errorf("a fake FileInfo has %d links", n)
	}
}
