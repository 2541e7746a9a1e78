package storage

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/casekeep/casekeep/agent/internal/sysfs"
)

// LinuxPaths are where a Linux source reads. Zero fields take the defaults.
type LinuxPaths struct {
	// MountInfo is the mount table (default "/proc/self/mountinfo").
	MountInfo string
	// SysRoot is where sysfs is mounted (default "/sys").
	SysRoot string
	// DevRoot is where devices are (default "/dev"); labels are read from
	// the links in DevRoot/disk/by-label.
	DevRoot string
}

func (p LinuxPaths) withDefaults() LinuxPaths {
	if p.MountInfo == "" {
		p.MountInfo = "/proc/self/mountinfo"
	}
	if p.SysRoot == "" {
		p.SysRoot = "/sys"
	}
	if p.DevRoot == "" {
		p.DevRoot = "/dev"
	}
	return p
}

// NewLinuxSource returns a [Source] that reads a Linux mount table and
// sysfs at the given paths. Its listing only reads files, so it works (on a
// fake tree) on any operating system; on Linux it is also a [Notifier] when
// MountInfo is a file in /proc. Its Block remounts a volume read-only on
// Linux, checking the mount against MountInfo, and returns
// [ErrBlockUnsupported] elsewhere.
//
// A volume whose sysfs entry is missing or disappears while it is read is
// listed with what could be read, never failing the whole listing; only a
// mount table that cannot be read is an error.
func NewLinuxSource(p LinuxPaths) Source {
	return &linuxSource{p: p.withDefaults()}
}

type linuxSource struct {
	p LinuxPaths
}

// Notify wakes the caller when the mount table changes: the kernel flags
// an open mountinfo file with POLLPRI and POLLERR on every mount and
// unmount. It fails when MountInfo is not a file in /proc (or not on
// Linux).
func (s *linuxSource) Notify(ctx context.Context) (<-chan struct{}, error) {
	return s.notify(ctx)
}

// Bounds on what is read.
const (
	maxMountInfoBytes = 64 << 20 // the whole mount table
	maxLabels         = 4096     // links in /dev/disk/by-label
	maxSlaveDepth     = 8        // dm over dm over md ...
	maxUpLevels       = 64       // folders walked up to a USB device
)

// skipFS are filesystem types that are never a volume a person plugs in,
// even when a block device seems to be behind them.
var skipFS = map[string]bool{
	"squashfs": true, // snap packages, live images
	"overlay":  true,
	"tmpfs":    true,
	"ramfs":    true,
	"proc":     true,
	"sysfs":    true,
	"devtmpfs": true,
	"autofs":   true,
	"nfs":      true,
	"nfs4":     true,
	"cifs":     true,
	"smb3":     true,
	"9p":       true,
	"fuse":     true,
	"virtiofs": true,
}

func skipType(t string) bool {
	return skipFS[t] || strings.HasPrefix(t, "fuse.")
}

func (s *linuxSource) Volumes(ctx context.Context) ([]Volume, error) {
	f, err := os.Open(s.p.MountInfo)
	if err != nil {
		return nil, err
	}
	mounts, err := ParseMountInfo(io.LimitReader(f, maxMountInfoBytes))
	f.Close()
	if err != nil {
		return nil, err
	}
	sys, err := filepath.EvalSymlinks(s.p.SysRoot)
	if err != nil {
		sys = "" // no sysfs: devices are described by their mount source only
	}
	labels := readLabels(filepath.Join(s.p.DevRoot, "disk", "by-label"))

	type candidate struct {
		m Mount
		v Volume
	}
	best := map[string]candidate{}
	for _, m := range mounts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if skipType(m.FSType) {
			continue
		}
		dev, ok := findBlock(sys, m)
		if !ok {
			continue
		}
		v := describe(sys, dev, m, labels)
		if c, ok := best[v.Device]; !ok || preferMount(m, c.m) {
			best[v.Device] = candidate{m, v}
		}
	}
	out := make([]Volume, 0, len(best))
	for _, c := range best {
		out = append(out, c.v)
	}
	sortVolumes(out)
	return out, nil
}

// preferMount reports whether a is a better place than b to report a
// device mounted at both: the whole filesystem over a bind mount or
// subvolume, then the shorter mount point, then the smaller.
func preferMount(a, b Mount) bool {
	if (a.Root == "/") != (b.Root == "/") {
		return a.Root == "/"
	}
	if len(a.MountPoint) != len(b.MountPoint) {
		return len(a.MountPoint) < len(b.MountPoint)
	}
	return a.MountPoint < b.MountPoint
}

