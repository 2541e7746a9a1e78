// Package storage watches the volumes mounted on the laptop, so the agent
// can tell when a USB stick, SD card or external disk arrives, decide from
// the policy's allow-list whether it is approved, and make an unapproved one
// read-only.
//
// A [Source] lists the volumes mounted now; [OSSource] is the operating
// system's, and tests pass a fake. A [Monitor] lists them at start (every
// volume present is reported as [Arrived]) and again every Interval, and on
// Linux also as soon as the kernel says the mount table changed, and reports
// each difference on its Changes channel: [Arrived], [Left], or [Changed]
// when a volume stays at the same mount point on the same device but an
// attribute changed (it was remounted read-only, its label appeared). The
// channel is buffered; a consumer that falls further behind than the buffer
// is given the difference between what it was last told and the current set,
// so it always converges on the truth but never hears of a volume that came
// and went while it was not listening. [Approved] matches a volume against
// the allow-list, and a Source's Block ([Source.Block]) makes a volume
// read-only where the operating system allows it; package storagetest has a
// fake Source that lists what a test sets and scripts what Block returns.
//
// What is listed. The monitor is about storage a person plugs in, but it
// also lists local disks, so the agent can report every volume it has seen;
// [Volume.Removable] tells the two apart. Only filesystems on block devices
// are listed: pseudo and memory filesystems (proc, sysfs, tmpfs, cgroup,
// overlay and the like), network filesystems (NFS, SMB) and FUSE mounts are
// not (fuseblk, which is how ntfs-3g mounts a disk, is), and neither are
// squashfs images (snap packages and live systems mount dozens of them on
// loop devices). Loop devices with other filesystems are listed, as
// [BusVirtual] volumes that are not removable. A device mounted at several places
// (bind mounts, btrfs subvolumes) is listed once, at the mount of its whole
// filesystem if there is one, else at its shortest mount point. On macOS
// only "/" and the volumes under /Volumes are listed; on Windows every drive
// letter on a removable, fixed or optical drive with media in it.
//
// How a volume is described. On Linux everything comes from
// /proc/self/mountinfo and sysfs: a disk is on USB when its sysfs path runs
// through a USB device (the kernel's removable flag is 0 for most USB
// disks), and the vendor id, product id and serial come from that USB
// device's folder; a dm-crypt or LVM volume is described by the disk under
// it, so an encrypted stick is still a USB stick. Labels come from the
// /dev/disk/by-label links udev makes (none where udev does not run). On
// Windows the drive's bus comes from IOCTL_STORAGE_QUERY_PROPERTY (USB hard
// disks call themselves fixed drives) and the ids from the USB device's
// instance id, found through the configuration manager. On macOS the
// details come from `diskutil info -plist` and the USB ids from `ioreg`.
// Serials, labels and models are cleaned of control characters and invalid
// UTF-8 and cut to a bounded length; nothing read from a device is trusted
// as a path or a size.
package storage
