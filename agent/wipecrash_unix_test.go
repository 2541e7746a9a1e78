//go:build unix

package agent_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/report"
	"github.com/casekeep/casekeep/agent/report/reporttest"
	"github.com/casekeep/casekeep/agent/storage/storagetest"
	"github.com/casekeep/casekeep/agent/vault"
	"github.com/casekeep/casekeep/internal/testenv"
	"github.com/casekeep/casekeep/internal/wire"
)

var wipeKills = flag.Int("wipe.kills", 100, "how many times TestWipeCrash kills its child during a wipe (go test -args -wipe.kills=N)")

// What TestWipeCrash tells its child.
const (
	envWipeChild  = "CASEKEEP_WIPE_CHILD" // the state folder
	envWipeCache  = "CASEKEEP_WIPE_CACHE"
	envWipeEscrow = "CASEKEEP_WIPE_ESCROW"
	envWipeKillAt = "CASEKEEP_WIPE_KILL_AT" // kill at the wipe's n-th step
)

// The wipe's steps, in order, as its hook names them: the kill points of
// half the rounds (the other half are killed at random moments).
var wipeSteps = []string{"recorded", "sealed-waiting", agent.WipeSealed, agent.WipeShredded, agent.WipeRemoved, agent.WipeAcked,
	agent.WipeDelivered, "forgot-spool", "removed-" + report.EnrollmentFile, "removed-" + report.SigningKeyFile, agent.WipeDone}

