package cloudsync_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent/cloudsync"
)

// findErr runs Find on one Linux home and returns what it found and the
// error, which must match target (nil: no error).
func findErr(t *testing.T, goos string, target error, homes ...string) []cloudsync.Folder {
	t.Helper()
	got, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: homes, GOOS: goos})
	if target == nil && err != nil || target != nil && !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
	checkFolders(t, goos, got)
	return got
}

// secret is a folder outside the home that a hostile config points at
// through a link; it must never be reported.
func secret(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "secret")
	mkdirs(t, dir, "")
	return dir
}

// info.json as a symbolic link (to a file the user could not otherwise
// make root read) is not read, and the folder it names is not reported.
func TestConfigSymlinkNotRead(t *testing.T) {
	home, elsewhere, target := t.TempDir(), t.TempDir(), secret(t)
	real := write(t, elsewhere, "info.json", `{"personal": {"path": `+jsonString(target)+`}}`)
	symlink(t, real, home, ".dropbox/info.json")
	got := findErr(t, "linux", cloudsync.ErrRefused, home)
	if len(got) != 0 {
		t.Fatalf("got:\n%s", dump(got))
	}
}

// A config folder that is a link out of the home is not read through.
func TestConfigFolderSymlinkNotRead(t *testing.T) {
	home, elsewhere, target := t.TempDir(), t.TempDir(), secret(t)
	write(t, elsewhere, ".dropbox/info.json", `{"personal": {"path": `+jsonString(target)+`}}`)
	symlink(t, filepath.Join(elsewhere, ".dropbox"), home, ".dropbox")
	mkdirs(t, elsewhere, "onedrive-conf")
	write(t, elsewhere, "onedrive-conf/config", `sync_dir = `+jsonString(target))
	symlink(t, filepath.Join(elsewhere, "onedrive-conf"), home, ".config/onedrive")

	got := findErr(t, "linux", cloudsync.ErrRefused, home)
	if len(got) != 0 {
		t.Fatalf("got:\n%s", dump(got))
	}
	// A link inside the home, on the way to the config, is refused too.
	home2 := t.TempDir()
	write(t, home2, "stash/info.json", `{"personal": {"path": `+jsonString(target)+`}}`)
	symlink(t, "stash", home2, ".dropbox")
	if got := findErr(t, "linux", cloudsync.ErrRefused, home2); len(got) != 0 {
		t.Fatalf("got:\n%s", dump(got))
	}
}

// A config larger than 1 MiB is refused before it is read; one of exactly
// 1 MiB is read.
func TestConfigTooLarge(t *testing.T) {
	home := t.TempDir()
	mkdirs(t, home, "Box Folder")
	body := `{"personal": {"path": ` + jsonString(filepath.Join(home, "Box Folder")) + `}}`
	pad := cloudsync.MaxConfig - len(body)
	write(t, home, ".dropbox/info.json", body+strings.Repeat(" ", pad))
	got := findErr(t, "linux", nil, home)
	only(t, got, filepath.Join(home, "Box Folder"))

	write(t, home, ".dropbox/info.json", body+strings.Repeat(" ", pad+1))
	if got := findErr(t, "linux", cloudsync.ErrRefused, home); len(got) != 0 {
		t.Fatalf("got:\n%s", dump(got))
	}
	// A sparse file that claims to be huge is refused by its size alone.
	f, err := os.Create(filepath.Join(home, ".dropbox", "info.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil {
		t.Skipf("no sparse files: %v", err)
	}
	f.Close()
	start := time.Now()
	findErr(t, "linux", cloudsync.ErrRefused, home)
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v: read the file?", d)
	}
}

