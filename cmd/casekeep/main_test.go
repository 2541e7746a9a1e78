package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/internal/cli/clitest"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/policy"
)

var binary string // the casekeep binary, built once

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "casekeep-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "casekeep")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building casekeep: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup is a policy (YAML and signed bundle) with a fresh escrow key, and
// folders for the agent.
type setup struct {
	dir, cache, state string
	yaml, bundle, pub string
	escrow            *age.X25519Identity
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	dir := t.TempDir()
	escrow, _ := age.GenerateX25519Identity()
	s := &setup{dir: dir, cache: filepath.Join(dir, "cache"), state: filepath.Join(dir, "state"), escrow: escrow,
		yaml: filepath.Join(dir, "policy.yaml"), bundle: filepath.Join(dir, "policy.bundle"), pub: filepath.Join(dir, "policy.pub")}
	src := fmt.Sprintf(`version: 3
name: test
issued_at: 2026-11-22T09:00:00Z
vault:
  cache_paths: {linux: %[1]s, macos: %[1]s, windows: 'C:\casekeep-test'}
  escrow_recipients: [%[2]s]
  debounce: {quiet: 100ms, max: 1s}
`, filepath.ToSlash(filepath.Join(dir, "policy-cache")), escrow.Recipient())
	os.WriteFile(s.yaml, []byte(src), 0o644)
	p, err := policy.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	b, err := policy.Sign(p, priv)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.bundle, b, 0o644)
	os.WriteFile(s.pub, policy.MarshalPublicKey(pub), 0o644)
	return s
}

func (s *setup) flags() []string {
	return []string{"--policy", s.yaml, "--state", s.state, "--cache", s.cache}
}

func run(t *testing.T, args ...string) clitest.Result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return clitest.Result{Code: code, Stdout: out.String(), Stderr: errOut.String()}
}

// agentProc is a running `casekeep run`.
type agentProc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	log bytes.Buffer
}

func (a *agentProc) Write(b []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.Write(b)
}

func (a *agentProc) logText() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{}
	// --home keeps the agent out of the real home folders of the machine
	// running the tests (as root it would look after every user's).
	a.cmd = exec.Command(binary, append([]string{"run", "--home", t.TempDir()}, args...)...)
	a.cmd.Stdout, a.cmd.Stderr = a, a
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
			a.cmd.Wait()
		}
	})
	return a
}

// stop sends SIGTERM and returns the exit code.
func (a *agentProc) stop(t *testing.T) int {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not stop on SIGTERM\n%s", a.logText())
		return -1
	}
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func decrypt(t *testing.T, path string, id age.Identity) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := age.Decrypt(f, id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	return string(b)
}

func TestRunSealsAndStops(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is Unix")
	}
	s := newSetup(t)
	os.MkdirAll(filepath.Join(s.cache, "LL-1"), 0o755)
	os.WriteFile(filepath.Join(s.cache, "LL-1", "before.docx"), []byte("there before the agent"), 0o644)
	a := startAgent(t, s.flags()...)
	testenv.Eventually(t, "the file already there sealed", func() bool {
		return exists(filepath.Join(s.cache, "LL-1", "before.docx.age")) && !exists(filepath.Join(s.cache, "LL-1", "before.docx"))
	})

	os.MkdirAll(filepath.Join(s.cache, "LL-2", "court"), 0o755)
	os.WriteFile(filepath.Join(s.cache, "LL-2", "court", "report.pdf"), []byte("written while it runs"), 0o644)
	// The sealed file is linked into place a moment before the plaintext goes.
	testenv.Eventually(t, "the new file sealed and its plaintext gone", func() bool {
		return exists(filepath.Join(s.cache, "LL-2", "court", "report.pdf.age")) && !exists(filepath.Join(s.cache, "LL-2", "court", "report.pdf"))
	})
	if got := decrypt(t, filepath.Join(s.cache, "LL-2", "court", "report.pdf.age"), s.escrow); got != "written while it runs" {
		t.Errorf("decrypts to %q", got)
	}

	// ls and verify work while the agent runs.
	var entries []struct {
		Path    string `json:"path"`
		CaseRef string `json:"case_ref"`
		Size    int64  `json:"size"`
	}
	// The index is written in batches, a moment after the folder.
	testenv.Eventually(t, "both files in the index", func() bool {
		r := run(t, "ls", "--state", s.state, "--json").Want(t, 0)
		if err := json.Unmarshal([]byte(r.Stdout), &entries); err != nil {
			t.Fatalf("ls --json: %v\n%s", err, r.Stdout)
		}
		return len(entries) == 2
	})
	if len(entries) != 2 || entries[0].Path != "LL-1/before.docx.age" || entries[0].CaseRef != "LL-1" || entries[1].Size != 21 {
		t.Errorf("ls --json: %+v", entries)
	}
	r := run(t, "ls", "--state", s.state).Want(t, 0)
	if !strings.Contains(r.Stdout, "LL-2") || !strings.Contains(r.Stdout, "2 sealed files") {
		t.Errorf("ls: %s", r.Stdout)
	}
	r = run(t, append([]string{"verify"}, s.flags()...)...).Want(t, 0)
	if !strings.Contains(r.Stdout, "all 2 sealed files decrypt") {
		t.Errorf("verify: %s", r.Stdout)
	}

	// A second agent on the same state is refused.
	r = run(t, append([]string{"run"}, s.flags()...)...).Want(t, 1)
	if !strings.Contains(r.Stderr, "another casekeep agent") {
		t.Errorf("second agent: %s", r.Stderr)
	}

	if code := a.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, a.logText())
	}
	if !strings.Contains(a.logText(), "casekeep agent stopped") {
		t.Errorf("log:\n%s", a.logText())
	}

	// verify finds a damaged file, and exits 1.
	p := filepath.Join(s.cache, "LL-1", "before.docx.age")
	b, _ := os.ReadFile(p)
	b[len(b)-5] ^= 0xff
	os.WriteFile(p, b, 0o600)
	r = run(t, append([]string{"verify"}, s.flags()...)...).Want(t, 1)
	if !strings.Contains(r.Stdout, "FAILED LL-1/before.docx.age") {
		t.Errorf("verify after damage: %s", r.Stdout)
	}
}

