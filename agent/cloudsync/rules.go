package cloudsync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Names and places shared by several rules.
const (
	// cloudStorage holds the File Provider folders of macOS 12.3 and later:
	// OneDrive-Personal, OneDrive-<Tenant>, GoogleDrive-<email>, Box-Box,
	// Dropbox.
	cloudStorage = "Library/CloudStorage"
	// iCloudMac is iCloud Drive's folder on macOS.
	iCloudMac = "Library/Mobile Documents/com~apple~CloudDocs"
	// iCloudWindows is iCloud for Windows' default folder.
	iCloudWindows = "iCloudDrive"
	// boxFolder is Box Drive's folder on Windows and macOS (before File
	// Provider).
	boxFolder = "Box"
	// evName is the evidence of a folder found by its name and place only.
	evName = "folder name"
)

// home runs the rules of the target system in one home.
func (f *finder) home(dir string) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.fail(fmt.Errorf("cloudsync: home %s: %w", dir, err))
		}
		return
	}
	defer root.Close()
	f.cur = dir
	h := &home{dir: dir, root: root}
	names, err := h.names(".")
	if err != nil {
		f.fail(fmt.Errorf("cloudsync: home %s: %w", dir, err))
	}

	f.dropbox(h, names)
	switch f.goos {
	case "darwin":
		f.oneDriveNames(h, names)
		f.cloudStorage(h)
		f.inHome(h, iCloudMac, byName, hint{provider: ICloud, kind: KindPersonal, evidence: evName})
		f.inHome(h, boxFolder, byName, hint{provider: Box, evidence: evName})
		f.google(h)
	case "windows":
		f.oneDriveNames(h, names)
		if sid := f.sids[dir]; sid != "" {
			f.oneDriveRegistry(h, sid)
		}
		f.inHome(h, iCloudWindows, byName, hint{provider: ICloud, kind: KindPersonal, evidence: evName})
		f.inHome(h, boxFolder, byName, hint{provider: Box, evidence: evName})
		f.google(h)
	default:
		// Linux: Dropbox's own client and the abraunegg OneDrive client.
		// Google Drive has no official client (rclone, insync and
		// google-drive-ocamlfuse are not looked for), nor have iCloud
		// Drive and Box.
		f.oneDriveLinux(h)
	}
}

// hint is what a rule knows about a folder before looking at it.
type hint struct {
	provider Provider
	kind     AccountKind
	account  string
	ids      []id
	evidence string
}

// inHome reports the folder rel in the home if it exists (a link to
// anywhere counts, and is marked as one).
func (f *finder) inHome(h *home, rel string, s strength, k hint) {
	ok, link, err := h.folder(rel)
	if err != nil {
		f.fail(err)
		return
	}
	if ok {
		f.add(k.found(h.path(rel), link, s))
	}
}

// atPath reports the folder at the absolute path p, given by a
// configuration, if it exists.
func (f *finder) atPath(p string, k hint) {
	if ok, link := folderAt(p); ok {
		f.add(k.found(p, link, byConfig))
	}
}

// found makes the folder at p of the hint.
func (k hint) found(p string, link bool, s strength) found {
	ev := k.evidence
	if link {
		ev += "; a link, not followed"
	}
	return found{
		Folder:   Folder{Provider: k.provider, Path: p, Kind: k.kind, Account: k.account, Link: link, Evidence: ev},
		ids:      k.ids,
		strength: s,
	}
}

// cloudStorage reports the File Provider folders of macOS by their names.
func (f *finder) cloudStorage(h *home) {
	names, err := h.names(cloudStorage)
	if err != nil {
		f.fail(err)
	}
	for _, name := range names {
		if k, ok := cloudStorageName(name); ok {
			k.evidence = evName + " in ~/" + cloudStorage
			f.inHome(h, cloudStorage+"/"+name, byStorage, k)
		}
	}
}

// cloudStorageName says what a folder in ~/Library/CloudStorage is. The
// names are those the File Provider extensions give their domains:
// OneDrive-Personal, OneDrive-<Tenant> (with the spaces of the tenant's
// name removed, or its domain), OneDrive-SharedLibraries-<Tenant> for
// SharePoint libraries, GoogleDrive-<email>, Box-Box, Dropbox (and, with a
// personal and a team account, Dropbox-Personal and Dropbox-<Team>).
func cloudStorageName(name string) (hint, bool) {
	switch {
	case name == "OneDrive-Personal":
		return hint{provider: OneDrive, kind: KindPersonal}, true
	case strings.HasPrefix(name, "OneDrive-SharedLibraries-"):
		t := orgName(strings.TrimPrefix(name, "OneDrive-SharedLibraries-"))
		return hint{provider: OneDrive, kind: KindBusiness, account: t, ids: nameIDs(t)}, true
	case strings.HasPrefix(name, "OneDrive-"):
		t := orgName(strings.TrimPrefix(name, "OneDrive-"))
		return hint{provider: OneDrive, kind: KindBusiness, account: t, ids: nameIDs(t)}, true
	case strings.HasPrefix(name, "GoogleDrive-"):
		return googleAccount(strings.TrimPrefix(name, "GoogleDrive-")), true
	case strings.HasPrefix(name, "Box-"):
		return hint{provider: Box}, true
	case name == "Dropbox":
		return hint{provider: Dropbox}, true
	case name == "Dropbox-Personal":
		return hint{provider: Dropbox, kind: KindPersonal}, true
	case strings.HasPrefix(name, "Dropbox-"):
		t := orgName(strings.TrimPrefix(name, "Dropbox-"))
		return hint{provider: Dropbox, kind: KindBusiness, account: t, ids: nameIDs(t)}, true
	}
	return hint{}, false
}
