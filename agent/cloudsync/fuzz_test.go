package cloudsync_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/casekeep/casekeep/agent/cloudsync"
)

// absClean reports whether p is an absolute, clean path of at most
// MaxPath bytes without NUL.
func absClean(p string) bool {
	return filepath.IsAbs(p) && filepath.Clean(p) == p && !strings.ContainsRune(p, 0)
}

// FuzzParseDropboxInfo checks info.json's parser against encoding/json as
// the oracle: every account returned has an absolute, clean path that is
// the file's path cleaned, under the key it came from, with a kind that
// follows the key and is_team; every "personal" or "business" object whose
// path is a usable absolute path is returned; problems match ErrMalformed.
func FuzzParseDropboxInfo(f *testing.F) {
	f.Add([]byte(`{"personal": {"path": "/home/alice/Dropbox", "host": 1, "is_team": false, "subscription_type": "Basic"}}`))
	f.Add([]byte(`{"personal": {"path": "/home/a/Dropbox/"}, "business": {"path": "/media/usb/Kent County Council Dropbox", "is_team": true}}`))
	f.Add([]byte(`{"business": {"path": "/x/Dropbox (Team)"}, "personal": null}`))
	f.Add([]byte(`{"personal": {"path": "relative"}}`))
	f.Add([]byte(`{"personal": {"path": "/a/../../b\u0000"}}`))
	f.Add([]byte(`{"personal": {"path": 7}, "business": []}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"personal": {"path": "/p", "is_team": true}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := cloudsync.ParseDropboxInfo(b)
		if err != nil && !errors.Is(err, cloudsync.ErrMalformed) {
			t.Fatalf("error does not match ErrMalformed: %v", err)
		}
		if len(got) > 2 {
			t.Fatalf("%d accounts", len(got))
		}
		var top map[string]json.RawMessage
		jerr := json.Unmarshal(b, &top)
		if jerr != nil && len(got) > 0 {
			t.Fatalf("accounts from invalid JSON: %+v", got)
		}
		seen := map[string]bool{}
		for _, a := range got {
			if !absClean(a.Path) || len(a.Path) > cloudsync.MaxPath {
				t.Fatalf("path %q", a.Path)
			}
			if seen[a.Key] || (a.Key != "personal" && a.Key != "business") {
				t.Fatalf("key %q", a.Key)
			}
			seen[a.Key] = true
			var acc struct {
				Path string `json:"path"`
			}
			var team struct {
				IsTeam *bool `json:"is_team"`
			}
			if err := json.Unmarshal(top[a.Key], &acc); err != nil {
				t.Fatalf("account %q from an entry json cannot read: %v", a.Key, err)
			}
			if filepath.Clean(acc.Path) != a.Path {
				t.Fatalf("path %q from %q", a.Path, acc.Path)
			}
			// An is_team that is not a boolean is ignored.
			_ = json.Unmarshal(top[a.Key], &team)
			business := a.Key == "business" || team.IsTeam != nil && *team.IsTeam
			if (a.Kind == cloudsync.KindBusiness) != business || (a.Kind != cloudsync.KindBusiness && a.Kind != cloudsync.KindPersonal) {
				t.Fatalf("kind %q for %+v", a.Kind, acc)
			}
			if a.Team != "" && a.Kind != cloudsync.KindBusiness {
				t.Fatalf("team %q on a personal account", a.Team)
			}
			checkName(t, a.Team)
		}
		if jerr != nil || top == nil {
			return
		}
		for _, key := range []string{"personal", "business"} {
			var acc struct {
				Path *string `json:"path"`
			}
			if json.Unmarshal(top[key], &acc) != nil || acc.Path == nil {
				continue
			}
			p := *acc.Path
			if filepath.IsAbs(p) && len(p) <= cloudsync.MaxPath && !strings.ContainsRune(p, 0) && !seen[key] {
				t.Fatalf("usable %s.path %q not returned", key, p)
			}
		}
	})
}

// checkName checks a name fit to report: valid UTF-8, no control
// characters, no email address, trimmed, bounded.
func checkName(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) || strings.TrimSpace(s) != s ||
		utf8.RuneCountInString(s) > 256 {
		t.Fatalf("name %q", s)
	}
}

// FuzzParseOneDriveConfig checks the abraunegg client's config parser:
// the folder is always absolute and clean (or refused), ~ stays in the
// home given, the account is a tenant ID, a domain or nothing, a work
// account is one only when the config names a tenant or a drive, and
// problems match ErrMalformed.
func FuzzParseOneDriveConfig(f *testing.F) {
	f.Add([]byte("# comment\nsync_dir = \"~/OneDrive\"\n"))
	f.Add([]byte("sync_dir = \"/data/One Drive\"\nazure_tenant_id = \"3f0a1c2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b\"\n"))
	f.Add([]byte("sync_dir=~/../../etc\r\ndrive_id = \"b!abc\"\n"))
	f.Add([]byte("azure_tenant_id = \"kent.onmicrosoft.com\"\nsync_dir = \"relative\"\n"))
	f.Add([]byte("garbage line\nsync_dir = \"\x00\"\n= x\n"))
	f.Add([]byte("sync_dir = \"~\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		const home = "/home/alice"
		r := cloudsync.ParseOneDriveConfig(home, b)
		for _, err := range []error{r.ParseErr, r.DirErr} {
			if err != nil && !errors.Is(err, cloudsync.ErrMalformed) {
				t.Fatalf("error does not match ErrMalformed: %v", err)
			}
		}
		if r.DirErr == nil {
			if !absClean(r.SyncDir) {
				t.Fatalf("sync dir %q", r.SyncDir)
			}
		} else if r.SyncDir != "" {
			t.Fatalf("sync dir %q with error %v", r.SyncDir, r.DirErr)
		}
		// The oracle: the last line of each key wins; a value is
		// trimmed, unquoted, and refused with control characters.
		var last, tenant, drive string
		for _, line := range bytes.Split(b, []byte("\n")) {
			k, v, ok := strings.Cut(strings.TrimSpace(string(line)), "=")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				continue
			}
			switch strings.TrimSpace(k) {
			case "sync_dir":
				last = v
			case "azure_tenant_id":
				tenant = v
			case "drive_id":
				drive = v
			}
		}
		tenantOrDrive := tenant != "" || drive != ""
		if name, ok := strings.CutPrefix(last, "~/"); ok && r.DirErr == nil && !strings.Contains(name, "..") {
			if !strings.HasPrefix(r.SyncDir, home+"/") && r.SyncDir != home {
				t.Fatalf("~/%s resolved to %q", name, r.SyncDir)
			}
		}
		if (r.Kind == cloudsync.KindBusiness) != tenantOrDrive || r.Kind == cloudsync.KindPersonal {
			t.Fatalf("kind %q, tenant or drive %v", r.Kind, tenantOrDrive)
		}
		checkAccountID(t, r.Account)
	})
}

// checkAccountID checks an account that must be a GUID, a domain or "".
func checkAccountID(t *testing.T, s string) {
	t.Helper()
	if s == "" {
		return
	}
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" || !strings.Contains(s, ".") && !strings.Contains(s, "-") ||
		strings.Contains(s, "@") || len(s) > 253 {
		t.Fatalf("account %q", s)
	}
}

// FuzzPasswdHomes checks the /etc/passwd parser: homes are absolute,
// clean, never "/", unique and sorted, and each is the cleaned home field
// of a 7-field line whose uid is 0 or from 1000, not 65534.
func FuzzPasswdHomes(f *testing.F) {
	f.Add([]byte(samplePasswd))
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\n"))
	f.Add([]byte("a:x:1000:1000::/home/a/../b/./:/bin/sh\r\n+:::::/x:\n"))
	f.Add([]byte("a:x:65534:1::/nonexistent:/bin/false\nb:x:999:1::/home/b:/bin/sh\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := cloudsync.PasswdHomes(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("not sorted and unique: %q", got)
		}
		eligible := map[string]bool{}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Split(strings.TrimSuffix(line, "\r"), ":")
			if len(fields) != 7 || fields[0] == "" || strings.ContainsAny(fields[0][:1], "+-") || !strings.HasPrefix(fields[5], "/") {
				continue
			}
			uid := fields[2]
			if uid == "" || strings.Trim(uid, "0123456789") != "" {
				continue
			}
			eligible[path.Clean(fields[5])] = true
		}
		for _, h := range got {
			if !strings.HasPrefix(h, "/") || path.Clean(h) != h || h == "/" || strings.ContainsRune(h, 0) {
				t.Fatalf("home %q", h)
			}
			if !eligible[h] {
				t.Fatalf("home %q is no line's home", h)
			}
		}
	})
}

// FuzzAccountNames checks what folder names and library addresses tell:
// accounts never hold an email address, are valid UTF-8 without control
// characters and bounded; a Google account is a domain; a OneDrive library
// account is a host name.
func FuzzAccountNames(f *testing.F) {
	for _, s := range []string{
		"OneDrive-Personal", "OneDrive-KentCountyCouncil", "OneDrive-SharedLibraries-Kent", "OneDrive-kent.ac.uk",
		"GoogleDrive-jane.doe@gmail.com", "GoogleDrive-x@@y.example", "GoogleDrive-", "Box-Box", "Dropbox", "Dropbox-Personal",
		"Dropbox-Team \x00\x1b", "OneDrive-a@b.example", "ProtonDrive-x",
	} {
		f.Add(s, "https://kent-my.sharepoint.com/personal/jane_kent_gov_uk/Documents/", "mysite")
	}
	f.Add("x", "https://d.docs.live.net/1234/", "personal")
	f.Add("x", "://bad url\x00", "")
	f.Add("x", "https://jane@evil.example:443/", "teamsite")
	f.Fuzz(func(t *testing.T, name, url, libraryType string) {
		n, ok := cloudsync.CloudStorageName(name)
		if ok {
			if !slices.Contains([]cloudsync.Provider{cloudsync.Dropbox, cloudsync.GoogleDrive, cloudsync.OneDrive, cloudsync.Box}, n.Provider) {
				t.Fatalf("provider %q", n.Provider)
			}
			checkName(t, n.Account)
			if strings.Contains(n.Account, "@") {
				t.Fatalf("account %q", n.Account)
			}
			if n.Provider == cloudsync.GoogleDrive {
				checkAccountID(t, n.Account)
				if i := strings.LastIndex(name, "@"); n.Account != "" && !strings.EqualFold(strings.TrimSpace(name[i+1:]), n.Account) {
					t.Fatalf("google account %q from %q", n.Account, name)
				}
			}
		} else if n != (cloudsync.Named{}) {
			t.Fatalf("not a sync folder, yet %+v", n)
		}
		l := cloudsync.LibraryAccount(url, libraryType)
		if l.Provider != cloudsync.OneDrive {
			t.Fatalf("library provider %q", l.Provider)
		}
		checkAccountID(t, l.Account)
		if l.Kind == cloudsync.KindPersonal && l.Account != "" {
			t.Fatalf("personal library with account %q", l.Account)
		}
	})
}
