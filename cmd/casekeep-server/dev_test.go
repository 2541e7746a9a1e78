package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/local"
	"github.com/casekeep/casekeep/internal/testenv"
)

var binary string // casekeep-server, built once for the tests that run it

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "casekeep-server-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "casekeep-server")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building casekeep-server: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// devProc is a running `casekeep-server dev`.
type devProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	ready  chan string // the device ID, once it prints it
}

func startDev(t *testing.T, dir string) *devProc {
	t.Helper()
	d := &devProc{ready: make(chan string, 1)}
	d.cmd = exec.Command(binary, "dev", "--dir", dir, "--listen", "127.0.0.1:0")
	out, _ := d.cmd.StdoutPipe()
	d.cmd.Stderr = io.Discard
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		re := regexp.MustCompile(`agent\s+device (dev_\w+)`)
		for sc.Scan() {
			d.mu.Lock()
			d.stdout.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				d.ready <- m[1]
			}
		}
	}()
	return d
}

func (d *devProc) deviceID(t *testing.T) string {
	t.Helper()
	select {
	case id := <-d.ready:
		return id
	case <-time.After(60 * time.Second):
		t.Fatalf("dev mode did not start")
		return ""
	}
}

func (d *devProc) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("dev exited %d after Ctrl-C", ee.ExitCode())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop on Ctrl-C")
	}
}

type devicesJSON []struct {
	ID        string `json:"id"`
	Liveness  string `json:"liveness"`
	Sealed    int64  `json:"sealed_files"`
	Plaintext int64  `json:"plaintext_files"`
	CaseRefs  int    `json:"case_refs"`
	// LeaseServedAt is when the dev server last served it a lease: at
	// enrollment at least.
	LeaseServedAt time.Time `json:"lease_served_at"`
}

func devices(t *testing.T, db string) devicesJSON {
	t.Helper()
	out, err := exec.Command(binary, "devices", "--db", db, "--json").Output()
	if err != nil {
		t.Fatalf("devices: %v", err)
	}
	var v devicesJSON
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("devices --json: %v\n%s", err, out)
	}
	return v
}

// TestDevMode runs the README's command: a file dropped into the cache is
// sealed and reported; Ctrl-C stops it cleanly; a second run reuses the
// same device.
func TestDevMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses Ctrl-C as SIGINT")
	}
	dir := filepath.Join(t.TempDir(), "casekeep-dev")
	d := startDev(t, dir)
	id := d.deviceID(t)
	cache := filepath.Join(dir, "cache")
	os.MkdirAll(filepath.Join(cache, "LL-123456"), 0o755)
	os.WriteFile(filepath.Join(cache, "LL-123456", "notes.txt"), []byte("case notes"), 0o644)
	dropped := time.Now()
	db := "sqlite:" + filepath.Join(dir, "server.db")
	testenv.Eventually(t, "the file sealed and reported", func() bool {
		v := devices(t, db)
		return len(v) == 1 && v[0].ID == id && v[0].Sealed == 1 && v[0].Plaintext == 0 && v[0].Liveness == "online"
	})
	// The heartbeat made when the seal settles says so: not the next
	// interval's, minutes away.
	if took := time.Since(dropped); took > 10*time.Second {
		t.Errorf("the devices list showed the file sealed %v after it was dropped, over 10s", took.Round(time.Millisecond))
	} else {
		t.Logf("the devices list showed the file sealed %v after it was dropped", took.Round(time.Millisecond))
	}
	if v := devices(t, db); v[0].LeaseServedAt.IsZero() {
		t.Errorf("the dev server served the agent no lease")
	}
	d.mu.Lock()
	printed := d.stdout.String()
	d.mu.Unlock()
	for _, want := range []string{"casekeep dev mode is running", cache, "devices --db sqlite:", "lease log " + id + " --db sqlite:"} {
		if !strings.Contains(printed, want) {
			t.Errorf("dev printed no %q:\n%s", want, printed)
		}
	}
	checkAPI(t, printed, db, id)
	// The dev agent's local channel, beside its state folder, which stays
	// private.
	var ls agent.LocalStatus
	testenv.Eventually(t, "the dev agent answering on its local channel", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := local.Dial(ctx, agent.ChannelAddr(filepath.Join(dir, "agent")))
		if err != nil {
			return false
		}
		defer c.Close()
		return c.Call(ctx, agent.OpStatus, nil, &ls) == nil
	})
	if ls.Full == nil || ls.Full.Vault.Files != 1 {
		t.Errorf("the dev agent's channel tells its owner %+v", ls)
	}
	if fi, err := os.Stat(filepath.Join(dir, "agent")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the dev agent's state folder: %v, %v", fi.Mode(), err)
	}
	if !strings.Contains(printed, "casekeep status --state") {
		t.Errorf("dev does not print the status command:\n%s", printed)
	}
	d.stop(t)
	// The agent said goodbye (its farewell sent or spooled): the next run
	// does not count this stop as unannounced.
	if _, err := os.Stat(filepath.Join(dir, "agent", "alive")); !os.IsNotExist(err) {
		t.Errorf("after Ctrl-C the agent's alive file is still there (%v): the next run would report an unannounced stop", err)
	}

	again := startDev(t, dir)
	if id2 := again.deviceID(t); id2 != id {
		t.Errorf("the second run is device %s, the first %s", id2, id)
	}
	if v := devices(t, db); len(v) != 1 {
		t.Errorf("%d devices after a second run", len(v))
	}
	again.stop(t)
}

