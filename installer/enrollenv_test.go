package installer_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/installer"
)

const testServer = "https://casekeep.example.gov.uk"

func TestParseEnrollEnv(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       installer.EnrollEnv
	}{
		{"empty", "", installer.EnrollEnv{}},
		{"unquoted", "CASEKEEP_SERVER=https://casekeep.example.gov.uk\nCASEKEEP_ENROLL_TOKEN=tok-123_ABC\n",
			installer.EnrollEnv{Server: testServer, Token: "tok-123_ABC"}},
		{"double quotes", `CASEKEEP_SERVER="https://casekeep.example.gov.uk"` + "\n" + `CASEKEEP_ENROLL_TOKEN="abc"`,
			installer.EnrollEnv{Server: testServer, Token: "abc"}},
		{"single quotes", "CASEKEEP_SERVER='https://casekeep.example.gov.uk:8443/ck/'\nCASEKEEP_ENROLL_TOKEN='a\"b'\n",
			installer.EnrollEnv{Server: "https://casekeep.example.gov.uk:8443/ck/", Token: `a"b`}},
		{"comments and blank lines", "# written by MDM\n\n   \n  # indented comment\nCASEKEEP_SERVER=https://10.0.0.5:8080\n\n# CASEKEEP_ENROLL_TOKEN=commented-out\n",
			installer.EnrollEnv{Server: "https://10.0.0.5:8080"}},
		{"export", "export CASEKEEP_SERVER=https://casekeep.example.gov.uk\nexport  CASEKEEP_ENROLL_TOKEN=\"t\"\n",
			installer.EnrollEnv{Server: testServer, Token: "t"}},
		{"BOM", "\ufeffCASEKEEP_SERVER=https://casekeep.example.gov.uk\nCASEKEEP_ENROLL_TOKEN=t\n",
			installer.EnrollEnv{Server: testServer, Token: "t"}},
		{"CRLF, as Notepad writes it", "\ufeffCASEKEEP_SERVER=\"https://casekeep.example.gov.uk\"\r\nCASEKEEP_ENROLL_TOKEN=t\r\n",
			installer.EnrollEnv{Server: testServer, Token: "t"}},
		{"spaces around", "  CASEKEEP_SERVER =  https://casekeep.example.gov.uk  \n\tCASEKEEP_ENROLL_TOKEN\t=\t't'\t\n",
			installer.EnrollEnv{Server: testServer, Token: "t"}},
		{"unknown keys ignored", "PATH=/usr/bin\nCASEKEEP_OTHER=x\nFOO=\"a b c\"\nCASEKEEP_SERVER=https://casekeep.example.gov.uk\ncasekeep_enroll_token=lowercase-is-another-key\n",
			installer.EnrollEnv{Server: testServer}},
		{"last one wins", "CASEKEEP_SERVER=https://old.example\nCASEKEEP_SERVER=https://casekeep.example.gov.uk\n",
			installer.EnrollEnv{Server: testServer}},
		{"token only", "CASEKEEP_ENROLL_TOKEN=t\n", installer.EnrollEnv{Token: "t"}},
		{"empty quoted token", "CASEKEEP_SERVER=https://casekeep.example.gov.uk\nCASEKEEP_ENROLL_TOKEN=\"\"\n",
			installer.EnrollEnv{Server: testServer}},
		{"= in the value", "CASEKEEP_SERVER=https://casekeep.example.gov.uk/?a=b\nCASEKEEP_ENROLL_TOKEN=YWJj==\n",
			installer.EnrollEnv{Server: "https://casekeep.example.gov.uk/?a=b", Token: "YWJj=="}},
		{"IPv6", "CASEKEEP_SERVER=https://[2001:db8::1]:8443\n", installer.EnrollEnv{Server: "https://[2001:db8::1]:8443"}},
		{"no final newline", "CASEKEEP_SERVER=https://casekeep.example.gov.uk", installer.EnrollEnv{Server: testServer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := installer.ParseEnrollEnv([]byte(tc.text))
			if err != nil {
				t.Fatalf("ParseEnrollEnv(%q): %v", tc.text, err)
			}
			if got != tc.want {
				t.Errorf("ParseEnrollEnv(%q) = %+v, want %+v", tc.text, got, tc.want)
			}
		})
	}
}