// TestWipeCrashChild is TestWipeCrash's child: the agent of an enrolled
// device, run until it is killed (by itself at a step of the wipe, when
// told to). A wiped device's child just waits.
func TestWipeCrashChild(t *testing.T) {
	stateDir := os.Getenv(envWipeChild)
	if stateDir == "" {
		t.Skip("the child of TestWipeCrash, run by it")
	}
	if n, _ := strconv.Atoi(os.Getenv(envWipeKillAt)); n > 0 {
		seen := 0
		agent.SetWipeHook(func(string) {
			if seen++; seen == n {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		})
	}
	// As the service starts: a wipe the server has acknowledged is
	// finished first; a wiped device runs nothing.
	if w, err := agent.FinishWipe(stateDir); err != nil {
		t.Fatal(err)
	} else if w.Finished() {
		select {}
	}
	en, err := report.LoadEnrollment(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := report.LoadSigningKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.Open(agent.Config{
		Policy: testPolicy(t, os.Getenv(envWipeEscrow)), StateDir: stateDir, CacheDir: os.Getenv(envWipeCache),
		Enrollment: en, SigningKey: key, Homes: []string{}, Storage: storagetest.New(true), Notifier: &notes{},
		Posture: func(context.Context) wire.Check {
			return wire.Check{Name: "disk_encryption", Result: "pass", Evidence: "test"}
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LeaseTimeout: 2 * time.Second,
		Reporter: report.Config{NotableMin: time.Millisecond, SettleQuiet: time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Run(context.Background())
}

// crashDevice is one round's device: enrolled with srv, its identity
// wrapped with srv's lease key, and sealed files whose content it knows.
type crashDevice struct {
	*device
	sealed map[string]string // sealed file (in the cache) -> plaintext
	plain  string            // a plaintext file waiting, relative to the cache
}

func newCrashDevice(t *testing.T, srv *reporttest.Server) *crashDevice {
	t.Helper()
	d := &crashDevice{device: newDevice(t, srv), sealed: map[string]string{}}
	g := srv.FirstLease()
	k, err := keys.Create(d.state, srv.DeviceID, g.Key, g.KeyID, false)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(vault.Config{Dir: d.cache, Device: k, Escrow: d.policy.Vault.EscrowRecipients, Store: stateStore(d.device)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for i := range 3 {
		rel := fmt.Sprintf("LL-%06d/note-%d.txt", i, i)
		content := fmt.Sprintf("case notes %d", i)
		d.write(rel, content)
		if _, err := v.SealFile(context.Background(), rel); err != nil {
			t.Fatal(err)
		}
		d.sealed[rel+".age"] = content
	}
	d.plain = "LL-000009/waiting.txt"
	d.write(d.plain, "waiting to be sealed")
	return d
}

func (d *crashDevice) child(t *testing.T, killAt int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWipeCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envWipeChild+"="+d.state, envWipeCache+"="+d.cache,
		envWipeEscrow+"="+d.escrow.Recipient().String(), envWipeKillAt+"="+strconv.Itoa(killAt))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestWipeCrash kills the agent (SIGKILL) at every step of a wipe and at
// random moments during one, -wipe.kills times, then starts it again and
// lets it settle. Either the wipe had not been recorded (the server has
// meanwhile stopped asking for it): the vault opens with its lease and
// every sealed file is there and opens; or the wipe finishes, and is
// acknowledged: no sealed file the agent made is left, nor any identity,
// lease copy, signing key or enrollment. Never a half state.
func TestWipeCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process many times")
	}
	kills := *wipeKills
	wiped, intact := 0, 0
	// A whole wipe takes tens of milliseconds from the child's start: the
	// random kills fall before, during and after it.
	maxDelay := 80 * time.Millisecond
	for i := range kills {
		srv := reporttest.NewServer(t)
		d := newCrashDevice(t, srv)
		srv.Set(func(s *reporttest.Settings) {
			s.Refuse = wire.RefusedWiped
			s.Commands = []wire.Command{srv.Command("cmd_wipe", wire.CommandWipe, time.Hour)}
		})
		killAt := 0
		if i%2 == 0 {
			killAt = i/2%len(wipeSteps) + 1
		}
		start := time.Now()
		child := d.child(t, killAt)
		if killAt > 0 {
			done := make(chan struct{})
			go func() { child.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("round %d: the child did not reach step %d (%s) of the wipe", i, killAt, wipeSteps[killAt-1])
			}
		} else {
			time.Sleep(time.Duration(rand.Int64N(int64(maxDelay))))
			child.Process.Kill()
			child.Wait()
		}
		killedAfter := time.Since(start)

		// IT cancels the wipe meanwhile: the server stops asking for it
		// and serves the lease again. What was recorded must finish.
		srv.Set(func(s *reporttest.Settings) { s.Refuse, s.Commands = "", nil })
		w, err := agent.ReadWipe(d.state)
		if err != nil {
			t.Fatalf("round %d: the wipe record: %v", i, err)
		}
		settle := d.child(t, 0)
		if w != nil {
			testenv.Eventually(t, "the wipe finished after the restart", func() bool {
				w, _ := agent.ReadWipe(d.state)
				return w.Finished() && len(srv.Acks("cmd_wipe")) > 0
			})
			settle.Process.Kill()
			settle.Wait()
			d.checkWiped(t, i)
			wiped++
		} else {
			testenv.Eventually(t, "the vault unlocked after the restart", func() bool {
				h := srv.Last()
				return h != nil && h.Lease == wire.LeaseUnlocked
			})
			settle.Process.Kill()
			settle.Wait()
			d.checkIntact(t, i, srv)
			intact++
		}
		t.Logf("round %d: killed %s after %v: %s", i, killPoint(killAt), killedAfter.Round(time.Millisecond),
			map[bool]string{true: "wipe finished on restart", false: "wipe not recorded: vault intact"}[w != nil])
	}
	t.Logf("wipe crash test: %d kills; %d wipes finished after a restart, %d devices intact", kills, wiped, intact)
	if kills >= 4 && (wiped == 0 || intact == 0) {
		t.Errorf("%d wiped, %d intact: the kills did not cover both sides of the wipe's record", wiped, intact)
	}
}

func killPoint(n int) string {
	if n == 0 {
		return "at random"
	}
	return "at " + wipeSteps[n-1]
}

// checkWiped: nothing of the device's keys or files is left, and the wipe
// was acknowledged.
func (d *crashDevice) checkWiped(t *testing.T, round int) {
	t.Helper()
	for rel := range d.sealed {
		if _, err := os.Lstat(filepath.Join(d.cache, rel)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("round %d: %s is left after the wipe: %v", round, rel, err)
		}
	}
	for _, p := range []string{d.plain, d.plain + ".age"} {
		if _, err := os.Lstat(filepath.Join(d.cache, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("round %d: %s is left after the wipe: %v", round, p, err)
		}
	}
	for _, name := range []string{keys.WrappedName, keys.FileName, "device-lease.os", "device-lease.tpm", report.SigningKeyFile, report.EnrollmentFile} {
		if _, err := os.Lstat(filepath.Join(d.state, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("round %d: %s is left after the wipe: %v", round, name, err)
		}
	}
	if _, err := keys.Open(d.state, d.srv.DeviceID); !errors.Is(err, keys.ErrWiped) {
		t.Errorf("round %d: keys.Open after the wipe: %v", round, err)
	}
	for _, a := range d.srv.Acks("cmd_wipe") {
		if a.Result != wire.AckDone {
			t.Errorf("round %d: wipe ack %+v", round, a)
		}
	}
	noSecretIn(t, d.state)
}

// checkIntact: the identity opens with the lease, and every sealed file is
// there and opens with it; the plaintext waiting is there, or sealed.
func (d *crashDevice) checkIntact(t *testing.T, round int, srv *reporttest.Server) {
	t.Helper()
	if acks := srv.Acks("cmd_wipe"); len(acks) != 0 {
		t.Errorf("round %d: the wipe was acknowledged, yet not recorded: %+v", round, acks)
	}
	k, err := keys.Open(d.state, srv.DeviceID)
	if err != nil {
		t.Fatalf("round %d: the identity: %v", round, err)
	}
	g := srv.FirstLease()
	if err := k.Unlock(g.Key, g.KeyID); err != nil {
		t.Fatalf("round %d: the lease does not open the identity: %v", round, err)
	}
	ids, _ := k.Identities()
	open := func(rel string) (string, error) {
		b, err := os.ReadFile(filepath.Join(d.cache, rel))
		if err != nil {
			return "", err
		}
		r, err := age.Decrypt(strings.NewReader(string(b)), ids...)
		if err != nil {
			return "", err
		}
		out, err := io.ReadAll(r)
		return string(out), err
	}
	for rel, want := range d.sealed {
		if got, err := open(rel); err != nil || got != want {
			t.Errorf("round %d: %s: %q, %v", round, rel, got, err)
		}
	}
	if got, err := open(d.plain + ".age"); err != nil || got != "waiting to be sealed" {
		if b, perr := os.ReadFile(filepath.Join(d.cache, d.plain)); perr != nil || string(b) != "waiting to be sealed" {
			t.Errorf("round %d: the waiting file is neither sealed (%v) nor there (%v)", round, err, perr)
		}
	}
}
