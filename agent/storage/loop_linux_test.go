package storage_test

import (
	"context"
	"errors"
	"github.com/casekeep/casekeep/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/storage"
)

// loopVolume is an ext4 image attached to a loop device, for tests that
// need a real mount. It is detached when the test ends, whatever happens.
type loopVolume struct {
	t      testing.TB
	device string // /dev/loopN
	mount  string // where mount mounts it
}

// newLoopVolume makes a 16MiB ext4 image and attaches it to a loop device,
// or skips the test where that is not possible.
func newLoopVolume(t testing.TB) *loopVolume {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root to attach and mount a loop device")
	}
	for _, tool := range []string{"mkfs.ext4", "losetup", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, "needs %s: %v", tool, err)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "stick.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "CASE STICK", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		testenv.Unavailable(t, "cannot attach a loop device here: %v: %s", err, out)
	}
	lv := &loopVolume{t: t, device: strings.TrimSpace(string(out))}
	t.Cleanup(func() {
		if lv.mount != "" {
			exec.Command("umount", lv.mount).Run()
		}
		if out, err := exec.Command("losetup", "-d", lv.device).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", lv.device, err, out)
		}
	})
	return lv
}

func (lv *loopVolume) mountAt(dir string) {
	lv.t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		lv.t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "ext4", lv.device, dir).CombinedOutput(); err != nil {
		testenv.Unavailable(lv.t, "cannot mount here: %v: %s", err, out)
	}
	lv.mount = dir
}

func (lv *loopVolume) unmount() {
	lv.t.Helper()
	if out, err := exec.Command("umount", lv.mount).CombinedOutput(); err != nil {
		lv.t.Fatalf("umount: %v: %s", err, out)
	}
	lv.mount = ""
}

// waitFor takes changes until one of the kind for the mount point comes,
// and returns it with the time it was received.
func waitFor(t *testing.T, m *storage.Monitor, kind storage.ChangeKind, mount string) (storage.Change, time.Time) {
	t.Helper()
	deadline := time.After(eventually)
	for {
		select {
		case c, ok := <-m.Changes():
			if !ok {
				t.Fatal("Changes closed")
			}
			if c.Kind == kind && c.Volume.MountPoint == mount {
				return c, time.Now()
			}
		case <-deadline:
			t.Fatalf("no %v for %q", kind, mount)
		}
	}
}

// TestMonitorSeesRealLoopMount mounts a real ext4 image and checks that
// the monitor, with the operating system's source, reports it arriving
// within 2s of mount returning and leaving after umount; it logs the
// latency. Then Block makes it read-only.
func TestMonitorSeesRealLoopMount(t *testing.T) {
	lv := newLoopVolume(t)
	mp := filepath.Join(t.TempDir(), "case stick é")

	m := storage.NewMonitor(storage.Options{})
	runMonitor(t, m)
	// The first listing has been taken once the first change arrives or
	// Volumes is filled; wait for it, so the mount below is a change.
	deadline := time.Now().Add(eventually)
	for len(m.Volumes()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	lv.mountAt(mp)
	mounted := time.Now()
	c, got := waitFor(t, m, storage.Arrived, mp)
	latency := max(got.Sub(mounted), 0)
	t.Logf("arrival latency after mount returned: %v (change time %v after)", latency, c.Time.Sub(mounted))
	if latency > 2*time.Second {
		t.Errorf("arrival reported %v after mount returned, want within 2s", latency)
	}
	v := c.Volume
	if v.Device != lv.device || v.Filesystem != "ext4" || v.Size != 16<<20 || v.Bus != storage.BusVirtual || v.Removable || v.ReadOnly {
		t.Errorf("loop volume described as %#v", v)
	}

	// Block: the remount goes through, a write then fails with EROFS, and
	// the monitor reports the volume as changed to read-only.
	if err := storage.OSSource().Block(context.Background(), v); err != nil {
		t.Fatalf("Block: %v", err)
	}
	err := os.WriteFile(filepath.Join(mp, "case-note.txt"), []byte("x"), 0o600)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("write after Block: %v, want EROFS", err)
	}
	ch, _ := waitFor(t, m, storage.Changed, mp)
	if !ch.Volume.ReadOnly {
		t.Errorf("after Block the volume is reported as %#v", ch.Volume)
	}

	lv.unmount()
	unmounted := time.Now()
	_, got = waitFor(t, m, storage.Left, mp)
	t.Logf("leave latency after umount returned: %v", max(got.Sub(unmounted), 0))
	if d := got.Sub(unmounted); d > 2*time.Second {
		t.Errorf("leave reported %v after umount returned, want within 2s", d)
	}
}

