package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/installer"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// enroll writes s.state as an enrolled device's, with its identity wrapped
// by a lease key (returned, with the keyring, unlocked), for a server at
// an address where nothing answers.
func (s *setup) enroll(t *testing.T) (*keys.Keyring, []byte) {
	t.Helper()
	if err := state.Prepare(s.state); err != nil {
		t.Fatal(err)
	}
	id, _ := wire.NewDeviceID()
	serverPub, _, _ := ed25519.GenerateKey(rand.Reader)
	pubText, _ := os.ReadFile(s.pub)
	polPub, err := policy.ParsePublicKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	pin := make([]byte, 32)
	rand.Read(pin)
	en := report.Enrollment{Server: "https://127.0.0.1:1", DeviceID: id, ServerKey: serverPub, PolicyKey: polPub, TLSPin: pin, EnrolledAt: time.Now().UTC()}
	b, _ := json.Marshal(en)
	os.WriteFile(filepath.Join(s.state, report.EnrollmentFile), b, 0o600)
	_, signing, _ := ed25519.GenerateKey(rand.Reader)
	os.WriteFile(filepath.Join(s.state, report.SigningKeyFile), policy.MarshalPrivateKey(signing), 0o600)
	bundle, _ := os.ReadFile(s.bundle)
	os.WriteFile(filepath.Join(s.state, report.PolicyFile), bundle, 0o600)
	key := make([]byte, wire.LeaseKeySize)
	rand.Read(key)
	k, err := keys.Create(s.state, id, key, "lk_1", false)
	if err != nil {
		t.Fatal(err)
	}
	// As the service does: it pins the recipients it authenticated.
	if err := k.SetPinKey(keys.PinKeyFrom(signing)); err != nil {
		t.Fatal(err)
	}
	return k, key
}

// TestVaultCommandsEnrolled: on an enrolled device seal works while the
// vault is locked (the file is unverified until the identity opens it),
// and verify opens the identity as the service does: here the server
// cannot be reached, so with the offline copy, or not at all.
func TestVaultCommandsEnrolled(t *testing.T) {
	s := newSetup(t)
	k, key := s.enroll(t)
	k.Lock()
	src := filepath.Join(t.TempDir(), "LL-123456 report.docx")
	os.WriteFile(src, []byte("the report"), 0o644)
	r := run(t, "seal", "--state", s.state, "--cache", s.cache, "--case", "LL-123456", src).Want(t, 0)
	if !strings.Contains(r.Stdout, "sealed ") || exists(src) {
		t.Fatalf("seal: %s %s", r.Stdout, r.Stderr)
	}
	if got := decrypt(t, filepath.Join(s.cache, "LL-123456", "LL-123456 report.docx.age"), s.escrow); got != "the report" {
		t.Errorf("escrow opens %q", got)
	}
	r = run(t, "ls", "--state", s.state, "--json").Want(t, 0)
	if !strings.Contains(r.Stdout, `"unverified": true`) {
		t.Errorf("ls of a file sealed while locked:\n%s", r.Stdout)
	}
	r = run(t, "verify", "--state", s.state, "--cache", s.cache).Want(t, 1)
	if !strings.Contains(r.Stderr, "the vault is locked") || !strings.Contains(r.Stderr, "cannot be reached") {
		t.Errorf("verify with no server and no offline copy:\n%s", r.Stderr)
	}
	run(t, "verify", "--state", s.state, "--cache", s.cache, "--policy", s.yaml).Want(t, 2)

	// With an offline copy of the lease, as the service keeps one.
	if err := k.Unlock(key, "lk_1"); err != nil {
		t.Fatal(err)
	}
	if err := k.SaveOffline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	k.Lock()
	r = run(t, "verify", "--state", s.state, "--cache", s.cache).Want(t, 0)
	if !strings.Contains(r.Stdout, "all 1 sealed files decrypt") {
		t.Errorf("verify with the offline copy:\n%s\n%s", r.Stdout, r.Stderr)
	}
}