func sortVolumes(vs []Volume) {
	slices.SortFunc(vs, func(a, b Volume) int {
		return cmp.Or(strings.Compare(a.MountPoint, b.MountPoint), strings.Compare(a.Device, b.Device))
	})
}

// blockDev is a block device found for a mount.
type blockDev struct {
	name string // kernel name, such as "sdb1"; "" if not known
	path string // resolved sysfs folder; "" if there is none
	dev  string // what to report as Volume.Device
}

// findBlock finds the block device behind a mount: by its device number in
// /sys/dev/block, else by the name in its mount source. A mount with
// neither a device number nor a /dev source is not on a block device.
func findBlock(sys string, m Mount) (blockDev, bool) {
	if sys != "" && m.Major != 0 {
		p := filepath.Join(sys, "dev", "block", fmt.Sprintf("%d:%d", m.Major, m.Minor))
		if rp, ok := sysfs.ResolveIn(sys, p); ok {
			name := filepath.Base(rp)
			return blockDev{name: name, path: rp, dev: "/dev/" + name}, true
		}
	}
	src, ok := strings.CutPrefix(m.Source, "/dev/")
	if !ok {
		if m.Major != 0 {
			// A block device whose sysfs entry is gone (or sysfs is not
			// mounted): report what the mount table says.
			return blockDev{dev: m.Source}, true
		}
		return blockDev{}, false
	}
	if sys != "" {
		if mapped, ok := strings.CutPrefix(src, "mapper/"); ok {
			if d, ok := findDMByName(sys, mapped); ok {
				return d, true
			}
		} else if name := filepath.Base(src); validName(name) && name == src {
			if rp, ok := sysfs.ResolveIn(sys, filepath.Join(sys, "class", "block", name)); ok {
				return blockDev{name: name, path: rp, dev: "/dev/" + name}, true
			}
		}
	}
	return blockDev{dev: m.Source}, true
}

// findDMByName finds the device-mapper device with the given name.
func findDMByName(sys, name string) (blockDev, bool) {
	entries, err := os.ReadDir(filepath.Join(sys, "block"))
	if err != nil {
		return blockDev{}, false
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "dm-") {
			continue
		}
		rp, ok := sysfs.ResolveIn(sys, filepath.Join(sys, "block", e.Name()))
		if !ok || sysfs.Attr(filepath.Join(rp, "dm", "name")) != name {
			continue
		}
		return blockDev{name: e.Name(), path: rp, dev: "/dev/" + e.Name()}, true
	}
	return blockDev{}, false
}

// validName reports whether name can be one folder name.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// describe fills in a Volume from sysfs.
func describe(sys string, dev blockDev, m Mount, labels map[string]string) Volume {
	v := Volume{
		MountPoint: m.MountPoint,
		Device:     dev.dev,
		Filesystem: CleanText(m.FSType, MaxTextLen),
		ReadOnly:   m.ReadOnly(),
		Label:      labels[dev.name],
	}
	if dev.path == "" {
		return v
	}
	v.Size = readSectors(filepath.Join(dev.path, "size"))
	disk := dev.path
	if sysfs.IsFile(filepath.Join(dev.path, "partition")) {
		disk = filepath.Dir(dev.path)
	}
	phys := physicalDisk(sys, disk, 0, map[string]bool{})
	rel := strings.TrimPrefix(phys, sys)
	v.Bus = busOf(rel)
	v.Removable = sysfs.Attr(filepath.Join(phys, "removable")) == "1"
	switch v.Bus {
	case BusUSB:
		v.Removable = true
	case BusMMC:
		if sysfs.Attr(filepath.Join(phys, "device", "type")) == "SD" {
			v.Removable = true
		}
	}
	if usb := findUSB(sys, phys); usb != "" {
		v.VendorID = hexID(sysfs.Attr(filepath.Join(usb, "idVendor")))
		v.ProductID = hexID(sysfs.Attr(filepath.Join(usb, "idProduct")))
		v.Serial = CleanText(sysfs.Attr(filepath.Join(usb, "serial")), MaxSerialLen)
		v.Model = joinWords(sysfs.Attr(filepath.Join(usb, "manufacturer")), sysfs.Attr(filepath.Join(usb, "product")))
	} else {
		v.Model = joinWords(sysfs.Attr(filepath.Join(phys, "device", "vendor")), sysfs.Attr(filepath.Join(phys, "device", "model")))
	}
	return v
}