// Block keeps the mount's nosuid, nodev and noexec flags.
func TestBlockKeepsMountFlags(t *testing.T) {
	lv := newLoopVolume(t)
	mp := filepath.Join(t.TempDir(), "flags")
	if err := os.MkdirAll(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "ext4", "-o", "nosuid,nodev,noexec", lv.device, mp).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "cannot mount here: %v: %s", err, out)
	}
	lv.mount = mp
	if err := storage.OSSource().Block(context.Background(), storage.Volume{MountPoint: mp, Device: lv.device}); err != nil {
		t.Fatal(err)
	}
	m := mountOf(t, mp)
	for _, o := range []string{"ro", "nosuid", "nodev", "noexec"} {
		if !strings.Contains(","+m.Options+",", ","+o+",") {
			t.Errorf("after Block the mount options are %q, missing %q", m.Options, o)
		}
	}
}

func mountOf(t *testing.T, mp string) storage.Mount {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := storage.ParseMountInfo(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].MountPoint == mp {
			return ms[i]
		}
	}
	t.Fatalf("%q not mounted", mp)
	return storage.Mount{}
}

// Block refuses a mount point that is not where the volume is mounted: a
// path through a symbolic link, a folder swapped for a link after the
// listing, and a volume whose device is not the one mounted there. The
// volume stays writable.
func TestBlockRefusesWrongOrLinkedMountPoint(t *testing.T) {
	lv := newLoopVolume(t)
	base := t.TempDir()
	mp := filepath.Join(base, "a", "mnt")
	lv.mountAt(mp)
	v := storage.Volume{MountPoint: mp, Device: lv.device}

	link := filepath.Join(base, "link")
	if err := os.Symlink(mp, link); err != nil {
		t.Fatal(err)
	}
	viaLink := v
	viaLink.MountPoint = link
	if err := storage.OSSource().Block(context.Background(), viaLink); !errors.Is(err, storage.ErrNotMounted) {
		t.Errorf("Block through a link: %v, want ErrNotMounted", err)
	}
	other := v
	other.Device = "/dev/sdz1"
	if err := storage.OSSource().Block(context.Background(), other); !errors.Is(err, storage.ErrNotMounted) {
		t.Errorf("Block of another device: %v, want ErrNotMounted", err)
	}
	unclean := v
	unclean.MountPoint = base + "/a/../a/mnt"
	if _, err := os.Stat(unclean.MountPoint); err != nil {
		t.Fatal(err)
	}
	if err := storage.OSSource().Block(context.Background(), unclean); !errors.Is(err, storage.ErrNotMounted) {
		t.Errorf("Block of an unclean path: %v, want ErrNotMounted", err)
	}

	// A user renames the folder above the mount and puts a link in its
	// place: the listed mount point now leads through a link.
	if err := os.Rename(filepath.Join(base, "a"), filepath.Join(base, "b")); err != nil {
		t.Fatal(err)
	}
	lv.mount = filepath.Join(base, "b", "mnt")
	if err := os.Symlink(filepath.Join(base, "b"), filepath.Join(base, "a")); err != nil {
		t.Fatal(err)
	}
	if err := storage.OSSource().Block(context.Background(), v); err == nil {
		t.Error("Block followed a link swapped into the mount point's path")
	}
	// A filesystem mounted over the folder above hides the volume, and in
	// it the mount point's name is a link: the mount table still lists the
	// volume there, but the path now leads through the link.
	cover := filepath.Join(base, "b")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "cover", cover).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "cannot mount tmpfs: %v: %s", err, out)
	}
	defer exec.Command("umount", cover).Run()
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(cover, "mnt")); err != nil {
		t.Fatal(err)
	}
	hidden := v
	hidden.MountPoint = lv.mount
	err := storage.OSSource().Block(context.Background(), hidden)
	t.Logf("Block through a covering link: %v", err)
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Block through a link in a covering mount: %v, want a refusal of the link", err)
	}
	if out, err := exec.Command("umount", cover).CombinedOutput(); err != nil {
		t.Fatalf("umount cover: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(lv.mount, "still-writable"), []byte("x"), 0o600); err != nil {
		t.Errorf("the volume is no longer writable: %v", err)
	}
	if mountOf(t, lv.mount).ReadOnly() {
		t.Error("the volume was made read-only")
	}
}