func TestParseEnrollEnvRefuses(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"missing =", "CASEKEEP_SERVER https://casekeep.example.gov.uk\n"},
		{"a stray word", "CASEKEEP_SERVER=https://casekeep.example.gov.uk\nhello\n"},
		{"export alone", "export CASEKEEP_SERVER\n"},
		{"unbalanced double quote", "CASEKEEP_SERVER=\"https://casekeep.example.gov.uk\n"},
		{"mismatched quotes", "CASEKEEP_SERVER='https://casekeep.example.gov.uk\"\n"},
		{"a lone quote", "CASEKEEP_ENROLL_TOKEN=\"\n"},
		{"quote inside an unquoted value", "CASEKEEP_ENROLL_TOKEN=ab\"c\n"},
		{"unbalanced quote in an unknown key", "OTHER='x\nCASEKEEP_SERVER=https://casekeep.example.gov.uk\n"},
		{"ftp", "CASEKEEP_SERVER=ftp://casekeep.example.gov.uk\n"},
		{"file", "CASEKEEP_SERVER=file:///etc/passwd\n"},
		{"javascript", "CASEKEEP_SERVER=javascript:alert(1)\n"},
		{"no scheme", "CASEKEEP_SERVER=casekeep.example.gov.uk\n"},
		{"scheme-relative", "CASEKEEP_SERVER=//casekeep.example.gov.uk\n"},
		{"no host", "CASEKEEP_SERVER=https://\n"},
		{"bad escape", "CASEKEEP_SERVER=https://casekeep.example.gov.uk/%zz\n"},
		{"space in the URL", "CASEKEEP_SERVER=\"https://casekeep.example.gov.uk/a b\"\n"},
		{"tab in the URL", "CASEKEEP_SERVER=\"https://casekeep.example.gov.uk/\tx\"\n"},
		{"CR inside the URL", "CASEKEEP_SERVER=https://casekeep.example.gov.uk\rX-Injected: 1\n"},
		{"newline inside a quoted URL", "CASEKEEP_SERVER=\"https://casekeep.example.gov.uk\nCASEKEEP_ENROLL_TOKEN=x\"\n"},
		{"NUL in the URL", "CASEKEEP_SERVER=https://casekeep.example.gov.uk\x00\n"},
		{"DEL in the URL", "CASEKEEP_SERVER=https://casekeep.example.gov.uk\x7f\n"},
		{"space in the token", "CASEKEEP_SERVER=https://casekeep.example.gov.uk\nCASEKEEP_ENROLL_TOKEN=\"abc def\"\n"},
		{"control in the token", "CASEKEEP_ENROLL_TOKEN=abc\x1b[31m\n"},
		{"non-ASCII token", "CASEKEEP_ENROLL_TOKEN=tökén\n"},
		{"oversize", "CASEKEEP_SERVER=https://casekeep.example.gov.uk\n" + strings.Repeat("#", 64<<10) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := installer.ParseEnrollEnv([]byte(tc.text))
			if !errors.Is(err, installer.ErrBadEnrollEnv) {
				t.Fatalf("ParseEnrollEnv(%.80q) = %+v, %v; want ErrBadEnrollEnv", tc.text, got, err)
			}
			if got != (installer.EnrollEnv{}) {
				t.Errorf("with the error, ParseEnrollEnv also returned %+v", got)
			}
		})
	}
	// Just under the limit is fine.
	text := "CASEKEEP_SERVER=https://casekeep.example.gov.uk\n"
	text += strings.Repeat("# padding padding padding padding padding padding padding\n", (64<<10-len(text))/58)
	if _, err := installer.ParseEnrollEnv([]byte(text)); err != nil {
		t.Errorf("a %d-byte file: %v", len(text), err)
	}
}

func TestParseEnrollEnvUTF16(t *testing.T) {
	// What Windows PowerShell 5.1's Out-File writes by default.
	text := "CASEKEEP_SERVER=https://casekeep.example.gov.uk\r\n"
	b := []byte{0xff, 0xfe}
	for _, r := range text {
		b = append(b, byte(r), 0)
	}
	_, err := installer.ParseEnrollEnv(b)
	if !errors.Is(err, installer.ErrBadEnrollEnv) || !strings.Contains(err.Error(), "UTF-16") {
		t.Errorf("a UTF-16 file: %v, want ErrBadEnrollEnv saying UTF-16", err)
	}
}

