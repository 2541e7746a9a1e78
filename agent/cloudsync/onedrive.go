package cloudsync

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"strings"
)

// OneDrive on Windows records each signed-in account in the user's hive
// under Software\Microsoft\OneDrive\Accounts: the key Personal for a
// Microsoft account, Business1 to Business9 for work or school accounts,
// with the values UserFolder (the folder), UserEmail, DisplayName (for a
// business account, the organisation's name) and ConfiguredTenantId. Every
// library the sync engine keeps (the OneDrive folders and any SharePoint
// libraries) is a key under Software\SyncEngines\Providers\OneDrive with
// MountPoint (the folder), UrlNamespace (the library's address:
// d.docs.live.net for a personal account, <tenant>.sharepoint.com or
// <tenant>-my.sharepoint.com for Microsoft 365) and LibraryType.
//
// The folders are named <home>\OneDrive (personal; "OneDrive - Personal"
// when a work account is signed in too) and "<home>\OneDrive - <Tenant
// name>" on Windows and on macOS before File Provider; macOS 12.3 and
// later use ~/Library/CloudStorage (see cloudStorageName).
//
// On Linux the abraunegg client (https://github.com/abraunegg/onedrive)
// reads ~/.config/onedrive/config, lines of key = "value" with # comments;
// sync_dir is the folder (default ~/OneDrive). The account's kind is not
// recorded there: azure_tenant_id (a GUID or a tenant's domain) or drive_id
// (a SharePoint library) mean a work account, and without them the kind is
// unknown.

// oneDriveNames reports the folders with OneDrive's names on Windows and
// macOS.
func (f *finder) oneDriveNames(h *home, names []string) {
	f.inHome(h, "OneDrive", byName, hint{provider: OneDrive, kind: KindPersonal, evidence: evName})
	for _, name := range names {
		t, ok := strings.CutPrefix(name, "OneDrive - ")
		if !ok {
			continue
		}
		k := hint{provider: OneDrive, kind: KindPersonal, evidence: evName}
		if t != "Personal" {
			t = orgName(t)
			k = hint{provider: OneDrive, kind: KindBusiness, account: t, ids: nameIDs(t), evidence: evName}
		}
		f.inHome(h, name, byName, k)
	}
}

