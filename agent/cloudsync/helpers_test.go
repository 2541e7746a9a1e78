package cloudsync_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/agent/cloudsync"
)

// mkdirs makes folders (slash-separated, relative to base).
func mkdirs(t testing.TB, base string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		if err := os.MkdirAll(filepath.Join(base, filepath.FromSlash(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// write makes a file (slash-separated, relative to base) and its folders.
func write(t testing.TB, base, rel, content string) string {
	t.Helper()
	p := filepath.Join(base, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// symlink makes a symbolic link at base/rel to target.
func symlink(t testing.TB, target, base, rel string) string {
	t.Helper()
	p := filepath.Join(base, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Skipf("cannot make symbolic links here: %v", err)
	}
	return p
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// find runs Find and fails the test on an error.
func find(t testing.TB, opts cloudsync.Options) []cloudsync.Folder {
	t.Helper()
	got, err := cloudsync.Find(context.Background(), opts)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	checkFolders(t, opts.GOOS, got)
	return got
}

// checkFolders checks what every result of Find must be: an absolute,
// clean path (or a drive root on Windows), a known provider and kind,
// sorted, no duplicates (but one drive root per user), evidence given, no email address anywhere but a
// macOS folder name.
func checkFolders(t testing.TB, goos string, got []cloudsync.Folder) {
	t.Helper()
	providers := []cloudsync.Provider{cloudsync.Dropbox, cloudsync.GoogleDrive, cloudsync.OneDrive, cloudsync.ICloud, cloudsync.Box}
	kinds := []cloudsync.AccountKind{cloudsync.KindUnknown, cloudsync.KindPersonal, cloudsync.KindBusiness}
	for i, f := range got {
		driveRoot := goos == "windows" && len(f.Path) == 3 && f.Path[1] == ':' && f.Path[2] == '\\'
		if !driveRoot && (!filepath.IsAbs(f.Path) || filepath.Clean(f.Path) != f.Path) {
			t.Errorf("folder %d: path %q is not absolute and clean", i, f.Path)
		}
		if !slices.Contains(providers, f.Provider) || !slices.Contains(kinds, f.Kind) {
			t.Errorf("folder %d: provider %q kind %q", i, f.Provider, f.Kind)
		}
		if f.Evidence == "" {
			t.Errorf("folder %d (%s): no evidence", i, f.Path)
		}
		if strings.Contains(f.Account, "@") {
			t.Errorf("folder %d: account %q holds an email address", i, f.Account)
		}
		if f.Approved && f.Kind == cloudsync.KindPersonal {
			t.Errorf("folder %d (%s): a personal account approved", i, f.Path)
		}
		if i > 0 {
			p := got[i-1]
			if p.Path > f.Path || (p.Path == f.Path && p.Provider > f.Provider) ||
				(p.Path == f.Path && p.Provider == f.Provider && (!driveRoot || p.Evidence >= f.Evidence)) {
				t.Errorf("folders %d and %d out of order or duplicated: %s %s, %s %s", i-1, i, p.Path, p.Provider, f.Path, f.Provider)
			}
		}
	}
}

// only returns the folder at path, failing the test if there is not
// exactly one.
func only(t testing.TB, got []cloudsync.Folder, path string) cloudsync.Folder {
	t.Helper()
	var out []cloudsync.Folder
	for _, f := range got {
		if f.Path == path {
			out = append(out, f)
		}
	}
	if len(out) != 1 {
		t.Fatalf("want one folder at %s, got %d in:\n%s", path, len(out), dump(got))
	}
	return out[0]
}

// paths returns the paths found.
func paths(got []cloudsync.Folder) []string {
	var out []string
	for _, f := range got {
		out = append(out, f.Path)
	}
	return out
}

func dump(got []cloudsync.Folder) string {
	var b strings.Builder
	for _, f := range got {
		fmt.Fprintf(&b, "  %+v\n", f)
	}
	return b.String()
}

// want compares a folder's fields, but Path, Evidence and Home, with w's.
func want(t testing.TB, got, w cloudsync.Folder) {
	t.Helper()
	got.Path, got.Evidence, got.Home = "", "", ""
	w.Path, w.Evidence, w.Home = "", "", ""
	if got != w {
		t.Errorf("got %+v\nwant %+v", got, w)
	}
}

// fakeReg is an in-memory registry: keys by path, compared ignoring case
// as Windows does, each with string values. Keys in fail give that error
// when read.
type fakeReg struct {
	keys map[string]map[string]string // lower-case path -> lower-case name -> value
	name map[string]string            // lower-case path -> the key's name as written
	fail map[string]error             // lower-case path -> error
}

func newReg() *fakeReg {
	return &fakeReg{keys: map[string]map[string]string{}, name: map[string]string{}, fail: map[string]error{}}
}

// set makes the key at path, its parents, and the values given as name,
// value pairs.
func (r *fakeReg) set(path string, nv ...string) *fakeReg {
	parts := strings.Split(path, `\`)
	for i := 1; i <= len(parts); i++ {
		k := strings.ToLower(strings.Join(parts[:i], `\`))
		if r.keys[k] == nil {
			r.keys[k] = map[string]string{}
			r.name[k] = parts[i-1]
		}
	}
	vals := r.keys[strings.ToLower(path)]
	for i := 0; i+1 < len(nv); i += 2 {
		vals[strings.ToLower(nv[i])] = nv[i+1]
	}
	return r
}

func (r *fakeReg) SubKeys(path string) ([]string, error) {
	lp := strings.ToLower(path)
	if err := r.fail[lp]; err != nil {
		return nil, err
	}
	if r.keys[lp] == nil {
		return nil, fmt.Errorf("fake registry: %s: %w", path, fs.ErrNotExist)
	}
	var out []string
	for k := range r.keys {
		rest, ok := strings.CutPrefix(k, lp+`\`)
		if ok && !strings.Contains(rest, `\`) {
			out = append(out, r.name[k])
		}
	}
	slices.Sort(out)
	return out, nil
}

func (r *fakeReg) String(path, name string) (string, error) {
	lp := strings.ToLower(path)
	if err := r.fail[lp]; err != nil {
		return "", err
	}
	v, ok := r.keys[lp][strings.ToLower(name)]
	if !ok {
		return "", fmt.Errorf("fake registry: %s\\%s: %w", path, name, fs.ErrNotExist)
	}
	return v, nil
}

// sid returns the SID of a local user.
func sid(n int) string { return fmt.Sprintf("S-1-5-21-1004336348-1177238915-682003330-%d", 1000+n) }

// profile maps sid to home in ProfileList and loads its hive under HKU.
func (r *fakeReg) profile(sid, home string) *fakeReg {
	r.set(`HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\`+sid, "ProfileImagePath", home)
	r.set(`HKU\` + sid)
	return r
}
