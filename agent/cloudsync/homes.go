package cloudsync

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Accounts with a uid of at least uidMin are people's (UID_MIN in
// /etc/login.defs on Debian, Ubuntu and Fedora), except nobody.
const (
	uidMin    = 1000
	uidNobody = 65534
)

// maxPasswd bounds what PasswdHomes reads.
const maxPasswd = 4 << 20

// PasswdHomes returns the home folders in an /etc/passwd file (lines of
// name:password:uid:gid:gecos:home:shell) of root (uid 0) and of every
// account with a uid of at least 1000 except nobody (65534): absolute,
// cleaned, never "/", without duplicates, sorted. Other lines, NIS
// (+ and -) lines and malformed lines are skipped. It reads at most 4 MiB;
// a longer file gives the homes in its first 4 MiB and an error.
func PasswdHomes(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPasswd+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPasswd {
		b = b[:maxPasswd]
		err = fmt.Errorf("cloudsync: passwd file larger than %d bytes: the rest is not read", maxPasswd)
	}
	var homes []string
	seen := make(map[string]bool)
	for _, line := range bytes.Split(b, []byte("\n")) {
		fields := strings.Split(strings.TrimSuffix(string(line), "\r"), ":")
		if len(fields) != 7 || fields[0] == "" || fields[0][0] == '+' || fields[0][0] == '-' {
			continue
		}
		uid, perr := strconv.ParseUint(fields[2], 10, 32)
		if perr != nil || (uid != 0 && uid < uidMin) || uid == uidNobody {
			continue
		}
		h := fields[5]
		if !strings.HasPrefix(h, "/") || strings.ContainsRune(h, 0) || len(h) > maxPath {
			continue
		}
		if h = path.Clean(h); h != "/" && !seen[h] {
			seen[h] = true
			homes = append(homes, h)
		}
	}
	slices.Sort(homes)
	return homes, err
}

// usersDirHomes returns the folders in dir (such as /home, /Users or
// C:\Users) that are real folders, not links, whose names do not start
// with a dot and are not in skip (compared ignoring case), sorted.
func usersDirHomes(dir string, skip []string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var homes []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || slices.ContainsFunc(skip, func(s string) bool { return strings.EqualFold(s, name) }) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if isDir, isLink := folderType(fi); isDir && !isLink {
			homes = append(homes, p)
		}
	}
	slices.Sort(homes)
	return homes, nil
}

// existingHomes merges lists of homes and keeps those that are folders,
// sorted. A home given by the system's account database may be reached
// through a link the administrator made (/home -> /var/home), so links are
// followed here.
func existingHomes(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, h := range l {
			if slices.Contains(out, h) {
				continue
			}
			if fi, err := os.Stat(h); err == nil && fi.IsDir() {
				out = append(out, h)
			}
		}
	}
	slices.Sort(out)
	return out
}
