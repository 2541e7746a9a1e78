package cloudsync_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/agent/cloudsync"
)

// A Linux home with Dropbox's info.json naming a personal folder in the
// home (with spaces and non-ASCII letters) and a team folder on another
// disk. Both are reported from the config, once each, with the team's
// name as the account; a business path given through a relative or
// missing folder is not.
func TestFindDropboxInfoJSON(t *testing.T) {
	home := t.TempDir()
	disk := t.TempDir()
	personal := filepath.Join(home, "Mes Dossiers", "Dröpbox ✓")
	team := filepath.Join(disk, "Kent County Council Dropbox")
	mkdirs(t, home, "Mes Dossiers/Dröpbox ✓", "Dropbox")
	mkdirs(t, disk, "Kent County Council Dropbox")
	info := write(t, home, ".dropbox/info.json", `{"personal": {"path": `+jsonString(personal+"/")+`, "host": 4242, "is_team": false, "subscription_type": "Basic"},
		"business": {"path": `+jsonString(team)+`, "host": 4243, "is_team": true, "subscription_type": "Business"}}`)

	got := find(t, cloudsync.Options{Homes: []string{home}, GOOS: "linux",
		ApprovedTenants: map[cloudsync.Provider][]string{cloudsync.Dropbox: {"kent county council"}}})
	if len(got) != 3 {
		t.Fatalf("want 3 folders, got:\n%s", dump(got))
	}
	p := only(t, got, personal)
	want(t, p, cloudsync.Folder{Provider: cloudsync.Dropbox, Kind: cloudsync.KindPersonal})
	if p.Evidence != info+": personal.path" {
		t.Errorf("evidence %q", p.Evidence)
	}
	b := only(t, got, team)
	want(t, b, cloudsync.Folder{Provider: cloudsync.Dropbox, Kind: cloudsync.KindBusiness, Account: "Kent County Council", Approved: true})
	if b.Evidence != info+": business.path" {
		t.Errorf("evidence %q", b.Evidence)
	}
	// The default folder exists too, and is reported by its name only.
	d := only(t, got, filepath.Join(home, "Dropbox"))
	want(t, d, cloudsync.Folder{Provider: cloudsync.Dropbox})
	if d.Evidence != "folder name" {
		t.Errorf("evidence %q", d.Evidence)
	}
}

// The default folder named in info.json is reported once, with the
// config's evidence, not the name's.
func TestFindDropboxConfigBeatsName(t *testing.T) {
	home := t.TempDir()
	mkdirs(t, home, "Dropbox")
	write(t, home, ".dropbox/info.json", `{"personal": {"path": `+jsonString(filepath.Join(home, "Dropbox"))+`}}`)
	got := find(t, cloudsync.Options{Homes: []string{home}, GOOS: "linux"})
	f := only(t, got, filepath.Join(home, "Dropbox"))
	if len(got) != 1 || f.Kind != cloudsync.KindPersonal || !strings.HasSuffix(f.Evidence, "info.json: personal.path") {
		t.Fatalf("got:\n%s", dump(got))
	}
}

// Without a config, Dropbox's folder names tell the kind: Dropbox (Personal)
// is personal, Dropbox (<Team>) a team's, plain Dropbox unknown. A team is
// approved by its name; a personal account never is, even with "*".
func TestFindDropboxNames(t *testing.T) {
	home := t.TempDir()
	mkdirs(t, home, "Dropbox", "Dropbox (Personal)", "Dropbox (Kent County Council)", "Dropbox (Acme Ltd)", "Dropboxes", "Not Dropbox (X)")
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			got := find(t, cloudsync.Options{Homes: []string{home}, GOOS: goos,
				ApprovedTenants: map[cloudsync.Provider][]string{cloudsync.Dropbox: {"KentCountyCouncil"}}})
			if len(got) != 4 {
				t.Fatalf("want 4 folders, got:\n%s", dump(got))
			}
			want(t, only(t, got, filepath.Join(home, "Dropbox")), cloudsync.Folder{Provider: cloudsync.Dropbox})
			want(t, only(t, got, filepath.Join(home, "Dropbox (Personal)")), cloudsync.Folder{Provider: cloudsync.Dropbox, Kind: cloudsync.KindPersonal})
			want(t, only(t, got, filepath.Join(home, "Dropbox (Kent County Council)")),
				cloudsync.Folder{Provider: cloudsync.Dropbox, Kind: cloudsync.KindBusiness, Account: "Kent County Council", Approved: true})
			want(t, only(t, got, filepath.Join(home, "Dropbox (Acme Ltd)")),
				cloudsync.Folder{Provider: cloudsync.Dropbox, Kind: cloudsync.KindBusiness, Account: "Acme Ltd"})

			got = find(t, cloudsync.Options{Homes: []string{home}, GOOS: goos,
				ApprovedTenants: map[cloudsync.Provider][]string{cloudsync.Dropbox: {"*"}}})
			for _, f := range got {
				if f.Approved != (f.Kind != cloudsync.KindPersonal) {
					t.Errorf("with *: %+v", f)
				}
			}
		})
	}
}

