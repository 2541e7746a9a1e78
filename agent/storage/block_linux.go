package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Block makes a volume read-only. On Linux it remounts the filesystem at
// the volume's mount point read-only (mount(2) with MS_REMOUNT|MS_RDONLY),
// keeping the mount's nosuid, nodev, noexec and atime flags; if the
// filesystem refuses (EBUSY while a file on it is open for writing), it
// makes that one mount read-only instead (MS_BIND|MS_REMOUNT|MS_RDONLY).
//
// The mount point is checked first: it must be an absolute, clean path
// whose every component is a real folder (a symbolic link anywhere in it is
// refused, never followed), and the mount found there must be the one the
// mount table lists for the volume's device (else [ErrNotMounted]). The
// remount then goes through the opened folder (/proc/self/fd), so nothing
// can be swapped in between the check and the remount. Someone with root
// can remount the volume writable again; the monitor then reports it as
// [Changed] with ReadOnly false. The mount table read is the source's
// MountInfo.
func (s *linuxSource) Block(ctx context.Context, v Volume) error {
	return blockLinux(ctx, v, s.p)
}

func blockLinux(ctx context.Context, v Volume, p LinuxPaths) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mp := v.MountPoint
	if !filepath.IsAbs(mp) || filepath.Clean(mp) != mp {
		return fmt.Errorf("%w: %q is not an absolute, clean path", ErrNotMounted, mp)
	}
	m, err := findMount(v, p)
	if err != nil {
		return err
	}
	fd, err := openNoFollow(mp)
	if err != nil {
		return fmt.Errorf("storage: opening mount point %q: %w", mp, err)
	}
	defer unix.Close(fd)
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID|unix.STATX_BASIC_STATS, &st); err != nil {
		return fmt.Errorf("storage: checking mount point %q: %w", mp, err)
	}
	switch {
	case st.Mask&unix.STATX_MNT_ID != 0:
		if st.Mnt_id != uint64(m.ID) {
			return fmt.Errorf("%w: another mount is at %q", ErrNotMounted, mp)
		}
	case st.Dev_major != m.Major || st.Dev_minor != m.Minor:
		return fmt.Errorf("%w: another filesystem is at %q", ErrNotMounted, mp)
	}
	target := "/proc/self/fd/" + strconv.Itoa(fd)
	flags := mountFlags(m.Options+","+m.SuperOptions) | unix.MS_REMOUNT | unix.MS_RDONLY
	errSuper := unix.Mount("", target, "", flags, "")
	if errSuper != nil {
		if errBind := unix.Mount("", target, "", flags|unix.MS_BIND, ""); errBind != nil {
			return fmt.Errorf("storage: remounting %q read-only: %w (and the mount alone: %w)", mp, errSuper, errBind)
		}
	}
	// Believe the mount table, not the calls: the mount must now say ro.
	mounts, err := readMounts(p)
	if err != nil {
		return err
	}
	for _, after := range mounts {
		if after.ID == m.ID {
			if !after.ReadOnly() {
				return fmt.Errorf("storage: %q is still writable after remounting it read-only", mp)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: %q went away while it was made read-only", ErrNotMounted, mp)
}

// readMounts reads the mount table, bounded like a listing.
func readMounts(p LinuxPaths) ([]Mount, error) {
	f, err := os.Open(p.MountInfo)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseMountInfo(io.LimitReader(f, maxMountInfoBytes))
}

// findMount finds the topmost mount at v's mount point and checks that it
// is v's device.
func findMount(v Volume, p LinuxPaths) (Mount, error) {
	mounts, err := readMounts(p)
	if err != nil {
		return Mount{}, err
	}
	sys, err := filepath.EvalSymlinks(p.SysRoot)
	if err != nil {
		sys = ""
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		m := mounts[i]
		if m.MountPoint != v.MountPoint {
			continue
		}
		// Only the topmost mount at a point can be reached by its path. It
		// must be a block device's filesystem (major number not 0): the
		// source of a FUSE or other anonymous mount is whatever its mounter
		// chose, so a user could cover the stick with one named after it.
		if m.Major == 0 {
			return Mount{}, fmt.Errorf("%w: the filesystem at %q is not on a block device (FUSE or similar), so it cannot be checked to be %q", ErrNotMounted, v.MountPoint, v.Device)
		}
		if dev, ok := findBlock(sys, m); ok && dev.dev == v.Device {
			return m, nil
		}
		return Mount{}, fmt.Errorf("%w: %q is not mounted at %q", ErrNotMounted, v.Device, v.MountPoint)
	}
	return Mount{}, fmt.Errorf("%w: nothing is mounted at %q", ErrNotMounted, v.MountPoint)
}

// openNoFollow opens the folder at an absolute path as O_PATH, one
// component at a time, refusing a symbolic link anywhere on the way.
func openNoFollow(path string) (int, error) {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for _, name := range strings.Split(strings.Trim(path, "/"), "/") {
		if name == "" {
			continue
		}
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				return -1, fmt.Errorf("%q is a symbolic link or not a folder: %w", name, err)
			}
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// remountFlags are the mount and filesystem options a remount must pass
// again to keep them, and their flags: a remount clears every flag it is
// not given.
var remountFlags = map[string]uintptr{
	"nosuid":      unix.MS_NOSUID,
	"nodev":       unix.MS_NODEV,
	"noexec":      unix.MS_NOEXEC,
	"noatime":     unix.MS_NOATIME,
	"nodiratime":  unix.MS_NODIRATIME,
	"relatime":    unix.MS_RELATIME,
	"strictatime": unix.MS_STRICTATIME,
	"nosymfollow": unix.MS_NOSYMFOLLOW,
	"sync":        unix.MS_SYNCHRONOUS,
	"dirsync":     unix.MS_DIRSYNC,
	"lazytime":    unix.MS_LAZYTIME,
}

// mountFlags turns mount and filesystem options into the flags a remount
// must pass to keep them (remountFlags).
func mountFlags(opts string) uintptr {
	var f uintptr
	for o := range strings.SplitSeq(opts, ",") {
		f |= remountFlags[o]
	}
	return f
}
