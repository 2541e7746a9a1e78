package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/agent/storage"
)

// Parents of the fake disks, as real sysfs lays them out.
const (
	usbStick = "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host3/target3:0:0/3:0:0:0"
	usbDisk2 = "pci0000:00/0000:00:14.0/usb2/2-2/2-2:1.0/host4/target4:0:0/4:0:0:0"
	sataDisk = "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0"
	nvmeDisk = "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0"
	sdCard   = "pci0000:00/0000:00:14.5/mmc_host/mmc0/mmc0:aaaa"
	virtual  = "virtual"
)

// laptop builds a fake laptop: an NVMe system disk, a SATA data disk, a
// SanDisk USB stick, an SD card, a loop device, a squashfs snap, and a LUKS
// stick opened with dm-crypt; and a mount table with them and the usual
// pseudo filesystems.
func laptop(t *testing.T) *fakeSys {
	f := newFakeSys(t)

	nvme := f.Disk(nvmeDisk+"/block/nvme0n1", "259:0", map[string]string{"removable": "0", "size": "1000215216"})
	f.File("sys/devices/"+nvmeDisk+"/model", "SAMSUNG MZVL21T0HCLR-00BL2              \n")
	f.Link(nvme+"/device", "sys/devices/"+nvmeDisk)
	f.Part(nvme, "nvme0n1p1", "259:1", "1048576")
	f.Part(nvme, "nvme0n1p2", "259:2", "999164592")

	sata := f.Disk(sataDisk+"/block/sda", "8:0", map[string]string{"removable": "0", "size": "1953525168"})
	f.File("sys/devices/"+sataDisk+"/vendor", "ATA     \n")
	f.File("sys/devices/"+sataDisk+"/model", "WDC WD10EZEX-08W\n")
	f.Link(sata+"/device", "sys/devices/"+sataDisk)
	f.Part(sata, "sda2", "8:2", "1953000000")

	f.Attrs("sys/devices/pci0000:00/0000:00:14.0/usb2", map[string]string{"idVendor": "1d6b", "idProduct": "0003"}) // the root hub
	f.Attrs("sys/devices/pci0000:00/0000:00:14.0/usb2/2-1", map[string]string{
		"idVendor": "0781", "idProduct": "5581", "serial": "4C530001230101113424",
		"manufacturer": "SanDisk", "product": "Ultra",
	})
	stick := f.Disk(usbStick+"/block/sdb", "8:16", map[string]string{"removable": "0", "size": "60063744"})
	f.Part(stick, "sdb1", "8:17", "60061696")

	f.Attrs("sys/devices/pci0000:00/0000:00:14.0/usb2/2-2", map[string]string{
		"idVendor": "090C", "idProduct": "1000", "serial": "AA00000000000489",
		"manufacturer": "Samsung", "product": "Flash Drive FIT",
	})
	luksStick := f.Disk(usbDisk2+"/block/sdc", "8:32", map[string]string{"removable": "1", "size": "125313024"})
	sdc1 := f.Part(luksStick, "sdc1", "8:33", "125311000")
	f.DM(0, "luks-stick", "CRYPT-LUKS2-0f1e2d3c4b5a69788796a5b4c3d2e1f0-luks-stick", map[string]string{"removable": "0", "size": "125278232"}, sdc1)

	sd := f.Disk(sdCard+"/block/mmcblk0", "179:0", map[string]string{"removable": "0", "size": "62333952"})
	f.File("sys/devices/"+sdCard+"/type", "SD\n")
	f.Link(sd+"/device", "sys/devices/"+sdCard)
	f.Part(sd, "mmcblk0p1", "179:1", "62325760")

	f.Disk(virtual+"/block/loop0", "7:0", map[string]string{"removable": "0", "size": "32768"})
	f.Disk(virtual+"/block/loop1", "7:1", map[string]string{"removable": "0", "size": "113000"})

	f.Link("dev/disk/by-label/Case\\x20Files", "dev/sdb1")
	f.Link("dev/disk/by-label/EFI", "dev/nvme0n1p1")

	f.Mounts(
		"22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw",
		"23 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw",
		"24 1 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=8000000k,nr_inodes=2000000,mode=755",
		"1 0 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro",
		"30 1 259:1 / /boot/efi rw,relatime shared:7 - vfat /dev/nvme0n1p1 rw,fmask=0077,dmask=0077",
		"31 1 0:27 / /run rw,nosuid,nodev,noexec,relatime shared:8 - tmpfs tmpfs rw,size=1600000k,mode=755",
		"32 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw",
		"33 1 7:1 / /snap/core22/1380 ro,nodev,relatime shared:10 - squashfs /dev/loop1 ro,errors=continue",
		"34 1 8:2 / /mnt/data rw,relatime shared:11 - ext4 /dev/sda2 rw",
		"35 1 259:2 /var/lib/docker/volumes/x /srv/bind rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro",
		`36 31 8:17 / /media/anna/Case\040Files\040ü\011tab rw,nosuid,nodev,relatime shared:12 - vfat /dev/sdb1 rw,uid=1000,gid=1000`,
		"37 31 254:0 / /media/anna/luks-stick rw,nosuid,nodev,relatime shared:13 - ext4 /dev/mapper/luks-stick rw",
		"38 31 179:1 / /media/anna/SDCARD ro,nosuid,nodev,relatime shared:14 - exfat /dev/mmcblk0p1 rw",
		"39 1 7:0 / /mnt/image rw,relatime shared:15 - ext4 /dev/loop0 rw",
		"40 31 0:45 / /run/user/1000/gvfs rw,nosuid,nodev,relatime shared:16 - fuse.gvfsd-fuse gvfsd-fuse rw,user_id=1000",
		"41 1 0:46 / /home/anna/remote rw,relatime shared:17 - fuse.sshfs anna@host:/ rw",
		"42 1 0:47 / /var/lib/docker/overlay2/x/merged rw,relatime - overlay overlay rw,lowerdir=/a:/b,upperdir=/c,workdir=/d",
		"43 1 0:48 / /mnt/nas rw,relatime - nfs4 nas:/export rw,vers=4.2",
	)
	return f
}

