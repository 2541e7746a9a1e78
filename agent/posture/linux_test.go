package posture_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/agent/internal/agenttest"
	"github.com/casekeep/casekeep/agent/posture"
)

// fakeSys is the kit's fake sysfs and mount table, with the shorthands the
// disk-encryption cases use: every device has a size of 1000 sectors.
type fakeSys struct{ *agenttest.Sys }

func newFakeSys(t *testing.T) *fakeSys { return &fakeSys{agenttest.NewSys(t)} }

// dev makes a block device folder at sys/devices/<dir> with its links, and
// returns its path below the root. A device inside another device's folder
// is a partition.
func (f *fakeSys) dev(dir, majmin string) string {
	if _, err := os.Stat(filepath.Join(f.SysRoot, "devices", filepath.Dir(dir), "dev")); err == nil {
		return f.Part(filepath.Join("sys", "devices", filepath.Dir(dir)), filepath.Base(dir), majmin, "1000")
	}
	return f.Disk(dir, majmin, map[string]string{"size": "1000"})
}

// dm makes a device-mapper device dm-N with a name and uuid (uuid "\x00"
// leaves the file out) over the given devices (paths below the root).
func (f *fakeSys) dm(n int, name, uuid string, slaves ...string) string {
	return f.DM(n, name, uuid, map[string]string{"size": "1000"}, slaves...)
}

func (f *fakeSys) mountRoot(line string) {
	f.Mounts("22 1 0:21 / /proc rw - proc proc rw", line, "23 1 0:22 / /sys rw - sysfs sysfs rw")
}

func (f *fakeSys) check() posture.Check {
	return posture.DiskEncryption(context.Background(), posture.Options{OS: "linux", MountInfo: f.MountInfo, SysRoot: f.SysRoot})
}

const (
	nvme = "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1"
	sata = "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda"
	sdb  = "pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0/block/sdb"
)

