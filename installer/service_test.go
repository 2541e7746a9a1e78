package installer_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/installer"
	"github.com/casekeep/casekeep/internal/testenv"
)

// unitFile is a parsed unit: section name to key to values, in order.
type unitFile map[string]map[string][]string

// parseUnit reads a unit file's sections (systemd.syntax): comments start
// with # or ;, a line ending in a backslash continues on the next.
func parseUnit(t *testing.T, text string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			t.Fatalf("line %d continues on the next (not expected here): %q", n+1, line)
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				t.Fatalf("line %d: bad section header %q", n+1, line)
			}
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		if section == "" {
			t.Fatalf("line %d is outside any section: %q", n+1, line)
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %d is not KEY=VALUE: %q", n+1, line)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	return u
}

// one returns the single value of key in section.
func (u unitFile) one(t *testing.T, section, key string) string {
	t.Helper()
	vs := u[section][key]
	if len(vs) != 1 {
		t.Fatalf("[%s] %s: %d values %q, want 1", section, key, len(vs), vs)
	}
	return vs[0]
}

// systemdWords splits a setting's value into words as systemd's
// extract_first_word does with EXTRACT_UNQUOTE (whitespace separates words,
// quotes group, a backslash escapes the next character), and with
// EXTRACT_CUNESCAPE if cunescape (C escapes; only the ones a quoter would
// write are understood here, others are an error).
func systemdWords(s string, cunescape bool) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(s) && strings.IndexByte(" \t\n\r", s[i]) >= 0 {
			i++
		}
		if i == len(s) {
			return words, nil
		}
		var w strings.Builder
		var quote byte
	word:
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\':
				i++
				if i == len(s) {
					return nil, errors.New("trailing backslash")
				}
				c = s[i]
				if cunescape {
					switch c {
					case '\\', '"', '\'':
					case 'n':
						c = '\n'
					case 't':
						c = '\t'
					case 's':
						c = ' '
					default:
						return nil, fmt.Errorf("escape \\%c not understood by this test", c)
					}
				}
				w.WriteByte(c)
			case quote != 0 && c == quote:
				quote = 0
			case quote != 0:
				w.WriteByte(c)
			case c == '"' || c == '\'':
				quote = c
			case strings.IndexByte(" \t\n\r", c) >= 0:
				break word
			default:
				w.WriteByte(c)
			}
		}
		if quote != 0 {
			return nil, errors.New("unbalanced quotes")
		}
		words = append(words, w.String())
	}
}

// resolveSpecifiers expands "%%" and refuses any other specifier: the unit
// must not leave one that systemd would expand.
func resolveSpecifiers(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		return "", fmt.Errorf("%q holds a specifier at %d", s, i)
	}
	return b.String(), nil
}

// resolveVariables expands "$$" in an argument and refuses a variable.
func resolveVariables(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		return "", fmt.Errorf("%q holds a variable at %d", s, i)
	}
	return b.String(), nil
}

// execStart decodes ExecStart= as systemd does: the words (unquoted,
// C-unescaped), their specifiers, and the arguments' variables (the
// executable's path has none substituted).
func execStart(v string) (exe string, args []string, err error) {
	words, err := systemdWords(v, true)
	if err != nil {
		return "", nil, err
	}
	if len(words) == 0 {
		return "", nil, errors.New("empty command line")
	}
	for i, w := range words {
		if words[i], err = resolveSpecifiers(w); err != nil {
			return "", nil, err
		}
		if i > 0 {
			if words[i], err = resolveVariables(words[i]); err != nil {
				return "", nil, err
			}
		}
	}
	return words[0], words[1:], nil
}

// pathList decodes a space-separated list of paths (ReadWritePaths=), as
// systemd does: unquoted, no C escapes, then specifiers.
func pathList(v string) ([]string, error) {
	words, err := systemdWords(v, false)
	if err != nil {
		return nil, err
	}
	for i, w := range words {
		if words[i], err = resolveSpecifiers(w); err != nil {
			return nil, err
		}
	}
	return words, nil
}

