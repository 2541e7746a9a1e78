package storage_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/agent/storage"
)

func TestParseMountInfo(t *testing.T) {
	in := strings.Join([]string{
		`36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`,
		`27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard`,
		`42 27 7:0 / /tmp/m\040nt\040é\011\012\134x rw,relatime shared:5 master:2 propagate_from:1 - ext4 /dev/loop0 rw`,
		`43 27 0:50 / /odd\999\12\ rw - fuse.sshfs a\040b@host:/ rw,user_id=0`,
		`44 27 0:51 / /nosuper ro - tmpfs tmpfs`,
		`45 27 0:52 / /spaced rw - 9p share rw,trans=virtio cache=loose`,
		"49 27 8:2 / /media/cr\r rw - vfat /dev/sdb1 rw",
		"50 27 0:53 / /x rw - tmpfs src\r",
		`bad line`,
		`46 27 x:1 / /bad rw - ext4 /dev/x rw`,
		`47 27 8:1 / /nosep rw ext4 /dev/x rw`,
		`48 27 8:1 / /short rw -  ext4`,
		`-1 27 8:1 / /neg rw - ext4 /dev/x rw`,
		``,
	}, "\n")
	got, err := storage.ParseMountInfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Mount{
		{ID: 36, Parent: 35, Major: 98, Minor: 0, Root: "/mnt1", MountPoint: "/mnt2", Options: "rw,noatime", FSType: "ext3", Source: "/dev/root", SuperOptions: "rw,errors=continue"},
		{ID: 27, Parent: 1, Major: 254, Minor: 0, Root: "/", MountPoint: "/", Options: "rw,relatime", FSType: "ext4", Source: "/dev/vda", SuperOptions: "rw,discard"},
		{ID: 42, Parent: 27, Major: 7, Minor: 0, Root: "/", MountPoint: "/tmp/m nt é\t\n\\x", Options: "rw,relatime", FSType: "ext4", Source: "/dev/loop0", SuperOptions: "rw"},
		{ID: 43, Parent: 27, Major: 0, Minor: 50, Root: "/", MountPoint: `/odd\999\12\`, Options: "rw", FSType: "fuse.sshfs", Source: "a b@host:/", SuperOptions: "rw,user_id=0"},
		{ID: 44, Parent: 27, Major: 0, Minor: 51, Root: "/", MountPoint: "/nosuper", Options: "ro", FSType: "tmpfs", Source: "tmpfs"},
		{ID: 45, Parent: 27, Major: 0, Minor: 52, Root: "/", MountPoint: "/spaced", Options: "rw", FSType: "9p", Source: "share", SuperOptions: "rw,trans=virtio cache=loose"},
		{ID: 49, Parent: 27, Major: 8, Minor: 2, Root: "/", MountPoint: "/media/cr\r", Options: "rw", FSType: "vfat", Source: "/dev/sdb1", SuperOptions: "rw"},
		{ID: 50, Parent: 27, Major: 0, Minor: 53, Root: "/", MountPoint: "/x", Options: "rw", FSType: "tmpfs", Source: "src\r"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%#v\nwant\n%#v", got, want)
	}
	if !got[4].ReadOnly() || got[1].ReadOnly() {
		t.Error("ReadOnly wrong for per-mount ro")
	}
	if !(storage.Mount{Options: "rw", SuperOptions: "ro,errors=continue"}).ReadOnly() {
		t.Error("ReadOnly misses a read-only filesystem")
	}
	if (storage.Mount{Options: "rw,errors=remount-ro"}).ReadOnly() {
		t.Error("ReadOnly fooled by remount-ro")
	}
}

func TestParseMountInfoLimits(t *testing.T) {
	long := "1 1 8:1 / /" + strings.Repeat("x", storage.MaxMountInfoLine) + " rw - ext4 /dev/x rw\n"
	if _, err := storage.ParseMountInfo(strings.NewReader(long)); !errors.Is(err, storage.ErrMountInfo) {
		t.Errorf("a line past the limit gave %v", err)
	}
	var b strings.Builder
	for i := range storage.MaxMounts + 1 {
		fmt.Fprintf(&b, "%d 1 0:1 / /m%d rw - tmpfs t rw\n", i, i)
	}
	mounts, err := storage.ParseMountInfo(strings.NewReader(b.String()))
	if !errors.Is(err, storage.ErrMountInfo) || len(mounts) != storage.MaxMounts {
		t.Errorf("past the line limit: %d mounts, %v", len(mounts), err)
	}
}

// escapeMount encodes a field the way the kernel does.
func escapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func formatMount(m storage.Mount) string {
	line := fmt.Sprintf("%d %d %d:%d %s %s %s - %s %s", m.ID, m.Parent, m.Major, m.Minor,
		escapeMount(m.Root), escapeMount(m.MountPoint), m.Options, escapeMount(m.FSType), escapeMount(m.Source))
	if m.SuperOptions != "" {
		line += " " + m.SuperOptions
	}
	return line
}

// FuzzParseMountInfo checks that every mount parsed has the required
// fields, that there are never more mounts than lines, and that writing a
// parsed mount back in the kernel's format and parsing it again gives the
// same mount.
func FuzzParseMountInfo(f *testing.F) {
	f.Add([]byte("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"))
	f.Add([]byte(`42 27 7:0 / /tmp/m\040nt\040é rw,relatime shared:5 - ext4 /dev/loop0 rw` + "\n"))
	f.Add([]byte("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n24 1 0:5 / /dev rw - devtmpfs udev rw\n"))
	f.Add([]byte(`1 1 0:1 \ \134\ rw - - - -`))
	f.Add([]byte("1 2 3:4 / /a b c - d e f g\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mounts, err := storage.ParseMountInfo(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		if lines := strings.Count(string(data), "\n") + 1; len(mounts) > lines {
			t.Fatalf("%d mounts from %d lines", len(mounts), lines)
		}
		for _, m := range mounts {
			if m.MountPoint == "" || m.Root == "" || m.FSType == "" || m.ID < 0 || m.Parent < 0 {
				t.Fatalf("incomplete mount %#v", m)
			}
			line := formatMount(m)
			again, err := storage.ParseMountInfo(strings.NewReader(line))
			if err != nil || len(again) != 1 || again[0] != m {
				t.Fatalf("round trip of %#v\nas %q\ngave %#v, %v", m, line, again, err)
			}
		}
	})
}