// Malformed info.json: each problem is reported as malformed, never
// quoting the file, and what can be read still is.
func TestDropboxMalformed(t *testing.T) {
	home := t.TempDir()
	mkdirs(t, home, "Good")
	good := `"business": {"path": ` + jsonString(filepath.Join(home, "Good")) + `}`
	const marker = "SECRET-CASE-LL-123456"
	for name, body := range map[string]string{
		"not json":      marker + `{`,
		"array":         `["` + marker + `"]`,
		"null":          `null`,
		"path number":   `{"personal": {"path": 5, "note": "` + marker + `"}, ` + good + `}`,
		"relative":      `{"personal": {"path": "` + marker + `/Dropbox"}, ` + good + `}`,
		"nul":           `{"personal": {"path": "/home/x\u0000` + marker + `"}, ` + good + `}`,
		"too long":      `{"personal": {"path": "/` + strings.Repeat("a", cloudsync.MaxPath) + marker + `"}, ` + good + `}`,
		"empty":         `{"personal": {"path": ""}, ` + good + `}`,
		"personal str":  `{"personal": "` + marker + `", ` + good + `}`,
		"no path":       `{"personal": {"host": 1}, ` + good + `}`,
		"deep":          strings.Repeat("[", 100000) + marker,
		"invalid utf-8": "{\"personal\": {\"path\": \"\xff\xfe" + marker + "\"}, " + good + "}",
	} {
		t.Run(name, func(t *testing.T) {
			write(t, home, ".dropbox/info.json", body)
			got, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: []string{home}, GOOS: "linux"})
			if !errors.Is(err, cloudsync.ErrMalformed) {
				t.Errorf("err = %v", err)
			}
			if err != nil && strings.Contains(err.Error(), marker) {
				t.Errorf("error quotes the file: %v", err)
			}
			checkFolders(t, "linux", got)
			if strings.Contains(body, good) {
				if len(got) != 1 || got[0].Path != filepath.Join(home, "Good") {
					t.Errorf("got:\n%s", dump(got))
				}
			} else if len(got) != 0 {
				t.Errorf("got:\n%s", dump(got))
			}
		})
	}
}

// A sync folder that is a symbolic link is reported where it is, marked as
// a link, never resolved; a regular file with a sync folder's name is not a
// sync folder.
func TestSyncFolderSymlink(t *testing.T) {
	home, target := t.TempDir(), secret(t)
	symlink(t, target, home, "Dropbox")
	symlink(t, target, home, "Linked Dropbox")
	write(t, home, "OneDrive", "a file, not a folder")
	write(t, home, ".dropbox/info.json", `{"personal": {"path": `+jsonString(filepath.Join(home, "Linked Dropbox"))+`}}`)
	got := findErr(t, "windows", nil, home)
	if len(got) != 2 {
		t.Fatalf("got:\n%s", dump(got))
	}
	for _, f := range got {
		if !f.Link || !strings.HasSuffix(f.Evidence, "; a link, not followed") || strings.HasPrefix(f.Path, target) {
			t.Errorf("%+v", f)
		}
	}
	// A dangling link is reported the same way.
	if err := os.Remove(target); err != nil {
		t.Fatal(err)
	}
	if got := findErr(t, "windows", nil, home); len(got) != 2 {
		t.Fatalf("dangling:\n%s", dump(got))
	}
}

// ~/Library/CloudStorage as a link is not listed; folders reached through
// a linked ~/Library are refused.
func TestCloudStorageSymlink(t *testing.T) {
	home, elsewhere := t.TempDir(), t.TempDir()
	mkdirs(t, elsewhere, "OneDrive-Personal", "Mobile Documents/com~apple~CloudDocs")
	symlink(t, elsewhere, home, "Library/CloudStorage")
	if got := findErr(t, "darwin", cloudsync.ErrRefused, home); len(got) != 0 {
		t.Fatalf("got:\n%s", dump(got))
	}
	home2 := t.TempDir()
	symlink(t, elsewhere, home2, "Library")
	if got := findErr(t, "darwin", cloudsync.ErrRefused, home2); len(got) != 0 {
		t.Fatalf("got:\n%s", dump(got))
	}
}

