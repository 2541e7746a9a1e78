package cloudsync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// profileList maps each account's SID to its profile folder
// (ProfileImagePath).
const profileList = `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList`

// userSID reports whether s is the SID of a person's account: a local or
// Active Directory account (S-1-5-21-...) or a Microsoft Entra ID account
// (S-1-12-1-...). The service accounts (S-1-5-18, -19, -20), the
// S-...-_Classes hives and the .bak keys of broken profiles are not.
func userSID(s string) bool {
	rest, ok := strings.CutPrefix(s, "S-1-5-21-")
	if !ok {
		rest, ok = strings.CutPrefix(s, "S-1-12-1-")
	}
	if !ok || rest == "" || len(s) > 184 {
		return false
	}
	for _, part := range strings.Split(rest, "-") {
		if part == "" || strings.Trim(part, "0123456789") != "" {
			return false
		}
	}
	return true
}

// profilePath returns the profile folder of sid, from ProfileList, with
// %SystemDrive% expanded to drive.
func profilePath(reg Registry, sid, drive string) (string, error) {
	key := profileList + `\` + sid
	p, err := reg.String(key, "ProfileImagePath")
	if err != nil {
		return "", err
	}
	p, err = cleanAbs(expandVar(p, "SystemDrive", drive))
	if err != nil {
		return "", fmt.Errorf("%s\\ProfileImagePath: %w", key, err)
	}
	return p, nil
}

// userHives maps each home to the SID of its hive, for the users whose
// hive is loaded in HKEY_USERS (logged on, or held by a service). The
// hives of other users are files (NTUSER.DAT) that only their own rules,
// not the registry's, look at.
func (f *finder) userHives(homes []string) map[string]string {
	sids, err := f.reg.SubKeys("HKU")
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.fail(fmt.Errorf("cloudsync: HKU: %w", err))
		}
		return nil
	}
	m := make(map[string]string)
	for _, sid := range sids {
		if !userSID(sid) {
			continue
		}
		p, err := profilePath(f.reg, sid, systemDrive())
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				f.fail(err)
			}
			continue
		}
		for _, h := range homes {
			if f.samePath(h, p) {
				m[h] = sid
			}
		}
	}
	return m
}

// profileHomes returns the profile folders of people's accounts listed in
// ProfileList, sorted, whether they exist or not.
func profileHomes(reg Registry, drive string) ([]string, error) {
	sids, err := reg.SubKeys(profileList)
	if err != nil {
		return nil, err
	}
	var homes []string
	var errs []error
	for _, sid := range sids {
		if !userSID(sid) {
			continue
		}
		p, err := profilePath(reg, sid, drive)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if !slices.ContainsFunc(homes, func(h string) bool { return strings.EqualFold(h, p) }) {
			homes = append(homes, p)
		}
	}
	slices.Sort(homes)
	return homes, errors.Join(errs...)
}

// expandVar replaces %name% (in any case) in s with value.
func expandVar(s, name, value string) string {
	v := "%" + name + "%"
	var b strings.Builder
	for i := 0; i < len(s); {
		if len(s)-i >= len(v) && strings.EqualFold(s[i:i+len(v)], v) {
			b.WriteString(value)
			i += len(v)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// systemDrive returns the drive Windows is on, C: unless said otherwise.
func systemDrive() string {
	if d := os.Getenv("SystemDrive"); d != "" {
		return d
	}
	return "C:"
}
