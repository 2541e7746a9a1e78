package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/policy"
)

// problems parses src and returns its problems; the source must be invalid.
func problems(t *testing.T, src string) []policy.Problem {
	t.Helper()
	_, err := policy.Parse([]byte(src))
	if err == nil {
		t.Fatalf("Parse accepted:\n%s", src)
	}
	if !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("error %v does not wrap ErrInvalid", err)
	}
	var ie *policy.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("error %T is not an *InvalidError", err)
	}
	return ie.Problems
}

// lintCases are invalid sources with the problem each must report. They
// also seed FuzzParse (testdata/fuzz/FuzzParse).
var lintCases = []struct {
	name string
	src  string
	line int
	path string
	msg  string
}{
	{"bad recipient", strings.Replace(validYAML, classicA, "age1notakey", 1), 9, "vault.escrow_recipients[0]", "not an age public key"},
	{"ssh key as recipient", strings.Replace(validYAML, classicA, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 1), 9, "vault.escrow_recipients[0]", "not an age public key"},
	{"private key as recipient", strings.Replace(validYAML, classicA, "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ", 1), 9, "vault.escrow_recipients[0]", "PRIVATE key"},
	{"mixed kinds", strings.Replace(validYAML, "    - "+classicA, "    - "+classicA+"\n    - "+hybridA, 1), 10, "vault.escrow_recipients[1]", "cannot mix post-quantum and classic"},
	{"repeated recipient", strings.Replace(validYAML, "    - "+classicA, "    - "+classicA+"\n    - "+classicA, 1), 10, "vault.escrow_recipients[1]", "repeats"},
	{"empty escrow list", strings.Replace(validYAML, "    - "+classicA, "    []", 1), 8, "vault.escrow_recipients", "is empty"},
	{"no escrow field", strings.Replace(validYAML, "  escrow_recipients:\n    - "+classicA+"\n", "", 1), 4, "vault.escrow_recipients", "is empty"},
	{"negative duration", validYAML + "offline:\n  unlock_window: -2h\n", 13, "offline.unlock_window", "must not be negative"},
	{"negative days", validYAML + "offline:\n  missing_after_days: -1\n", 13, "offline.missing_after_days", "must not be negative"},
	{"zero ttl", strings.Replace(validYAML, "vault:\n", "vault:\n  workspace_ttl: 0s\n", 1), 5, "vault.workspace_ttl", "longer than zero"},
	{"short interval", strings.Replace(validYAML, "interval: 5m", "interval: 29s", 1), 11, "heartbeat.interval", "shorter than the minimum of 30s"},
	{"jitter over interval", strings.Replace(validYAML, "interval: 5m", "interval: 1m\n  jitter: 1m", 1), 12, "heartbeat.jitter", "shorter than heartbeat.interval"},
	{"bad duration", strings.Replace(validYAML, "interval: 5m", "interval: 300", 1), 11, "heartbeat.interval", "not a duration"},
	{"bad regexp", strings.Replace(validYAML, "vault:\n", "vault:\n  case_ref_pattern: '^([A-Z'\n", 1), 5, "vault.case_ref_pattern", "does not compile"},
	{"relative linux path", strings.Replace(validYAML, "~/.cache/casekeep", "cache/casekeep", 1), 6, "vault.cache_paths.linux", "is relative"},
	{"relative windows path", strings.Replace(validYAML, `'%LOCALAPPDATA%\casekeep'`, `casekeep\cache`, 1), 7, "vault.cache_paths.windows", "is relative"},
	{"windows path on linux", strings.Replace(validYAML, "~/.cache/casekeep", `C:\cache`, 1), 6, "vault.cache_paths.linux", "is relative"},
	{"dotdot", strings.Replace(validYAML, "~/.cache/casekeep", "~/../../etc", 1), 6, "vault.cache_paths.linux", `".."`},
	{"home itself", strings.Replace(validYAML, "~/.cache/casekeep", "~/", 1), 6, "vault.cache_paths.linux", "folder of its own"},
	{"UNC path", strings.Replace(validYAML, `'%LOCALAPPDATA%\casekeep'`, `\\server\share\cache`, 1), 7, "vault.cache_paths.windows", "network"},
	{"unclosed variable", strings.Replace(validYAML, `'%LOCALAPPDATA%\casekeep'`, `'%LOCALAPPDATA\casekeep'`, 1), 7, "vault.cache_paths.windows", "closing"},
	{"tilde user", strings.Replace(validYAML, "~/.cache/casekeep", "~bob/cache", 1), 6, "vault.cache_paths.linux", "~name"},
	{"no cache path", strings.Replace(strings.Replace(validYAML, "    linux: ~/.cache/casekeep\n", "", 1), "    windows: '%LOCALAPPDATA%\\casekeep'\n", "", 1), 5, "vault.cache_paths", "at least one"},
	{"unknown top field", validYAML + "colour: red\n", 12, "colour", "not a known field of the top level"},
	{"unknown nested field", strings.Replace(validYAML, "  interval: 5m", "  interval: 5m\n  intervall: 6m", 1), 12, "heartbeat.intervall", "not a known field of heartbeat"},
	{"repeated field", validYAML + "name: Again\n", 12, "name", "set twice (first at line 2)"},
	{"version text", withVersion("four"), 1, "version", "whole number"},
	{"version float", withVersion("4.5"), 1, "version", "whole number"},
	{"version zero", withVersion("0"), 1, "version", "at least 1"},
	{"version missing", strings.Replace(validYAML, "version: 4\n", "", 1), 1, "version", "at least 1"},
	{"list for string", strings.Replace(validYAML, "name: Test policy", "name: [a, b]", 1), 2, "name", "single value"},
	{"string for mapping", strings.Replace(validYAML, "heartbeat:\n  interval: 5m", "heartbeat: often", 1), 10, "heartbeat", "mapping"},
	{"string for list", strings.Replace(validYAML, "    - "+classicA, "    "+classicA, 1), 9, "vault.escrow_recipients", "list"},
	{"bad action", validYAML + "storage:\n  removable_media:\n    action: allow\n", 14, "storage.removable_media.action", `"allow" is not one of audit, seal, block`},
	{"quarantine for removable", validYAML + "storage:\n  removable_media:\n    action: quarantine\n", 14, "storage.removable_media.action", "not one of"},
	{"bad vendor", validYAML + "storage:\n  removable_media:\n    allow:\n      - {vendor_id: '78', product_id: '5581', serial: '*'}\n", 15, "storage.removable_media.allow[0].vendor_id", "four hex digits"},
	{"missing serial", validYAML + "storage:\n  removable_media:\n    allow:\n      - {vendor_id: '0781', product_id: '5581'}\n", 15, "storage.removable_media.allow[0].serial", "is required"},
	{"relative sweep folder", validYAML + "storage:\n  sweep:\n    folders: [Downloads]\n", 14, "storage.sweep.folders[0]", "is relative"},
	{"bad sync provider", validYAML + "storage:\n  sync_folders:\n    approved: [{provider: dropbox2, account: example.gov.uk}]\n", 14, "storage.sync_folders.approved[0].provider", "not one of dropbox"},
	{"sync email", validYAML + "storage:\n  sync_folders:\n    approved: [{provider: onedrive, account: sam@example.gov.uk}]\n", 14, "storage.sync_folders.approved[0].account", "email address"},
	{"sync no account", validYAML + "storage:\n  sync_folders:\n    approved: [{provider: onedrive}]\n", 14, "storage.sync_folders.approved[0].account", "is required"},
	{"bad size", validYAML + "classify:\n  max_bytes: lots\n", 13, "classify.max_bytes", "not a size"},
	{"size too small", validYAML + "classify:\n  max_bytes: 100\n", 13, "classify.max_bytes", "must be between 4KiB and 64MiB"},
	{"size too large", validYAML + "classify:\n  max_bytes: 1024MiB\n", 13, "classify.max_bytes", "must be between 4KiB and 64MiB"},
	{"bad name pattern", validYAML + "classify:\n  name_pattern: '(?P<ref>['\n", 13, "classify.name_pattern", "does not compile"},
	{"bad path pattern", validYAML + "classify:\n  path_patterns: ['/ok/', '(']\n", 13, "classify.path_patterns[1]", "does not compile"},
	{"short marker", validYAML + "classify:\n  markers: [OK]\n", 13, "classify.markers[0]", "must be 3 to 200 characters"},
	{"blank marker", validYAML + "classify:\n  markers: ['      ']\n", 13, "classify.markers[0]", "must be 3 to 200"},
	{"repeated marker", validYAML + "classify:\n  markers: [Protect, PROTECT]\n", 13, "classify.markers[1]", "listed twice"},
	{"control marker", validYAML + "classify:\n  markers: [\"AB\\tCD\"]\n", 13, "classify.markers[0]", "control characters"},
	{"unknown check", validYAML + "checks:\n  required: [antivirus]\n", 13, "checks.required[0]", `"antivirus" is not a known check`},
	{"repeated check", validYAML + "checks:\n  required: [firewall, firewall]\n", 13, "checks.required[1]", "listed twice"},
	{"http endpoint", strings.Replace(validYAML, "interval: 5m", "interval: 5m\n  endpoint: http://casekeep.example.gov.uk", 1), 12, "heartbeat.endpoint", "https"},
	{"bad time", strings.Replace(validYAML, "2026-11-22T09:00:00Z", "22/11/2026", 1), 3, "issued_at", "RFC 3339"},
	{"debounce inverted", strings.Replace(validYAML, "vault:\n", "vault:\n  debounce: {quiet: 5s, max: 1s}\n", 1), 5, "vault.debounce.max", "shorter than vault.debounce.quiet"},
	{"control character", strings.Replace(validYAML, "name: Test policy", `name: "Test\u0007policy"`, 1), 2, "name", "control characters"},
	{"anchor", strings.Replace(validYAML, "name: Test policy", "name: &n Test policy\nx: *n", 1), 2, "name", "anchor"},
	{"tag", strings.Replace(validYAML, "name: Test policy", "name: !!binary dGVzdA==", 1), 2, "name", "tag"},
	{"unclosed flow list", strings.Replace(validYAML, "  interval: 5m", "  interval: [5m", 1), 11, "", "YAML syntax"},
	{"unclosed flow mapping", strings.Replace(validYAML, "name: Test policy", "name: {a: b", 1), 2, "", "YAML syntax"},
	{"bad indentation", strings.Replace(validYAML, "  interval: 5m", "  interval: 5m\n jitter: 1s", 1), 12, "", "YAML syntax"},
	{"tab indentation", strings.Replace(validYAML, "  interval: 5m", "\tinterval: 5m", 1), 11, "", "YAML syntax"},
	{"mapping in scalar", strings.Replace(validYAML, "name: Test policy", "name: a: b", 1), 2, "", "YAML syntax"},
	{"two documents", validYAML + "---\nversion: 5\n", 12, "", "second one"},
	{"empty", "", 1, "", "empty"},
	{"only a comment", "# nothing\n", 1, "", "empty"},
	{"not a mapping", "- a\n- b\n", 1, "", "mapping of fields"},
}