// The OneDrive client's config: a link is refused (and the default folder
// still reported, by its place), a relative sync_dir is malformed and
// reports nothing, and errors never quote the file.
func TestOneDriveConfigHostile(t *testing.T) {
	const marker = "SECRET-CASE-LL-654321"
	home, elsewhere, target := t.TempDir(), t.TempDir(), secret(t)
	mkdirs(t, home, "OneDrive")
	write(t, elsewhere, "config", `sync_dir = `+jsonString(target))
	symlink(t, filepath.Join(elsewhere, "config"), home, ".config/onedrive/config")
	got := findErr(t, "linux", cloudsync.ErrRefused, home)
	if len(got) != 1 || got[0].Path != filepath.Join(home, "OneDrive") || !strings.Contains(got[0].Evidence, "default sync_dir") {
		t.Fatalf("got:\n%s", dump(got))
	}

	home2 := t.TempDir()
	mkdirs(t, home2, "OneDrive", marker)
	write(t, home2, ".config/onedrive/config", "sync_dir = \""+marker+"\"\n"+marker+" no equals sign\n")
	got, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: []string{home2}, GOOS: "linux"})
	if !errors.Is(err, cloudsync.ErrMalformed) || strings.Contains(err.Error(), marker) {
		t.Errorf("err = %v", err)
	}
	if len(got) != 0 {
		t.Errorf("got:\n%s", dump(got))
	}
}

// Hostile registry values: a relative path, a path with NUL, an email with
// several @, a SID that is not a person's, a key that is not an account.
func TestRegistryHostile(t *testing.T) {
	home := t.TempDir()
	mkdirs(t, home, "od", "od2")
	accounts := `HKU\` + sid(1) + `\Software\Microsoft\OneDrive\Accounts`
	reg := newReg().profile(sid(1), home).profile("S-1-5-18", home).profile(sid(2)+".bak", home).
		set(accounts+`\Business1`, "UserFolder", filepath.Join(home, "od"), "UserEmail", "a@b@evil", "DisplayName", "\x1b[31mKent\x00"+strings.Repeat("x", 1000)).
		set(accounts+`\Business2`, "UserFolder", `..\..\Windows`).
		set(accounts+`\Settings`, "UserFolder", filepath.Join(home, "od2")).
		set(`HKU\S-1-5-18\Software\Microsoft\OneDrive\Accounts\Personal`, "UserFolder", filepath.Join(home, "od2"))
	got, err := cloudsync.Find(context.Background(), cloudsync.Options{Homes: []string{home}, GOOS: "windows", Registry: reg,
		ApprovedTenants: map[cloudsync.Provider][]string{cloudsync.OneDrive: {"Kent"}}})
	if !errors.Is(err, cloudsync.ErrMalformed) {
		t.Errorf("err = %v", err)
	}
	checkFolders(t, "windows", got)
	if len(got) != 1 {
		t.Fatalf("got:\n%s", dump(got))
	}
	f := got[0]
	if f.Account != "" || f.Kind != cloudsync.KindBusiness {
		t.Errorf("%+v", f)
	}
	// The display name is compared, cleaned of control characters.
	if f.Approved {
		t.Errorf("a name with 1000 more letters matched: %+v", f)
	}
}

// A tenant or team name with hidden characters (controls, bidirectional
// overrides, zero-width spaces) keeps a mark where each was, so it never
// passes for the name it shows; an overlong one ends in an ellipsis.
func TestAccountNameHiddenCharacters(t *testing.T) {
	for name, want := range map[string]string{
		"OneDrive-Kent\u202eCouncil":           "Kent\uFFFDCouncil",
		"OneDrive-Ke\u200bnt":                  "Ke\uFFFDnt",
		"OneDrive-Kent\x00":                    "Kent\uFFFD",
		"Dropbox-Team \x1b[31m":                "Team \uFFFD[31m",
		"OneDrive- Kent County Council ":       "Kent County Council",
		"OneDrive-" + strings.Repeat("x", 300): strings.Repeat("x", 255) + "…",
	} {
		n, ok := cloudsync.CloudStorageName(name)
		if !ok || n.Account != want {
			t.Errorf("CloudStorageName(%q) = %+q, %v; want account %q", name, n, ok, want)
		}
	}
}
