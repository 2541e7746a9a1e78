package posture

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/casekeep/casekeep/agent/internal/sysfs"
	"github.com/casekeep/casekeep/agent/storage"
)

// This file holds the Linux check. It only reads files, so it has no build
// tags and is tested on fake trees everywhere.

// Bounds on the walk down the block device stack.
const (
	maxDepth      = 16
	maxNodes      = 64
	maxMountTable = 64 << 20
)

// cryptKinds are the cryptsetup mapping types that encrypt, by the word
// after "CRYPT-" in dm/uuid. VERITY, INTEGRITY and SUBDEV mappings protect
// integrity only and are followed like any other layer.
var cryptKinds = map[string]bool{
	"LUKS1": true, "LUKS2": true, "PLAIN": true, "BITLK": true,
	"TCRYPT": true, "LOOPAES": true, "FVAULT2": true,
}

// unresolvable are root filesystem types with no local block device whose
// encryption this check could follow.
var unresolvable = map[string]string{
	"overlay":  "an overlay (a container or a live system); the disk under it cannot be seen from here",
	"aufs":     "an overlay (a container or a live system); the disk under it cannot be seen from here",
	"tmpfs":    "in memory (tmpfs); the disk, if any, cannot be seen from here",
	"ramfs":    "in memory (ramfs); the disk, if any, cannot be seen from here",
	"rootfs":   "the initial in-memory filesystem",
	"9p":       "shared from a host (9p); the host's disk cannot be seen from here",
	"virtiofs": "shared from a host (virtiofs); the host's disk cannot be seen from here",
	"nfs":      "on the network (NFS)",
	"nfs4":     "on the network (NFS)",
	"cifs":     "on the network (SMB)",
	"smb3":     "on the network (SMB)",
	"zfs":      "ZFS, whose native encryption this check does not read",
	"squashfs": "a read-only image (squashfs)",
}

func linuxDiskEncryption(ctx context.Context, o Options) Check {
	unknown := func(format string, args ...any) Check {
		return Check{Result: Unknown, Evidence: fmt.Sprintf(format, args...)}
	}
	f, err := os.Open(o.MountInfo)
	if err != nil {
		return unknown("cannot read the mount table: %v", err)
	}
	mounts, err := storage.ParseMountInfo(io.LimitReader(f, maxMountTable))
	f.Close()
	if err != nil {
		return unknown("cannot read the mount table: %v", err)
	}
	top := func(mp string) *storage.Mount {
		var m *storage.Mount
		for i := range mounts {
			if mounts[i].MountPoint == mp {
				m = &mounts[i] // the last one is on top
			}
		}
		return m
	}
	root := top("/")
	if root == nil {
		return unknown("nothing is mounted at / in %s", o.MountInfo)
	}
	c := checkMount(ctx, o, "root filesystem /", root)
	if c.Result == Fail {
		return c
	}
	// Case files also live in homes and under /var, and swap holds memory:
	// a separate partition there must be encrypted too.
	var extra []string
	worst := c.Result
	for _, mp := range []string{"/home", "/var"} {
		m := top(mp)
		if m == nil || m.Major == 0 && (m.FSType == "tmpfs" || m.FSType == "ramfs") {
			continue // on the root filesystem, or in memory
		}
		if m.Major == root.Major && m.Minor == root.Minor {
			continue
		}
		e := checkMount(ctx, o, mp, m)
		if e.Result == Fail {
			return Check{Result: Fail, Evidence: e.Evidence + "; " + c.Evidence}
		}
		if e.Result == Unknown {
			worst = Unknown
			extra = append(extra, e.Evidence)
		}
	}
	for _, dev := range swapDevices(o.Swaps) {
		e := checkSwap(ctx, o, dev)
		if e.Result == Fail {
			return Check{Result: Fail, Evidence: e.Evidence + "; " + c.Evidence}
		}
		if e.Result == Unknown {
			worst = Unknown
			extra = append(extra, e.Evidence)
		}
	}
	if len(extra) > 0 {
		return Check{Result: worst, Evidence: c.Evidence + "; but " + strings.Join(extra, "; ")}
	}
	return c
}

// checkSwap checks a swap partition (a swap file is on a filesystem that
// is checked as a mount).
func checkSwap(ctx context.Context, o Options, dev string) Check {
	sys, err := filepath.EvalSymlinks(o.SysRoot)
	if err != nil {
		return Check{Result: Unknown, Evidence: fmt.Sprintf("swap %s: cannot read sysfs: %v", dev, err)}
	}
	name := filepath.Base(dev)
	p, ok := sysfs.ResolveIn(sys, filepath.Join(sys, "class", "block", name))
	if !ok || !validSwapName(name) {
		return Check{Result: Unknown, Evidence: fmt.Sprintf("swap %s: no block device in sysfs", dev)}
	}
	w := &walker{sys: sys, onPath: map[string]bool{}}
	res, desc := w.walk(ctx, p, 0)
	ev := "swap " + dev + " is on " + desc
	if res == Fail {
		ev += ": not encrypted (memory written to it can be read from the disk)"
	}
	return Check{Result: res, Evidence: ev}
}