// onlyLinux skips a test that runs systemd's tools, and uses Unix paths.
func onlyLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("systemd units are for Linux")
	}
}

func needSystemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Unavailable(t, "systemd-analyze is not installed (apt-get install systemd)")
	}
	return p
}

// verifyUnit writes unit as dir/<name>.service and runs systemd-analyze
// verify on it: it must pass and say nothing about the unit.
func verifyUnit(t *testing.T, dir, name, unit string) {
	t.Helper()
	sa := needSystemdAnalyze(t)
	path := filepath.Join(dir, name+".service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify %s: %v\n%s\nunit:\n%s", path, err, out, unit)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, name+".service") {
			t.Errorf("systemd-analyze verify warns: %s", line)
		}
	}
}

// conditionHolds evaluates a condition with systemd-analyze condition, as
// systemd would before starting the unit.
func conditionHolds(t *testing.T, cond string) bool {
	t.Helper()
	sa := needSystemdAnalyze(t)
	out, err := exec.Command(sa, "condition", cond).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return false
	}
	if err != nil {
		t.Fatalf("systemd-analyze condition %q: %v\n%s", cond, err, out)
	}
	return true
}

// executable makes an executable shell script at path.
func executable(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestSystemdUnit(t *testing.T) {
	onlyLinux(t)
	base := t.TempDir()
	def := installer.DefaultService()
	def.Exec = filepath.Join(base, "bin", "casekeep")
	def.State = filepath.Join(base, "var", "lib", "casekeep")

	// systemd runs no program whose path holds a quote or a backslash (see
	// TestSystemdUnitRefuses), but the state folder may hold them.
	odd := filepath.Join(base, `Program Files`, `case 100% $HOME *?;&|<~!`)
	hostile := installer.Service{
		Name:  "casekeep-test_1.x",
		Exec:  filepath.Join(odd, "case keep"),
		Args:  []string{"run", `--name="x y"`, "it's", `a\b`, `\"`, "$HOME", "${PATH}", "%h", "%%", ";", "", "  padded  ", "naïve"},
		State: filepath.Join(odd, `state 'q' "dq" back\slash`),
		// Rounded to whole seconds in the unit.
		StopTimeout: 25*time.Second + 400*time.Millisecond,
	}
	for _, tc := range []struct {
		name string
		svc  installer.Service
		stop string
	}{
		{"default", def, strconv.Itoa(int(installer.DefaultService().StopTimeout / time.Second))},
		{"hostile", hostile, "25"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.svc
			unit, err := installer.SystemdUnit(s)
			if err != nil {
				t.Fatal(err)
			}
			executable(t, s.Exec)
			verifyUnit(t, t.TempDir(), s.Name, unit)

			u := parseUnit(t, unit)
			for _, sec := range []string{"Unit", "Service", "Install"} {
				if u[sec] == nil {
					t.Fatalf("no [%s] section:\n%s", sec, unit)
				}
			}
			// The start limits are [Unit] settings: in [Service] systemd
			// ignores them (with a warning).
			for _, k := range []string{"StartLimitIntervalSec", "StartLimitBurst"} {
				if u.one(t, "Unit", k) == "" {
					t.Errorf("[Unit] %s is empty", k)
				}
				if _, ok := u["Service"][k]; ok {
					t.Errorf("%s is in [Service]", k)
				}
			}
			for k, want := range map[string]string{
				"Restart":         "always",
				"ProtectSystem":   "strict",
				"ProtectHome":     "read-only",
				"NoNewPrivileges": "yes",
				"PrivateTmp":      "yes",
				"LimitCORE":       "0",
				"TimeoutStopSec":  tc.stop,
			} {
				if got := u.one(t, "Service", k); got != want {
					t.Errorf("[Service] %s=%s, want %s", k, got, want)
				}
			}
			if caps := strings.Fields(u.one(t, "Service", "CapabilityBoundingSet")); len(caps) == 0 || !slices.Contains(caps, "CAP_SYS_ADMIN") {
				t.Errorf("CapabilityBoundingSet=%v", caps)
			}
			if got := u.one(t, "Install", "WantedBy"); got != "multi-user.target" {
				t.Errorf("WantedBy=%s", got)
			}

			exe, args, err := execStart(u.one(t, "Service", "ExecStart"))
			if err != nil {
				t.Fatalf("ExecStart: %v", err)
			}
			if exe != s.Exec || !slices.Equal(args, s.Args) {
				t.Errorf("ExecStart runs %q %q, want %q %q", exe, args, s.Exec, s.Args)
			}

			paths, err := pathList(u.one(t, "Service", "ReadWritePaths"))
			if err != nil {
				t.Fatalf("ReadWritePaths: %v", err)
			}
			for _, want := range []string{s.State, s.State + "-status"} {
				if !slices.Contains(paths, want) {
					t.Errorf("ReadWritePaths %q lacks %q", paths, want)
				}
			}

			// systemd takes the condition's path verbatim but for
			// specifiers: the unit must not be skipped for want of its
			// program.
			cond := "ConditionFileIsExecutable=" + u.one(t, "Unit", "ConditionFileIsExecutable")
			if !conditionHolds(t, cond) {
				t.Errorf("%s does not hold with the program in place", cond)
			}
			if err := os.Chmod(s.Exec, 0o644); err != nil {
				t.Fatal(err)
			}
			// Nor can root execute a file without an x bit.
			if conditionHolds(t, cond) {
				t.Errorf("%s holds for a program that is not executable", cond)
			}
		})
	}
}