func TestRunSignedPolicy(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is Unix")
	}
	s := newSetup(t)
	a := startAgent(t, "--policy", s.bundle, "--policy-key", s.pub, "--state", s.state, "--cache", s.cache)
	testenv.Eventually(t, "the agent running", func() bool { return strings.Contains(a.logText(), "policy_version=3") })
	if code := a.stop(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, a.logText())
	}

	other := filepath.Join(s.dir, "other.pub")
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	os.WriteFile(other, policy.MarshalPublicKey(pub), 0o644)
	r := run(t, "run", "--policy", s.bundle, "--policy-key", other, "--state", s.state, "--cache", s.cache).Want(t, 1)
	if !strings.Contains(r.Stderr, "another key") {
		t.Errorf("wrong key: %s", r.Stderr)
	}
	run(t, "run", "--policy", s.bundle, "--state", s.state).Want(t, 2) // a bundle needs its key
}

func TestSeal(t *testing.T) {
	s := newSetup(t)
	src := filepath.Join(s.dir, "Downloads", "assessment.docx")
	os.MkdirAll(filepath.Dir(src), 0o755)
	os.WriteFile(src, []byte("saved to Downloads"), 0o644)
	r := run(t, append(append([]string{"seal", "--case", "LL-7"}, s.flags()...), src)...).Want(t, 0)
	if !strings.Contains(r.Stdout, "case LL-7") {
		t.Errorf("seal: %s", r.Stdout)
	}
	if exists(src) {
		t.Error("source not removed")
	}
	if got := decrypt(t, filepath.Join(s.cache, "LL-7", "assessment.docx.age"), s.escrow); got != "saved to Downloads" {
		t.Errorf("decrypts to %q", got)
	}

	target := filepath.Join(s.dir, "target.txt")
	os.WriteFile(target, []byte("t"), 0o644)
	link := filepath.Join(s.dir, "link.txt")
	os.Symlink(target, link)
	r = run(t, append(append([]string{"seal"}, s.flags()...), link, filepath.Join(s.dir, "missing"))...).Want(t, 1)
	if !strings.Contains(r.Stderr, "2 files were not sealed") || !exists(link) || !exists(target) {
		t.Errorf("seal of a symlink and a missing file: %s", r.Stderr)
	}
	run(t, append(append([]string{"seal", "--case", "../up"}, s.flags()...), target)...).Want(t, 2)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{}, {"nope"}, {"run"}, {"run", "extra", "--policy", "x"}, {"seal", "--policy", "x"},
		{"ls", "--bogus"}, {"verify", "--state", "x"},
	} {
		if r := run(t, args...); r.Code != 2 || r.Stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 with a message", args, r.Code, r.Stderr)
		}
	}
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"ls", "--help"}, {"verify", "--help"}, {"seal", "--help"}, {"version"}} {
		r := run(t, args...).Want(t, 0)
		if r.Stdout == "" {
			t.Errorf("%q printed nothing", args)
		}
	}
	r := run(t, "ls", "--state", t.TempDir()).Want(t, 1)
	if !strings.Contains(r.Stderr, "has the agent run") {
		t.Errorf("ls without state: %s", r.Stderr)
	}
}
