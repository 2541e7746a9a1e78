package policy_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/canonical")

var validFiles = []string{"example.yaml", "minimal.yaml", "classic.yaml"}

func TestExamplesValidate(t *testing.T) {
	for _, name := range validFiles {
		p, err := policy.Parse(readFile(t, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := policy.Validate(p); err != nil {
			t.Errorf("%s: Validate after Parse: %v", name, err)
		}
	}
}

func TestExampleFields(t *testing.T) {
	p := mustParse(t, string(readFile(t, "example.yaml")))
	if p.Version != 1 || p.Storage.RemovableMedia.Action != policy.ActionBlock || !p.Vault.PostQuantum() {
		t.Errorf("version %d, removable action %q, post-quantum %v", p.Version, p.Storage.RemovableMedia.Action, p.Vault.PostQuantum())
	}
	if got := p.Vault.CaseRef("LL-123456/court report.docx"); got != "LL-123456" {
		t.Errorf("CaseRef = %q", got)
	}
	if p.Heartbeat.Interval != 5*time.Minute || p.Heartbeat.Jitter != 30*time.Second || p.Offline.UnlockWindow != 72*time.Hour {
		t.Errorf("heartbeat %v/%v, unlock window %v", p.Heartbeat.Interval, p.Heartbeat.Jitter, p.Offline.UnlockWindow)
	}
	if len(p.Checks) != 3 || p.Checks[0] != policy.CheckDiskEncryption {
		t.Errorf("checks %v", p.Checks)
	}
	k := p.Classify
	if k.MaxBytes != 1<<20 || k.NamePattern == nil || !k.NamePattern.MatchString("LL-123456 court report.docx") ||
		len(k.PathPatterns) != 1 || !k.PathPatterns[0].MatchString("/home/sam/Case Exports/a.csv") ||
		strings.Join(k.Markers, "|") != "OFFICIAL-SENSITIVE|CASEMGMT-EXPORT v2" {
		t.Errorf("classify = %+v", k)
	}
	// Sizes take units; the canonical form keeps the largest exact one.
	for in, want := range map[string]int64{"65536": 65536, "512KiB": 512 << 10, "4MiB": 4 << 20, "4MB": 4 << 20, "5000B": 5000} {
		q := mustParse(t, validYAML+"classify:\n  max_bytes: "+in+"\n")
		if q.Classify.MaxBytes != want {
			t.Errorf("max_bytes %s = %d, want %d", in, q.Classify.MaxBytes, want)
		}
		if r, err := policy.Decode(policy.Canonical(q)); err != nil || r.Classify.MaxBytes != want {
			t.Errorf("max_bytes %s after a canonical round trip: %v, %v", in, r, err)
		}
	}
}

func TestDefaults(t *testing.T) {
	p := mustParse(t, string(readFile(t, "minimal.yaml")))
	checks := []struct {
		name      string
		got, want any
	}{
		{"workspace_ttl", p.Vault.WorkspaceTTL, 8 * time.Hour},
		{"debounce.quiet", p.Vault.Debounce.Quiet, 150 * time.Millisecond},
		{"debounce.max", p.Vault.Debounce.Max, 2 * time.Second},
		{"interval", p.Heartbeat.Interval, 5 * time.Minute},
		{"jitter", p.Heartbeat.Jitter, 30 * time.Second},
		{"missing_after_days", p.Offline.MissingAfterDays, 30},
		{"unlock_window", p.Offline.UnlockWindow, 72 * time.Hour},
		{"removable action", p.Storage.RemovableMedia.Action, policy.ActionAudit},
		{"sync action", p.Storage.SyncFolders.Action, policy.ActionAudit},
		{"sweep action", p.Storage.Sweep.Action, policy.ActionQuarantine},
		{"sweep folders", strings.Join(p.Storage.Sweep.Folders, ","), "~/Downloads,~/Desktop"},
		{"checks", len(p.Checks), 1},
		{"classify max_bytes", p.Classify.MaxBytes, int64(1 << 20)},
		{"classify markers", strings.Join(p.Classify.Markers, ","), "OFFICIAL-SENSITIVE"},
		{"classify name pattern", p.Classify.NamePattern == nil, true},
		{"classify path patterns", len(p.Classify.PathPatterns), 0},
		{"case ref", p.Vault.CaseRef("AB-1/x.docx"), "AB-1"},
		{"issued_at", p.IssuedAt, time.Date(2026, 1, 5, 7, 30, 0, 0, time.UTC)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// An explicitly empty list is not replaced by the default.
	p = mustParse(t, string(readFile(t, "classic.yaml")))
	if len(p.Storage.Sweep.Folders) != 0 {
		t.Errorf("folders: [] became %v", p.Storage.Sweep.Folders)
	}
}

func TestCanonicalGolden(t *testing.T) {
	for _, name := range validFiles {
		p := mustParse(t, string(readFile(t, name)))
		got := policy.Canonical(p)
		golden := filepath.Join("testdata", "canonical", strings.TrimSuffix(name, ".yaml")+".json")
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./policy -run Golden -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: canonical encoding changed; signatures over old bundles still verify, but the hash of the same policy would differ.\ngot:  %s\nwant: %s", name, got, want)
		}
	}
}

// TestCanonicalSamePolicy writes one policy two ways: different key order,
// flow and block style, comments, spellings of durations, time zone, case
// of ids and order of the checks. The encodings must be identical.
func TestCanonicalSamePolicy(t *testing.T) {
	a := `version: 9
name: Same
issued_at: 2026-05-01T10:00:00+01:00
vault:
  cache_paths: {linux: /srv/cache}
  escrow_recipients: [` + classicA + `]
  workspace_ttl: 1d
  debounce: {quiet: 200ms, max: 3s}
storage:
  removable_media:
    allow: [{vendor_id: "ABCD", product_id: "12*", serial: "*"}]
heartbeat: {interval: 300s, jitter: 0.5m}
checks: {required: [firewall, disk_encryption]}
`
	b := `# a comment
checks:
  required:
    - disk_encryption
    - firewall
heartbeat:
  jitter: 30s
  interval: 5m
storage:
  removable_media:
    action: audit
    allow:
      - serial: "*"
        product_id: "12*"
        vendor_id: abcd
vault:
  debounce:
    max: 3000ms
    quiet: 0.2s
  workspace_ttl: 24h
  escrow_recipients:
    - ` + classicA + `
  cache_paths:
    linux: /srv/cache
issued_at: 2026-05-01T09:00:00Z
name: "Same"
version: 9
`
	ca := policy.Canonical(mustParse(t, a))
	cb := policy.Canonical(mustParse(t, b))
	if !bytes.Equal(ca, cb) {
		t.Errorf("same policy, different bytes:\n%s\n%s", ca, cb)
	}
	// And a real change gives different bytes.
	c := strings.Replace(a, "version: 9", "version: 10", 1)
	if bytes.Equal(ca, policy.Canonical(mustParse(t, c))) {
		t.Error("a different version has the same canonical bytes")
	}
}

func TestRoundTrips(t *testing.T) {
	for _, name := range validFiles {
		p := mustParse(t, string(readFile(t, name)))
		canon := policy.Canonical(p)

		q, err := policy.Decode(canon)
		if err != nil {
			t.Fatalf("%s: Decode(Canonical): %v", name, err)
		}
		if !bytes.Equal(policy.Canonical(q), canon) {
			t.Errorf("%s: canonical → Decode → canonical changed the bytes", name)
		}
		if q.Hash() != p.Hash() {
			t.Errorf("%s: hash changed over a round trip", name)
		}

		r, err := policy.Parse(policy.MarshalYAML(p))
		if err != nil {
			t.Fatalf("%s: Parse(MarshalYAML): %v\n%s", name, err, policy.MarshalYAML(p))
		}
		if !bytes.Equal(policy.Canonical(r), canon) {
			t.Errorf("%s: MarshalYAML → Parse changed the policy:\n%s", name, policy.MarshalYAML(p))
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	canon := policy.Canonical(mustParse(t, validYAML))
	cases := map[string][]byte{
		"empty":            nil,
		"not JSON":         []byte("version: 4\n"),
		"extra space":      bytes.Replace(canon, []byte(`"version":4`), []byte(`"version": 4`), 1),
		"no newline":       bytes.TrimSuffix(canon, []byte("\n")),
		"unknown field":    bytes.Replace(canon, []byte(`{"version":4`), []byte(`{"colour":"red","version":4`), 1),
		"trailing data":    append(append([]byte{}, canon...), "{}"...),
		"default left out": bytes.Replace(canon, []byte(`"workspace_ttl":"8h",`), nil, 1),
	}
	for name, b := range cases {
		if _, err := policy.Decode(b); !errors.Is(err, policy.ErrMalformed) {
			t.Errorf("%s: Decode error = %v, want ErrMalformed", name, err)
		}
	}
	invalid := bytes.Replace(canon, []byte(`"interval":"5m"`), []byte(`"interval":"5s"`), 1)
	if _, err := policy.Decode(invalid); !errors.Is(err, policy.ErrInvalid) {
		t.Errorf("invalid policy in canonical form: Decode error = %v, want ErrInvalid", err)
	}
}

func TestCaseRef(t *testing.T) {
	cases := []struct {
		pattern, path, want string
	}{
		{`^(?P<ref>[A-Z]{2}-\d{6})/`, "LL-123456/a.docx", "LL-123456"},
		{`^(?P<ref>[A-Z]{2}-\d{6})/`, "misc/a.docx", ""},
		{`^(?P<ref>[A-Z]{2}-\d{6})/`, "LL-123456.docx", ""},
		{`(\d+)-(?P<ref>[A-Z]+)`, "x/12-AB.pdf", "AB"},                    // named group wins
		{`case-(\d+)`, "team/case-42/notes.txt", "42"},                    // first group
		{`[A-Z]{3}\d{3}`, "in/ABC123 report.pdf", "ABC123"},               // whole match
		{`^(?P<ref>[^/]+)/`, "Ünïcödé/ñ.txt", "Ünïcödé"},                  // the default
		{`^(?P<ref>[^/]+)/`, "loose-file.txt", ""},                        // not in a folder
		{`^(?P<ref>[^/]+)/`, "a/b/c/d.txt", "a"},                          // nested
		{`(?i)^(?P<ref>ll-\d+)/`, "Ll-9/x", "Ll-9"},                       // flags work
		{`^(?P<ref>[A-Z]{2}-\d{6})/`, "LL-123456/../../etc", "LL-123456"}, // the pattern only reads
	}
	for _, c := range cases {
		src := strings.Replace(validYAML, "vault:\n", "vault:\n  case_ref_pattern: '"+c.pattern+"'\n", 1)
		p := mustParse(t, src)
		if got := p.Vault.CaseRef(c.path); got != c.want {
			t.Errorf("pattern %q on %q = %q, want %q", c.pattern, c.path, got, c.want)
		}
	}
}