func TestSystemdUnitRefuses(t *testing.T) {
	good := installer.Service{Name: "casekeep", Exec: "/usr/bin/casekeep", Args: []string{"run"}, State: "/var/lib/casekeep", StopTimeout: time.Second}
	if _, err := installer.SystemdUnit(good); err != nil {
		t.Fatalf("the good service: %v", err)
	}
	if _, err := installer.LaunchdPlist(good); err != nil {
		t.Fatalf("the good service: %v", err)
	}
	cases := map[string]func(*installer.Service){
		"newline in Exec":        func(s *installer.Service) { s.Exec = "/usr/bin/case\nExecStartPre=/bin/sh" },
		"CR in Exec":             func(s *installer.Service) { s.Exec = "/usr/bin/case\rkeep" },
		"NUL in Exec":            func(s *installer.Service) { s.Exec = "/usr/bin/case\x00keep" },
		"template in Exec":       func(s *installer.Service) { s.Exec = "/usr/bin/{{.Name}}" },
		"control char in Exec":   func(s *installer.Service) { s.Exec = "/usr/bin/case\x1bkeep" },
		"invalid UTF-8 in Exec":  func(s *installer.Service) { s.Exec = "/usr/bin/case\xffkeep" },
		"relative Exec":          func(s *installer.Service) { s.Exec = "casekeep" },
		"dot-relative Exec":      func(s *installer.Service) { s.Exec = "./bin/casekeep" },
		"empty Exec":             func(s *installer.Service) { s.Exec = "" },
		"newline in an arg":      func(s *installer.Service) { s.Args = []string{"run", "x\n[Service]\nUser=nobody"} },
		"NUL in an arg":          func(s *installer.Service) { s.Args = []string{"run\x00"} },
		"template in an arg":     func(s *installer.Service) { s.Args = []string{"{{ .Path }}"} },
		"tab in an arg":          func(s *installer.Service) { s.Args = []string{"a\tb"} },
		"newline in State":       func(s *installer.Service) { s.State = "/var/lib/x\nReadWritePaths=/" },
		"relative State":         func(s *installer.Service) { s.State = "var/lib/casekeep" },
		"empty name":             func(s *installer.Service) { s.Name = "" },
		"name with a space":      func(s *installer.Service) { s.Name = "case keep" },
		"name with a slash":      func(s *installer.Service) { s.Name = "../casekeep" },
		"name with a newline":    func(s *installer.Service) { s.Name = "casekeep\n" },
		"name with an at":        func(s *installer.Service) { s.Name = "casekeep@x" },
		"non-ASCII name":         func(s *installer.Service) { s.Name = "casékeep" },
		"zero StopTimeout":       func(s *installer.Service) { s.StopTimeout = 0 },
		"negative StopTimeout":   func(s *installer.Service) { s.StopTimeout = -time.Second },
		"template in State":      func(s *installer.Service) { s.State = "/var/{{.}}" },
		"DEL in an arg":          func(s *installer.Service) { s.Args = []string{"a\x7fb"} },
		"noncharacter in an arg": func(s *installer.Service) { s.Args = []string{"a\uffffb"} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := good
			s.Args = slices.Clone(good.Args)
			mutate(&s)
			if unit, err := installer.SystemdUnit(s); err == nil {
				t.Errorf("SystemdUnit accepted %+v:\n%s", s, unit)
			}
			if plist, err := installer.LaunchdPlist(s); err == nil {
				t.Errorf("LaunchdPlist accepted %+v:\n%s", s, plist)
			}
		})
	}
	for _, exe := range []string{`/opt/"case"/casekeep`, `/opt/o'brien/casekeep`, `/opt/back\slash/casekeep`} {
		s := good
		s.Exec = exe
		if unit, err := installer.SystemdUnit(s); err == nil {
			t.Errorf("SystemdUnit accepted Exec %q, which systemd refuses to run:\n%s", exe, unit)
		}
	}
	t.Run("no state folder", func(t *testing.T) {
		s := good
		s.State = ""
		if _, err := installer.SystemdUnit(s); err == nil {
			t.Error("SystemdUnit accepted a service without a state folder")
		}
	})
}