// On Windows info.json is looked for in AppData\Local and AppData\Roaming
// as well as .dropbox; on Linux only in .dropbox.
func TestFindDropboxWindowsConfigs(t *testing.T) {
	home := t.TempDir()
	local := filepath.Join(home, "Local Box")
	roaming := filepath.Join(home, "Roaming Box")
	mkdirs(t, home, "Local Box", "Roaming Box")
	write(t, home, "AppData/Local/Dropbox/info.json", `{"personal": {"path": `+jsonString(local)+`}}`)
	write(t, home, "AppData/Roaming/Dropbox/info.json", `{"business": {"path": `+jsonString(roaming)+`}}`)

	got := find(t, cloudsync.Options{Homes: []string{home}, GOOS: "windows"})
	if !slices.Equal(paths(got), []string{local, roaming}) {
		t.Fatalf("got:\n%s", dump(got))
	}
	if k := only(t, got, roaming).Kind; k != cloudsync.KindBusiness {
		t.Errorf("roaming kind %q", k)
	}
	if got := find(t, cloudsync.Options{Homes: []string{home}, GOOS: "linux"}); len(got) != 0 {
		t.Errorf("linux read Windows' places:\n%s", dump(got))
	}
}

// OneDrive on Windows from the registry: each user's loaded hive is mapped
// to its home by ProfileList. Personal, the council's tenant and another
// organisation's tenant are told apart; only the council's is approved,
// whether the approved entry is its domain, tenant ID or name. The account
// is the email's domain, never the address.
func TestFindOneDriveRegistry(t *testing.T) {
	alice, bob, carol := t.TempDir(), t.TempDir(), t.TempDir()
	mkdirs(t, alice, "OneDrive", "OneDrive - Kent County Council", "OneDrive - Acme Ltd")
	mkdirs(t, bob, "Kent County Council/Social Care - Team A", "OneDrive")
	mkdirs(t, carol, "OneDrive")
	const tenant = "3f0a1c2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
	accounts := `HKU\` + sid(1) + `\Software\Microsoft\OneDrive\Accounts`
	reg := newReg().
		profile(sid(1), alice).profile(sid(2), bob).profile(sid(3), carol).
		set(`HKU\S-1-5-18`).set(`HKU\`+sid(1)+`_Classes`).
		set(accounts+`\Personal`, "UserFolder", filepath.Join(alice, "OneDrive"), "UserEmail", "alice.smith@outlook.com", "DisplayName", "Personal").
		set(accounts+`\Business1`, "UserFolder", filepath.Join(alice, "OneDrive - Kent County Council"),
			"UserEmail", "Alice.Smith@KENT.gov.uk", "DisplayName", "Kent County Council", "ConfiguredTenantId", "{"+strings.ToUpper(tenant)+"}").
		set(accounts+`\Business2`, "UserFolder", filepath.Join(alice, "OneDrive - Acme Ltd"), "UserEmail", "alice@acme.example", "DisplayName", "Acme Ltd").
		set(accounts+`\Business3`). // signed out: no folder
		set(accounts+`\BusinessX`, "UserFolder", filepath.Join(alice, "OneDrive"))
	libraries := `HKU\` + sid(2) + `\Software\SyncEngines\Providers\OneDrive`
	reg.set(libraries+`\1a2b`, "MountPoint", filepath.Join(bob, "Kent County Council", "Social Care - Team A"),
		"UrlNamespace", "https://kentcc.sharepoint.com/sites/SocialCare/Shared Documents/", "LibraryType", "teamsite").
		set(libraries+`\3c4d`, "MountPoint", filepath.Join(bob, "OneDrive"), "UrlNamespace", "https://d.docs.live.net/1234abcd/", "LibraryType", "personal")
	// carol's hive is loaded but her home is not looked in.

	for _, approved := range [][]string{{"kent.gov.uk"}, {tenant}, {"Kent County Council"}, {"KENTCOUNTYCOUNCIL"}} {
		t.Run(approved[0], func(t *testing.T) {
			got := find(t, cloudsync.Options{Homes: []string{alice, bob}, GOOS: "windows", Registry: reg,
				ApprovedTenants: map[cloudsync.Provider][]string{cloudsync.OneDrive: append(approved, "kentcc.sharepoint.com")}})
			if len(got) != 5 {
				t.Fatalf("want 5 folders, got:\n%s", dump(got))
			}
			p := only(t, got, filepath.Join(alice, "OneDrive"))
			want(t, p, cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindPersonal, Account: "outlook.com"})
			if p.Evidence != accounts+`\Personal\UserFolder` {
				t.Errorf("evidence %q", p.Evidence)
			}
			want(t, only(t, got, filepath.Join(alice, "OneDrive - Kent County Council")),
				cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindBusiness, Account: "kent.gov.uk", Approved: true})
			want(t, only(t, got, filepath.Join(alice, "OneDrive - Acme Ltd")),
				cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindBusiness, Account: "acme.example"})
			lib := only(t, got, filepath.Join(bob, "Kent County Council", "Social Care - Team A"))
			want(t, lib, cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindBusiness, Account: "kentcc.sharepoint.com", Approved: true})
			if lib.Evidence != libraries+`\1a2b\MountPoint` {
				t.Errorf("evidence %q", lib.Evidence)
			}
			want(t, only(t, got, filepath.Join(bob, "OneDrive")), cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindPersonal})
		})
	}

	// Without approval nothing is approved; without the registry the
	// folders are still found by their names.
	got := find(t, cloudsync.Options{Homes: []string{alice}, GOOS: "windows", Registry: reg})
	for _, f := range got {
		if f.Approved {
			t.Errorf("approved with no list: %+v", f)
		}
	}
	got = find(t, cloudsync.Options{Homes: []string{alice}, GOOS: "windows", Registry: newReg()})
	if len(got) != 3 || only(t, got, filepath.Join(alice, "OneDrive - Acme Ltd")).Evidence != "folder name" {
		t.Fatalf("by name:\n%s", dump(got))
	}
}

// A business account of another tenant whose domain merely ends like the
// council's is not approved; a subdomain of the council's is.
func TestApprovedDomainMatching(t *testing.T) {
	home := t.TempDir()
	mkdirs(t, home, "a", "b", "c")
	accounts := `HKU\` + sid(1) + `\Software\Microsoft\OneDrive\Accounts`
	reg := newReg().profile(sid(1), home).
		set(accounts+`\Business1`, "UserFolder", filepath.Join(home, "a"), "UserEmail", "x@notkent.gov.uk").
		set(accounts+`\Business2`, "UserFolder", filepath.Join(home, "b"), "UserEmail", "x@staff.kent.gov.uk").
		set(accounts+`\Business3`, "UserFolder", filepath.Join(home, "c"), "UserEmail", "x@kent.gov.uk.evil.example")
	got := find(t, cloudsync.Options{Homes: []string{home}, GOOS: "windows", Registry: reg,
		ApprovedTenants: map[cloudsync.Provider][]string{cloudsync.OneDrive: {"kent.gov.uk"}}})
	for _, c := range []struct {
		rel      string
		approved bool
	}{{"a", false}, {"b", true}, {"c", false}} {
		if f := only(t, got, filepath.Join(home, c.rel)); f.Approved != c.approved {
			t.Errorf("%s: %+v", c.rel, f)
		}
	}
}

// Problems in one user's registry never stop the others, and come back
// joined: a relative or NUL-holding UserFolder is malformed and not
// reported; an unreadable key is an error.
func TestFindOneDriveRegistryProblems(t *testing.T) {
	alice, bob := t.TempDir(), t.TempDir()
	mkdirs(t, bob, "OneDrive - Kent")
	accounts := `HKU\` + sid(1) + `\Software\Microsoft\OneDrive\Accounts`
	boom := errors.New("access denied")
	reg := newReg().profile(sid(1), alice).profile(sid(2), bob).
		set(accounts+`\Business1`, "UserFolder", `OneDrive - Kent`).
		set(accounts+`\Business2`, "UserFolder", filepath.Join(alice, "x\x00y")).
		set(`HKU\`+sid(2)+`\Software\Microsoft\OneDrive\Accounts\Business1`, "UserFolder", filepath.Join(bob, "OneDrive - Kent"))
	reg.fail[strings.ToLower(`HKU\`+sid(1)+`\Software\SyncEngines\Providers\OneDrive`)] = boom
	got, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: []string{alice, bob}, GOOS: "windows", Registry: reg})
	if !errors.Is(err, cloudsync.ErrMalformed) || !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	if !slices.Equal(paths(got), []string{filepath.Join(bob, "OneDrive - Kent")}) {
		t.Fatalf("got:\n%s", dump(got))
	}
}

// macOS File Provider folders in ~/Library/CloudStorage, iCloud Drive, Box
// and the classic OneDrive names. Google accounts keep only the domain:
// gmail.com is personal, another domain unknown unless approved for Google
// Drive; approving the domain for OneDrive does not approve Google Drive.
func TestFindDarwin(t *testing.T) {
	home := t.TempDir()
	cs := "Library/CloudStorage/"
	mkdirs(t, home,
		cs+"OneDrive-Personal", cs+"OneDrive-KentCountyCouncil", cs+"OneDrive-SharedLibraries-KentCountyCouncil", cs+"OneDrive-acme.example",
		cs+"GoogleDrive-jane.doe@gmail.com", cs+"GoogleDrive-jane.doe@kent.gov.uk", cs+"Box-Box", cs+"Dropbox", cs+"ProtonDrive-jane@proton.me",
		"Library/Mobile Documents/com~apple~CloudDocs", "OneDrive - Kent County Council", "OneDrive - Personal", "Box", "Google Drive")
	symlink(t, filepath.Join(home, cs, "Dropbox"), home, "Dropbox")

	opts := cloudsync.Options{Homes: []string{home}, GOOS: "darwin",
		ApprovedTenants: map[cloudsync.Provider][]string{cloudsync.OneDrive: {"Kent County Council", "kent.gov.uk"}}}
	got := find(t, opts)
	at := func(rel string) cloudsync.Folder { return only(t, got, filepath.Join(home, filepath.FromSlash(rel))) }
	want(t, at(cs+"OneDrive-Personal"), cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindPersonal})
	want(t, at(cs+"OneDrive-KentCountyCouncil"), cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindBusiness, Account: "KentCountyCouncil", Approved: true})
	want(t, at(cs+"OneDrive-SharedLibraries-KentCountyCouncil"), cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindBusiness, Account: "KentCountyCouncil", Approved: true})
	want(t, at(cs+"OneDrive-acme.example"), cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindBusiness, Account: "acme.example"})
	want(t, at(cs+"GoogleDrive-jane.doe@gmail.com"), cloudsync.Folder{Provider: cloudsync.GoogleDrive, Kind: cloudsync.KindPersonal, Account: "gmail.com"})
	want(t, at(cs+"GoogleDrive-jane.doe@kent.gov.uk"), cloudsync.Folder{Provider: cloudsync.GoogleDrive, Account: "kent.gov.uk"})
	want(t, at(cs+"Box-Box"), cloudsync.Folder{Provider: cloudsync.Box})
	want(t, at(cs+"Dropbox"), cloudsync.Folder{Provider: cloudsync.Dropbox})
	want(t, at("Dropbox"), cloudsync.Folder{Provider: cloudsync.Dropbox, Link: true})
	want(t, at("Library/Mobile Documents/com~apple~CloudDocs"), cloudsync.Folder{Provider: cloudsync.ICloud, Kind: cloudsync.KindPersonal})
	want(t, at("OneDrive - Kent County Council"), cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindBusiness, Account: "Kent County Council", Approved: true})
	want(t, at("OneDrive - Personal"), cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindPersonal})
	want(t, at("Box"), cloudsync.Folder{Provider: cloudsync.Box})
	want(t, at("Google Drive"), cloudsync.Folder{Provider: cloudsync.GoogleDrive})
	if len(got) != 14 {
		t.Errorf("want 14 folders (not ProtonDrive), got:\n%s", dump(got))
	}
	if ev := at(cs + "Box-Box").Evidence; ev != "folder name in ~/Library/CloudStorage" {
		t.Errorf("evidence %q", ev)
	}

	opts.ApprovedTenants[cloudsync.GoogleDrive] = []string{"kent.gov.uk"}
	got = find(t, opts)
	if !at(cs + "GoogleDrive-jane.doe@kent.gov.uk").Approved {
		t.Error("approved Google domain not approved")
	}
	if at(cs + "GoogleDrive-jane.doe@gmail.com").Approved {
		t.Error("gmail approved")
	}

	// The same tree read with Linux's rules has none of macOS's folders.
	got = find(t, cloudsync.Options{Homes: []string{home}, GOOS: "linux"})
	if !slices.Equal(paths(got), []string{filepath.Join(home, "Dropbox")}) {
		t.Errorf("linux rules:\n%s", dump(got))
	}
}

// The abraunegg OneDrive client on Linux: sync_dir with ~, spaces and
// non-ASCII letters; azure_tenant_id makes it a work account, approved by
// that tenant ID; a client set up without a config uses ~/OneDrive.
func TestFindOneDriveLinux(t *testing.T) {
	const tenant = "3f0a1c2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
	alice, bob := t.TempDir(), t.TempDir()
	mkdirs(t, alice, "Cloud Stuff/ÖneDrive – Arbeit", "OneDrive")
	cfg := write(t, alice, ".config/onedrive/config", "# OneDrive client config\n"+
		"sync_dir = \"~/Cloud Stuff/ÖneDrive – Arbeit\"\r\n  # skip_file = \"~*\"\n\nazure_tenant_id = \""+tenant+"\"\n")
	mkdirs(t, bob, ".config/onedrive", "OneDrive")

	got := find(t, cloudsync.Options{Homes: []string{alice, bob}, GOOS: "linux",
		ApprovedTenants: map[cloudsync.Provider][]string{cloudsync.OneDrive: {tenant}}})
	if len(got) != 2 {
		t.Fatalf("want 2 folders (not alice's ~/OneDrive), got:\n%s", dump(got))
	}
	a := only(t, got, filepath.Join(alice, "Cloud Stuff", "ÖneDrive – Arbeit"))
	want(t, a, cloudsync.Folder{Provider: cloudsync.OneDrive, Kind: cloudsync.KindBusiness, Account: tenant, Approved: true})
	if a.Evidence != cfg+": sync_dir" {
		t.Errorf("evidence %q", a.Evidence)
	}
	b := only(t, got, filepath.Join(bob, "OneDrive"))
	want(t, b, cloudsync.Folder{Provider: cloudsync.OneDrive})
	if !strings.Contains(b.Evidence, "default sync_dir") {
		t.Errorf("evidence %q", b.Evidence)
	}
	// ~/OneDrive without the client set up is just a folder on Linux.
	carol := t.TempDir()
	mkdirs(t, carol, "OneDrive")
	if got := find(t, cloudsync.Options{Homes: []string{carol}, GOOS: "linux"}); len(got) != 0 {
		t.Errorf("got:\n%s", dump(got))
	}
}

// Google Drive for desktop on Windows: with a signed-in account, the
// streaming drive is reported at its drive letter (G: by default, unseen),
// or at the mount point the registry sets; the administrator's policy
// wins over the user's setting. Without an account folder nothing is.
func TestFindGoogleWindows(t *testing.T) {
	home := t.TempDir()
	mkdirs(t, home, "AppData/Local/Google/DriveFS/Logs", "My Drive", "Google Drive", "iCloudDrive", "Box")
	opts := cloudsync.Options{Homes: []string{home}, GOOS: "windows", Registry: newReg()}
	got := find(t, opts)
	if len(got) != 3 { // Google Drive (legacy), iCloudDrive, Box; no account, so no G: or My Drive
		t.Fatalf("got:\n%s", dump(got))
	}
	want(t, only(t, got, filepath.Join(home, "Google Drive")), cloudsync.Folder{Provider: cloudsync.GoogleDrive})
	want(t, only(t, got, filepath.Join(home, "iCloudDrive")), cloudsync.Folder{Provider: cloudsync.ICloud, Kind: cloudsync.KindPersonal})
	want(t, only(t, got, filepath.Join(home, "Box")), cloudsync.Folder{Provider: cloudsync.Box})

	mkdirs(t, home, "AppData/Local/Google/DriveFS/117234567890123456789")
	got = find(t, opts)
	g := only(t, got, `G:\`)
	if g.Provider != cloudsync.GoogleDrive || !strings.Contains(g.Evidence, "signed-in accounts: 1") || !strings.Contains(g.Evidence, "default mount point") {
		t.Errorf("G: %+v", g)
	}
	only(t, got, filepath.Join(home, "My Drive"))

	// Two users signed in: each has a G: of their own.
	other := t.TempDir()
	mkdirs(t, other, "AppData/Local/Google/DriveFS/998877665544332211")
	got = find(t, cloudsync.Options{Homes: []string{home, other}, GOOS: "windows", Registry: newReg()})
	var gs []string
	for _, f := range got {
		if f.Path == `G:\` {
			gs = append(gs, f.Evidence)
		}
	}
	if len(gs) != 2 || !strings.HasPrefix(gs[0], filepath.Join(home, "AppData")) && !strings.HasPrefix(gs[1], filepath.Join(home, "AppData")) {
		t.Errorf("G: per user: %q", gs)
	}

	reg := newReg().profile(sid(1), home).set(`HKU\`+sid(1)+`\Software\Google\DriveFS`, "DefaultMountPoint", `%UserProfile%`+string(filepath.Separator)+"Google Stream")
	opts.Registry = reg
	got = find(t, opts)
	s := only(t, got, filepath.Join(home, "Google Stream"))
	if !strings.HasSuffix(s.Evidence, `\Software\Google\DriveFS\DefaultMountPoint`) || s.Link {
		t.Errorf("user mount point: %+v", s)
	}
	reg.set(`HKLM\Software\Policies\Google\DriveFS`, "DefaultMountPoint", "h:")
	got = find(t, opts)
	only(t, got, `H:\`)
	if slices.Contains(paths(got), filepath.Join(home, "Google Stream")) {
		t.Error("the user's setting beat the policy")
	}
}

// Two users, each with folders; one user's unreadable config does not hide
// the other's folders. Results are sorted by path.
func TestFindTwoUsers(t *testing.T) {
	base := t.TempDir()
	alice, bob := filepath.Join(base, "alice"), filepath.Join(base, "bob")
	mkdirs(t, alice, "Dropbox")
	mkdirs(t, bob, "Dropbox", "Work Box")
	write(t, alice, ".dropbox/info.json", `{"personal": {"path": "relative/Dropbox"}}`)
	write(t, bob, ".dropbox/info.json", `{"business": {"path": `+jsonString(filepath.Join(bob, "Work Box"))+`}}`)
	got, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: []string{bob, alice, bob + "/"}, GOOS: "linux"})
	if !errors.Is(err, cloudsync.ErrMalformed) || !strings.Contains(err.Error(), filepath.Join(alice, ".dropbox", "info.json")) {
		t.Errorf("err = %v", err)
	}
	checkFolders(t, "linux", got)
	wantPaths := []string{filepath.Join(alice, "Dropbox"), filepath.Join(bob, "Dropbox"), filepath.Join(bob, "Work Box")}
	if !slices.Equal(paths(got), wantPaths) {
		t.Fatalf("got:\n%s", dump(got))
	}
}

func TestFindOptions(t *testing.T) {
	for _, homes := range [][]string{nil, {}, {"relative/home"}, {""}, {"/ok", "rel"}} {
		if _, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: homes}); !errors.Is(err, cloudsync.ErrInvalid) {
			t.Errorf("homes %q: err = %v", homes, err)
		}
	}
	// A home that does not exist (removed since Homes) is no problem.
	got, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: []string{filepath.Join(t.TempDir(), "gone")}})
	if err != nil || len(got) != 0 {
		t.Errorf("missing home: %v %v", got, err)
	}
	// A cancelled context stops the search and says so.
	home := t.TempDir()
	mkdirs(t, home, "Dropbox")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err = cloudsync.Find(ctx, cloudsync.Options{Homes: []string{home}})
	if !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Errorf("cancelled: %v %v", got, err)
	}
}

// TestFindHome: every folder says which home named it, so a caller acting
// as root can tell alice's configuration pointing into bob's home (or at
// her whole home) from a folder in alice's own home.
func TestFindHome(t *testing.T) {
	alice, bob := t.TempDir(), t.TempDir()
	mkdirs(t, alice, "OneDrive", "Dropbox")
	mkdirs(t, bob, "Documents")
	write(t, alice, ".config/onedrive/config", "sync_dir = \""+filepath.Join(bob, "Documents")+"\"\n")
	got := find(t, cloudsync.Options{Homes: []string{alice, bob}, GOOS: "linux"})
	for _, f := range got {
		if f.Home != alice {
			t.Errorf("%s: Home %q, want alice's %q", f.Path, f.Home, alice)
		}
	}
	if len(got) != 2 {
		t.Errorf("got:\n%s", dump(got))
	}
}
