package cloudsync_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/agent/cloudsync"
)

const samplePasswd = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin
alice:x:1000:1000:Alice Smith,,,:/home/alice:/bin/bash
bob:x:1001:1001:Bob Jones:/home/bob/:/bin/zsh
carol:x:1002:1002::/srv/users/../users/carol:/bin/bash
dave:x:1003:1003::/home/alice:/bin/bash
svc:x:1004:1004::relative/home:/bin/false
rootish:x:1005:1005::/:/bin/sh
+nisuser:x:1006:1006::/home/nis:/bin/sh
-excluded:x:1007:1007::/home/excluded:/bin/sh
broken:x:1008:1008:/home/broken:/bin/sh
huge:x:99999999999:1:::/home/huge:/bin/sh
neg:x:-1:1::/home/neg:/bin/sh
erin:x:4294967294:1000::/home/erin:/bin/sh` + "\r\n" + `frank:x:2000:2000::/home/fr:ank:/bin/sh
`

// PasswdHomes keeps root and the accounts from uid 1000 (not nobody),
// cleans the homes, drops relative ones, "/", NIS lines and malformed
// lines, and sorts without duplicates.
func TestPasswdHomes(t *testing.T) {
	got, err := cloudsync.PasswdHomes(strings.NewReader(samplePasswd))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/home/alice", "/home/bob", "/home/erin", "/root", "/srv/users/carol"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// A passwd file larger than 4 MiB gives the homes in its first 4 MiB and
// an error.
func TestPasswdHomesTooLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("alice:x:1000:1000::/home/alice:/bin/bash\n")
	for b.Len() <= 4<<20 {
		b.WriteString("# padding padding padding padding padding padding padding padding\n")
	}
	b.WriteString("zed:x:1001:1001::/home/zed:/bin/bash\n")
	got, err := cloudsync.PasswdHomes(strings.NewReader(b.String()))
	if err == nil || !slices.Equal(got, []string{"/home/alice"}) {
		t.Errorf("got %q, %v", got, err)
	}
}

// A folder of homes: real folders only, not links, hidden entries, files
// or the names skipped (ignoring case).
func TestUsersDirHomes(t *testing.T) {
	dir := t.TempDir()
	mkdirs(t, dir, "alice", "Bob Jones", "Zoë", "Shared", ".localized-dir", "Deleted Users")
	write(t, dir, "notes.txt", "x")
	symlink(t, filepath.Join(dir, "alice"), dir, "alias")
	got, err := cloudsync.UsersDirHomes(dir, []string{"shared", "Deleted Users"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "Bob Jones"), filepath.Join(dir, "Zoë"), filepath.Join(dir, "alice")}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if _, err := cloudsync.UsersDirHomes(filepath.Join(dir, "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

// ProfileList: people's SIDs only (local, domain and Entra ID accounts),
// %SystemDrive% expanded, relative paths refused.
func TestProfileHomes(t *testing.T) {
	base := t.TempDir()
	const pl = `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\`
	reg := newReg().
		set(pl+`S-1-5-18`, "ProfileImagePath", `%systemroot%\system32\config\systemprofile`).
		set(pl+`S-1-5-19`, "ProfileImagePath", filepath.Join(base, "LocalService")).
		set(pl+sid(1), "ProfileImagePath", filepath.Join(base, "alice")).
		set(pl+sid(2)+".bak", "ProfileImagePath", filepath.Join(base, "alice.bak")).
		set(pl+`S-1-12-1-3617203574-1105926412-1542433681-1932245406`, "ProfileImagePath", "%SystemDrive%"+string(filepath.Separator)+"entra").
		set(pl+sid(3), "ProfileImagePath", `Users\relative`).
		set(pl + sid(4)) // no ProfileImagePath
	got, err := cloudsync.ProfileHomes(reg, base)
	if !errors.Is(err, cloudsync.ErrMalformed) {
		t.Errorf("err = %v", err)
	}
	want := []string{filepath.Join(base, "alice"), filepath.Join(base, "entra")}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// Homes on this machine: every home is an absolute folder, and root's
// home is among them (this machine runs the tests as root).
func TestHomesHere(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checked on Linux only")
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Skipf("no /etc/passwd: %v", err)
	}
	homes, err := cloudsync.Homes()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range homes {
		if fi, err := os.Stat(h); err != nil || !fi.IsDir() || !filepath.IsAbs(h) || filepath.Clean(h) != h {
			t.Errorf("home %q: %v", h, err)
		}
	}
	if !slices.IsSorted(homes) {
		t.Errorf("not sorted: %q", homes)
	}
	if fi, err := os.Stat("/root"); err == nil && fi.IsDir() && !slices.Contains(homes, "/root") {
		t.Errorf("/root missing from %q", homes)
	}
	// Find runs on this machine's real homes; whatever it finds is well
	// formed.
	got, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: homes})
	if err != nil {
		t.Logf("Find on this machine: %v", err)
	}
	checkFolders(t, runtime.GOOS, got)
	t.Logf("homes %q; %d sync folders", homes, len(got))
}