func validSwapName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00")
}

// swapDevices lists the swap partitions in a /proc/swaps file ("" means
// none); swap files are skipped.
func swapDevices(path string) []string {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	var out []string
	for i, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if i == 0 || len(fields) < 2 || fields[1] != "partition" || !strings.HasPrefix(fields[0], "/dev/") {
			continue
		}
		out = append(out, fields[0])
	}
	return out
}

// checkMount checks that the filesystem m, mounted at what (such as
// "root filesystem /"), is on dm-crypt all the way down.
func checkMount(ctx context.Context, o Options, what string, root *storage.Mount) Check {
	unknown := func(format string, args ...any) Check {
		return Check{Result: Unknown, Evidence: fmt.Sprintf(format, args...)}
	}
	fs := root.FSType
	lead := fmt.Sprintf("%s (%s", what, fs)
	if root.Source != "" && root.Source != "none" {
		lead += " from " + root.Source
	}
	lead += ")"
	if why, ok := unresolvable[fs]; ok {
		return unknown("%s is %s", lead, why)
	}
	if strings.HasPrefix(fs, "fuse") {
		return unknown("%s is a user-space filesystem (FUSE); what is under it cannot be seen from here", lead)
	}
	sys, err := filepath.EvalSymlinks(o.SysRoot)
	if err != nil {
		return unknown("%s: cannot read sysfs at %s: %v", lead, o.SysRoot, err)
	}
	dev, ok := rootDevice(sys, *root)
	if !ok {
		return unknown("%s: no block device for %d:%d in sysfs", lead, root.Major, root.Minor)
	}
	if fs == "btrfs" {
		if members := btrfsMembers(sys, filepath.Base(dev)); len(members) > 1 {
			return unknown("%s is btrfs over %d devices (%s); multi-device btrfs is not checked", lead, len(members), strings.Join(members, ", "))
		}
	}
	w := &walker{sys: sys, onPath: map[string]bool{}}
	res, desc := w.walk(ctx, dev, 0)
	ev := lead + " is on " + desc
	if res == Fail {
		ev += ": not encrypted (no dm-crypt layer"
		if w.someCrypt {
			ev += " on every device under it"
		}
		ev += ")"
	}
	return Check{Result: res, Evidence: ev}
}

// rootDevice finds the sysfs folder of the root filesystem's device: by
// device number, else (btrfs reports an anonymous one) by the mount
// source's name.
func rootDevice(sys string, m storage.Mount) (string, bool) {
	if m.Major != 0 {
		return sysfs.ResolveIn(sys, filepath.Join(sys, "dev", "block", fmt.Sprintf("%d:%d", m.Major, m.Minor)))
	}
	src, ok := strings.CutPrefix(m.Source, "/dev/")
	if !ok {
		return "", false
	}
	if name, ok := strings.CutPrefix(src, "mapper/"); ok {
		entries, _ := os.ReadDir(filepath.Join(sys, "block"))
		for _, e := range entries {
			if p, ok := sysfs.ResolveIn(sys, filepath.Join(sys, "block", e.Name())); ok && sysfs.Attr(filepath.Join(p, "dm", "name")) == name {
				return p, true
			}
		}
		return "", false
	}
	if strings.ContainsAny(src, "/\x00") || src == "" || src == "." || src == ".." {
		return "", false
	}
	return sysfs.ResolveIn(sys, filepath.Join(sys, "class", "block", src))
}

