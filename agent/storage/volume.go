package storage

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/casekeep/casekeep/internal/printable"
)

// Bus says how a volume's disk is attached.
type Bus string

// Buses. A volume on dm-crypt, LVM or software RAID has the bus of the disk
// under it; [BusVirtual] is for disks with no hardware under them (loop
// devices, RAM disks, disk images).
const (
	BusUnknown Bus = ""        // not known
	BusUSB     Bus = "usb"     // USB, including UAS and USB card readers
	BusSATA    Bus = "sata"    // SATA, ATA or ATAPI
	BusNVMe    Bus = "nvme"    // NVMe
	BusMMC     Bus = "mmc"     // SD or MMC card slot, or eMMC
	BusVirtual Bus = "virtual" // loop device, RAM disk, disk image
	BusOther   Bus = "other"   // anything else: SCSI, virtio, Thunderbolt, ...
)

// Volume is a mounted filesystem as the operating system reports it. It is
// comparable: two listings of an unchanged volume are equal.
type Volume struct {
	// MountPoint is where the volume is mounted: an absolute path on Linux
	// and macOS, such as "/media/anna/KINGSTON", or a drive root such as
	// `E:\` on Windows. It is exactly what the operating system reports,
	// so it may hold any byte a file name can.
	MountPoint string
	// Device names the device: "/dev/sdb1" on Linux, "disk4s1" on macOS,
	// `\\.\E:` on Windows.
	Device string
	// Filesystem is the filesystem type: "vfat", "exfat", "ntfs", "ext4",
	// "apfs", "FAT32", ...
	Filesystem string
	// Size is the size in bytes, 0 if not known.
	Size int64
	// Removable is true for removable media (USB sticks, SD cards,
	// optical discs) and for disks attached by USB (or, on macOS, any
	// external disk).
	Removable bool
	// ReadOnly is true if the volume is mounted read-only.
	ReadOnly bool
	// Bus says how the disk is attached.
	Bus Bus
	// VendorID and ProductID are the USB ids as four lower-case hex digits,
	// such as "0781" and "5581"; "" if not known or not USB.
	VendorID  string
	ProductID string
	// Serial is the device's serial number as the device reports it,
	// cleaned (see [CleanText]); "" if it has none or it is not known.
	Serial string
	// Model names the device in words, such as "SanDisk Cruzer Blade";
	// "" if not known.
	Model string
	// Label is the volume label; "" if none or not known.
	Label string
}

// Source lists the volumes mounted now and makes one read-only. [OSSource]
// is the operating system's; tests pass a fake (see package storagetest).
type Source interface {
	// Volumes lists the volumes mounted now, in any order. A volume that
	// cannot be described fully is listed with what is known; an error
	// means nothing could be listed.
	Volumes(ctx context.Context) ([]Volume, error)
	// Block makes a volume it listed read-only, where the operating system
	// allows it: [ErrBlockUnsupported] if it cannot, [ErrBlockDeferred] if
	// the volume becomes read-only only when it is next mounted, and
	// [ErrNotMounted] if the volume is not (or no longer) mounted where it
	// says. It may take as long as the filesystem does: a caller that must
	// not hang puts a deadline on it.
	Block(ctx context.Context, v Volume) error
}

// Notifier is implemented by a [Source] that can tell when the set of
// volumes may have changed, so a [Monitor] need not wait for its next poll.
type Notifier interface {
	// Notify returns a channel that receives a value soon after the set of
	// volumes may have changed; values may be coalesced. The channel is
	// closed when ctx is done or notifications stop working, after which
	// the monitor relies on polling alone. An error means notifications
	// are not available.
	Notify(ctx context.Context) (<-chan struct{}, error)
}

// ChangeKind says what happened to a volume.
type ChangeKind int

// Kinds of change.
const (
	// Arrived: the volume was mounted, or was there when the monitor
	// started.
	Arrived ChangeKind = iota + 1
	// Left: the volume was unmounted or removed.
	Left
	// Changed: the volume is still mounted at the same point from the same
	// device, but another attribute changed (such as ReadOnly or Label);
	// the Change carries the new description.
	Changed
)

// String returns "arrived", "left" or "changed".
func (k ChangeKind) String() string {
	switch k {
	case Arrived:
		return "arrived"
	case Left:
		return "left"
	case Changed:
		return "changed"
	}
	return "unknown"
}

// Change is one difference in the set of mounted volumes.
type Change struct {
	Kind ChangeKind
	// Volume is the volume as it is now (Arrived, Changed) or as it was
	// last seen (Left).
	Volume Volume
	// Time is when the monitor first saw the change.
	Time time.Time
}

var (
	// ErrBlockUnsupported means this operating system, or this volume,
	// cannot be made read-only by [Source.Block].
	ErrBlockUnsupported = errors.New("storage: cannot make this volume read-only here")
	// ErrBlockDeferred means [Source.Block] has set what it can, but the
	// volume only becomes read-only when it is next mounted (Windows, when
	// the volume could not be dismounted because files on it are open).
	ErrBlockDeferred = errors.New("storage: the volume becomes read-only when it is next mounted")
	// ErrNotMounted means the volume given to [Source.Block] is not
	// mounted (any more) where it says, or something else is mounted there.
	ErrNotMounted = errors.New("storage: volume is not mounted there")
	// ErrUnsupported means this operating system has no volume source.
	ErrUnsupported = errors.New("storage: not supported on this operating system")
	// ErrRunning means [Monitor.Run] was called more than once.
	ErrRunning = errors.New("storage: monitor already run")
)

// Bounds on the text taken from a device.
const (
	// MaxSerialLen is the most bytes of a serial kept; it matches the
	// longest serial a policy may name.
	MaxSerialLen = 128
	// MaxTextLen is the most bytes of a label, model or filesystem name
	// kept.
	MaxTextLen = 256
)

// CleanText makes text read from a device or the operating system safe to
// show and compare: it trims surrounding white space, replaces invalid UTF-8
// and what may not be shown (control and format characters, bidirectional
// overrides, white space other than the space) with U+FFFD, and cuts the
// result to at most max bytes on a rune boundary (see [printable.Text]). It
// reads no more of a long s than it needs.
func CleanText(s string, max int) string {
	if max <= 0 {
		return ""
	}
	return printable.Text(s, printable.Options{MaxBytes: max, Trim: true})
}

// hexID returns s as a four-digit lower-case hex id, or "" if it is not one.
func hexID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != 4 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return s
}