func TestDiskEncryptionLinux(t *testing.T) {
	tests := []struct {
		name  string
		build func(f *fakeSys)
		want  posture.Result
		ev    string // exact evidence, or a part of it when it starts with "~"
	}{
		{"plain partition", func(f *fakeSys) {
			f.dev(sata, "8:0")
			f.dev(sata+"/sda2", "8:2")
			f.mountRoot("1 0 8:2 / / rw,relatime - ext4 /dev/sda2 rw")
		}, posture.Fail, "root filesystem / (ext4 from /dev/sda2) is on sda2, a partition of sda: not encrypted (no dm-crypt layer)"},

		{"plain whole disk", func(f *fakeSys) {
			f.dev("pci0000:00/0000:00:02.0/virtio1/block/vda", "254:16")
			f.mountRoot("1 0 254:16 / / rw - ext4 /dev/vda rw")
		}, posture.Fail, "root filesystem / (ext4 from /dev/vda) is on vda, a whole disk: not encrypted (no dm-crypt layer)"},

		{"LUKS directly on a disk", func(f *fakeSys) {
			d := f.dev(nvme, "259:0")
			f.dm(0, "cryptroot", "CRYPT-LUKS2-0f1e2d3c4b5a69788796a5b4c3d2e1f0-cryptroot", d)
			f.mountRoot("1 0 254:0 / / rw - ext4 /dev/mapper/cryptroot rw")
		}, posture.Pass, "root filesystem / (ext4 from /dev/mapper/cryptroot) is on dm-0, a LUKS2 dm-crypt mapping (cryptroot) of nvme0n1"},

		{"LVM on LUKS", func(f *fakeSys) {
			f.dev(nvme, "259:0")
			p3 := f.dev(nvme+"/nvme0n1p3", "259:3")
			luks := f.dm(0, "luks-3f2a", "CRYPT-LUKS2-3f2a9c1e00000000000000000000000-luks-3f2a", p3)
			f.dm(1, "vg-root", "LVM-AbCdEfGhIjKlMnOpQrStUvWxYz012345AbCdEfGhIjKlMnOpQrStUvWxYz012345", luks)
			f.mountRoot("1 0 254:1 / / rw,relatime - ext4 /dev/mapper/vg-root rw")
		}, posture.Pass, "root filesystem / (ext4 from /dev/mapper/vg-root) is on dm-1 (LVM vg-root) over dm-0, a LUKS2 dm-crypt mapping (luks-3f2a) of nvme0n1p3"},

		{"LUKS1 on a partition", func(f *fakeSys) {
			f.dev(sata, "8:0")
			p := f.dev(sata+"/sda3", "8:3")
			f.dm(0, "sda3_crypt", "CRYPT-LUKS1-1234-sda3_crypt", p)
			f.mountRoot("1 0 254:0 / / rw - xfs /dev/mapper/sda3_crypt rw")
		}, posture.Pass, "root filesystem / (xfs from /dev/mapper/sda3_crypt) is on dm-0, a LUKS1 dm-crypt mapping (sda3_crypt) of sda3"},

		{"plain dm-crypt and BitLocker via cryptsetup pass", func(f *fakeSys) {
			f.dev(sata, "8:0")
			p := f.dev(sata+"/sda3", "8:3")
			f.dm(0, "bitlk", "CRYPT-BITLK-1234-bitlk", p)
			f.mountRoot("1 0 254:0 / / rw - ntfs3 /dev/mapper/bitlk rw")
		}, posture.Pass, "~a BITLK dm-crypt mapping"},

		{"dm-linear without crypt", func(f *fakeSys) {
			f.dev(sata, "8:0")
			p := f.dev(sata+"/sda2", "8:2")
			f.dm(0, "vg-root", "LVM-xyz", p)
			f.mountRoot("1 0 254:0 / / rw - ext4 /dev/mapper/vg-root rw")
		}, posture.Fail, "root filesystem / (ext4 from /dev/mapper/vg-root) is on dm-0 (LVM vg-root) over sda2, a partition of sda: not encrypted (no dm-crypt layer)"},

		{"dm-verity is not encryption", func(f *fakeSys) {
			f.dev(sata, "8:0")
			p := f.dev(sata+"/sda2", "8:2")
			f.dm(0, "root", "CRYPT-VERITY-abc-root", p)
			f.mountRoot("1 0 254:0 / / ro - erofs /dev/mapper/root ro")
		}, posture.Fail, "~cryptsetup VERITY mapping, which does not encrypt"},

		{"LVM over one LUKS and one plain device", func(f *fakeSys) {
			f.dev(sata, "8:0")
			f.dev(sdb, "8:16")
			a := f.dev(sata+"/sda2", "8:2")
			b := f.dev(sdb+"/sdb1", "8:17")
			luks := f.dm(0, "luks-a", "CRYPT-LUKS2-a-luks-a", a)
			f.dm(1, "vg-root", "LVM-x", luks, b)
			f.mountRoot("1 0 254:1 / / rw - ext4 /dev/mapper/vg-root rw")
		}, posture.Fail, "root filesystem / (ext4 from /dev/mapper/vg-root) is on dm-1 (LVM vg-root) over dm-0, a LUKS2 dm-crypt mapping (luks-a) of sda2 and sdb1, a partition of sdb: not encrypted (no dm-crypt layer on every device under it)"},

		{"software RAID over two LUKS partitions", func(f *fakeSys) {
			f.dev(sata, "8:0")
			f.dev(sdb, "8:16")
			a := f.dm(0, "ca", "CRYPT-LUKS2-a-ca", f.dev(sata+"/sda2", "8:2"))
			b := f.dm(1, "cb", "CRYPT-LUKS2-b-cb", f.dev(sdb+"/sdb2", "8:18"))
			md := f.dev("virtual/block/md0", "9:0")
			f.File(filepath.Join(md, "md", "level"), "raid1\n")
			f.Link(filepath.Join(md, "slaves", "dm-0"), a)
			f.Link(filepath.Join(md, "slaves", "dm-1"), b)
			f.mountRoot("1 0 9:0 / / rw - ext4 /dev/md0 rw")
		}, posture.Pass, "root filesystem / (ext4 from /dev/md0) is on md0 (software RAID raid1) over dm-0, a LUKS2 dm-crypt mapping (ca) of sda2 and dm-1, a LUKS2 dm-crypt mapping (cb) of sdb2"},

		// Decision: a device-mapper device whose uuid cannot be read might
		// be dm-crypt, so the result is unknown, not fail.
		{"missing dm uuid", func(f *fakeSys) {
			f.dev(sata, "8:0")
			p := f.dev(sata+"/sda2", "8:2")
			f.dm(0, "mystery", "\x00", p)
			f.mountRoot("1 0 254:0 / / rw - ext4 /dev/mapper/mystery rw")
		}, posture.Unknown, "root filesystem / (ext4 from /dev/mapper/mystery) is on dm-0, a device-mapper device whose dm/uuid cannot be read, so whether it is dm-crypt cannot be told"},

		{"loop in slaves", func(f *fakeSys) {
			a := f.dm(0, "a", "LVM-a")
			b := f.dm(1, "b", "LVM-b", a)
			f.Link(filepath.Join(a, "slaves", "dm-1"), b)
			f.mountRoot("1 0 254:0 / / rw - ext4 /dev/mapper/a rw")
		}, posture.Unknown, "root filesystem / (ext4 from /dev/mapper/a) is on dm-0 (LVM a) over dm-1 (LVM b) over dm-0 again (its slaves form a loop)"},

		{"a slave outside sysfs", func(f *fakeSys) {
			a := f.dm(0, "a", "LVM-a")
			f.File("elsewhere/sdz/dm/uuid", "CRYPT-LUKS2-fake\n")
			if err := os.Symlink(filepath.Join(f.Root, "elsewhere", "sdz"), filepath.Join(f.Root, a, "slaves", "sdz")); err != nil {
				t.Fatal(err)
			}
			f.mountRoot("1 0 254:0 / / rw - ext4 /dev/mapper/a rw")
		}, posture.Unknown, "root filesystem / (ext4 from /dev/mapper/a) is on dm-0 (LVM a) (1 device(s) under it cannot be read)"},

		{"overlay root", func(f *fakeSys) {
			f.mountRoot("1 0 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w")
		}, posture.Unknown, "root filesystem / (overlay from overlay) is an overlay (a container or a live system); the disk under it cannot be seen from here"},

		{"nfs root", func(f *fakeSys) {
			f.mountRoot("1 0 0:60 / / rw - nfs4 server:/export/root rw")
		}, posture.Unknown, "~is on the network (NFS)"},

		{"fuse root", func(f *fakeSys) {
			f.mountRoot("1 0 0:61 / / rw - fuse.rootfs rootfs rw")
		}, posture.Unknown, "~user-space filesystem"},

		{"btrfs on LUKS by mapper name", func(f *fakeSys) {
			f.dev(nvme, "259:0")
			p := f.dev(nvme+"/nvme0n1p3", "259:3")
			f.dm(0, "luks-abc", "CRYPT-LUKS2-abc-luks-abc", p)
			f.Link("sys/fs/btrfs/1111-2222/devices/dm-0", "sys/devices/virtual/block/dm-0")
			f.mountRoot("1 0 0:33 /root / rw,relatime - btrfs /dev/mapper/luks-abc rw,compress=zstd:1,subvol=/root")
		}, posture.Pass, "root filesystem / (btrfs from /dev/mapper/luks-abc) is on dm-0, a LUKS2 dm-crypt mapping (luks-abc) of nvme0n1p3"},

		{"btrfs over two devices", func(f *fakeSys) {
			f.dev(sata, "8:0")
			f.dev(sdb, "8:16")
			f.dev(sata+"/sda2", "8:2")
			f.dev(sdb+"/sdb2", "8:18")
			f.Link("sys/fs/btrfs/9999/devices/sda2", "sys/devices/"+sata+"/sda2")
			f.Link("sys/fs/btrfs/9999/devices/sdb2", "sys/devices/"+sdb+"/sdb2")
			f.mountRoot("1 0 0:33 / / rw - btrfs /dev/sda2 rw")
		}, posture.Unknown, "root filesystem / (btrfs from /dev/sda2) is btrfs over 2 devices (sda2, sdb2); multi-device btrfs is not checked"},

		{"root on a loop device", func(f *fakeSys) {
			p := f.dev("virtual/block/loop0", "7:0")
			f.File(filepath.Join(p, "loop", "backing_file"), "/host/disk.img\n")
			f.mountRoot("1 0 7:0 / / rw - ext4 /dev/loop0 rw")
		}, posture.Unknown, `root filesystem / (ext4 from /dev/loop0) is on loop0, a loop device backed by the file "/host/disk.img", whose own disk is not checked`},

		{"device not in sysfs", func(f *fakeSys) {
			f.mountRoot("1 0 8:99 / / rw - ext4 /dev/sdq1 rw")
		}, posture.Unknown, "root filesystem / (ext4 from /dev/sdq1): no block device for 8:99 in sysfs"},

		{"nothing at /", func(f *fakeSys) {
			f.File("mountinfo", "22 1 0:21 / /proc rw - proc proc rw\n")
		}, posture.Unknown, "~nothing is mounted at /"},

		{"mount table unreadable", func(f *fakeSys) {}, posture.Unknown, "~cannot read the mount table"},

		{"a deep stack is cut short", func(f *fakeSys) {
			prev := f.dev(sata, "8:0")
			for i := range 40 {
				prev = f.dm(i, fmt.Sprint("l", i), "LVM-l", prev)
			}
			f.mountRoot("1 0 254:39 / / rw - ext4 /dev/mapper/l39 rw")
		}, posture.Unknown, "~the device stack is too deep to follow"},

		{"the top mount at / counts", func(f *fakeSys) {
			f.dev(nvme, "259:0")
			f.dm(0, "cryptroot", "CRYPT-LUKS2-x-cryptroot", "sys/devices/"+nvme)
			f.File("mountinfo", "1 0 0:2 / / rw - rootfs rootfs rw\n2 1 254:0 / / rw - ext4 /dev/mapper/cryptroot rw\n")
		}, posture.Pass, "~LUKS2 dm-crypt mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(t)
			tt.build(f)
			c := f.check()
			if c.Name != posture.NameDiskEncryption {
				t.Errorf("name %q", c.Name)
			}
			if c.Result != tt.want {
				t.Errorf("result %q, want %q (evidence: %s)", c.Result, tt.want, c.Evidence)
			}
			if part, ok := strings.CutPrefix(tt.ev, "~"); ok {
				if !strings.Contains(c.Evidence, part) {
					t.Errorf("evidence %q\nlacks %q", c.Evidence, part)
				}
			} else if c.Evidence != tt.ev {
				t.Errorf("evidence\n got %q\nwant %q", c.Evidence, tt.ev)
			}
			if len(c.Evidence) > posture.MaxEvidence || !printable(c.Evidence) {
				t.Errorf("evidence not bounded or not printable: %q", c.Evidence)
			}
		})
	}
}

func TestDiskEncryptionCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := posture.DiskEncryption(ctx, posture.Options{OS: "linux"})
	if c.Result != posture.Unknown || !strings.Contains(c.Evidence, "cancelled") {
		t.Errorf("cancelled check: %+v", c)
	}
}

// TestDiskEncryptionThisMachine runs the real check where the test runs
// and logs what it sees; the result depends on the machine, but it must be
// one of the three with evidence naming the root filesystem.
func TestDiskEncryptionThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the real check on other systems runs programs that need an administrator")
	}
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	c := posture.DiskEncryption(context.Background(), posture.Options{})
	t.Logf("this machine: %s: %s", c.Result, c.Evidence)
	switch c.Result {
	case posture.Pass, posture.Fail, posture.Unknown:
	default:
		t.Fatalf("result %q", c.Result)
	}
	if !strings.HasPrefix(c.Evidence, "root filesystem / (") {
		t.Errorf("evidence does not name the root filesystem: %q", c.Evidence)
	}
}

// TestDiskEncryptionHomeVarSwap: the root filesystem is on LUKS, but a
// separate /home or /var, or a swap partition, is not: the laptop's case
// files (or memory) are on a plain disk, so the check fails.
func TestDiskEncryptionHomeVarSwap(t *testing.T) {
	luksRoot := func(f *fakeSys) {
		f.dev(sata, "8:0")
		p3 := f.dev(sata+"/sda3", "8:3")
		f.dm(0, "cryptroot", "CRYPT-LUKS2-1234-cryptroot", p3)
		f.dev(sata+"/sda4", "8:4")
		f.dev(sata+"/sda5", "8:5")
	}
	run := func(f *fakeSys, swaps string) posture.Check {
		o := posture.Options{OS: "linux", MountInfo: f.MountInfo, SysRoot: f.SysRoot}
		if swaps != "" {
			f.File("swaps", swaps)
			o.Swaps = filepath.Join(f.Root, "swaps")
		}
		return posture.DiskEncryption(context.Background(), o)
	}
	const root = "1 0 254:0 / / rw - ext4 /dev/mapper/cryptroot rw"
	for _, c := range []struct {
		name, mounts, swaps string
		want                posture.Result
		ev                  string
	}{
		{"plain /home", root + "\n30 1 8:4 / /home rw - ext4 /dev/sda4 rw", "", posture.Fail, "/home (ext4 from /dev/sda4) is on sda4, a partition of sda: not encrypted"},
		{"plain /var", root + "\n30 1 8:5 / /var rw - xfs /dev/sda5 rw", "", posture.Fail, "/var (xfs from /dev/sda5)"},
		{"plain swap", root, "Filename Type Size Used Priority\n/dev/sda5 partition 1000 0 -2\n", posture.Fail, "swap /dev/sda5 is on sda5, a partition of sda: not encrypted"},
		{"swap file and tmpfs /var are fine", root + "\n30 1 0:40 / /var rw - tmpfs tmpfs rw", "Filename Type Size Used Priority\n/swapfile file 1000 0 -2\n", posture.Pass, "root filesystem /"},
		{"nfs /home is unknown", root + "\n30 1 0:50 / /home rw - nfs4 server:/home rw", "", posture.Unknown, "but /home (nfs4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSys(t)
			luksRoot(f)
			f.File("mountinfo", c.mounts+"\n")
			got := run(f, c.swaps)
			if got.Result != c.want || !strings.Contains(got.Evidence, c.ev) {
				t.Errorf("got %s: %q\nwant %s containing %q", got.Result, got.Evidence, c.want, c.ev)
			}
		})
	}
}