// oneDriveRegistry reports the OneDrive accounts and libraries in the
// user's loaded hive.
func (f *finder) oneDriveRegistry(h *home, sid string) {
	base := `HKU\` + sid + `\Software\Microsoft\OneDrive\Accounts`
	keys, err := f.reg.SubKeys(base)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.fail(fmt.Errorf("cloudsync: %s: %w", base, err))
	}
	for _, k := range keys {
		kind := KindBusiness
		switch {
		case strings.EqualFold(k, "Personal"):
			kind = KindPersonal
		case isBusinessKey(k):
		default:
			continue
		}
		key := base + `\` + k
		folder, err := f.reg.String(key, "UserFolder")
		if err != nil || folder == "" {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				f.fail(fmt.Errorf("cloudsync: %s\\UserFolder: %w", key, err))
			}
			continue // an account that is not set up has no folder
		}
		p, err := cleanAbs(folder)
		if err != nil {
			f.fail(fmt.Errorf("%s\\UserFolder: %w", key, err))
			continue
		}
		f.atPath(p, f.oneDriveAccount(key, kind, p))
	}

	base = `HKU\` + sid + `\Software\SyncEngines\Providers\OneDrive`
	keys, err = f.reg.SubKeys(base)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.fail(fmt.Errorf("cloudsync: %s: %w", base, err))
	}
	for _, k := range keys {
		key := base + `\` + k
		mount, err := f.reg.String(key, "MountPoint")
		if err != nil || mount == "" {
			continue
		}
		p, err := cleanAbs(mount)
		if err != nil {
			f.fail(fmt.Errorf("%s\\MountPoint: %w", key, err))
			continue
		}
		ns, _ := f.reg.String(key, "UrlNamespace")
		lt, _ := f.reg.String(key, "LibraryType")
		k := libraryAccount(ns, lt)
		k.evidence = key + `\MountPoint`
		f.atPath(p, k)
	}
}

// isBusinessKey reports whether k is Business1, Business2, ...
func isBusinessKey(k string) bool {
	n, ok := strings.CutPrefix(k, "Business")
	return ok && n != "" && len(n) <= 3 && strings.Trim(n, "0123456789") == ""
}

// oneDriveAccount reads what identifies the account of the key. Account is
// the domain of UserEmail, else the tenant's name from the folder's name,
// else the tenant ID; DisplayName is only compared with the approved list,
// never reported.
func (f *finder) oneDriveAccount(key string, kind AccountKind, folder string) hint {
	k := hint{provider: OneDrive, kind: kind, evidence: key + `\UserFolder`}
	if email, err := f.reg.String(key, "UserEmail"); err == nil {
		if d := emailDomain(email); d != "" {
			k.account = d
			k.ids = append(k.ids, id{idDomain, d})
		}
	}
	if kind != KindBusiness {
		return k
	}
	if t, ok := strings.CutPrefix(filepath.Base(folder), "OneDrive - "); ok {
		if t = orgName(t); t != "" {
			k.ids = append(k.ids, nameIDs(t)...)
			if k.account == "" {
				k.account = t
			}
		}
	}
	if s, err := f.reg.String(key, "ConfiguredTenantId"); err == nil {
		if t := tenantID(s); t != "" {
			k.ids = append(k.ids, id{idTenant, t})
			if k.account == "" {
				k.account = t
			}
		}
	}
	if s, err := f.reg.String(key, "DisplayName"); err == nil {
		if t := orgName(s); t != "" {
			k.ids = append(k.ids, id{idName, t})
		}
	}
	return k
}

// libraryAccount tells the account of a library of the sync engine from its
// address and type.
func libraryAccount(ns, libraryType string) hint {
	k := hint{provider: OneDrive}
	host := ""
	if u, err := url.Parse(strings.TrimSpace(ns)); err == nil {
		host = hostName(u.Hostname())
	}
	switch {
	case strings.EqualFold(libraryType, "personal") || host == "live.net" || strings.HasSuffix(host, ".live.net"):
		k.kind = KindPersonal
		return k
	case strings.EqualFold(libraryType, "mysite") || strings.EqualFold(libraryType, "teamsite") ||
		strings.HasSuffix(host, ".sharepoint.com"):
		k.kind = KindBusiness
	}
	if host != "" {
		// contoso-my.sharepoint.com holds the OneDrives of contoso's users;
		// both name the tenant contoso.sharepoint.com.
		if first, rest, ok := strings.Cut(host, "."); ok && rest == "sharepoint.com" {
			host = strings.TrimSuffix(first, "-my") + "." + rest
		}
		k.account = host
		k.ids = []id{{idDomain, host}}
	}
	return k
}

// oneDriveConfig is what the abraunegg client's config says.
type oneDriveConfig struct {
	syncDir string // as written: may start with ~
	tenant  string // azure_tenant_id
	driveID string // drive_id
	hasSync bool   // sync_dir was given
}

// parseOneDriveConfig reads the abraunegg client's config. Lines that are
// not blank, a comment or key = value are problems, reported by line number
// only (they match ErrMalformed); the values read are kept.
func parseOneDriveConfig(b []byte) (oneDriveConfig, error) {
	var c oneDriveConfig
	var errs []error
	for n, line := range bytes.Split(b, []byte("\n")) {
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		key, value, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.Trim(key, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			errs = append(errs, fmt.Errorf("%w: line %d is not key = value", ErrMalformed, n+1))
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		if strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("%w: line %d has control characters", ErrMalformed, n+1))
			continue
		}
		switch key {
		case "sync_dir":
			c.syncDir, c.hasSync = value, true
		case "azure_tenant_id":
			c.tenant = value
		case "drive_id":
			c.driveID = value
		}
	}
	return c, errors.Join(errs...)
}

// oneDriveSyncDir returns the folder of a sync_dir in home: ~ is the home,
// "" the default ~/OneDrive. A relative path is refused.
func oneDriveSyncDir(homeDir, syncDir string) (string, error) {
	switch {
	case syncDir == "":
		return filepath.Join(homeDir, "OneDrive"), nil
	case syncDir == "~":
		return homeDir, nil
	case strings.HasPrefix(syncDir, "~/"):
		rest := strings.TrimLeft(syncDir[2:], "/")
		if len(rest) > maxPath || strings.ContainsRune(rest, 0) {
			return "", fmt.Errorf("%w: sync_dir is too long or contains NUL", ErrMalformed)
		}
		return filepath.Join(homeDir, filepath.FromSlash(rest)), nil
	}
	p, err := cleanAbs(syncDir)
	if err != nil {
		return "", fmt.Errorf("sync_dir: %w", err)
	}
	return p, nil
}

// account returns what the config tells of the account.
func (c oneDriveConfig) account() hint {
	k := hint{provider: OneDrive}
	if c.tenant != "" || c.driveID != "" {
		k.kind = KindBusiness
	}
	if t := tenantID(c.tenant); t != "" {
		k.account, k.ids = t, []id{{idTenant, t}}
	} else if d := hostName(c.tenant); d != "" {
		k.account, k.ids = d, []id{{idDomain, d}}
	}
	return k
}

// oneDriveLinux reports the folder of the abraunegg client, if it is set up
// for the user (~/.config/onedrive exists).
func (f *finder) oneDriveLinux(h *home) {
	const dir, rel = ".config/onedrive", ".config/onedrive/config"
	ok, _, err := h.folder(dir)
	if err != nil {
		f.fail(err)
		return
	}
	if !ok {
		return
	}
	var c oneDriveConfig
	evidence := h.path(dir) + " (client set up): default sync_dir"
	b, err := h.readConfig(rel)
	switch {
	case err == nil:
		c, err = parseOneDriveConfig(b)
		if err != nil {
			f.fail(fmt.Errorf("%s: %w", h.path(rel), err))
		}
		if c.hasSync {
			evidence = h.path(rel) + ": sync_dir"
		}
	case !errors.Is(err, fs.ErrNotExist):
		f.fail(err)
	}
	p, err := oneDriveSyncDir(h.dir, c.syncDir)
	if err != nil {
		f.fail(fmt.Errorf("%s: %w", h.path(rel), err))
		return
	}
	k := c.account()
	k.evidence = evidence
	f.atPath(p, k)
}
