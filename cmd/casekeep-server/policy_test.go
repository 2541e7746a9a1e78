package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/internal/cli"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(rootCommand(), args, strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

func example(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../policy/testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writePolicy writes the example policy with another version number.
func writePolicy(t *testing.T, dir, name string, version int) string {
	t.Helper()
	src := regexp.MustCompile(`(?m)^version: \d+`).ReplaceAll(example(t), []byte("version: "+strconv.Itoa(version)))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "a.key")
	r := run(t, "policy", "keygen", "--out", key).want(t, 0)
	if !strings.Contains(r.stdout, "key id ") {
		t.Errorf("stdout: %s", r.stdout)
	}
	for path, mode := range map[string]os.FileMode{key: 0o600, filepath.Join(dir, "a.pub"): 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
	before, _ := os.ReadFile(key)
	r = run(t, "policy", "keygen", "--out", key).want(t, 1)
	if !strings.Contains(r.stderr, "already exists") {
		t.Errorf("stderr: %s", r.stderr)
	}
	if after, _ := os.ReadFile(key); !bytes.Equal(before, after) {
		t.Error("keygen replaced an existing key")
	}
	// An existing .pub alone also stops it, and no private key is left behind.
	os.WriteFile(filepath.Join(dir, "b.pub"), []byte("x"), 0o644)
	run(t, "policy", "keygen", "--out", filepath.Join(dir, "b.key")).want(t, 1)
	if _, err := os.Stat(filepath.Join(dir, "b.key")); err == nil {
		t.Error("b.key written although b.pub existed")
	}
}

func TestLintThreeMistakes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	src := strings.NewReplacer(
		"version: 1 ", "version: one",
		"interval: 5m ", "interval: 10s",
		"~/.local/share/casekeep/cache", "casekeep/cache",
	).Replace(string(example(t)))
	os.WriteFile(path, []byte(src), 0o644)
	r := run(t, "policy", "lint", path).want(t, 1)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	// Three problem lines, then the summary.
	if len(lines) != 4 {
		t.Fatalf("stderr has %d lines, want 3 problems and a summary:\n%s", len(lines), r.stderr)
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:(\d+): `)
	lineOf := func(sub string) string {
		for i, l := range strings.Split(src, "\n") {
			if strings.Contains(l, sub) {
				return strconv.Itoa(i + 1)
			}
		}
		t.Fatalf("%q is not in the source", sub)
		return ""
	}
	wantLines := []string{lineOf("version: one"), lineOf("casekeep/cache"), lineOf("interval: 10s")}
	for i, l := range lines[:3] {
		m := re.FindStringSubmatch(l)
		if m == nil || m[1] != wantLines[i] {
			t.Errorf("line %d = %q, want it at line %s", i, l, wantLines[i])
		}
	}
	run(t, "policy", "lint", "../../policy/testdata/example.yaml").want(t, 0)
	run(t, "policy", "lint", filepath.Join(dir, "missing.yaml")).want(t, 1)
}

func TestSignVerifyShow(t *testing.T) {
	dir := t.TempDir()
	keyA, keyB := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	run(t, "policy", "keygen", "--out", keyA).want(t, 0)
	run(t, "policy", "keygen", "--out", keyB).want(t, 0)
	pubA, pubB := filepath.Join(dir, "a.pub"), filepath.Join(dir, "b.pub")

	v4 := writePolicy(t, dir, "v4.yaml", 4)
	bundle := filepath.Join(dir, "policy.bundle")
	r := run(t, "policy", "sign", v4, "--key", keyA, "--out", bundle).want(t, 0)
	hash := regexp.MustCompile(`sha256 ([0-9a-f]{64})`).FindStringSubmatch(r.stdout)
	if hash == nil {
		t.Fatalf("sign printed no hash: %s", r.stdout)
	}

	r = run(t, "policy", "verify", "--key", pubA, bundle).want(t, 0)
	if !strings.Contains(r.stdout, "version 4\n") || !strings.Contains(r.stdout, hash[1]) {
		t.Errorf("verify output: %s", r.stdout)
	}
	r = run(t, "policy", "verify", "--key", pubB, bundle).want(t, 1)
	if !strings.Contains(r.stderr, "another key") {
		t.Errorf("wrong key: %s", r.stderr)
	}

	// Every byte matters.
	data, _ := os.ReadFile(bundle)
	flipped := filepath.Join(dir, "flipped.bundle")
	for _, i := range []int{0, 30, 60, len(data) / 2, len(data) - 2} {
		c := bytes.Clone(data)
		c[i] ^= 0x04
		os.WriteFile(flipped, c, 0o644)
		run(t, "policy", "verify", "--key", pubA, flipped).want(t, 1)
	}

	// Rollback: version 3 after 4 is refused when signing over the bundle in
	// force, and when verifying against the version in force.
	v3 := writePolicy(t, dir, "v3.yaml", 3)
	r = run(t, "policy", "sign", "--key", keyA, "--out", bundle, v3).want(t, 1)
	if !strings.Contains(r.stderr, "rollback") {
		t.Errorf("re-signing v3 after v4: %s", r.stderr)
	}
	if after, _ := os.ReadFile(bundle); !bytes.Equal(after, data) {
		t.Error("the bundle in force was replaced by a rollback")
	}
	old := filepath.Join(dir, "v3.bundle")
	run(t, "policy", "sign", "--key", keyA, v3).want(t, 0) // default --out is v3.bundle
	r = run(t, "policy", "verify", "--key", pubA, "--in-force", "4", old).want(t, 1)
	if !strings.Contains(r.stderr, "rollback") {
		t.Errorf("verify v3 with 4 in force: %s", r.stderr)
	}
	// Signing over a bundle made by another key is refused too.
	run(t, "policy", "sign", "--key", keyB, "--out", bundle, writePolicy(t, dir, "v5.yaml", 5)).want(t, 1)

	// Show: YAML with defaults, and a bundle with and without --key.
	r = run(t, "policy", "show", v4).want(t, 0)
	if !strings.Contains(r.stdout, "workspace_ttl: 8h") || !strings.Contains(r.stdout, hash[1]) {
		t.Errorf("show yaml: %s", r.stdout)
	}
	r = run(t, "policy", "show", "--key", pubA, bundle).want(t, 0)
	if !strings.Contains(r.stdout, "version: 4") || r.stderr != "" {
		t.Errorf("show bundle: %s / %s", r.stdout, r.stderr)
	}
	r = run(t, "policy", "show", bundle).want(t, 0)
	if !strings.Contains(r.stderr, "not checked") {
		t.Errorf("show without --key gave no warning: %s", r.stderr)
	}
	run(t, "policy", "show", "--key", pubB, bundle).want(t, 1)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nonsense"},
		{"policy"},
		{"policy", "frobnicate"},
		{"policy", "sign", "x.yaml"}, // no --key
		{"policy", "sign", "--key", "k", "a", "b"}, // too many
		{"policy", "verify", "--nope", "x"},        // unknown flag
		{"policy", "verify", "--key", "k"},         // no bundle
		{"policy", "verify", "--key", "k", "--in-force", "-1", "b"},
		{"policy", "lint"},
	} {
		r := run(t, args...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 with a message", args, r.code, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"policy", "--help"}, {"policy", "help", "sign"},
		{"policy", "keygen", "--help"}, {"policy", "lint", "-h"}, {"policy", "sign", "--help"},
		{"policy", "verify", "--help"}, {"policy", "show", "--help"}, {"dev", "--help"},
	} {
		r := run(t, args...).want(t, 0)
		if !strings.HasPrefix(r.stdout, "Usage: casekeep-server") {
			t.Errorf("%q: help is %q", args, r.stdout)
		}
	}
	r := run(t, "policy", "sign", "--help").want(t, 0)
	if !strings.Contains(r.stdout, "--key FILE") || !strings.Contains(r.stdout, "rollback") {
		t.Errorf("sign --help: %s", r.stdout)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://ann:s3cret@db/casekeep":          "postgres://ann:%2A%2A%2A@db/casekeep",
		"postgres://db/casekeep?password=s3cret&x=1": "postgres://db/casekeep?password=%2A%2A%2A&x=1",
		"postgres://ann@db/casekeep":                 "postgres://ann@db/casekeep",
		"sqlite:/var/lib/x.db":                       "sqlite:/var/lib/x.db",
	} {
		if got := redact(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