// TestDoctorVaultKey: the doctor fails a plaintext identity on an enrolled
// device, warns of an offline copy held by the OS only, and says when and
// by which command a device was wiped.
func TestDoctorVaultKey(t *testing.T) {
	s := newSetup(t)
	k, _ := s.enroll(t)
	en, err := report.LoadEnrollment(s.state)
	if err != nil {
		t.Fatal(err)
	}
	d := doctor{layout: installer.Layout{State: s.state}}
	find := func(fs []finding, what string) finding {
		t.Helper()
		for _, f := range fs {
			if f.what == what {
				return f
			}
		}
		t.Fatalf("no %q finding in %+v", what, fs)
		return finding{}
	}
	st := &agent.Status{Keys: agent.KeyStatus{Lease: wire.LeaseUnlocked, OfflineCopy: wire.OfflineOS, MemoryLocked: true}}
	fs := d.checkKeys(en, st)
	if f := find(fs, "vault key"); f.level != levelOK || !strings.Contains(f.detail, "unlocked with a lease") {
		t.Errorf("a wrapped, unlocked identity: %+v", f)
	}
	if f := find(fs, "offline copy"); f.level != levelWarn || !strings.Contains(f.detail, "operating system only") || !strings.Contains(f.detail, "only as safe as the disk encryption") {
		t.Errorf("an OS-held offline copy: %+v", f)
	}
	st.Keys.OfflineCopy = wire.OfflineTPM
	if f := find(d.checkKeys(en, st), "offline copy"); f.level != levelOK || !strings.Contains(f.detail, "TPM") {
		t.Errorf("a TPM-held offline copy: %+v", f)
	}
	st.Keys = agent.KeyStatus{Lease: wire.LeaseLocked, Why: "the server refuses the lease: the device is marked lost", OfflineCopy: wire.OfflineNone}
	if f := find(d.checkKeys(en, st), "vault key"); f.level != levelWarn || !strings.Contains(f.detail, "marked lost") {
		t.Errorf("a locked vault: %+v", f)
	}

	// An older agent's plaintext identity still there: a failure.
	os.WriteFile(filepath.Join(s.state, keys.FileName), []byte("# plaintext\n"), 0o600)
	if f := find(d.checkKeys(en, st), "vault key"); f.level != levelFail || !strings.Contains(f.detail, "plain file") {
		t.Errorf("a plaintext identity on an enrolled device: %+v", f)
	}
	os.Remove(filepath.Join(s.state, keys.FileName))

	// Wiped.
	if err := k.Shred(); err != nil {
		t.Fatal(err)
	}
	writeWipe(t, s.state, agent.Wipe{Command: "cmd_42", DeviceID: en.DeviceID, Phase: agent.WipeDone,
		Requested: time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC), Done: time.Date(2026, 12, 3, 13, 1, 0, 0, time.UTC)})
	fs = d.checkKeys(nil, nil)
	if f := find(fs, "vault key"); f.level != levelWarn || !strings.Contains(f.detail, "wiped on 2026-12-03") || !strings.Contains(f.detail, "cmd_42") {
		t.Errorf("a wiped device: %+v", f)
	}
}

