package agenttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Sys is a fake Linux sysfs tree, /dev and mount table under a test's
// temporary folder, laid out as the kernel lays them out: block devices in
// sys/devices, with links to them in sys/block, sys/dev/block and
// sys/class/block, each written relative to the link as sysfs writes it.
// Every path a method takes or returns is relative to Root.
type Sys struct {
	t testing.TB

	Root      string // the temporary folder everything is in
	SysRoot   string // Root/sys, the fake /sys
	DevRoot   string // Root/dev, the fake /dev
	MountInfo string // Root/mountinfo, the fake /proc/self/mountinfo (see [Sys.Mounts])
}

// NewSys makes an empty tree: sys/devices, sys/block, sys/dev/block,
// sys/class/block and dev, and no mount table yet.
func NewSys(t testing.TB) *Sys {
	t.Helper()
	root := t.TempDir()
	s := &Sys{t: t, Root: root, SysRoot: filepath.Join(root, "sys"), DevRoot: filepath.Join(root, "dev"),
		MountInfo: filepath.Join(root, "mountinfo")}
	for _, d := range []string{"sys/devices", "sys/block", "sys/dev/block", "sys/class/block", "dev"} {
		s.Mkdir(d)
	}
	return s
}

// Mkdir makes a folder and its parents.
func (s *Sys) Mkdir(rel string) {
	s.t.Helper()
	if err := os.MkdirAll(filepath.Join(s.Root, rel), 0o755); err != nil {
		s.t.Fatal(err)
	}
}

// File writes a file, making its folder.
func (s *Sys) File(rel, content string) {
	s.t.Helper()
	if err := os.WriteFile(s.path(rel), []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// Link makes a symbolic link at rel pointing at target, written as a path
// relative to the link, the way sysfs does; it makes the link's folder.
func (s *Sys) Link(rel, target string) {
	s.t.Helper()
	p := s.path(rel)
	r, err := filepath.Rel(filepath.Dir(p), filepath.Join(s.Root, target))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.Symlink(r, p); err != nil {
		s.t.Fatal(err)
	}
}

// path is rel below Root, its folder made.
func (s *Sys) path(rel string) string {
	s.t.Helper()
	p := filepath.Join(s.Root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// Attrs writes attribute files into the folder dir (made if missing), each
// value with a trailing newline as the kernel writes them.
func (s *Sys) Attrs(dir string, kv map[string]string) {
	s.t.Helper()
	s.Mkdir(dir)
	for k, v := range kv {
		s.File(filepath.Join(dir, k), v+"\n")
	}
}

// Disk makes a whole disk at sys/devices/<dir> with the attributes attrs
// and its "dev" file (majmin, such as "8:0"), links to it in sys/block,
// sys/dev/block and sys/class/block under its name (the last element of
// dir), and returns its folder.
func (s *Sys) Disk(dir, majmin string, attrs map[string]string) string {
	s.t.Helper()
	p := filepath.Join("sys", "devices", dir)
	name := filepath.Base(p)
	s.Attrs(p, attrs)
	s.File(filepath.Join(p, "dev"), majmin+"\n")
	s.Link(filepath.Join("sys", "block", name), p)
	s.Link(filepath.Join("sys", "dev", "block", majmin), p)
	s.Link(filepath.Join("sys", "class", "block", name), p)
	return p
}

// Part makes the partition name of a disk made by [Sys.Disk], with its
// "partition" and "dev" files and a "size" of sectors (none when sectors is
// ""), links to it in sys/dev/block and sys/class/block (a partition has
// none in sys/block), and returns its folder.
func (s *Sys) Part(disk, name, majmin, sectors string) string {
	s.t.Helper()
	p := filepath.Join(disk, name)
	kv := map[string]string{"partition": "1", "dev": majmin}
	if sectors != "" {
		kv["size"] = sectors
	}
	s.Attrs(p, kv)
	s.Link(filepath.Join("sys", "dev", "block", majmin), p)
	s.Link(filepath.Join("sys", "class", "block", name), p)
	return p
}

// DM makes the device-mapper device dm-<n> (254:<n>) at
// sys/devices/virtual/block/dm-<n> as [Sys.Disk] does, with dm/name and
// dm/uuid (a uuid of "\x00" leaves that file out) and a slaves folder
// linking to each of slaves (folders as Disk, Part and DM return them), and
// returns its folder.
func (s *Sys) DM(n int, name, uuid string, attrs map[string]string, slaves ...string) string {
	s.t.Helper()
	p := s.Disk(fmt.Sprintf("virtual/block/dm-%d", n), fmt.Sprintf("254:%d", n), attrs)
	s.File(filepath.Join(p, "dm", "name"), name+"\n")
	if uuid != "\x00" {
		s.File(filepath.Join(p, "dm", "uuid"), uuid+"\n")
	}
	s.Mkdir(filepath.Join(p, "slaves"))
	for _, sl := range slaves {
		s.Link(filepath.Join(p, "slaves", filepath.Base(sl)), sl)
	}
	return p
}

// Mounts writes the mount table at MountInfo, one line a mount.
func (s *Sys) Mounts(lines ...string) {
	s.t.Helper()
	s.File("mountinfo", strings.Join(lines, "\n")+"\n")
}
