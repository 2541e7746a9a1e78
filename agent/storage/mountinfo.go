package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Mount is one line of a Linux mountinfo file (proc_pid_mountinfo(5)).
type Mount struct {
	ID     int // unique id of the mount
	Parent int // id of the parent mount
	// Major and Minor are the st_dev of files on the filesystem; Major is
	// 0 for filesystems with no block device (and for btrfs).
	Major, Minor uint32
	// Root is the folder of the filesystem that is mounted: "/" unless
	// this is a bind mount of a folder or a btrfs subvolume.
	Root string
	// MountPoint is where it is mounted, with the kernel's octal escapes
	// (\040 for a space, \011, \012, \134) decoded.
	MountPoint string
	// Options are the per-mount options, such as "rw,nosuid,relatime".
	Options string
	// FSType is the filesystem type, such as "ext4" or "fuse.sshfs".
	FSType string
	// Source is the mount source, such as "/dev/sdb1", with escapes
	// decoded; "" or "none" for filesystems without one.
	Source string
	// SuperOptions are the filesystem's options, such as "rw,errors=remount-ro".
	SuperOptions string
}

// ReadOnly reports whether the mount or its filesystem is read-only.
func (m Mount) ReadOnly() bool {
	return hasOption(m.Options, "ro") || hasOption(m.SuperOptions, "ro")
}

func hasOption(opts, name string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == name {
			return true
		}
	}
	return false
}

// Limits of [ParseMountInfo].
const (
	// MaxMountInfoLine is the longest line read; overlay mounts with many
	// layers have long option strings.
	MaxMountInfoLine = 1 << 20
	// MaxMounts is the most lines read.
	MaxMounts = 100_000
)

// ErrMountInfo means a mountinfo file could not be read: a line is longer
// than [MaxMountInfoLine] or there are more than [MaxMounts] lines.
var ErrMountInfo = errors.New("storage: mountinfo too large")

// ParseMountInfo reads a Linux mountinfo file, such as
// /proc/self/mountinfo, and returns its mounts in order (a later mount at
// the same point hides an earlier one). A line without the fields of the
// format is skipped, so one odd entry never hides the others; the error is
// for a failed read or a file past the limits.
func ParseMountInfo(r io.Reader) ([]Mount, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), MaxMountInfoLine)
	sc.Split(scanLF)
	var out []Mount
	lines := 0
	for sc.Scan() {
		lines++
		if lines > MaxMounts {
			return out, fmt.Errorf("%w: more than %d lines", ErrMountInfo, MaxMounts)
		}
		if m, ok := parseMountLine(sc.Bytes()); ok {
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return out, fmt.Errorf("%w: line %d is longer than %d bytes", ErrMountInfo, lines+1, MaxMountInfoLine)
		}
		return out, err
	}
	return out, nil
}

// scanLF splits lines at "\n" only: unlike bufio.ScanLines it keeps a
// trailing "\r", which the kernel does not escape and a folder name may end
// with.
func scanLF(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// parseMountLine parses
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
func parseMountLine(line []byte) (Mount, bool) {
	fields := bytes.Split(line, []byte{' '})
	if len(fields) < 9 {
		return Mount{}, false
	}
	var m Mount
	var err error
	if m.ID, err = strconv.Atoi(string(fields[0])); err != nil || m.ID < 0 {
		return Mount{}, false
	}
	if m.Parent, err = strconv.Atoi(string(fields[1])); err != nil || m.Parent < 0 {
		return Mount{}, false
	}
	maj, min, ok := bytes.Cut(fields[2], []byte{':'})
	if !ok {
		return Mount{}, false
	}
	major, err1 := strconv.ParseUint(string(maj), 10, 32)
	minor, err2 := strconv.ParseUint(string(min), 10, 32)
	if err1 != nil || err2 != nil {
		return Mount{}, false
	}
	m.Major, m.Minor = uint32(major), uint32(minor)
	m.Root = unescapeMount(fields[3])
	m.MountPoint = unescapeMount(fields[4])
	m.Options = string(fields[5])
	// Optional fields run up to a lone "-".
	sep := -1
	for i := 6; i < len(fields); i++ {
		if string(fields[i]) == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+3 {
		return Mount{}, false
	}
	m.FSType = unescapeMount(fields[sep+1])
	m.Source = unescapeMount(fields[sep+2])
	if len(fields) > sep+3 {
		m.SuperOptions = string(bytes.Join(fields[sep+3:], []byte{' '}))
	}
	if m.Root == "" || m.MountPoint == "" || m.FSType == "" {
		return Mount{}, false
	}
	return m, true
}

// unescapeMount decodes the kernel's octal escapes (a backslash and three
// octal digits, as in \040); anything else is kept as it is.
func unescapeMount(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && isOctal(b[i+1]) && isOctal(b[i+2]) && isOctal(b[i+3]) && b[i+1] <= '3' {
			out = append(out, (b[i+1]-'0')<<6|(b[i+2]-'0')<<3|(b[i+3]-'0'))
			i += 3
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