func TestLint(t *testing.T) {
	for _, c := range lintCases {
		t.Run(c.name, func(t *testing.T) {
			ps := problems(t, c.src)
			for _, p := range ps {
				if p.Line == c.line && p.Path == c.path && strings.Contains(p.Msg, c.msg) {
					return
				}
			}
			t.Errorf("want line %d: %s %q…; got:\n%s", c.line, c.path, c.msg, list(ps))
		})
	}
}

func list(ps []policy.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return b.String()
}

// TestLintEveryProblem checks that every problem is reported once, in line
// order, and that a value of the wrong kind is not reported a second time by
// the checks that run on the decoded value.
func TestLintEveryProblem(t *testing.T) {
	src := `version: three
name: Three mistakes
issued_at: 2026-11-22T09:00:00Z
vault:
  cache_paths:
    linux: relative/cache
  escrow_recipients: [` + classicA + `]
heartbeat:
  interval: 10s
`
	ps := problems(t, src)
	want := []struct {
		line int
		path string
	}{{1, "version"}, {6, "vault.cache_paths.linux"}, {9, "heartbeat.interval"}}
	if len(ps) != len(want) {
		t.Fatalf("want %d problems, got %d:\n%s", len(want), len(ps), list(ps))
	}
	for i, w := range want {
		if ps[i].Line != w.line || ps[i].Path != w.path {
			t.Errorf("problem %d = %s, want line %d %s", i, ps[i], w.line, w.path)
		}
	}
	if ps[0].Msg != `must be a whole number, not "three"` {
		t.Errorf("version problem says %q", ps[0].Msg)
	}
}

func TestLintLargeInput(t *testing.T) {
	src := validYAML + "# " + strings.Repeat("x", policy.MaxSourceSize) + "\n"
	ps := problems(t, src)
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, "larger than") {
		t.Errorf("got %s", list(ps))
	}
}
