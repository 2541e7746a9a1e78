package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/storage"
)

// eventually bounds every wait for something that must happen; it is far
// longer than any delay under test, so a loaded machine does not fail tests.
const eventually = 30 * time.Second

// fakeSys builds a fake sysfs, /dev and mountinfo under a temporary folder,
// with links laid out as the kernel lays them out.
type fakeSys struct {
	t    *testing.T
	root string
	sys  string
	dev  string
	mi   string
}

func newFakeSys(t *testing.T) *fakeSys {
	t.Helper()
	root := t.TempDir()
	f := &fakeSys{t: t, root: root, sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev"), mi: filepath.Join(root, "mountinfo")}
	for _, d := range []string{"devices", "block", "dev/block", "class/block"} {
		f.mkdir(filepath.Join("sys", d))
	}
	f.mkdir("dev")
	return f
}

func (f *fakeSys) paths() storage.LinuxPaths {
	return storage.LinuxPaths{MountInfo: f.mi, SysRoot: f.sys, DevRoot: f.dev}
}

func (f *fakeSys) mkdir(rel string) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Join(f.root, rel), 0o755); err != nil {
		f.t.Fatal(err)
	}
}

// file writes a file below the root, making its folder.
func (f *fakeSys) file(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// link makes a symbolic link below the root pointing at target, which is
// written as a path relative to the link, the way sysfs does.
func (f *fakeSys) link(rel, target string) {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	r, err := filepath.Rel(filepath.Dir(p), filepath.Join(f.root, target))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.Symlink(r, p); err != nil {
		f.t.Fatal(err)
	}
}

// attrs writes sysfs attribute files into a folder below sys, each with a
// trailing newline as the kernel writes them; a value of "\x00" skips one.
func (f *fakeSys) attrs(dir string, kv map[string]string) {
	f.t.Helper()
	for k, v := range kv {
		f.file(filepath.Join("sys", dir, k), v+"\n")
	}
}

// disk makes a whole disk at sys/devices/<parent>/block/<name> with the
// links in sys/block, sys/dev/block and sys/class/block, and returns its
// folder below sys.
func (f *fakeSys) disk(parent, name, majmin string, kv map[string]string) string {
	f.t.Helper()
	dir := filepath.Join("devices", parent, "block", name)
	f.mkdir(filepath.Join("sys", dir))
	f.attrs(dir, kv)
	f.file(filepath.Join("sys", dir, "dev"), majmin+"\n")
	f.link(filepath.Join("sys", "block", name), filepath.Join("sys", dir))
	f.link(filepath.Join("sys", "dev", "block", majmin), filepath.Join("sys", dir))
	f.link(filepath.Join("sys", "class", "block", name), filepath.Join("sys", dir))
	return dir
}

// part makes a partition of a disk made by disk.
func (f *fakeSys) part(diskDir, name, majmin, sectors string) string {
	f.t.Helper()
	dir := filepath.Join(diskDir, name)
	kv := map[string]string{"partition": "1", "dev": majmin}
	if sectors != "" {
		kv["size"] = sectors
	}
	f.attrs(dir, kv)
	f.link(filepath.Join("sys", "dev", "block", majmin), filepath.Join("sys", dir))
	f.link(filepath.Join("sys", "class", "block", name), filepath.Join("sys", dir))
	return dir
}

// mountinfo writes the mount table from lines.
func (f *fakeSys) mountinfo(lines ...string) {
	f.t.Helper()
	f.file("mountinfo", strings.Join(lines, "\n")+"\n")
}

// runMonitor runs m until the test ends and returns a function that waits
// for Run to return.
func runMonitor(t *testing.T, m *storage.Monitor) (cancel func() error) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	var err error
	cancel = func() error {
		once.Do(func() {
			stop()
			select {
			case err = <-done:
			case <-time.After(eventually):
				t.Error("Run did not return after its context was cancelled")
			}
		})
		return err
	}
	t.Cleanup(func() { cancel() })
	return cancel
}

// next takes one change, failing the test if none comes.
func next(t *testing.T, m *storage.Monitor) storage.Change {
	t.Helper()
	select {
	case c, ok := <-m.Changes():
		if !ok {
			t.Fatal("Changes closed")
		}
		return c
	case <-time.After(eventually):
		t.Fatal("no change reported")
	}
	return storage.Change{}
}
