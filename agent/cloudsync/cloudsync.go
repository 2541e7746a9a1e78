package cloudsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Provider names a cloud-sync service.
type Provider string

// The providers Find looks for.
const (
	Dropbox     Provider = "dropbox"
	GoogleDrive Provider = "google_drive"
	OneDrive    Provider = "onedrive"
	ICloud      Provider = "icloud_drive"
	Box         Provider = "box"
)

// AccountKind says what kind of account a sync folder belongs to, as far as
// the configuration tells.
type AccountKind string

// Kinds of account. KindUnknown means nothing on the device says.
const (
	KindUnknown  AccountKind = ""
	KindPersonal AccountKind = "personal"
	KindBusiness AccountKind = "business"
)

var (
	// ErrInvalid means the options cannot be used: no homes, or a home
	// that is not an absolute path.
	ErrInvalid = errors.New("cloudsync: invalid options")
	// ErrRefused means a configuration file or folder was not read because
	// it is a symbolic link, not a regular file or folder, too large, or
	// reached through a link; it is reported, never followed.
	ErrRefused = errors.New("cloudsync: refused to read")
	// ErrMalformed means a configuration file or registry value could not
	// be understood, or gave a path that is not absolute.
	ErrMalformed = errors.New("cloudsync: malformed configuration")
)

// Folder is a sync folder found on the device.
type Folder struct {
	// Provider is the service that syncs the folder.
	Provider Provider
	// Path is the folder: absolute and cleaned, as the configuration gives
	// it or as found in the home, never resolved through a link. It may lie
	// outside every home (a Dropbox folder on D:, or an external disk).
	// For Google Drive streaming on Windows it is the root of the drive
	// letter that Drive for desktop mounts, such as G:\. It can hold an
	// email address (macOS names Google Drive's folder after the account)
	// and people's names (homes are named after their users): treat it as
	// personal data.
	Path string
	// Kind is the kind of account: KindPersonal for a personal account
	// (OneDrive Personal, a Dropbox personal account, gmail.com, iCloud
	// Drive), KindBusiness for a work or school account (OneDrive for
	// Business or a SharePoint library, a Dropbox team), KindUnknown where
	// nothing tells (a folder found by its name only, Box, Google
	// accounts outside gmail.com, which may be Google Workspace or a
	// consumer account made with a work address).
	Kind AccountKind
	// Account identifies the account where the configuration says: the
	// domain of its email address (never the address itself), else the
	// tenant or team name, a SharePoint host or a tenant ID; "" if unknown.
	Account string
	// Approved is true when the folder belongs to one of the council's own
	// accounts according to [Options].ApprovedTenants. A folder that is not
	// approved (a personal account, another organisation's tenant, an
	// account that cannot be told) is unapproved storage.
	Approved bool
	// Link is true when Path is a symbolic link (or, on Windows, a
	// junction); it was not followed, so nothing is known about where it
	// leads.
	Link bool
	// Evidence says where the folder was found: a configuration file's
	// path and key, a registry key and value (HKU\<SID>\...), or "folder
	// name" when only the folder's name and place say what it is.
	Evidence string
	// Home is the home folder whose configuration, registry or folders
	// named this folder. A folder outside Home, or named by one user's
	// configuration inside another's home, was chosen by that user: act
	// on it only with care.
	Home string
}

// Registry reads the Windows registry. Paths are backslash-separated and
// start with a root key, HKLM or HKU (HKEY_LOCAL_MACHINE, HKEY_USERS). A
// missing key or value gives an error matching [io/fs.ErrNotExist]. Values
// are returned as stored, without expanding environment variables.
type Registry interface {
	// SubKeys returns the names of the subkeys of the key at path.
	SubKeys(path string) ([]string, error)
	// String returns the string value (REG_SZ or REG_EXPAND_SZ) called
	// name in the key at path.
	String(path, name string) (string, error)
}

// Options say where Find looks and which accounts are the council's.
type Options struct {
	// Homes are the user profile folders to look in (the agent runs as
	// root or SYSTEM, so it looks in every user's home, not its own), as
	// returned by [Homes]. Required; each must be absolute.
	Homes []string
	// GOOS chooses the rules: "windows", "darwin", or anything else for
	// Linux's. Default runtime.GOOS. Tests set it to run another system's
	// file rules on a fake tree; paths are always in this system's syntax.
	GOOS string
	// ApprovedTenants lists, per provider, the council's own accounts. An
	// entry matches an account whose email domain is the entry or a
	// subdomain of it (kent.gov.uk), a tenant ID (a GUID, OneDrive), a
	// SharePoint host (kent.sharepoint.com), or a tenant or team name
	// (Kent County Council; compared ignoring case, spaces and
	// punctuation, since macOS drops the spaces from folder names). The
	// entry "*" approves every account of the provider whose kind is not
	// KindPersonal, for a council that uses, say, Box for everyone. An
	// account of KindPersonal is never approved, and a business account of
	// any other organisation is not approved: it is not the council's.
	//
	// Tenant and team names are chosen by each organisation's own
	// administrators, so another tenant can take the council's name:
	// prefer domains and tenant IDs, which are verified.
	//
	// Lists are per provider because an email domain proves little on its
	// own: anyone can make a consumer Google account with a council
	// address, so listing kent.gov.uk for OneDrive must not approve such a
	// Google Drive.
	ApprovedTenants map[Provider][]string
	// Registry is read for the Windows rules (OneDrive accounts and
	// libraries, Google Drive's mount point). Default: the real registry
	// on Windows, none elsewhere.
	Registry Registry
}