func TestCheckServerURL(t *testing.T) {
	for _, u := range []string{testServer, "https://localhost:8080", "https://[::1]/ck/"} {
		if err := installer.CheckServerURL(u); err != nil {
			t.Errorf("CheckServerURL(%q): %v", u, err)
		}
	}
	// http is refused: enrollment pins the server's keys over TLS.
	for _, u := range []string{"", "http://localhost:8080", "ftp://x", "https://", "https://x y", "https://x\n", "https://x\r\nHost: y", "x", "/relative"} {
		if err := installer.CheckServerURL(u); err == nil {
			t.Errorf("CheckServerURL(%q) accepted it", u)
		}
	}
}

// writeFile writes text to dir/name with mode perm and returns the path.
func writeFile(t *testing.T, dir, name, text string, perm fs.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), perm); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadEnrollEnv(t *testing.T) {
	dir := t.TempDir()
	good := "CASEKEEP_SERVER=https://casekeep.example.gov.uk\nCASEKEEP_ENROLL_TOKEN=t\n"
	p := writeFile(t, dir, "enroll.env", good, 0o600)
	got, err := installer.ReadEnrollEnv(p)
	if err != nil || got != (installer.EnrollEnv{Server: testServer, Token: "t"}) {
		t.Errorf("ReadEnrollEnv = %+v, %v", got, err)
	}

	if _, err := installer.ReadEnrollEnv(filepath.Join(dir, "missing.env")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}

	bad := writeFile(t, dir, "bad.env", "CASEKEEP_SERVER=ftp://x\n", 0o600)
	if _, err := installer.ReadEnrollEnv(bad); !errors.Is(err, installer.ErrBadEnrollEnv) || !strings.Contains(err.Error(), bad) {
		t.Errorf("a bad file: %v, want ErrBadEnrollEnv naming the file", err)
	}

	big := writeFile(t, dir, "big.env", good+strings.Repeat("#", 64<<10), 0o600)
	if _, err := installer.ReadEnrollEnv(big); !errors.Is(err, installer.ErrBadEnrollEnv) {
		t.Errorf("a file over 64 KiB: %v, want ErrBadEnrollEnv", err)
	}

	if _, err := installer.ReadEnrollEnv(dir); !errors.Is(err, installer.ErrBadEnrollEnv) {
		t.Errorf("a directory: %v, want ErrBadEnrollEnv", err)
	}

	link := filepath.Join(dir, "link.env")
	if err := os.Symlink(p, link); err != nil {
		if runtime.GOOS == "windows" {
			t.Skipf("no symlinks: %v", err)
		}
		t.Fatal(err)
	}
	if got, err := installer.ReadEnrollEnv(link); !errors.Is(err, installer.ErrBadEnrollEnv) {
		t.Errorf("a symlink to a good file: %+v, %v; want ErrBadEnrollEnv", got, err)
	}
}

func TestWriteEnrollEnv(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "enroll.env")
	// Values that an escaping writer and a verbatim reader would disagree on.
	for _, e := range []installer.EnrollEnv{
		{Server: testServer, Token: "tok-123"},
		{Server: `https://casekeep.example.gov.uk/a"b\c'd`, Token: `a"b'c\d$e` + "`x`"},
		{Server: "https://casekeep.example.gov.uk/é?q=ü#frag", Token: "x"},
		{Server: testServer},
	} {
		if err := installer.WriteEnrollEnv(p, e); err != nil {
			t.Fatalf("WriteEnrollEnv(%+v): %v", e, err)
		}
		got, err := installer.ReadEnrollEnv(p)
		if err != nil || got != e {
			data, _ := os.ReadFile(p)
			t.Errorf("wrote %+v, read back %+v, %v:\n%s", e, got, err, data)
		}
		if runtime.GOOS != "windows" {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("the file's mode: %v, %v; want 0600", fi.Mode(), err)
			}
		}
	}

	// A world-readable file is replaced by a private one.
	if runtime.GOOS != "windows" {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := installer.WriteEnrollEnv(p, installer.EnrollEnv{Server: testServer, Token: "secret"}); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("after replacing a 0644 file, mode %v, %v; want 0600", fi.Mode(), err)
		}
	}

	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []installer.EnrollEnv{
		{Server: testServer + "\nCASEKEEP_ENROLL_TOKEN=injected"},
		{Server: testServer + "\"\nCASEKEEP_ENROLL_TOKEN=\"injected"},
		{Server: testServer + "\r"},
		{Server: "ftp://casekeep.example.gov.uk"},
		{Server: ""},
		{Server: testServer, Token: "a\nCASEKEEP_SERVER=https://evil.example"},
		{Server: testServer, Token: "two words"},
		{Server: testServer, Token: "tökén"},
	} {
		if err := installer.WriteEnrollEnv(p, e); err == nil {
			data, _ := os.ReadFile(p)
			t.Errorf("WriteEnrollEnv(%q) wrote:\n%s", e, data)
		}
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(after, before) {
		t.Errorf("a refused write changed the file:\n%s", after)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want only enroll.env (no temporary files left)", len(entries))
	}
}

