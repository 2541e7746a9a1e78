package policy_test

import (
	"errors"
	"testing"

	"github.com/casekeep/casekeep/policy"
)

func TestExpandPath(t *testing.T) {
	env := map[string]string{
		"LOCALAPPDATA": `C:\Users\Ann\AppData\Local`,
		"RELATIVE":     `AppData`,
		"UNC":          `\\server\profiles\ann`,
		"EMPTY":        "",
	}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct {
		path, goos, home string
		want             string // "" means an error is expected
	}{
		{"~/.local/share/casekeep/cache", "linux", "/home/ann", "/home/ann/.local/share/casekeep/cache"},
		{"~/Library/Application Support/casekeep", "darwin", "/Users/ann", "/Users/ann/Library/Application Support/casekeep"},
		{"/srv/cache//x/./y/", "linux", "", "/srv/cache/x/y"},
		{`%LOCALAPPDATA%\casekeep\cache`, "windows", "", `C:\Users\Ann\AppData\Local\casekeep\cache`},
		{`%LOCALAPPDATA%/casekeep`, "windows", "", `C:\Users\Ann\AppData\Local\casekeep`},
		{`~\Documents\cache`, "windows", `C:\Users\Ann`, `C:\Users\Ann\Documents\cache`},
		{`D:\Cache`, "windows", "", `D:\Cache`},
		{`%MISSING%\cache`, "windows", "", ""},
		{`%EMPTY%\cache`, "windows", "", ""},
		{`%RELATIVE%\cache`, "windows", "", ""},
		{`%UNC%\cache`, "windows", "", ""},
		{`%LOCALAPPDATA%\casekeep`, "linux", "", ""}, // variables are for Windows only
		{"~/cache", "linux", "", ""},                 // no home folder
		{"~/cache", "linux", "relative/home", ""},
		{"cache", "linux", "/home/ann", ""},
		{"~/../etc", "linux", "/home/ann", ""},
		{`\\server\share`, "windows", "", ""},
		{"/srv/cache", "windows", "", ""},
	}
	for _, c := range cases {
		got, err := policy.ExpandPath(c.path, c.goos, c.home, getenv)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("ExpandPath(%q, %s) = %q, want an error", c.path, c.goos, got)
		case c.want != "" && (err != nil || got != c.want):
			t.Errorf("ExpandPath(%q, %s) = %q, %v; want %q", c.path, c.goos, got, err, c.want)
		}
	}
	_, err := policy.ExpandPath(`%MISSING%\x`, "windows", "", getenv)
	if !errors.Is(err, policy.ErrUndefinedVariable) {
		t.Errorf("undefined variable: %v", err)
	}
}

func TestCachePathFor(t *testing.T) {
	p := mustParse(t, validYAML)
	if p.Vault.CachePaths.For("linux") != "~/.cache/casekeep" || p.Vault.CachePaths.For("darwin") != "" ||
		p.Vault.CachePaths.For("windows") != `%LOCALAPPDATA%\casekeep` || p.Vault.CachePaths.For("plan9") != "" {
		t.Errorf("CachePaths.For: %+v", p.Vault.CachePaths)
	}
}