// Find returns the sync folders in the homes, sorted by path, provider and
// evidence. A folder found by several rules is reported once, with the
// strongest evidence (a configuration file or registry value before a
// folder's name). Only folders that exist are reported, except the drive
// letter of Google Drive streaming on Windows, which lives in the user's
// logon session and cannot be seen from the agent's; as each user has their
// own, it is reported once per user, told apart by the evidence.
//
// Problems with one home or one file (a configuration that is malformed, a
// symbolic link or too large) never stop the others: Find returns every
// folder it found together with the problems joined in one error, whose
// parts match [ErrRefused] or [ErrMalformed]; it logs nothing. Missing
// files, folders and registry keys are not problems. Invalid options give
// nil and an error matching [ErrInvalid]; a cancelled ctx stops the search
// and its error is joined to the rest.
func Find(ctx context.Context, opts Options) ([]Folder, error) {
	if len(opts.Homes) == 0 {
		return nil, fmt.Errorf("%w: no homes", ErrInvalid)
	}
	f := &finder{opts: opts, goos: opts.GOOS, reg: opts.Registry}
	if f.goos == "" {
		f.goos = runtime.GOOS
	}
	if f.reg == nil && f.goos == runtime.GOOS {
		f.reg = systemRegistry()
	}
	var homes []string
	for _, h := range opts.Homes {
		if h == "" || strings.ContainsRune(h, 0) || !filepath.IsAbs(h) {
			return nil, fmt.Errorf("%w: home %q is not an absolute path", ErrInvalid, h)
		}
		h = filepath.Clean(h)
		if !slices.ContainsFunc(homes, func(o string) bool { return f.samePath(o, h) }) {
			homes = append(homes, h)
		}
	}
	if f.goos == "windows" && f.reg != nil {
		f.sids = f.userHives(homes)
	}
	for _, h := range homes {
		if err := ctx.Err(); err != nil {
			f.fail(err)
			break
		}
		f.home(h)
	}
	return f.result(), errors.Join(f.errs...)
}

// strength orders evidence: a folder found by several rules keeps the
// strongest.
type strength int

const (
	byName    strength = iota // the folder's name and place
	byStorage                 // a File Provider folder in ~/Library/CloudStorage
	byConfig                  // a configuration file or registry value
)

// found is a folder with what Find knows about its account.
type found struct {
	Folder
	ids      []id
	strength strength
	// owner is the home of a folder whose path does not tell whose it is:
	// a drive letter that exists only in one user's session.
	owner string
}

// finder collects what Find has found so far.
type finder struct {
	opts  Options
	goos  string
	reg   Registry
	sids  map[string]string // home -> SID of its loaded registry hive (Windows)
	cur   string            // the home being looked in
	found []found
	errs  []error
}

// fail records a problem.
func (f *finder) fail(err error) { f.errs = append(f.errs, err) }

// samePath compares paths as the target system does: case-insensitively on
// Windows and macOS (whose default filesystem ignores case).
func (f *finder) samePath(a, b string) bool {
	if f.goos == "windows" || f.goos == "darwin" {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// add records a folder, keeping the stronger evidence for a folder that is
// already known.
func (f *finder) add(n found) {
	if n.Home == "" {
		n.Home = f.cur
	}
	for i := range f.found {
		o := &f.found[i]
		if o.Provider == n.Provider && f.samePath(o.Path, n.Path) && o.owner == n.owner {
			home := o.Home
			if !within(home, o.Path) && within(n.Home, n.Path) {
				home = n.Home // the home it is in says more than another's config
			}
			if n.strength > o.strength {
				*o = n
			}
			o.Home = home
			return
		}
	}
	f.found = append(f.found, n)
}

// result decides approval and returns the folders in order.
func (f *finder) result() []Folder {
	out := make([]Folder, 0, len(f.found))
	for _, n := range f.found {
		n.Approved = approved(n.Kind, n.ids, f.opts.ApprovedTenants[n.Provider])
		out = append(out, n.Folder)
	}
	slices.SortFunc(out, func(a, b Folder) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Evidence, b.Evidence))
	})
	return out
}

// InHome reports whether the folder is strictly inside the home that named
// it: not the home itself, not another user's home, not elsewhere.
func (f Folder) InHome() bool { return within(f.Home, f.Path) }

// within reports whether p is strictly inside dir.
func within(dir, p string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && filepath.IsLocal(rel)
}
