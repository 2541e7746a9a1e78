package cloudsync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// Dropbox writes info.json, documented at
// https://help.dropbox.com/installs-integrations/desktop/locate-dropbox-folder#programmatically:
// ~/.dropbox/info.json on macOS and Linux, %LOCALAPPDATA%\Dropbox\info.json
// or %APPDATA%\Dropbox\info.json on Windows. It holds one object per linked
// account, "personal" and "business", each with "path" (the folder),
// "host", "is_team" and "subscription_type". It names no email address.
//
// The folder is <home>/Dropbox by default; with a personal and a team
// account linked, the older clients name them "Dropbox (Personal)" and
// "Dropbox (<Team>)", the newer ones "<Team> Dropbox"; on macOS with File
// Provider it lives in ~/Library/CloudStorage (and ~/Dropbox is a link to
// it).

// dropboxConfigs returns the places of info.json in a home on goos.
func dropboxConfigs(goos string) []string {
	if goos == "windows" {
		return []string{"AppData/Local/Dropbox/info.json", "AppData/Roaming/Dropbox/info.json", ".dropbox/info.json"}
	}
	return []string{".dropbox/info.json"}
}

// dropboxAccount is one account of info.json.
type dropboxAccount struct {
	key  string // "personal" or "business"
	path string // absolute, cleaned
	kind AccountKind
	team string // the team's name, from the folder's name; "" if unknown
}

// parseDropboxInfo reads info.json. It returns the accounts it could read,
// each with an absolute, cleaned path, and the problems with the others
// joined, which match ErrMalformed and never quote the file.
func parseDropboxInfo(b []byte) ([]dropboxAccount, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || top == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var out []dropboxAccount
	var errs []error
	for _, key := range []string{"personal", "business"} {
		raw, ok := top[key]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		// The path and is_team are read apart, so that a strange is_team
		// does not hide the folder.
		var a struct {
			Path *string `json:"path"`
		}
		var team struct {
			IsTeam *bool `json:"is_team"`
		}
		if err := json.Unmarshal(raw, &a); err != nil || a.Path == nil {
			errs = append(errs, fmt.Errorf("%w: %s has no path", ErrMalformed, key))
			continue
		}
		_ = json.Unmarshal(raw, &team) // is_team is a hint: a strange one is ignored
		p, err := cleanAbs(*a.Path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.path: %w", key, err))
			continue
		}
		acc := dropboxAccount{key: key, path: p, kind: KindPersonal}
		if key == "business" || (team.IsTeam != nil && *team.IsTeam) {
			acc.kind = KindBusiness
			acc.team = dropboxTeam(filepath.Base(p))
		}
		out = append(out, acc)
	}
	return out, errors.Join(errs...)
}

// dropboxTeam returns the team's name from a team folder's name, "Dropbox
// (Team)" or "Team Dropbox", or "" if the name is neither.
func dropboxTeam(base string) string {
	switch {
	case strings.HasPrefix(base, "Dropbox (") && strings.HasSuffix(base, ")"):
		return orgName(base[len("Dropbox (") : len(base)-1])
	case strings.HasSuffix(base, " Dropbox"):
		return orgName(strings.TrimSuffix(base, " Dropbox"))
	}
	return ""
}

// dropbox reports the Dropbox folders of a home: those info.json names,
// then the folders with Dropbox's names.
func (f *finder) dropbox(h *home, names []string) {
	for _, rel := range dropboxConfigs(f.goos) {
		b, err := h.readConfig(rel)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				f.fail(err)
			}
			continue
		}
		accounts, err := parseDropboxInfo(b)
		if err != nil {
			f.fail(fmt.Errorf("%s: %w", h.path(rel), err))
		}
		for _, a := range accounts {
			f.atPath(a.path, hint{
				provider: Dropbox, kind: a.kind, account: a.team, ids: nameIDs(a.team),
				evidence: h.path(rel) + ": " + a.key + ".path",
			})
		}
	}
	f.inHome(h, "Dropbox", byName, hint{provider: Dropbox, evidence: evName})
	for _, name := range names {
		if !strings.HasPrefix(name, "Dropbox (") || !strings.HasSuffix(name, ")") {
			continue
		}
		k := hint{provider: Dropbox, kind: KindPersonal, evidence: evName}
		if name != "Dropbox (Personal)" {
			t := dropboxTeam(name)
			k = hint{provider: Dropbox, kind: KindBusiness, account: t, ids: nameIDs(t), evidence: evName}
		}
		f.inHome(h, name, byName, k)
	}
}