// physicalDisk follows a stacked device (dm-crypt, LVM, software RAID)
// down its slaves to a disk, preferring one on USB, so that an encrypted
// stick is still described as a USB stick.
func physicalDisk(sys, disk string, depth int, seen map[string]bool) string {
	if depth >= maxSlaveDepth || seen[disk] {
		return disk
	}
	seen[disk] = true
	entries, err := os.ReadDir(filepath.Join(disk, "slaves"))
	if err != nil || len(entries) == 0 {
		return disk
	}
	var first string
	for _, e := range entries {
		rp, ok := sysfs.ResolveIn(sys, filepath.Join(disk, "slaves", e.Name()))
		if !ok {
			continue
		}
		if sysfs.IsFile(filepath.Join(rp, "partition")) {
			rp = filepath.Dir(rp)
		}
		p := physicalDisk(sys, rp, depth+1, seen)
		if busOf(strings.TrimPrefix(p, sys)) == BusUSB {
			return p
		}
		if first == "" {
			first = p
		}
	}
	if first == "" {
		return disk
	}
	return first
}

// busOf tells the bus from a disk's sysfs path below the sysfs root.
func busOf(rel string) Bus {
	rel = filepath.ToSlash(rel)
	switch {
	case strings.Contains(rel, "/usb"):
		return BusUSB
	case strings.Contains(rel, "/nvme"):
		return BusNVMe
	case strings.Contains(rel, "/ata"):
		return BusSATA
	case strings.Contains(rel, "/mmc_host/"), strings.HasPrefix(filepath.Base(rel), "mmcblk"):
		return BusMMC
	case strings.HasPrefix(rel, "/devices/virtual/"):
		return BusVirtual
	case strings.HasPrefix(rel, "/devices/"):
		return BusOther
	}
	return BusUnknown
}

// findUSB walks up from a disk's folder to the USB device's folder, the
// first holding idVendor and idProduct, staying below sys/devices.
func findUSB(sys, disk string) string {
	top := filepath.Join(sys, "devices")
	dir := disk
	for range maxUpLevels {
		if !strings.HasPrefix(dir, top+string(filepath.Separator)) {
			return ""
		}
		if sysfs.IsFile(filepath.Join(dir, "idVendor")) && sysfs.IsFile(filepath.Join(dir, "idProduct")) {
			return dir
		}
		dir = filepath.Dir(dir)
	}
	return ""
}

// readSectors reads a size attribute in 512-byte sectors as bytes; 0 if it
// is missing, not a number or would overflow.
func readSectors(p string) int64 {
	n, err := strconv.ParseInt(sysfs.Attr(p), 10, 64)
	if err != nil || n <= 0 || n > (1<<63-1)/512 {
		return 0
	}
	return n * 512
}

// joinWords joins a vendor and a model name, cleaned, without repeating a
// vendor the model already starts with, and without libata's "ATA".
func joinWords(vendor, model string) string {
	vendor = CleanText(vendor, MaxTextLen)
	model = CleanText(model, MaxTextLen)
	if vendor == "ATA" { // what libata calls every SATA disk's vendor
		vendor = ""
	}
	switch {
	case vendor == "":
		return model
	case model == "", strings.HasPrefix(strings.ToLower(model), strings.ToLower(vendor)):
		return cmp.Or(model, vendor)
	}
	return CleanText(vendor+" "+model, MaxTextLen)
}

// readLabels maps kernel device names to volume labels, from the links
// udev keeps in /dev/disk/by-label. The links are read, never followed.
func readLabels(dir string) map[string]string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	entries, err := f.ReadDir(maxLabels)
	if err != nil && len(entries) == 0 {
		return nil
	}
	labels := make(map[string]string, len(entries))
	for _, e := range entries {
		if e.Type()&os.ModeSymlink == 0 {
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		name := filepath.Base(target)
		if !validName(name) {
			continue
		}
		labels[name] = CleanText(unescapeUdev(e.Name()), MaxTextLen)
	}
	return labels
}

// unescapeUdev decodes udev's \xHH escapes in link names ("My\x20Stick").
func unescapeUdev(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
