package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// OSSource returns this operating system's [Source]: on macOS, one that
// lists mounts with getfsstat, keeps "/" and the local volumes under
// /Volumes, and describes each new one with `diskutil info -plist` (bus,
// removable, label, size) and, for USB disks, `ioreg` (vendor id, product
// id, serial, name). The details are asked once per mounted volume and
// cached. It has no notifications: the monitor polls.
func OSSource() Source { return &darwinSource{} }

type darwinSource struct {
	cache detailCache[darwinDetails] // by device, mount point and fsid
}

type darwinDetails struct {
	info  diskInfo
	usb   usbInstance
	model string
}

// Programs, by absolute path so that PATH cannot change them.
const (
	diskutilPath = "/usr/sbin/diskutil"
	ioregPath    = "/usr/sbin/ioreg"
	toolTimeout  = 10 * time.Second
)

func (s *darwinSource) Volumes(ctx context.Context) ([]Volume, error) {
	n, err := unix.Getfsstat(nil, unix.MNT_NOWAIT)
	if err != nil {
		return nil, fmt.Errorf("storage: getfsstat: %w", err)
	}
	buf := make([]unix.Statfs_t, n+16) // room for mounts made meanwhile
	n, err = unix.Getfsstat(buf, unix.MNT_NOWAIT)
	if err != nil {
		return nil, fmt.Errorf("storage: getfsstat: %w", err)
	}
	var out []Volume
	seen := map[string]bool{}
	for _, st := range buf[:n] {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		on := unix.ByteSliceToString(st.Mntonname[:])
		from := unix.ByteSliceToString(st.Mntfromname[:])
		if on != "/" && !strings.HasPrefix(on, "/Volumes/") {
			continue // system sub-volumes, devfs, autofs, ...
		}
		if st.Flags&unix.MNT_LOCAL == 0 {
			continue // network
		}
		dev, ok := strings.CutPrefix(from, "/dev/")
		if !ok || !validDiskName(dev) {
			continue
		}
		v := Volume{
			MountPoint: on,
			Device:     dev,
			Filesystem: CleanText(unix.ByteSliceToString(st.Fstypename[:]), MaxTextLen),
			Removable:  st.Flags&unix.MNT_REMOVABLE != 0,
			ReadOnly:   st.Flags&unix.MNT_RDONLY != 0,
		}
		if size := st.Blocks * uint64(st.Bsize); st.Bsize > 0 && size/uint64(st.Bsize) == st.Blocks && size <= 1<<63-1 {
			v.Size = int64(size)
		}
		key := fmt.Sprintf("%s\x00%s\x00%v", dev, on, st.Fsid)
		seen[key] = true
		d := s.cache.get(key, func() darwinDetails { return s.details(ctx, dev) })
		v.Bus = d.info.Bus
		v.Removable = v.Removable || d.info.Removable
		if d.info.Label != "" {
			v.Label = d.info.Label
		}
		if d.info.Size > 0 {
			v.Size = d.info.Size
		}
		v.VendorID, v.ProductID, v.Serial = d.usb.VendorID, d.usb.ProductID, d.usb.Serial
		v.Model = d.model
		out = append(out, v)
	}
	s.cache.keep(seen)
	sortVolumes(out)
	return out, nil
}

// details asks diskutil, and for a USB disk ioreg, about a device; what
// fails is left unknown.
func (s *darwinSource) details(ctx context.Context, dev string) darwinDetails {
	var d darwinDetails
	out, err := runTool(ctx, diskutilPath, "info", "-plist", "/dev/"+dev)
	if err != nil {
		return d
	}
	if d.info, err = parseDiskutilInfo(out); err != nil {
		return darwinDetails{}
	}
	d.model = d.info.Model
	if d.info.Bus == BusUSB && d.info.WholeDisk != "" {
		if out, err := runTool(ctx, ioregPath, "-r", "-c", "IOUSBHostDevice", "-l", "-a"); err == nil {
			if u, model, ok := parseIoregUSB(out, d.info.WholeDisk); ok {
				d.usb = u
				if model != "" {
					d.model = model
				}
			}
		}
	}
	return d
}

// runTool runs a program with a timeout and returns its standard output,
// bounded.
func runTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out limitedBuffer
	out.max = maxPlistBytes
	cmd.Stdout = &out
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("storage: %s: %w", name, err)
	}
	if out.over {
		return nil, errors.New("storage: " + name + " printed too much")
	}
	return out.Bytes(), nil
}

// limitedBuffer keeps at most max bytes and notes whether more came.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		p = p[:max(room, 0)]
	}
	b.Buffer.Write(p)
	return len(p), nil
}