func TestWritableDropIn(t *testing.T) {
	onlyLinux(t)
	base := t.TempDir()
	s := installer.DefaultService()
	s.Name = "casekeep-dropin"
	s.Exec = filepath.Join(base, "casekeep")
	s.State = filepath.Join(base, "state")
	executable(t, s.Exec)
	unit, err := installer.SystemdUnit(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/home/jo/OneDrive - Council/Case Files",
		"/home/o'brien/100% done",
		`/home/x/"quoted" back\slash $HOME`,
		"/home/plain",
	}
	in := append(slices.Clone(want), "/home/evil\n[Service]\nExecStartPre=/bin/sh", "/home/nul\x00")
	dropIn := installer.WritableDropIn(in)
	u := parseUnit(t, dropIn)
	var got []string
	for _, v := range u["Service"]["ReadWritePaths"] {
		ps, err := pathList(v)
		if err != nil {
			t.Fatalf("ReadWritePaths=%s: %v", v, err)
		}
		for _, p := range ps {
			p, ok := strings.CutPrefix(p, "-")
			if !ok {
				t.Errorf("%q is not optional ('-'): a missing folder would stop the service", p)
			}
			got = append(got, p)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("the drop-in makes %q writable, want %q:\n%s", got, want, dropIn)
	}
	if len(u) != 1 || len(u["Service"]) != 1 {
		t.Errorf("the drop-in sets more than ReadWritePaths:\n%s", dropIn)
	}
	// systemd reads a drop-in as more of the unit: the unit with it must
	// still verify without a word.
	verifyUnit(t, t.TempDir(), s.Name, unit+dropIn)
}

// plistValue is a property-list value: string, bool, int or []string.
type plistValue any

// parsePlist reads the top-level dict of a property list with encoding/xml
// (strict: a stray '&' or '<' is an error).
func parsePlist(t *testing.T, text string) map[string]plistValue {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(text))
	d.Strict = true
	next := func() xml.StartElement {
		t.Helper()
		for {
			tok, err := d.Token()
			if err != nil {
				t.Fatalf("plist: %v\n%s", err, text)
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				return tok
			case xml.EndElement:
				if tok.Name.Local == "dict" {
					return xml.StartElement{}
				}
			}
		}
	}
	text1 := func(name string) string {
		t.Helper()
		var s string
		if err := d.DecodeElement(&s, &xml.StartElement{Name: xml.Name{Local: name}}); err != nil {
			t.Fatalf("plist <%s>: %v", name, err)
		}
		return s
	}
	if e := next(); e.Name.Local != "plist" {
		t.Fatalf("root element %q, want plist", e.Name.Local)
	}
	if e := next(); e.Name.Local != "dict" {
		t.Fatalf("plist holds %q, want dict", e.Name.Local)
	}
	out := map[string]plistValue{}
	for {
		k := next()
		if k.Name.Local == "" {
			break
		}
		if k.Name.Local != "key" {
			t.Fatalf("dict holds <%s> where a <key> should be", k.Name.Local)
		}
		key := text1("key")
		v := next()
		switch v.Name.Local {
		case "string":
			out[key] = text1("string")
		case "integer":
			n, err := strconv.Atoi(text1("integer"))
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			out[key] = n
		case "true", "false":
			out[key] = v.Name.Local == "true"
			if err := d.Skip(); err != nil {
				t.Fatal(err)
			}
		case "array":
			var arr struct {
				Strings []string `xml:"string"`
				Other   []struct {
					XMLName xml.Name
				} `xml:",any"`
			}
			if err := d.DecodeElement(&arr, &v); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if len(arr.Other) > 0 {
				t.Fatalf("%s: the array holds <%s>", key, arr.Other[0].XMLName.Local)
			}
			out[key] = arr.Strings
		default:
			t.Fatalf("%s: unexpected <%s>", key, v.Name.Local)
		}
	}
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after the dict: %v", err)
		}
	}
	return out
}