// The Linux source notifies as soon as the mount table changes, and not
// at all when its mount table is not a /proc file.
func TestLinuxSourceNotifies(t *testing.T) {
	lv := newLoopVolume(t)
	src := storage.NewLinuxSource(storage.LinuxPaths{})
	n, ok := src.(storage.Notifier)
	if !ok {
		t.Fatal("the Linux source is not a Notifier")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := n.Notify(ctx)
	if err != nil {
		t.Fatalf("Notify: %v", err)
	}
	lv.mountAt(filepath.Join(t.TempDir(), "n"))
	select {
	case <-ch:
	case <-time.After(eventually):
		t.Fatal("no notification after a mount")
	}
	cancel()
	for range ch { // closed once cancelled
	}

	f := newFakeSys(t)
	f.Mounts("27 1 254:0 / / rw - ext4 /dev/vda rw")
	if _, err := storage.NewLinuxSource(f.paths()).(storage.Notifier).Notify(context.Background()); err == nil {
		t.Error("a plain file mount table offered notifications")
	}
}

// pollOnly hides a source's notifications, so the monitor polls.
type pollOnly struct{ storage.Source }

// BenchmarkArrivalLatency mounts and unmounts a real loop volume and
// reports how long after mount returned the monitor reported it, with the
// mount table's notifications and with polling alone (every 100ms).
func BenchmarkArrivalLatency(b *testing.B) {
	for _, bc := range []struct {
		name string
		src  storage.Source
	}{
		{"notify", storage.OSSource()},
		{"poll-100ms", pollOnly{storage.OSSource()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lv := newLoopVolume(b)
			mp := filepath.Join(b.TempDir(), "bench stick")
			if err := os.MkdirAll(mp, 0o755); err != nil {
				b.Fatal(err)
			}
			m := storage.NewMonitor(storage.Options{Source: bc.src, Interval: 100 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go m.Run(ctx)
			var total time.Duration
			b.ResetTimer()
			for range b.N {
				if out, err := exec.Command("mount", "-t", "ext4", lv.device, mp).CombinedOutput(); err != nil {
					b.Skipf("cannot mount: %v: %s", err, out)
				}
				start := time.Now()
				benchWait(b, m, storage.Arrived, mp)
				total += time.Since(start)
				if out, err := exec.Command("umount", mp).CombinedOutput(); err != nil {
					b.Fatalf("umount: %v: %s", err, out)
				}
				benchWait(b, m, storage.Left, mp)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/arrival")
		})
	}
}

func benchWait(b *testing.B, m *storage.Monitor, kind storage.ChangeKind, mp string) {
	deadline := time.After(eventually)
	for {
		select {
		case c := <-m.Changes():
			if c.Kind == kind && c.Volume.MountPoint == mp {
				return
			}
		case <-deadline:
			b.Fatalf("no %v for %q", kind, mp)
		}
	}
}

// TestBlockRefusesACoverNamedAfterTheStick: a user covers the stick's mount
// point with a mount (FUSE in real life; tmpfs here) whose source names the
// stick's device. Block must not remount the cover and report success
// while the stick stays writable.
func TestBlockRefusesACoverNamedAfterTheStick(t *testing.T) {
	lv := newLoopVolume(t)
	mp := filepath.Join(t.TempDir(), "stick")
	lv.mountAt(mp)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", lv.device, mp).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "cannot mount tmpfs: %v: %s", err, out)
	}
	err := storage.OSSource().Block(context.Background(), storage.Volume{MountPoint: mp, Device: lv.device})
	exec.Command("umount", mp).Run() // the cover
	if !errors.Is(err, storage.ErrNotMounted) {
		t.Fatalf("Block through a cover: %v, want ErrNotMounted", err)
	}
	if mountOf(t, mp).ReadOnly() {
		t.Error("the stick was made read-only through the cover? (it should be untouched)")
	}
	if err := os.WriteFile(filepath.Join(mp, "still-writable"), []byte("x"), 0o644); err != nil {
		t.Errorf("the stick is not writable: %v", err)
	}
}
