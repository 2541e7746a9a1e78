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

	"github.com/casekeep/casekeep/internal/cli/clitest"
)

func run(t *testing.T, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(rootCommand(), args...)
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
	r := run(t, "policy", "keygen", "--out", key).Want(t, 0)
	if !strings.Contains(r.Stdout, "key id ") {
		t.Errorf("stdout: %s", r.Stdout)
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
	r = run(t, "policy", "keygen", "--out", key).Want(t, 1)
	if !strings.Contains(r.Stderr, "already exists") {
		t.Errorf("stderr: %s", r.Stderr)
	}
	if after, _ := os.ReadFile(key); !bytes.Equal(before, after) {
		t.Error("keygen replaced an existing key")
	}
	// An existing .pub alone also stops it, and no private key is left behind.
	os.WriteFile(filepath.Join(dir, "b.pub"), []byte("x"), 0o644)
	run(t, "policy", "keygen", "--out", filepath.Join(dir, "b.key")).Want(t, 1)
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
	r := run(t, "policy", "lint", path).Want(t, 1)
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	// Three problem lines, then the summary.
	if len(lines) != 4 {
		t.Fatalf("stderr has %d lines, want 3 problems and a summary:\n%s", len(lines), r.Stderr)
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
	run(t, "policy", "lint", "../../policy/testdata/example.yaml").Want(t, 0)
	run(t, "policy", "lint", filepath.Join(dir, "missing.yaml")).Want(t, 1)
}

func TestSignVerifyShow(t *testing.T) {
	dir := t.TempDir()
	keyA, keyB := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	run(t, "policy", "keygen", "--out", keyA).Want(t, 0)
	run(t, "policy", "keygen", "--out", keyB).Want(t, 0)
	pubA, pubB := filepath.Join(dir, "a.pub"), filepath.Join(dir, "b.pub")

	v4 := writePolicy(t, dir, "v4.yaml", 4)
	bundle := filepath.Join(dir, "policy.bundle")
	r := run(t, "policy", "sign", v4, "--key", keyA, "--out", bundle).Want(t, 0)
	hash := regexp.MustCompile(`sha256 ([0-9a-f]{64})`).FindStringSubmatch(r.Stdout)
	if hash == nil {
		t.Fatalf("sign printed no hash: %s", r.Stdout)
	}

	r = run(t, "policy", "verify", "--key", pubA, bundle).Want(t, 0)
	if !strings.Contains(r.Stdout, "version 4\n") || !strings.Contains(r.Stdout, hash[1]) {
		t.Errorf("verify output: %s", r.Stdout)
	}
	r = run(t, "policy", "verify", "--key", pubB, bundle).Want(t, 1)
	if !strings.Contains(r.Stderr, "another key") {
		t.Errorf("wrong key: %s", r.Stderr)
	}

	// Every byte matters.
	data, _ := os.ReadFile(bundle)
	flipped := filepath.Join(dir, "flipped.bundle")
	for _, i := range []int{0, 30, 60, len(data) / 2, len(data) - 2} {
		c := bytes.Clone(data)
		c[i] ^= 0x04
		os.WriteFile(flipped, c, 0o644)
		run(t, "policy", "verify", "--key", pubA, flipped).Want(t, 1)
	}

	// Rollback: version 3 after 4 is refused when signing over the bundle in
	// force, and when verifying against the version in force.
	v3 := writePolicy(t, dir, "v3.yaml", 3)
	r = run(t, "policy", "sign", "--key", keyA, "--out", bundle, v3).Want(t, 1)
	if !strings.Contains(r.Stderr, "rollback") {
		t.Errorf("re-signing v3 after v4: %s", r.Stderr)
	}
	if after, _ := os.ReadFile(bundle); !bytes.Equal(after, data) {
		t.Error("the bundle in force was replaced by a rollback")
	}
	old := filepath.Join(dir, "v3.bundle")
	run(t, "policy", "sign", "--key", keyA, v3).Want(t, 0) // default --out is v3.bundle
	r = run(t, "policy", "verify", "--key", pubA, "--in-force", "4", old).Want(t, 1)
	if !strings.Contains(r.Stderr, "rollback") {
		t.Errorf("verify v3 with 4 in force: %s", r.Stderr)
	}
	// Signing over a bundle made by another key is refused too.
	run(t, "policy", "sign", "--key", keyB, "--out", bundle, writePolicy(t, dir, "v5.yaml", 5)).Want(t, 1)

	// Show: YAML with defaults, and a bundle with and without --key.
	r = run(t, "policy", "show", v4).Want(t, 0)
	if !strings.Contains(r.Stdout, "workspace_ttl: 8h") || !strings.Contains(r.Stdout, hash[1]) {
		t.Errorf("show yaml: %s", r.Stdout)
	}
	r = run(t, "policy", "show", "--key", pubA, bundle).Want(t, 0)
	if !strings.Contains(r.Stdout, "version: 4") || r.Stderr != "" {
		t.Errorf("show bundle: %s / %s", r.Stdout, r.Stderr)
	}
	r = run(t, "policy", "show", bundle).Want(t, 0)
	if !strings.Contains(r.Stderr, "not checked") {
		t.Errorf("show without --key gave no warning: %s", r.Stderr)
	}
	run(t, "policy", "show", "--key", pubB, bundle).Want(t, 1)
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
		if r.Code != 2 || r.Stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 with a message", args, r.Code, r.Stderr)
		}
	}
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"policy", "--help"}, {"policy", "help", "sign"},
		{"policy", "keygen", "--help"}, {"policy", "lint", "-h"}, {"policy", "sign", "--help"},
		{"policy", "verify", "--help"}, {"policy", "show", "--help"}, {"dev", "--help"},
	} {
		r := run(t, args...).Want(t, 0)
		if !strings.HasPrefix(r.Stdout, "Usage: casekeep-server") {
			t.Errorf("%q: help is %q", args, r.Stdout)
		}
	}
	r := run(t, "policy", "sign", "--help").Want(t, 0)
	if !strings.Contains(r.Stdout, "--key FILE") || !strings.Contains(r.Stdout, "rollback") {
		t.Errorf("sign --help: %s", r.Stdout)
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