func TestForgetToken(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "enroll.env")
	if err := installer.ForgetToken(p); err != nil {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ForgetToken created the file: %v", err)
	}

	if err := installer.WriteEnrollEnv(p, installer.EnrollEnv{Server: testServer, Token: "secret-token"}); err != nil {
		t.Fatal(err)
	}
	if err := installer.ForgetToken(p); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("secret-token")) {
		t.Errorf("the token is still in the file:\n%s", data)
	}
	if got, err := installer.ReadEnrollEnv(p); err != nil || got != (installer.EnrollEnv{Server: testServer}) {
		t.Errorf("after ForgetToken: %+v, %v; want the server only", got, err)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("after ForgetToken, mode %v, %v; want 0600", fi.Mode(), err)
		}
	}
	// Again: nothing to forget.
	if err := installer.ForgetToken(p); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(p); !bytes.Equal(again, data) {
		t.Errorf("a second ForgetToken changed the file")
	}

	// A hand-written file keeps working: comments and all.
	hand := writeFile(t, dir, "hand.env", "# IT\nexport CASEKEEP_SERVER='https://casekeep.example.gov.uk'\nCASEKEEP_ENROLL_TOKEN=t\n", 0o600)
	if err := installer.ForgetToken(hand); err != nil {
		t.Fatal(err)
	}
	if got, err := installer.ReadEnrollEnv(hand); err != nil || got != (installer.EnrollEnv{Server: testServer}) {
		t.Errorf("after ForgetToken on a hand-written file: %+v, %v", got, err)
	}

	// A token without a server: nothing worth keeping.
	only := writeFile(t, dir, "only.env", "CASEKEEP_ENROLL_TOKEN=t\n", 0o600)
	if err := installer.ForgetToken(only); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(only); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file with only a token was kept: %v", err)
	}

	// A bad file is an error, and is left alone.
	bad := writeFile(t, dir, "bad.env", "CASEKEEP_SERVER=ftp://x\nCASEKEEP_ENROLL_TOKEN=t\n", 0o600)
	if err := installer.ForgetToken(bad); !errors.Is(err, installer.ErrBadEnrollEnv) {
		t.Errorf("a bad file: %v, want ErrBadEnrollEnv", err)
	}
}

func FuzzParseEnrollEnv(f *testing.F) {
	for _, s := range []string{
		"",
		"CASEKEEP_SERVER=https://casekeep.example.gov.uk\nCASEKEEP_ENROLL_TOKEN=abc\n",
		"\ufeffexport CASEKEEP_SERVER='https://x.example'\r\nCASEKEEP_ENROLL_TOKEN=\"a'b\"\r\n",
		"# c\n\nCASEKEEP_SERVER=\"https://x/a\\\"b\"\n",
		"CASEKEEP_SERVER=\"https://h/\"x\"\"\nCASEKEEP_ENROLL_TOKEN='\"'\n",
		"CASEKEEP_SERVER=http://[::1]:80/%41\nOTHER=1\n",
		"CASEKEEP_SERVER=https://h/\u00a0\u2028\n",
		"CASEKEEP_SERVER https://x\n",
		"CASEKEEP_ENROLL_TOKEN=\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := installer.ParseEnrollEnv(data)
		if err != nil {
			if !errors.Is(err, installer.ErrBadEnrollEnv) {
				t.Fatalf("an error that is not ErrBadEnrollEnv: %v", err)
			}
			if e != (installer.EnrollEnv{}) {
				t.Fatalf("with the error, also %+v", e)
			}
			return
		}
		if e.Server == "" {
			return
		}
		if err := installer.CheckServerURL(e.Server); err != nil {
			t.Fatalf("parsed server %q fails CheckServerURL: %v", e.Server, err)
		}
		text := e.Format()
		back, err := installer.ParseEnrollEnv(text)
		if err != nil {
			t.Fatalf("Format of %+v does not parse: %v\n%s", e, err, text)
		}
		if back != e {
			t.Fatalf("Format of %+v parses back as %+v:\n%s", e, back, text)
		}
	})
}