func TestLaunchdPlist(t *testing.T) {
	for _, s := range []installer.Service{
		{Name: "casekeep", Exec: "/usr/local/bin/casekeep", Args: []string{"run"}, State: "/Library/Application Support/casekeep/state", StopTimeout: 25 * time.Second},
		{
			Name: "casekeep-test", Exec: `/Applications/Case & Keep <beta>/"q" 'a'/casekeep`,
			Args:        []string{"run", "<script>", "a&b", "&amp;", `"double"`, "'single'", "]]>", "<!-- x -->", "", "café ✓", "$HOME %h"},
			StopTimeout: 1500 * time.Millisecond,
		},
	} {
		t.Run(s.Name, func(t *testing.T) {
			text, err := installer.LaunchdPlist(s)
			if err != nil {
				t.Fatal(err)
			}
			p := parsePlist(t, text)
			if got, want := p["Label"], installer.LaunchdLabel(s.Name); got != want {
				t.Errorf("Label=%v, want %v", got, want)
			}
			if installer.LaunchdLabel(s.Name) != "uk.casekeep."+s.Name {
				t.Errorf("LaunchdLabel(%q)=%q", s.Name, installer.LaunchdLabel(s.Name))
			}
			for _, k := range []string{"RunAtLoad", "KeepAlive"} {
				if p[k] != true {
					t.Errorf("%s=%v, want true", k, p[k])
				}
			}
			want := append([]string{s.Exec}, s.Args...)
			if got, _ := p["ProgramArguments"].([]string); !slices.Equal(got, want) {
				t.Errorf("ProgramArguments=%q, want %q", got, want)
			}
			if got, want := p["ExitTimeOut"], int(s.StopTimeout.Round(time.Second)/time.Second); got != want {
				t.Errorf("ExitTimeOut=%v, want %v", got, want)
			}
		})
	}
}

func TestDefaultService(t *testing.T) {
	s := installer.DefaultService()
	l := installer.Default()
	if s.Name != "casekeep" || s.Exec != l.Program || s.State != l.State || !slices.Equal(s.Args, []string{"run"}) || s.StopTimeout <= 0 {
		t.Errorf("DefaultService()=%+v, layout %+v", s, l)
	}
}
