package agenttest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/agent/vault"
)

var kills = flag.Int("crash.kills", 200, "how many times a crash test (agent/vault's TestCrash) kills its child process")

// Kills is the -crash.kills flag (go test -args -crash.kills=N): how many
// times a crash test whose count it sets kills its child; 200 unless given.
func Kills() int { return *kills }

// What a Crash tells its child; CrashVault reads it back.
const (
	envChild  = "CASEKEEP_CRASH_CHILD" // the helper test's name
	envState  = "CASEKEEP_CRASH_STATE"
	envEscrow = "CASEKEEP_CRASH_ESCROW"
	envCache  = "CASEKEEP_CRASH_CACHE"
)

// Crash is a crash test's harness. Its child is this test binary run again
// with only the test Helper, which opens the vault with [CrashVault] and
// works until it is killed; [Crash.Run] is the kill loop, and [Crash.Start]
// starts one child for a test's own ending.
type Crash struct {
	Helper string   // the name of the test the child runs
	Device *Device  // the device the child's vault seals for
	Cache  string   // the child's vault's folder
	Env    []string // more "KEY=value" for the child's environment

	// Before, if set, runs before the child of round i (from 0) starts.
	Before func(i int)
	// Wait returns at the moment the child of round i is to be killed.
	Wait func(i int)
	// After runs once the child of round i is killed and gone: it checks
	// the invariants, and returns false to end the loop early.
	After func(i int) (more bool)
}

// Run kills the child up to rounds times and returns how many times it
// did. Each round runs Before, starts the child, waits with Wait, kills the
// child with SIGKILL, waits for it to exit and runs After.
func (c *Crash) Run(t *testing.T, rounds int) (killed int) {
	t.Helper()
	for i := range rounds {
		if c.Before != nil {
			c.Before(i)
		}
		child := c.Start(t)
		c.Wait(i)
		child.Kill()
		killed++
		if !c.After(i) {
			break
		}
	}
	return killed
}

// Start starts a child; it is killed when the test ends if not before.
func (c *Crash) Start(t *testing.T) *Child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+c.Helper+"$")
	cmd.Env = append(os.Environ(), envChild+"="+c.Helper, envState+"="+c.Device.State,
		envEscrow+"="+fmt.Sprint(c.Device.EscrowRecipient), envCache+"="+c.Cache)
	cmd.Env = append(cmd.Env, c.Env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child := &Child{cmd: cmd}
	t.Cleanup(child.Kill)
	return child
}

// Child is a running crash child.
type Child struct {
	cmd  *exec.Cmd
	once sync.Once
}

// Kill kills the child with SIGKILL and waits for it to exit.
func (c *Child) Kill() {
	c.once.Do(func() {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
}

// CrashVault begins a crash test's helper: it skips the test unless this
// process is a child a [Crash] started for it, and opens the vault the
// child works on: Crash.Cache sealing for Crash.Device, its store in the
// device's state folder, with a quiet period of a millisecond so that the
// child seals as soon as it can. The vault is never closed: the child is
// killed.
func CrashVault(t *testing.T) *vault.Vault {
	t.Helper()
	if os.Getenv(envChild) != t.Name() {
		t.Skip("the child of a crash test, run by it")
	}
	stateDir := os.Getenv(envState)
	device, err := keys.Load(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	escrow, err := age.ParseRecipients(strings.NewReader(os.Getenv(envEscrow)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(vault.Config{
		Dir: os.Getenv(envCache), Device: device, Escrow: escrow,
		Store: state.OpenStore(stateDir, 10*time.Second), Quiet: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