func TestTokenCreate(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "s.db")
	cmd := exec.Command(binary, "token", "create", "--db", db, "--data", filepath.Join(dir, "data"), "--uses", "3", "--expires", "2h")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	tok := strings.TrimSpace(string(out))
	if !regexp.MustCompile(`^ck1\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Errorf("token %q", tok)
	}
	if !strings.Contains(stderr.String(), "up to 3 device") {
		t.Errorf("stderr %q", stderr.String())
	}
	// The certificate the token pins was made in the data folder.
	if _, err := os.Stat(filepath.Join(dir, "data", "tls.crt")); err != nil {
		t.Error(err)
	}
	for _, args := range [][]string{
		{"token", "create", "--data", dir},
		{"token", "create", "--db", db, "--uses", "0"},
		{"token", "create", "--db", db, "--expires", "-1h"},
		{"token", "create", "--db", "mysql://x"},
		{"devices"},
		{"serve", "--db", "nope"},
		{"serve", "--db", db, "--lease-every", "0s"},
		{"serve", "--db", db, "--lease-burst", "0"},
	} {
		if err := exec.Command(binary, args...).Run(); exitCode(err) != 2 {
			t.Errorf("%q: exit %d, want 2", args, exitCode(err))
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// checkAPI adds a person, makes their token with the command line, and
// reads the fleet through the running server's API with it.
func checkAPI(t *testing.T, printed, db, id string) {
	t.Helper()
	m := regexp.MustCompile(`server  (https://\S+)`).FindStringSubmatch(printed)
	if m == nil {
		t.Fatalf("no server address in:\n%s", printed)
	}
	if out, err := exec.Command(binary, "user", "add", "Ann Example", "--role", "auditor", "--db", db).CombinedOutput(); err != nil {
		t.Fatalf("user add: %v: %s", err, out)
	}
	if err := exec.Command(binary, "user", "add", "Bob", "--role", "boss", "--db", db).Run(); exitCode(err) != 2 {
		t.Errorf("a bad role: exit %d, want 2", exitCode(err))
	}
	if err := exec.Command(binary, "user", "add", "Ann Example", "--role", "dpo", "--db", db).Run(); exitCode(err) != 1 {
		t.Errorf("a second Ann: exit %d, want 1", exitCode(err))
	}
	out, err := exec.Command(binary, "token", "create", "--user", "Ann Example", "--db", db).Output()
	if err != nil {
		t.Fatalf("token create --user: %v", err)
	}
	tok := strings.TrimSpace(string(out))
	if !regexp.MustCompile(`^ckapi1\.[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Fatalf("token %q", tok)
	}
	get := func() (int, string) {
		req, _ := http.NewRequest("GET", m[1]+"/api/v1/devices", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 || !strings.Contains(body, id) || !strings.Contains(body, `"liveness": "online"`) {
		t.Errorf("GET /api/v1/devices: %d %s", code, body)
	}
	checkConsole(t, printed, m[1])
	list, _ := exec.Command(binary, "user", "list", "--db", db, "--json").Output()
	var l struct {
		Tokens []struct{ ID string }
	}
	if err := json.Unmarshal(list, &l); err != nil || len(l.Tokens) != 1 {
		t.Fatalf("user list: %s, %v", list, err)
	}
	if out, err := exec.Command(binary, "token", "revoke", l.Tokens[0].ID, "--db", db).CombinedOutput(); err != nil {
		t.Fatalf("token revoke: %v: %s", err, out)
	}
	if code, _ := get(); code != 401 {
		t.Errorf("after revoking: %d, want 401", code)
	}
}

// checkConsole finds the console's address in what dev printed and checks
// the console is served there: a page without a session goes to the login
// page.
func checkConsole(t *testing.T, printed, server string) {
	t.Helper()
	if !strings.Contains(printed, server+"/console/") {
		t.Errorf("dev printed no console address:\n%s", printed)
	}
	c := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(server + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Errorf("GET /console/: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = c.Get(server + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Your API token") {
		t.Errorf("GET /console/login: %d", resp.StatusCode)
	}
}
