package cloudsync

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Google Drive for desktop (sources: Google's help pages "Use Google Drive
// for desktop" and, for the administrators' settings such as
// DefaultMountPoint and where they are kept, "Deploy Drive for desktop"):
//
//   - macOS with File Provider: one folder per account,
//     ~/Library/CloudStorage/GoogleDrive-<email>, holding My Drive and
//     Shared drives.
//   - Windows: streaming mounts a virtual drive, G: by default, inside the
//     user's logon session, so the agent cannot see it; its files are
//     cached in %LOCALAPPDATA%\Google\DriveFS, which has one folder, named
//     by a number, per signed-in account. The mount point is the setting
//     DefaultMountPoint (a drive letter or a folder), read from
//     HKLM\Software\Policies\Google\DriveFS (the administrator's
//     override), then the user's HKU\<SID>\Software\Google\DriveFS, then
//     HKLM\Software\Google\DriveFS. A mount point the user chose in the
//     app's settings is kept in its own database, which is not read. In
//     mirror mode My Drive is a real folder, <home>\My Drive by default;
//     <home>/My Drive is looked for on macOS too (older versions without
//     File Provider), in both cases only when Drive for desktop has a
//     signed-in account in the home.
//   - The account's email is not in any of these places on Windows, so the
//     kind of account is unknown there.
//   - Backup and Sync, the client before 2021, synced <home>/Google Drive.
//
// A gmail.com or googlemail.com account is personal. Any other domain may
// be Google Workspace or a consumer account made with that address: the
// kind stays unknown, and listing the domain for Google Drive in
// Options.ApprovedTenants approves it.

// googleDriveFS is Drive for desktop's folder in a home.
func googleDriveFS(goos string) string {
	if goos == "windows" {
		return "AppData/Local/Google/DriveFS"
	}
	return "Library/Application Support/Google/DriveFS"
}

// googlePersonal reports whether an email domain is Google's own consumer
// mail.
func googlePersonal(domain string) bool {
	return domain == "gmail.com" || domain == "googlemail.com"
}

// googleAccount returns what an account's email tells.
func googleAccount(email string) hint {
	k := hint{provider: GoogleDrive}
	if d := emailDomain(email); d != "" {
		k.account, k.ids = d, []id{{idDomain, d}}
		if googlePersonal(d) {
			k.kind = KindPersonal
		}
	}
	return k
}

// google reports Google Drive's folders in a home on Windows and macOS.
func (f *finder) google(h *home) {
	f.inHome(h, "Google Drive", byName, hint{provider: GoogleDrive, evidence: evName + " (Backup and Sync)"})
	drivefs := googleDriveFS(f.goos)
	names, err := h.names(drivefs)
	if err != nil {
		f.fail(err)
		return
	}
	accounts := 0
	for _, n := range names {
		if n != "" && len(n) <= 32 && strings.Trim(n, "0123456789") == "" {
			accounts++
		}
	}
	if accounts == 0 {
		return // not installed, or no account signed in
	}
	f.inHome(h, "My Drive", byName, hint{provider: GoogleDrive, evidence: evName + " (Drive for desktop mirror)"})
	if f.goos != "windows" {
		return
	}
	ev := fmt.Sprintf("%s (signed-in accounts: %d)", h.path(drivefs), accounts)
	mount, from := "G", "default mount point"
	for _, key := range f.googleMountKeys(h.dir) {
		v, err := f.reg.String(key, "DefaultMountPoint")
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				f.fail(fmt.Errorf("cloudsync: %s\\DefaultMountPoint: %w", key, err))
			}
			continue
		}
		if strings.TrimSpace(v) != "" {
			mount, from = v, key+`\DefaultMountPoint`
			break
		}
	}
	k := hint{provider: GoogleDrive, evidence: ev + "; " + from}
	if l, ok := driveLetter(mount); ok {
		// The drive exists only in the user's session: reported unseen.
		n := k.found(l+`:\`, false, byConfig)
		n.owner = h.dir
		f.add(n)
		return
	}
	p, err := cleanAbs(expandProfile(mount, h.dir))
	if err != nil {
		f.fail(fmt.Errorf("%s: %w", from, err))
		return
	}
	_, link := folderAt(p)
	f.add(k.found(p, link, byConfig))
}

// googleMountKeys returns the registry keys that may hold DefaultMountPoint
// for the user of home, strongest first; none without a registry.
func (f *finder) googleMountKeys(homeDir string) []string {
	if f.reg == nil {
		return nil
	}
	keys := []string{`HKLM\Software\Policies\Google\DriveFS`}
	if sid := f.sids[homeDir]; sid != "" {
		keys = append(keys, `HKU\`+sid+`\Software\Google\DriveFS`)
	}
	return append(keys, `HKLM\Software\Google\DriveFS`)
}

// driveLetter returns the letter of a mount point given as G, G: or G:\.
func driveLetter(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) == 0 || len(s) > 3 {
		return "", false
	}
	c := s[0] &^ 0x20 // upper case
	if c < 'A' || c > 'Z' || (len(s) >= 2 && s[1] != ':') || (len(s) == 3 && s[2] != '\\' && s[2] != '/') {
		return "", false
	}
	return string(c), true
}

// expandProfile replaces %USERPROFILE% (in any case) with the home.
func expandProfile(s, homeDir string) string { return expandVar(s, "USERPROFILE", homeDir) }