// btrfsMembers lists the devices of the btrfs filesystem that has dev
// among its devices.
func btrfsMembers(sys, dev string) []string {
	fsids, _ := os.ReadDir(filepath.Join(sys, "fs", "btrfs"))
	for _, id := range fsids {
		entries, err := os.ReadDir(filepath.Join(sys, "fs", "btrfs", id.Name(), "devices"))
		if err != nil {
			continue
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if slices.Contains(names, dev) {
			return names
		}
	}
	return nil
}

// walker walks down a block device's slaves.
type walker struct {
	sys       string
	onPath    map[string]bool // devices on the path from the root, to catch loops
	nodes     int
	someCrypt bool
}

// walk decides whether everything under the device at p is encrypted, and
// describes it: Pass when the device is a dm-crypt mapping or everything
// under it is; Fail when some path down ends at a disk, partition or
// mapping with no dm-crypt on the way; Unknown when a path cannot be
// followed (a loop, a dm device whose uuid cannot be read, a loop device
// backed by a file) and none fails.
func (w *walker) walk(ctx context.Context, p string, depth int) (Result, string) {
	name := filepath.Base(p)
	w.nodes++
	switch {
	case ctx.Err() != nil:
		return Unknown, name + " (the check was cancelled)"
	case depth >= maxDepth || w.nodes > maxNodes:
		return Unknown, name + " (the device stack is too deep to follow)"
	case w.onPath[p]:
		return Unknown, name + " again (its slaves form a loop)"
	}
	w.onPath[p] = true
	defer delete(w.onPath, p)

	desc := name
	isDM := sysfs.IsDir(filepath.Join(p, "dm"))
	if isDM {
		dmName := storage.CleanText(sysfs.Attr(filepath.Join(p, "dm", "name")), 64)
		uuid, err := sysfs.AttrErr(filepath.Join(p, "dm", "uuid"))
		if err != nil {
			return Unknown, fmt.Sprintf("%s, a device-mapper device whose dm/uuid cannot be read, so whether it is dm-crypt cannot be told", name)
		}
		kind, layer := dmKind(uuid)
		if cryptKinds[kind] {
			w.someCrypt = true
			desc = fmt.Sprintf("%s, a %s dm-crypt mapping", name, kind)
			if dmName != "" {
				desc += " (" + dmName + ")"
			}
			if under := w.slaveNames(p); len(under) > 0 {
				desc += " of " + strings.Join(under, " and ")
			}
			return Pass, desc
		}
		if dmName != "" {
			layer += " " + dmName
		}
		desc = fmt.Sprintf("%s (%s)", name, strings.TrimSpace(layer))
	} else if md := sysfs.Attr(filepath.Join(p, "md", "level")); md != "" {
		desc = fmt.Sprintf("%s (software RAID %s)", name, storage.CleanText(md, 16))
	}

	slaves, lost := w.slaves(p)
	if lost > 0 {
		desc += fmt.Sprintf(" (%d device(s) under it cannot be read)", lost)
	}
	if len(slaves) == 0 && lost == 0 {
		switch {
		case isDM:
			return Fail, desc + ", with no device under it"
		case sysfs.IsDir(filepath.Join(p, "loop")):
			backing := storage.CleanText(sysfs.Attr(filepath.Join(p, "loop", "backing_file")), 200)
			return Unknown, fmt.Sprintf("%s, a loop device backed by the file %q, whose own disk is not checked", name, backing)
		case sysfs.IsFile(filepath.Join(p, "partition")):
			return Fail, fmt.Sprintf("%s, a partition of %s", name, filepath.Base(filepath.Dir(p)))
		}
		return Fail, name + ", a whole disk"
	}
	res := Pass
	if lost > 0 {
		res = Unknown
	}
	var parts []string
	for _, s := range slaves {
		r, d := w.walk(ctx, s, depth+1)
		parts = append(parts, d)
		switch {
		case r == Fail:
			res = Fail
		case r == Unknown && res == Pass:
			res = Unknown
		}
	}
	if len(parts) == 0 {
		return res, desc
	}
	return res, desc + " over " + strings.Join(parts, " and ")
}

// dmKind reads a device-mapper uuid: the cryptsetup type after "CRYPT-",
// or the kind of layer it is.
func dmKind(uuid string) (crypt, layer string) {
	if rest, ok := strings.CutPrefix(uuid, "CRYPT-"); ok {
		kind, _, _ := strings.Cut(rest, "-")
		return kind, "cryptsetup " + storage.CleanText(kind, 16) + " mapping, which does not encrypt"
	}
	switch {
	case strings.HasPrefix(uuid, "LVM-"):
		return "", "LVM"
	case strings.HasPrefix(uuid, "mpath-"):
		return "", "multipath"
	case strings.HasPrefix(uuid, "DMRAID-"):
		return "", "firmware RAID"
	case strings.HasPrefix(uuid, "part"):
		return "", "partition mapping"
	}
	return "", "device-mapper"
}

// slaves returns the resolved folders of the devices under p, and how
// many entries could not be resolved inside sysfs.
func (w *walker) slaves(p string) (out []string, lost int) {
	entries, err := os.ReadDir(filepath.Join(p, "slaves"))
	if err != nil {
		return nil, 0
	}
	for _, e := range entries {
		if rp, ok := sysfs.ResolveIn(w.sys, filepath.Join(p, "slaves", e.Name())); ok {
			out = append(out, rp)
		} else {
			lost++
		}
	}
	return out, lost
}

func (w *walker) slaveNames(p string) []string {
	var names []string
	slaves, _ := w.slaves(p)
	for _, s := range slaves {
		names = append(names, filepath.Base(s))
	}
	return names
}