func TestLinuxSourceDescribesEachKindOfDisk(t *testing.T) {
	f := laptop(t)
	got, err := storage.NewLinuxSource(f.paths()).Volumes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Volume{
		{MountPoint: "/", Device: "/dev/nvme0n1p2", Filesystem: "ext4", Size: 999164592 * 512, Bus: storage.BusNVMe, Model: "SAMSUNG MZVL21T0HCLR-00BL2"},
		{MountPoint: "/boot/efi", Device: "/dev/nvme0n1p1", Filesystem: "vfat", Size: 1048576 * 512, Bus: storage.BusNVMe, Model: "SAMSUNG MZVL21T0HCLR-00BL2", Label: "EFI"},
		{MountPoint: "/media/anna/Case Files ü\ttab", Device: "/dev/sdb1", Filesystem: "vfat", Size: 60061696 * 512, Removable: true, Bus: storage.BusUSB,
			VendorID: "0781", ProductID: "5581", Serial: "4C530001230101113424", Model: "SanDisk Ultra", Label: "Case Files"},
		{MountPoint: "/media/anna/SDCARD", Device: "/dev/mmcblk0p1", Filesystem: "exfat", Size: 62325760 * 512, Removable: true, ReadOnly: true, Bus: storage.BusMMC},
		{MountPoint: "/media/anna/luks-stick", Device: "/dev/dm-0", Filesystem: "ext4", Size: 125278232 * 512, Removable: true, Bus: storage.BusUSB,
			VendorID: "090c", ProductID: "1000", Serial: "AA00000000000489", Model: "Samsung Flash Drive FIT"},
		{MountPoint: "/mnt/data", Device: "/dev/sda2", Filesystem: "ext4", Size: 1953000000 * 512, Bus: storage.BusSATA, Model: "WDC WD10EZEX-08W"},
		{MountPoint: "/mnt/image", Device: "/dev/loop0", Filesystem: "ext4", Size: 32768 * 512, Bus: storage.BusVirtual},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("volumes:\n got %s\nwant %s", dump(got), dump(want))
	}
}

func dump(vs []storage.Volume) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("\n  ")
		b.WriteString(formatVolume(v))
	}
	return b.String()
}

func formatVolume(v storage.Volume) string { return fmt.Sprintf("%#v", v) }