func writeWipe(t *testing.T, stateDir string, w agent.Wipe) {
	t.Helper()
	b, _ := json.Marshal(w)
	if err := os.WriteFile(filepath.Join(stateDir, agent.WipeFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStatusVaultKey: status says in words whether the vault key is open,
// how the offline copy is held and until when, and whether the key's
// memory is locked.
func TestStatusVaultKey(t *testing.T) {
	now := time.Now()
	until := now.Add(72 * time.Hour)
	for _, c := range []struct {
		keys agent.KeyStatus
		want []string
	}{
		{agent.KeyStatus{Lease: wire.LeaseUnlocked, OfflineCopy: wire.OfflineTPM, OfflineUntil: until, MemoryLocked: true},
			[]string{"Vault key: unlocked by the server", "offline copy: sealed to this computer's TPM", "until " + until.Local().Format("2006-01-02 15:04"), "key memory: locked against swap"}},
		{agent.KeyStatus{Lease: wire.LeaseOffline, OfflineCopy: wire.OfflineOS, OfflineUntil: until},
			[]string{"Vault key: unlocked offline until " + until.Local().Format("2006-01-02 15:04"), "protected by the operating system only", "only as safe as the disk encryption", "NOT locked against swap"}},
		{agent.KeyStatus{Lease: wire.LeaseLocked, Why: "IT security locked the device", OfflineCopy: wire.OfflineNone},
			[]string{"Vault key: LOCKED (IT security locked the device)", "offline copy: none"}},
		{agent.KeyStatus{Lease: wire.LeaseNone}, []string{"Vault key: a plain file in the state folder (not enrolled)"}},
	} {
		var b bytes.Buffer
		printStatus(&b, &agent.Status{UpdatedAt: now, Keys: c.keys, Advice: []string{}}, now)
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%+v: status lacks %q:\n%s", c.keys, w, b.String())
			}
		}
	}
}

// TestRunWhenWiped: `casekeep run` on a wiped device idles saying so
// (a service manager must not restart it in a loop), and status says
// when and by which command it was wiped.
func TestRunWhenWiped(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is Unix")
	}
	s := newSetup(t)
	if err := state.Prepare(s.state); err != nil {
		t.Fatal(err)
	}
	id, _ := wire.NewDeviceID()
	done := time.Date(2026, 12, 3, 14, 5, 0, 0, time.UTC)
	writeWipe(t, s.state, agent.Wipe{Command: "cmd_7", DeviceID: id, Phase: agent.WipeDone, Requested: done.Add(-time.Minute), Done: done})
	a := startAgent(t, "--state", s.state, "--config", filepath.Join(s.dir, "config"))
	testenv.Eventually(t, "the wiped status", func() bool {
		st, err := agent.ReadStatus(s.state)
		return err == nil && st.Wipe.Finished()
	})
	if a.cmd.ProcessState != nil {
		t.Fatalf("run exited on a wiped device:\n%s", a.logText())
	}
	if !strings.Contains(a.logText(), "wiped on") || !strings.Contains(a.logText(), "cmd_7") {
		t.Errorf("the log does not say the device was wiped:\n%s", a.logText())
	}
	r := run(t, "status", "--state", s.state).Want(t, 0)
	if !strings.Contains(r.Stdout, "WIPED on "+done.Local().Format("2006-01-02 15:04")+" by command cmd_7") {
		t.Errorf("status of a wiped device:\n%s", r.Stdout)
	}
	if code := a.stop(t); code != 0 {
		t.Errorf("exit %d\n%s", code, a.logText())
	}
}

// TestOfflineWords: how the offline copy is held is said without
// overclaiming: os is only as safe as the disk encryption (DPAPI's machine
// scope included), tpm binds to this computer, none is no copy.
func TestOfflineWords(t *testing.T) {
	for _, goos := range []string{"windows", "darwin", "linux"} {
		w := offlineWords(wire.OfflineOS, goos)
		if !strings.Contains(w, "only as safe as the disk encryption") || strings.Contains(w, "cannot") {
			t.Errorf("%s os: %q", goos, w)
		}
		if goos == "windows" && !strings.Contains(w, "DPAPI") {
			t.Errorf("windows os: %q does not name DPAPI", w)
		}
	}
	if w := offlineWords(wire.OfflineTPM, "linux"); !strings.Contains(w, "this computer's TPM") || !strings.Contains(w, "administrator") {
		t.Errorf("tpm: %q", w)
	}
	if w := offlineWords(wire.OfflineNone, "linux"); !strings.HasPrefix(w, "none") {
		t.Errorf("none: %q", w)
	}
}