// A stick whose USB device has no serial, manufacturer or product, and
// whose disk has no size or removable attribute, is still a USB stick.
func TestLinuxSourceMissingAttributesGivePartialInfo(t *testing.T) {
	f := newFakeSys(t)
	f.Attrs("sys/devices/pci0000:00/0000:00:14.0/usb2/2-1", map[string]string{"idVendor": "abcd", "idProduct": "EF01"})
	stick := f.Disk(usbStick+"/block/sdb", "8:16", nil)
	f.Part(stick, "sdb1", "8:17", "")
	f.Mounts(`36 31 8:17 / /media/x rw,nosuid - vfat /dev/sdb1 rw`)
	got, err := storage.NewLinuxSource(f.paths()).Volumes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Volume{{MountPoint: "/media/x", Device: "/dev/sdb1", Filesystem: "vfat", Removable: true, Bus: storage.BusUSB, VendorID: "abcd", ProductID: "ef01"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s\nwant %s", dump(got), dump(want))
	}
}

// A mount whose sysfs entry is gone (the device was pulled while the
// table was read), or dangles, is listed from the mount table alone, and
// the other volumes are still listed.
func TestLinuxSourceVanishedDeviceIsPartial(t *testing.T) {
	f := laptop(t)
	// sdb1's folder is gone but its links remain, as happens mid-removal.
	if err := os.RemoveAll(filepath.Join(f.SysRoot, "devices", usbStick)); err != nil {
		t.Fatal(err)
	}
	got, err := storage.NewLinuxSource(f.paths()).Volumes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var stick *storage.Volume
	for i, v := range got {
		if v.Device == "/dev/sdb1" {
			stick = &got[i]
		}
	}
	if len(got) != 7 || stick == nil {
		t.Fatalf("got %s", dump(got))
	}
	want := storage.Volume{MountPoint: "/media/anna/Case Files ü\ttab", Device: "/dev/sdb1", Filesystem: "vfat"}
	if *stick != want {
		t.Errorf("vanished stick: got %s, want %s", formatVolume(*stick), formatVolume(want))
	}
}

// With no sysfs at all, block devices are still listed from the mount
// table, and nothing else is.
func TestLinuxSourceWithoutSysfs(t *testing.T) {
	f := laptop(t)
	p := f.paths()
	p.SysRoot = filepath.Join(f.Root, "no-sysfs")
	got, err := storage.NewLinuxSource(p).Volumes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string
	for _, v := range got {
		if v.Bus != storage.BusUnknown || v.VendorID != "" || v.Size != 0 {
			t.Errorf("without sysfs %q has details: %s", v.MountPoint, formatVolume(v))
		}
		mounts = append(mounts, v.MountPoint+"="+v.Device)
	}
	want := []string{"/=/dev/nvme0n1p2", "/boot/efi=/dev/nvme0n1p1", "/media/anna/Case Files ü\ttab=/dev/sdb1",
		"/media/anna/SDCARD=/dev/mmcblk0p1", "/media/anna/luks-stick=/dev/mapper/luks-stick", "/mnt/data=/dev/sda2", "/mnt/image=/dev/loop0"}
	if !reflect.DeepEqual(mounts, want) {
		t.Errorf("got %q\nwant %q", mounts, want)
	}
}

// Whatever a device reports is cleaned and bounded; a link in sysfs that
// leads outside it is not followed; numbers that are not numbers are 0.
func TestLinuxSourceHostileSysfs(t *testing.T) {
	f := newFakeSys(t)
	long := strings.Repeat("X", 10_000)
	f.Attrs("sys/devices/pci0000:00/0000:00:14.0/usb2/2-1", map[string]string{
		"idVendor": "07g1", "idProduct": "55811", "serial": "AB\x01C\xff\xfeD\x1b[31m" + long,
		"manufacturer": "\x00\x00", "product": "Stick\u202e\u200bname",
	})
	stick := f.Disk(usbStick+"/block/sdb", "8:16", map[string]string{"size": "99999999999999999999999"})
	f.Part(stick, "sdb1", "8:17", "-5")
	// A device number whose link leads out of sysfs, to a folder that
	// looks like a USB disk.
	f.Attrs("outside/usb9/9-1", map[string]string{"idVendor": "dead", "idProduct": "beef", "size": "100"})
	if err := os.Symlink(filepath.Join(f.Root, "outside", "usb9", "9-1"), filepath.Join(f.SysRoot, "dev", "block", "8:48")); err != nil {
		t.Fatal(err)
	}
	f.Mounts(
		`36 31 8:17 / /media/hostile rw - vfat /dev/sdb1 rw`,
		`37 31 8:48 / /media/escape rw - vfat /dev/../../outside rw`,
	)
	got, err := storage.NewLinuxSource(f.paths()).Volumes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %s", dump(got))
	}
	esc, h := got[0], got[1]
	if esc.MountPoint != "/media/escape" || esc.Bus != storage.BusUnknown || esc.VendorID != "" || esc.Size != 0 {
		t.Errorf("link out of sysfs was followed: %s", formatVolume(esc))
	}
	if h.VendorID != "" || h.ProductID != "" || h.Size != 0 {
		t.Errorf("bad ids or size accepted: %s", formatVolume(h))
	}
	if len(h.Serial) > storage.MaxSerialLen || !strings.HasPrefix(h.Serial, "AB\uFFFDC\uFFFD\uFFFDD\uFFFD[31mXXX") {
		t.Errorf("serial not cleaned: %q (%d bytes)", h.Serial[:min(40, len(h.Serial))], len(h.Serial))
	}
	for _, s := range []string{h.Serial, h.Model} {
		for _, r := range s {
			if r < 0x20 || r == 0x7f || r == '\u202e' || r == '\u200b' {
				t.Errorf("unprintable %U left in %q", r, s)
			}
		}
	}
}

// A mount table that cannot be read is an error; one with garbage lines
// lists what it can.
func TestLinuxSourceMountTable(t *testing.T) {
	f := laptop(t)
	p := f.paths()
	p.MountInfo = filepath.Join(f.Root, "missing")
	if _, err := storage.NewLinuxSource(p).Volumes(context.Background()); err == nil {
		t.Error("a missing mount table gave no error")
	}
	f.File("mountinfo", "garbage\n\x00\x01\n34 1 8:2 / /mnt/data rw - ext4 /dev/sda2 rw\n1 2 3\n")
	got, err := storage.NewLinuxSource(f.paths()).Volumes(context.Background())
	if err != nil || len(got) != 1 || got[0].Device != "/dev/sda2" {
		t.Errorf("got %s, %v", dump(got), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := storage.NewLinuxSource(f.paths()).Volumes(ctx); err == nil {
		t.Error("a cancelled listing gave no error")
	}
}
